import CFulcrumLinux
import FulcrumAddress
import FulcrumPools
import FulcrumProxyProtocol
import FulcrumSystem
import Glibc
import Logging

/// A worker's UDP data plane. Datagrams from clients arrive in batches (recvmmsg) on the
/// worker's SO_REUSEPORT socket for each UDP listener; each client address gets a session with
/// its own socket connected to the member chosen for it, and a run of datagrams for one
/// session goes out in one sendmmsg. Replies are read from session sockets in batches and
/// sent back from the listener's socket with sendmmsg, many clients per call.
final class UDPForwarder {
    struct ListenerRules {
        var pool: Int32
        var idleTimeoutMs: Int64
    }

    private var plan: ForwardingPlan
    private let poll: EventPoll
    private let logger: Logger
    private var listenFDs: [Int32]
    private var rules: [ListenerRules] = []
    private var allowedCIDRs: [[CIDR]] = []
    private var memberBase: [Int32] = []
    private var memberAddresses: [SocketAddress] = []
    private var selectors: [PoolSelector] = []
    /// Per pool: LEAST_CONNECTIONS counts sessions in the pool's shared counters.
    private var countsOpen: [Bool] = []
    /// Per UDP listener: its pool is PROXYV2, so every datagram to a member carries a header.
    private var proxied: [Bool] = []
    /// Per session slot, the PROXY v2 header its datagrams carry (allocated only when needed).
    private var proxyHeaders: UnsafeMutableRawPointer?
    private var proxyHeaderLength: [UInt8]
    private let proxyIov: UnsafeMutablePointer<iovec>
    private let headerScratch = UnsafeMutableRawPointer.allocate(byteCount: ProxyHeader.maxLength, alignment: 16)
    static let proxyHeaderStride = 64

    private var table: UDPSessionTable
    // Per session slot, beside the table.
    private var sessionFD: [Int32]
    private var generation: [UInt32]
    private var member: [Int32]
    private var tried: [MemberSet]
    /// The member answered with ICMP unreachable: the next datagram moves the session.
    private var mustMove: [Bool]
    private var clientAddresses: UnsafeMutablePointer<SocketAddress>
    /// Per UDP listener: when a session last failed to get a socket was logged, and how many
    /// datagrams were dropped that way since. A flood from spoofed sources once wrote 74,781
    /// lines in a second, one per datagram; now a listener logs at most a line a second.
    private var socketFailureLogMs: [Int64] = []
    private var socketFailuresSinceLog: [Int] = []
    static let failureLogIntervalMs: Int64 = 1000

    private let inbound: DatagramBatch
    private let forward: UnsafeMutablePointer<cfl_mmsghdr>
    private let forwardIov: UnsafeMutablePointer<iovec>
    /// Per forward message: its first datagram in forwardIov and how many it carries.
    private let groupStart: UnsafeMutablePointer<Int32>
    private let groupCount: UnsafeMutablePointer<Int32>
    private let segmentControl: UnsafeMutableRawPointer
    private let segmentControlSpace = cfl_udp_segment_space()
    /// UDP_SEGMENT works here; turned off for good the first time the kernel refuses it.
    private var segmentation = true
    static let maxSegments = 64
    static let maxSegmentedBytes = 65_000
    /// Segments must fit the route's MTU, else the kernel refuses the send: small datagrams
    /// gain the most, and 1,200 bytes fits any IPv4 or IPv6 path.
    static let maxSegmentSize = 1_200
    private let replies: DatagramBatch
    private var pendingReplies = 0
    private var replyListener: Int32 = -1

    /// The worker's counter cells for UDP (written here only, read by anyone).
    var listenerCounters: CounterArray<UDPListenerCells>
    var memberCounters: CounterArray<UDPMemberCells>
    /// The block the two arrays above point into, kept alive while they do.
    private var counters: WorkerCounters
    let workerIndex: Int
    let workerCount: Int
    let maxSessions: Int

    static let batchSize = 32
    /// Batches read from one listener per wake before other sockets get a turn.
    private static let batchesPerWake = 4

    var sessionCount: Int { table.count }

    init(plan: ForwardingPlan, poll: EventPoll, listenFDs: [Int32], workerIndex: Int, workerCount: Int,
         maxSessions: Int, counters: WorkerCounters, logger: Logger) {
        self.plan = plan
        self.poll = poll
        self.logger = logger
        self.listenFDs = listenFDs
        self.workerIndex = workerIndex
        self.workerCount = workerCount
        self.maxSessions = maxSessions
        proxyHeaderLength = []
        proxyIov = .allocate(capacity: 2 * UDPForwarder.batchSize)
        proxyIov.initialize(repeating: iovec(), count: 2 * UDPForwarder.batchSize)
        // The table and the per-slot arrays start small and grow together (growSlots).
        table = UDPSessionTable(capacity: maxSessions, listeners: plan.udpListeners.count)
        let slots = table.capacity
        sessionFD = Array(repeating: -1, count: slots)
        generation = Array(repeating: 0, count: slots)
        member = Array(repeating: -1, count: slots)
        tried = Array(repeating: MemberSet(), count: slots)
        mustMove = Array(repeating: false, count: slots)
        clientAddresses = .allocate(capacity: slots)
        clientAddresses.initialize(repeating: SocketAddress(), count: slots)
        inbound = DatagramBatch(count: UDPForwarder.batchSize)
        replies = DatagramBatch(count: UDPForwarder.batchSize)
        forward = .allocate(capacity: UDPForwarder.batchSize)
        forward.initialize(repeating: cfl_mmsghdr(), count: UDPForwarder.batchSize)
        forwardIov = .allocate(capacity: UDPForwarder.batchSize)
        forwardIov.initialize(repeating: iovec(), count: UDPForwarder.batchSize)
        for i in 0..<UDPForwarder.batchSize {
            forward[i].msg_hdr.msg_iov = forwardIov + i
            forward[i].msg_hdr.msg_iovlen = 1
        }
        groupStart = .allocate(capacity: UDPForwarder.batchSize)
        groupCount = .allocate(capacity: UDPForwarder.batchSize)
        segmentControl = .allocate(byteCount: cfl_udp_segment_space() * UDPForwarder.batchSize, alignment: 16)
        self.counters = counters
        listenerCounters = counters.udpListeners
        memberCounters = counters.udpMembers
        takeRules(of: plan, previous: [:])
    }

    /// The per-datagram copies of a plan's rules; selectors of pools whose runtime is the
    /// same object as before are kept.
    private func takeRules(of plan: ForwardingPlan, previous: [Int32: PoolSelector]) {
        rules = plan.udpListeners.map {
            ListenerRules(pool: Int32($0.pool), idleTimeoutMs: $0.timeoutClientDataMs)
        }
        allowedCIDRs = plan.udpListeners.map(\.allowedCIDRs)
        memberBase = plan.pools.map { Int32($0.memberBase) }
        memberAddresses = plan.pools.flatMap { $0.members.map(\.socketAddress) }
        selectors = plan.pools.enumerated().map { p, pool in
            if let kept = previous[Int32(p)], kept.runtime === pool.runtime { return kept }
            return PoolSelector(pool: pool.config, workerIndex: workerIndex, workerCount: workerCount,
                                runtime: pool.runtime, stickTable: pool.stickTable)
        }
        countsOpen = plan.pools.map(\.countsOpen)
        proxied = plan.udpListeners.map { plan.pools[$0.pool].proxyHeader == .v2 }
        if proxied.contains(true) && proxyHeaders == nil {
            proxyHeaders = .allocate(byteCount: sessionFD.count * UDPForwarder.proxyHeaderStride, alignment: 16)
            proxyHeaderLength = Array(repeating: 0, count: sessionFD.count)
        }
        socketFailureLogMs = Array(repeating: Int64.min / 2, count: plan.udpListeners.count)
        socketFailuresSinceLog = Array(repeating: 0, count: plan.udpListeners.count)
    }

    /// The table grew: the per-slot arrays follow. Pending replies point into clientAddresses,
    /// so they go out first. Only while the table doubles; once grown nothing allocates.
    private func growSlots() {
        let old = sessionFD.count
        let slots = table.capacity
        guard slots > old else { return }
        flushReplies()
        sessionFD += repeatElement(-1, count: slots - old)
        generation += repeatElement(0, count: slots - old)
        member += repeatElement(-1, count: slots - old)
        tried += repeatElement(MemberSet(), count: slots - old)
        mustMove += repeatElement(false, count: slots - old)
        let addresses = UnsafeMutablePointer<SocketAddress>.allocate(capacity: slots)
        addresses.moveInitialize(from: clientAddresses, count: old)
        (addresses + old).initialize(repeating: SocketAddress(), count: slots - old)
        clientAddresses.deallocate()
        clientAddresses = addresses
        if let headers = proxyHeaders {
            let bigger = UnsafeMutableRawPointer.allocate(byteCount: slots * UDPForwarder.proxyHeaderStride, alignment: 16)
            bigger.copyMemory(from: headers, byteCount: old * UDPForwarder.proxyHeaderStride)
            headers.deallocate()
            proxyHeaders = bigger
            proxyHeaderLength += repeatElement(0, count: slots - old)
        }
    }

    // MARK: reload

    /// Before the worker's counters move: ends the sessions `next` has no place for — their
    /// listener went, or their member left the listener's pool — while the indices they were
    /// counted under still hold.
    func endSessions(leaving next: ForwardingPlan, _ succession: ForwardingPlan.Succession) {
        flushReplies()
        for i in 0..<table.capacity where sessionFD[i] >= 0 || member[i] >= 0 {
            guard table.isInUse(Int32(i)) else { continue }
            if newMember(ofSession: i, next, succession) == nil { closeSession(Int32(i)) }
        }
    }

    /// The session's member index in the pool its listener uses in `next`, or nil.
    private func newMember(ofSession i: Int, _ next: ForwardingPlan, _ succession: ForwardingPlan.Succession) -> Int32? {
        let oldListener = Int(table.key(of: Int32(i)).listener)
        let listener = succession.udpListeners[oldListener]
        guard listener >= 0, member[i] >= 0 else { return nil }
        let flat = succession.members[Int(memberBase[Int(rules[oldListener].pool)] + member[i])]
        let pool = next.pools[next.udpListeners[Int(listener)].pool]
        guard flat >= pool.memberBase, flat < pool.memberBase + pool.members.count else { return nil }
        return flat - Int32(pool.memberBase)
    }

    /// Takes `next`'s rules and renumbers the remaining sessions for it (after
    /// endSessions(leaving:) and the worker's counter move). `listenFDs` holds the sockets the
    /// engine bound for new UDP listeners (-1 where they carry over).
    func adopt(_ next: ForwardingPlan, listenFDs newFDs: [Int32], counters: WorkerCounters) {
        guard let succession = next.succession else { return }
        var remapped: [(slot: Int, member: Int32, samePool: Bool)] = []
        for i in 0..<table.capacity where table.isInUse(Int32(i)) {
            guard let m = newMember(ofSession: i, next, succession) else { continue }
            let oldPool = Int(rules[Int(table.key(of: Int32(i)).listener)].pool)
            let newListener = Int(succession.udpListeners[Int(table.key(of: Int32(i)).listener)])
            let newPool = next.udpListeners[newListener].pool
            remapped.append((i, m, plan.pools[oldPool].runtime === next.pools[newPool].runtime))
        }
        var previousSelectors: [Int32: PoolSelector] = [:]
        for (old, new) in succession.pools.enumerated() where new >= 0 { previousSelectors[new] = selectors[old] }
        listenFDs = ListenSocketMove(poll: poll, kind: .udpListener, logger: logger)
            .apply(from: succession.udpSocketsFrom, old: listenFDs, bound: newFDs)
        table.renumberListeners(succession.udpListeners, count: next.udpListeners.count)
        plan = next
        takeRules(of: next, previous: previousSelectors)
        self.counters = counters
        listenerCounters = counters.udpListeners
        memberCounters = counters.udpMembers
        for (i, m, samePool) in remapped {
            member[i] = m
            guard !samePool else { continue }
            // A changed pool's runtime counts from zero: add the sessions this worker holds.
            tried[i] = MemberSet()
            tried[i].insert(m)
            let pool = Int(rules[Int(table.key(of: Int32(i)).listener)].pool)
            if countsOpen[pool] { selectors[pool].openCounts[Int(m)].wrappingIncrement(ordering: .relaxed) }
        }
    }

    // MARK: client -> member

    /// The listener socket is readable (level-triggered): read a few batches and forward them.
    func listenerReadable(_ listener: Int, now: Int64) {
        guard listener < listenFDs.count else { return }
        let fd = listenFDs[listener]
        guard fd >= 0 else { return }
        for _ in 0..<UDPForwarder.batchesPerWake {
            inbound.prepareReceive(0..<inbound.count, withAddresses: true)
            let received: Int
            do {
                switch try Datagram.receive(fd, inbound.headers, count: inbound.count) {
                case .wouldBlock: return
                case let .done(n): received = n
                }
            } catch {
                // Errors queued on an unconnected socket concern one earlier send: skip them.
                return
            }
            forwardBatch(listener: listener, received: received, now: now)
            if received < inbound.count { return }
        }
    }

    private func forwardBatch(listener: Int, received: Int, now: Int64) {
        var runSession: Int32 = -1
        var runLength = 0
        var runClient = Endpoint(address: .v4(0), port: 0)
        for i in 0..<received {
            if inbound.truncated(i) {
                listenerCounters[listener].truncated += 1
                continue
            }
            let length = inbound.length(i)
            listenerCounters[listener].datagramsIn += 1
            listenerCounters[listener].bytesIn += length
            let sender = inbound.sender(i)
            guard let client = sender.endpoint else { continue }
            if !allowedCIDRs[listener].isEmpty && !allowed(client.address, allowedCIDRs[listener]) {
                listenerCounters[listener].denied += 1
                continue
            }
            // A run goes out before another client's session is looked up: that lookup may close
            // and reuse a slot, which must not take this run's datagrams with it.
            if runLength > 0 && client != runClient {
                flushForward(session: runSession, count: runLength, listener: listener)
                runSession = -1
                runLength = 0
            }
            runClient = client
            guard let slot = session(listener: listener, client: client, address: sender, now: now) else {
                listenerCounters[listener].dropped += 1
                continue
            }
            if slot != runSession {
                flushForward(session: runSession, count: runLength, listener: listener)
                runSession = slot
                runLength = 0
            }
            forwardIov[runLength] = iovec(iov_base: inbound.buffer(i), iov_len: length)
            runLength += 1
        }
        flushForward(session: runSession, count: runLength, listener: listener)
    }

    /// Sends a run of datagrams for one session to its member in one sendmmsg. Consecutive
    /// datagrams of one size travel as one message with UDP_SEGMENT: the kernel walks its UDP/IP
    /// send path once for up to 64 of them and cuts them apart only at the device (loopback
    /// hands the receiver separate datagrams), which is most of the per-datagram cost.
    private func flushForward(session slot: Int32, count: Int, listener: Int, from start: Int = 0) {
        guard slot >= 0, count > start else { return }
        guard sessionFD[Int(slot)] >= 0, member[Int(slot)] >= 0 else {
            // The session was closed after these were queued (its member went away): drop them.
            listenerCounters[listener].dropped += count - start
            return
        }
        let counter = Int(memberBase[Int(rules[listener].pool)] + member[Int(slot)])
        let messages = proxied[listener]
            ? buildProxiedMessages(session: slot, from: start, count: count)
            : buildForwardMessages(from: start, count: count)
        var sentMessages = 0
        var sentDatagrams = 0
        while sentMessages < messages {
            do {
                switch try Datagram.send(sessionFD[Int(slot)], forward + sentMessages, count: messages - sentMessages) {
                case let .done(n):
                    for m in sentMessages..<(sentMessages + n) {
                        let first = Int(groupStart[m])
                        for k in first..<(first + Int(groupCount[m])) {
                            memberCounters[counter].bytesTo += forwardIov[k].iov_len
                        }
                        memberCounters[counter].datagramsTo += Int(groupCount[m])
                        sentDatagrams += Int(groupCount[m])
                    }
                    sentMessages += n
                    continue
                case .wouldBlock:
                    break
                }
            } catch {
                if error.code == ECONNREFUSED {
                    memberRefused(slot, counter: counter)
                } else if segmentation && groupCount[sentMessages] > 1 && (error.code == EINVAL || error.code == EIO || error.code == EOPNOTSUPP) {
                    // A kernel or route without UDP segmentation: send datagrams one by one.
                    segmentation = false
                    logger.notice("UDP segmentation offload unavailable, sending datagrams one by one", metadata: ["error": "\(error)"])
                    // Resend from the first datagram not yet sent, one by one.
                    flushForward(session: slot, count: count, listener: listener, from: Int(groupStart[sentMessages]))
                    return
                }
            }
            break
        }
        listenerCounters[listener].dropped += count - start - sentDatagrams
    }

    /// One message per datagram, each led by the session's PROXY v2 header (no segmentation:
    /// every datagram needs its own header).
    @inline(__always)
    private func buildProxiedMessages(session slot: Int32, from start: Int, count: Int) -> Int {
        let header = proxyHeaders! + Int(slot) * UDPForwarder.proxyHeaderStride
        let length = Int(proxyHeaderLength[Int(slot)])
        var messages = 0
        for k in start..<count {
            proxyIov[2 * messages] = iovec(iov_base: header, iov_len: length)
            proxyIov[2 * messages + 1] = forwardIov[k]
            let h = forward + messages
            h.pointee.msg_hdr.msg_iov = proxyIov + 2 * messages
            h.pointee.msg_hdr.msg_iovlen = 2
            h.pointee.msg_hdr.msg_control = nil
            h.pointee.msg_hdr.msg_controllen = 0
            groupStart[messages] = Int32(k)
            groupCount[messages] = 1
            messages += 1
        }
        return messages
    }

    /// Groups forwardIov[start..<count] into messages: a run of equal sizes (the last may be
    /// shorter) becomes one segmented message while segmentation works.
    @inline(__always)
    private func buildForwardMessages(from start: Int, count: Int) -> Int {
        var messages = 0
        var i = start
        while i < count {
            let size = forwardIov[i].iov_len
            var j = i + 1
            if segmentation && size > 0 && size <= UDPForwarder.maxSegmentSize {
                var total = size
                while j < count && j - i < UDPForwarder.maxSegments && total + forwardIov[j].iov_len <= UDPForwarder.maxSegmentedBytes {
                    let next = forwardIov[j].iov_len
                    if next > size || next == 0 { break }
                    total += next
                    j += 1
                    if next < size { break }  // only the last segment may be shorter
                }
            }
            let header = forward + messages
            header.pointee.msg_hdr.msg_iov = forwardIov + i
            header.pointee.msg_hdr.msg_iovlen = j - i
            if j - i > 1 {
                let control = segmentControl + messages * segmentControlSpace
                header.pointee.msg_hdr.msg_control = control
                header.pointee.msg_hdr.msg_controllen = cfl_udp_segment_cmsg(control, UInt16(size))
            } else {
                header.pointee.msg_hdr.msg_control = nil
                header.pointee.msg_hdr.msg_controllen = 0
            }
            groupStart[messages] = Int32(i)
            groupCount[messages] = Int32(j - i)
            messages += 1
            i = j
        }
        return messages
    }

    /// The session for a client, created (with its member socket) if it has none, or moved to
    /// another member if its member refused. nil when no member can take it.
    private func session(listener: Int, client: Endpoint, address: SocketAddress, now: Int64) -> Int32? {
        let key = UDPSessionTable.Key(listener: Int32(listener), client: client)
        if let slot = table.find(key) {
            table.touch(slot, now: now)
            let i = Int(slot)
            // A member the health monitor took out loses its sessions on their next datagram.
            if (mustMove[i] || !selectors[Int(rules[listener].pool)].isUp(member[i]))
                && !moveSession(slot, listener: listener, now: now) {
                closeSession(slot)
                return nil
            }
            return slot
        }
        if table.isFull, let victim = table.leastRecentlyUsed() {
            listenerCounters[Int(table.key(of: victim).listener)].sessionsEvicted += 1
            closeSession(victim)
        }
        let pool = Int(rules[listener].pool)
        guard let chosen = selectors[pool].pick(client: client, now: now) else { return nil }
        guard let fd = openMemberSocket(pool: pool, member: chosen, listener: listener, now: now) else { return nil }
        let slot = table.insert(key, now: now)
        if table.capacity > sessionFD.count { growSlots() }
        let i = Int(slot)
        sessionFD[i] = fd
        generation[i] &+= 1
        member[i] = chosen
        tried[i] = MemberSet()
        tried[i].insert(chosen)
        mustMove[i] = false
        clientAddresses[i] = address
        if proxied[listener], let proxyHeaders {
            // Encoded once per session: a v2 header is at most 52 bytes, so it fits the stride.
            let length = ProxyHeader.encode(.v2, transport: .datagram, client: client,
                                            listener: plan.udpListeners[listener].endpoint,
                                            into: UnsafeMutableRawBufferPointer(start: headerScratch, count: ProxyHeader.maxLength))
            (proxyHeaders + i * UDPForwarder.proxyHeaderStride).copyMemory(from: headerScratch, byteCount: length)
            proxyHeaderLength[i] = UInt8(length)
        }
        if countsOpen[pool] { selectors[pool].openCounts[Int(chosen)].wrappingIncrement(ordering: .relaxed) }
        register(slot)
        listenerCounters[listener].sessionsCreated += 1
        memberCounters[Int(memberBase[pool] + chosen)].sessions += 1
        return slot
    }

    /// A socket connected to the member. Out of descriptors (EMFILE, ENFILE), the least recently
    /// used session is closed and the socket tried once more: a new client is served before an
    /// old one, as when the table is full. A failure drops the datagram and is logged at most
    /// once a second per listener, with the count since the last line.
    /// `keeping`: a session being moved, which must not be the one evicted.
    private func openMemberSocket(pool: Int, member chosen: Int32, listener: Int, now: Int64,
                                  keeping: Int32 = -1) -> Int32? {
        let address = memberAddresses[Int(memberBase[pool] + chosen)]
        var failure: SystemError
        do {
            return try Datagram.connectedSocket(to: address)
        } catch {
            failure = error
        }
        if failure.code == EMFILE || failure.code == ENFILE, let victim = table.leastRecentlyUsed(), victim != keeping {
            listenerCounters[Int(table.key(of: victim).listener)].sessionsEvicted += 1
            closeSession(victim)
            do {
                return try Datagram.connectedSocket(to: address)
            } catch {
                failure = error
            }
        }
        socketFailuresSinceLog[listener] += 1
        if now - socketFailureLogMs[listener] >= UDPForwarder.failureLogIntervalMs {
            let m = plan.member(at: Int(memberBase[pool] + chosen))
            let name = plan.udpListeners[listener].name
            logger.warning("udp listener \(name): cannot open UDP socket to member \(m.pool)/\(m.name) \(m.endpoint): \(failure) (datagrams dropped for this since the last such line: \(socketFailuresSinceLog[listener]))",
                           metadata: ["listener": "\(name)", "pool": "\(m.pool)", "member": "\(m.name)",
                                      "dropped": "\(socketFailuresSinceLog[listener])"])
            socketFailureLogMs[listener] = now
            socketFailuresSinceLog[listener] = 0
        }
        return nil
    }

    private func register(_ slot: Int32) {
        let data = Worker.eventData(.udpSession, slot: slot, generation: generation[Int(slot)])
        do {
            try poll.add(sessionFD[Int(slot)], events: EventPoll.readable, data: data)
        } catch {
            logger.error("cannot watch UDP session socket", metadata: ["error": "\(error)"])
        }
    }

    /// Reconnects a session whose member refused, or was marked down, to another member (one
    /// it has not tried, else any that is up). False when the pool has no member left.
    private func moveSession(_ slot: Int32, listener: Int, now: Int64) -> Bool {
        let i = Int(slot)
        let pool = Int(rules[listener].pool)
        let client = table.key(of: slot).client
        // The real time: persistence records the new member, and an entry stamped 0 would be
        // expired already, splitting this client's later sessions from this one.
        guard let next = selectors[pool].pick(client: client, excluding: tried[i], now: now)
            ?? selectors[pool].pick(client: client, now: now) else { return false }
        if next == member[i] {
            // No other member to go to: keep the socket. A new one would change the source
            // port, and a member that answers from a connected socket (iperf3 does) would then
            // ignore the client; an ICMP error is reported once, so the socket still works.
            mustMove[i] = false
            return true
        }
        close(sessionFD[i])
        sessionFD[i] = -1
        memberCounters[Int(memberBase[pool] + member[i])].sessionsEnded += 1
        if countsOpen[pool] {
            selectors[pool].openCounts[Int(member[i])].wrappingDecrement(ordering: .relaxed)
            selectors[pool].openCounts[Int(next)].wrappingIncrement(ordering: .relaxed)
        }
        guard let fd = openMemberSocket(pool: pool, member: next, listener: listener, now: now, keeping: slot) else {
            if countsOpen[pool] { selectors[pool].openCounts[Int(next)].wrappingDecrement(ordering: .relaxed) }
            member[i] = -1
            return false
        }
        sessionFD[i] = fd
        generation[i] &+= 1
        member[i] = next
        tried[i].insert(next)
        mustMove[i] = false
        register(slot)
        memberCounters[Int(memberBase[pool] + next)].sessions += 1
        return true
    }

    private func memberRefused(_ slot: Int32, counter: Int) {
        memberCounters[counter].refused += 1
        mustMove[Int(slot)] = true
    }

    // MARK: member -> client

    /// A session socket is readable (level-triggered): read its replies into the shared reply
    /// batch, which goes out from the listener socket when full, when another listener's
    /// replies come, or at the end of the event-loop turn.
    func sessionReadable(_ slot: Int32, generation eventGeneration: UInt32, now: Int64) {
        let i = Int(slot)
        guard sessionFD[i] >= 0, generation[i] == eventGeneration else { return }
        let listener = table.key(of: slot).listener
        let counter = Int(memberBase[Int(rules[Int(listener)].pool)] + member[i])
        if pendingReplies > 0 && replyListener != listener { flushReplies() }
        replyListener = listener
        while true {
            if pendingReplies == replies.count { flushReplies(); replyListener = listener }
            let space = replies.count - pendingReplies
            replies.prepareReceive(pendingReplies..<replies.count, withAddresses: false)
            let received: Int
            do {
                switch try Datagram.receive(sessionFD[i], replies.headers + pendingReplies, count: space) {
                case .wouldBlock: return
                case let .done(n): received = n
                }
            } catch {
                if error.code == ECONNREFUSED { memberRefused(slot, counter: counter) }
                return
            }
            for k in pendingReplies..<(pendingReplies + received) {
                let length = replies.length(k)
                replies.iovecs[k].iov_len = length
                replies.headers[k].msg_hdr.msg_name = UnsafeMutableRawPointer(clientAddresses + i)
                replies.headers[k].msg_hdr.msg_namelen = clientAddresses[i].length
                memberCounters[counter].datagramsFrom += 1
                memberCounters[counter].bytesFrom += length
            }
            pendingReplies += received
            table.touch(slot, now: now)
            if received < space { return }
        }
    }

    /// Sends the pending replies from the listener socket to their clients.
    func flushReplies() {
        guard pendingReplies > 0 else { return }
        let listener = Int(replyListener)
        let fd = listenFDs[listener]
        var sent = 0
        while sent < pendingReplies && fd >= 0 {
            do {
                switch try Datagram.send(fd, replies.headers + sent, count: pendingReplies - sent) {
                case let .done(n):
                    for k in sent..<(sent + n) {
                        listenerCounters[listener].datagramsOut += 1
                        listenerCounters[listener].bytesOut += replies.iovecs[k].iov_len
                    }
                    sent += n
                    continue
                case .wouldBlock:
                    break
                }
            } catch {
                // One bad destination must not hold back the rest of the batch.
                sent += 1
                listenerCounters[listener].dropped += 1
                continue
            }
            break
        }
        listenerCounters[listener].dropped += pendingReplies - sent
        pendingReplies = 0
    }

    // MARK: lifetime

    /// Closes sessions idle longer than their listener's timeout.
    func expireIdle(now: Int64) {
        for l in rules.indices {
            while let slot = table.idle(listener: Int32(l), since: now - rules[l].idleTimeoutMs) {
                listenerCounters[l].sessionsExpired += 1
                closeSession(slot)
            }
        }
    }

    private func closeSession(_ slot: Int32) {
        let i = Int(slot)
        let listener = Int(table.key(of: slot).listener)
        let pool = Int(rules[listener].pool)
        if countsOpen[pool] && member[i] >= 0 {
            selectors[pool].openCounts[Int(member[i])].wrappingDecrement(ordering: .relaxed)
        }
        listenerCounters[listener].sessionsClosed += 1
        if member[i] >= 0 { memberCounters[Int(memberBase[pool] + member[i])].sessionsEnded += 1 }
        member[i] = -1
        if sessionFD[i] >= 0 { close(sessionFD[i]) }
        sessionFD[i] = -1
        generation[i] &+= 1
        table.remove(slot)
    }

    /// Closes every session on one member (flat counter index); returns how many.
    func closeSessions(memberCounter: Int) -> Int {
        var count = 0
        for i in 0..<table.capacity where sessionFD[i] >= 0 && member[i] >= 0 {
            let pool = Int(rules[Int(table.key(of: Int32(i)).listener)].pool)
            guard Int(memberBase[pool] + member[i]) == memberCounter else { continue }
            closeSession(Int32(i))
            count += 1
        }
        return count
    }

    /// Stops receiving (drain): UDP has no connections to finish, so sessions end too.
    func closeListeners() {
        flushReplies()
        for i in listenFDs.indices where listenFDs[i] >= 0 {
            close(listenFDs[i])
            listenFDs[i] = -1
        }
    }

    func teardown() {
        closeListeners()
        for i in 0..<table.capacity where sessionFD[i] >= 0 { closeSession(Int32(i)) }
        inbound.deallocate()
        replies.deallocate()
        forward.deallocate()
        forwardIov.deallocate()
        groupStart.deallocate()
        proxyIov.deallocate()
        headerScratch.deallocate()
        proxyHeaders?.deallocate()
        groupCount.deallocate()
        segmentControl.deallocate()
        clientAddresses.deallocate()
    }

    @inline(__always)
    private func allowed(_ address: IPAddress, _ cidrs: [CIDR]) -> Bool {
        var i = 0
        while i < cidrs.count {
            if cidrs[i].contains(address) { return true }
            i += 1
        }
        return false
    }
}
