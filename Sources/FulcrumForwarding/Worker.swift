import Atomics
import CFulcrumLinux
import FulcrumAddress
import FulcrumPools
import FulcrumSystem
import Glibc
import Logging

/// One data-plane thread: its own epoll, its own SO_REUSEPORT socket per listener, and every
/// connection it accepts, owned outright. Nothing here is touched by another thread except
/// `control` (an atomic) and the wake eventfd.
public final class Worker: @unchecked Sendable {
    enum Control: Int, AtomicValue {
        case run = 0, drain = 1, stop = 2
    }

    /// What an epoll event refers to, packed in its 64-bit data with the slot's generation.
    enum EventKind: UInt64 {
        case listener = 0, client = 1, member = 2, wake = 3, udpListener = 4, udpSession = 5
    }

    /// The plan's per-listener and per-pool numbers as trivial values, so the per-event path
    /// reads plain integers instead of copying structs that hold strings and arrays.
    struct ListenerRules {
        var pool: Int32
        var connectionLimit: Int
        var timeoutClientDataMs: Int64
        var timeoutMemberConnectMs: Int64
        var timeoutMemberDataMs: Int64
    }

    struct PoolRules {
        var retries: Int32
        var memberBase: Int32
    }

    public let index: Int
    let plan: ForwardingPlan
    private let listenerRules: [ListenerRules]
    private let poolRules: [PoolRules]
    private let openCounts: [ManagedAtomic<Int>]
    private let allowedCIDRs: [[CIDR]]
    /// Member sockaddrs, indexed by pool memberBase + member index.
    private let memberAddresses: [SocketAddress]
    var logger: Logger
    private let poll: EventPoll
    private let wakeFD: Int32
    private let control = ManagedAtomic<Control>(.run)
    /// This worker's listening socket per plan listener (-1 once closed for drain).
    private var listenFDs: [Int32]
    private var selectors: [PoolSelector]
    private var table: ConnectionTable
    private var wheel: TimerWheel
    private var pipes: PipePool
    /// The one buffer small reads are copied through (see copySmallRead).
    private let copyBuffer: UnsafeMutableRawPointer
    static let copyBufferSize = 4096
    private var expired: [Int32] = []
    private var now: Int64
    private var draining = false
    /// The UDP side, when this config has UDP listeners.
    private var udp: UDPForwarder?
    /// Listeners taken out of epoll after accept ran out of descriptors, and until when.
    private var listenerPausedUntil: [Int64]
    private var pausedListeners = 0
    private var acceptErrorLogMs = Int64.min / 2
    private static let listenerPauseMs: Int64 = 100

    public private(set) var listenerCounters: [ListenerCounters]
    public private(set) var memberCounters: [MemberCounters]
    /// Per member: when a connect failure was last logged, and how many since, so a dead
    /// member under load produces a line a second rather than a line per connection.
    private var failureLogMs: [Int64]
    private var failuresSinceLog: [Int]

    private static let connectEvents = EventPoll.readable | EventPoll.writable | EventPoll.readHangup
        | EventPoll.edgeTriggered
    private static let acceptBatch = 64

    /// `listenFDs[i]` is this worker's bound, listening socket for `plan.listeners[i]`;
    /// `udpListenFDs[i]` its bound socket for `plan.udpListeners[i]`.
    public init(index: Int, workerCount: Int, plan: ForwardingPlan, listenFDs: [Int32], udpListenFDs: [Int32] = [],
                logger: Logger, initialSlots: Int = 1024) throws(SystemError) {
        self.index = index
        self.plan = plan
        listenerRules = plan.listeners.map {
            ListenerRules(pool: Int32($0.pool), connectionLimit: $0.connectionLimit,
                          timeoutClientDataMs: $0.timeoutClientDataMs,
                          timeoutMemberConnectMs: $0.timeoutMemberConnectMs,
                          timeoutMemberDataMs: $0.timeoutMemberDataMs)
        }
        poolRules = plan.pools.map { PoolRules(retries: Int32($0.retries), memberBase: Int32($0.memberBase)) }
        openCounts = plan.listeners.map(\.open)
        allowedCIDRs = plan.listeners.map(\.allowedCIDRs)
        memberAddresses = plan.pools.flatMap { $0.members.map(\.socketAddress) }
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(index)"
        self.listenFDs = listenFDs
        poll = try EventPoll(capacity: 256)
        wakeFD = try syscall("eventfd") { cfl_eventfd() }
        now = cfl_monotonic_ms()
        selectors = plan.pools.map { PoolSelector(pool: $0.config, workerIndex: index, workerCount: workerCount) }
        table = ConnectionTable(capacity: initialSlots)
        wheel = TimerWheel(capacity: initialSlots, now: now)
        pipes = PipePool(size: plan.pipeSize)
        copyBuffer = UnsafeMutableRawPointer.allocate(byteCount: Worker.copyBufferSize, alignment: 64)
        expired.reserveCapacity(initialSlots)
        listenerCounters = Array(repeating: ListenerCounters(), count: plan.listeners.count)
        memberCounters = Array(repeating: MemberCounters(), count: plan.memberCount)
        listenerPausedUntil = Array(repeating: 0, count: listenFDs.count)
        failureLogMs = Array(repeating: Int64.min / 2, count: plan.memberCount)
        failuresSinceLog = Array(repeating: 0, count: plan.memberCount)
        try poll.add(wakeFD, events: EventPoll.readable, data: EventKind.wake.rawValue)
        for (i, fd) in listenFDs.enumerated() {
            try poll.add(fd, events: EventPoll.readable, data: Worker.eventData(.listener, slot: Int32(i), generation: 0))
        }
        if !udpListenFDs.isEmpty {
            udp = UDPForwarder(plan: plan, poll: poll, listenFDs: udpListenFDs, workerIndex: index,
                               workerCount: workerCount, maxSessions: plan.udpMaxSessions, logger: self.logger)
            for (i, fd) in udpListenFDs.enumerated() {
                try poll.add(fd, events: EventPoll.readable, data: Worker.eventData(.udpListener, slot: Int32(i), generation: 0))
            }
        }
    }

    public var udpListenerCounters: [UDPListenerCounters] {
        udp?.listenerCounters ?? Array(repeating: UDPListenerCounters(), count: plan.udpListeners.count)
    }

    public var udpMemberCounters: [UDPMemberCounters] {
        udp?.memberCounters ?? Array(repeating: UDPMemberCounters(), count: plan.memberCount)
    }

    // MARK: control from other threads

    /// Stop accepting; the loop ends once the last connection has closed.
    public func beginDrain() { signal(.drain) }

    /// Close every connection now and end the loop.
    public func stop() { signal(.stop) }

    private func signal(_ value: Control) {
        control.store(value, ordering: .sequentiallyConsistent)
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    public var openConnections: Int { table.active }

    // MARK: the loop

    /// Runs until drained or stopped. Returns after every socket this worker owned is closed.
    public func run() {
        defer { teardown() }
        while true {
            var timeout = wheel.millisecondsToNextTick(now: now)
            if pausedListeners > 0 && (timeout < 0 || timeout > 10) { timeout = 10 }
            // Idle UDP sessions are looked for at least every 100 ms.
            if let udp, udp.sessionCount > 0 && (timeout < 0 || timeout > 100) { timeout = 100 }
            let ready: Int
            do {
                ready = try poll.wait(timeoutMs: timeout)
            } catch {
                logger.critical("event loop failed", metadata: ["error": "\(error)"])
                return
            }
            now = cfl_monotonic_ms()
            for i in 0..<ready {
                dispatch(data: poll.data(at: i), events: poll.events(at: i))
            }
            if let udp {
                udp.flushReplies()
                if udp.sessionCount > 0 { udp.expireIdle(now: now) }
            }
            if !wheel.isEmpty { fireTimers() }
            if pausedListeners > 0 { resumeListeners() }
            if draining && table.active == 0 { return }
            if control.load(ordering: .relaxed) == .stop { return }
        }
    }

    @inline(__always)
    static func eventData(_ kind: EventKind, slot: Int32, generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(slot)) << 3 | kind.rawValue
    }

    @inline(__always)
    private func dispatch(data: UInt64, events: UInt32) {
        let kind = EventKind(rawValue: data & 7)!
        let slot = Int32(truncatingIfNeeded: (data & 0xFFFF_FFFF) >> 3)
        switch kind {
        case .udpListener:
            udp?.listenerReadable(Int(slot), now: now)
        case .udpSession:
            udp?.sessionReadable(slot, generation: UInt32(truncatingIfNeeded: data >> 32), now: now)
        case .listener:
            acceptConnections(listener: Int(slot))
        case .wake:
            handleControl()
        case .client, .member:
            let c = table[slot]
            guard c.pointee.state != .free, c.pointee.generation == UInt32(truncatingIfNeeded: data >> 32) else {
                return  // a stale event for a slot closed earlier in this batch
            }
            handleSocketEvent(slot: slot, c: c, isMember: kind == .member, events: events)
        }
    }

    private func handleControl() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
        switch control.load(ordering: .sequentiallyConsistent) {
        case .run:
            break
        case .drain, .stop:
            if !draining {
                draining = true
                for (i, fd) in listenFDs.enumerated() where fd >= 0 {
                    close(fd)
                    listenFDs[i] = -1
                }
                udp?.closeListeners()
            }
        }
    }

    // MARK: accept

    private func acceptConnections(listener: Int) {
        let fd = listenFDs[listener]
        guard fd >= 0 else { return }
        let rules = listenerRules[listener]
        let open = openCounts[listener]
        var peer = SocketAddress()
        // Level-triggered listener: a bounded batch per wake keeps one busy listener from
        // starving established connections; the rest are picked up on the next turn.
        for _ in 0..<Worker.acceptBatch {
            let client: Int32
            do {
                switch try Socket.accept(fd, peer: &peer) {
                case .wouldBlock: return
                case let .done(accepted): client = accepted
                }
            } catch {
                // ECONNABORTED and friends concern one client. Out of descriptors, the pending
                // connection stays queued and the level-triggered listener would wake us in a
                // tight loop: pause it briefly instead (HAProxy does the same).
                if error.code == EMFILE || error.code == ENFILE || error.code == ENOBUFS || error.code == ENOMEM {
                    pauseListener(listener, error: error)
                    return
                }
                continue
            }
            listenerCounters[listener].accepted += 1
            if !allowedCIDRs[listener].isEmpty, !sourceAllowed(peer, allowedCIDRs[listener]) {
                listenerCounters[listener].deniedCIDR += 1
                close(client)
                continue
            }
            let already = open.loadThenWrappingIncrement(ordering: .relaxed)
            if rules.connectionLimit >= 0 && already >= rules.connectionLimit {
                open.wrappingDecrement(ordering: .relaxed)
                listenerCounters[listener].refusedLimit += 1
                close(client)
                continue
            }
            startConnection(client: client, listener: listener)
        }
    }

    private func pauseListener(_ listener: Int, error: SystemError) {
        guard listenFDs[listener] >= 0, listenerPausedUntil[listener] == 0 else { return }
        poll.remove(listenFDs[listener])
        listenerPausedUntil[listener] = now + Worker.listenerPauseMs
        pausedListeners += 1
        if now - acceptErrorLogMs >= 1000 {
            logger.error("listener \(plan.listeners[listener].name): out of resources, pausing accept for \(Worker.listenerPauseMs) ms", metadata: [
                "listener": "\(plan.listeners[listener].name)", "error": "\(error)",
            ])
            acceptErrorLogMs = now
        }
    }

    private func resumeListeners() {
        for i in listenerPausedUntil.indices where listenerPausedUntil[i] != 0 && now >= listenerPausedUntil[i] {
            listenerPausedUntil[i] = 0
            pausedListeners -= 1
            guard listenFDs[i] >= 0 else { continue }
            do {
                try poll.add(listenFDs[i], events: EventPoll.readable,
                             data: Worker.eventData(.listener, slot: Int32(i), generation: 0))
            } catch {
                logger.error("cannot resume listener", metadata: ["listener": "\(plan.listeners[i].name)", "error": "\(error)"])
            }
        }
    }

    @inline(__always)
    private func sourceAllowed(_ peer: SocketAddress, _ cidrs: [CIDR]) -> Bool {
        guard let source = peer.endpoint?.address else { return false }
        // An index loop, not for-in: unoptimized builds box the iterator's element.
        var i = 0
        while i < cidrs.count {
            if cidrs[i].contains(source) { return true }
            i += 1
        }
        return false
    }

    private func startConnection(client: Int32, listener: Int) {
        let (slot, grew) = table.allocate()
        if grew { wheel.grow(to: table.capacity) }
        let c = table[slot]
        c.pointee.state = .connecting
        c.pointee.listener = Int32(listener)
        c.pointee.pool = listenerRules[listener].pool
        c.pointee.client = client
        c.pointee.lastClientActivity = now
        c.pointee.lastMemberActivity = now
        do {
            try poll.add(client, events: Worker.connectEvents,
                         data: Worker.eventData(.client, slot: slot, generation: c.pointee.generation))
        } catch {
            logger.error("cannot watch client socket", metadata: ["listener": "\(plan.listeners[listener].name)", "error": "\(error)"])
            closeConnection(slot)
            return
        }
        connectToMember(slot)
    }

    // MARK: connect

    /// Picks a member and starts a non-blocking connect; on immediate failure tries the next.
    private func connectToMember(_ slot: Int32) {
        let c = table[slot]
        let listener = Int(c.pointee.listener)
        let poolIndex = Int(c.pointee.pool)
        let memberBase = Int(poolRules[poolIndex].memberBase)
        while true {
            var choice = selectors[poolIndex].pick(excluding: c.pointee.tried)
            if choice == nil && c.pointee.attempts > 0 {
                // Every member has been tried once: retries go round again.
                choice = selectors[poolIndex].pick()
            }
            guard let member = choice else {
                if c.pointee.attempts == 0 {
                    listenerCounters[listener].noMember += 1
                } else {
                    listenerCounters[listener].connectFailed += 1
                }
                closeConnection(slot)
                return
            }
            c.pointee.attempts += 1
            c.pointee.tried.insert(member)
            c.pointee.member = member
            c.pointee.memberCounter = Int32(memberBase) + member
            let target = memberAddresses[memberBase + Int(member)]
            let fd: Int32
            do {
                fd = try syscall("socket") { cfl_socket_nonblocking(target.family, Int32(SOCK_STREAM.rawValue)) }
            } catch {
                // No socket is this host's problem (descriptors, memory), not the member's:
                // nothing is counted against it, the client is closed, and accepting pauses.
                listenerCounters[listener].connectFailed += 1
                closeConnection(slot)
                pauseListener(listener, error: error)
                return
            }
            Socket.setNoDelay(fd)
            c.pointee.server = fd
            do {
                try poll.add(fd, events: Worker.connectEvents,
                             data: Worker.eventData(.member, slot: slot, generation: c.pointee.generation))
                switch try Socket.connect(fd, to: target) {
                case .done:
                    established(slot)
                case .wouldBlock:
                    wheel.arm(slot, at: now + listenerRules[listener].timeoutMemberConnectMs)
                }
                return
            } catch {
                dropServerSocket(c)
                memberFailed(slot, error: error, timedOut: false)
                if !retryAllowed(c) { listenerCounters[listener].connectFailed += 1; closeConnection(slot); return }
            }
        }
    }

    @inline(__always)
    private func retryAllowed(_ c: UnsafeMutablePointer<Connection>) -> Bool {
        c.pointee.attempts <= poolRules[Int(c.pointee.pool)].retries
    }

    /// A connect attempt failed after it was started (SO_ERROR or timeout): retry or give up.
    private func connectAttemptFailed(_ slot: Int32, error: SystemError, timedOut: Bool) {
        let c = table[slot]
        wheel.cancel(slot)
        dropServerSocket(c)
        memberFailed(slot, error: error, timedOut: timedOut)
        if retryAllowed(c) {
            connectToMember(slot)
        } else {
            listenerCounters[Int(c.pointee.listener)].connectFailed += 1
            closeConnection(slot)
        }
    }

    private func dropServerSocket(_ c: UnsafeMutablePointer<Connection>) {
        if c.pointee.server >= 0 {
            close(c.pointee.server)  // closing also removes it from epoll
            c.pointee.server = -1
        }
    }

    private func memberFailed(_ slot: Int32, error: SystemError, timedOut: Bool) {
        let c = table[slot]
        let counter = Int(c.pointee.memberCounter)
        memberCounters[counter].connectFailures += 1
        if timedOut { memberCounters[counter].connectTimeouts += 1 }
        failuresSinceLog[counter] += 1
        if now - failureLogMs[counter] >= 1000 {
            let pool = plan.pools[Int(c.pointee.pool)]
            let member = pool.members[Int(c.pointee.member)]
            let cause = timedOut ? "connect timed out" : "connect failed: \(error.name) (\(error.reason))"
            logger.warning("member \(pool.name)/\(member.name) \(member.endpoint): \(cause)", metadata: [
                "pool": "\(pool.name)", "member": "\(member.name)",
                "failures": "\(failuresSinceLog[counter])",
            ])
            failureLogMs[counter] = now
            failuresSinceLog[counter] = 0
        }
    }

    private func established(_ slot: Int32) {
        let c = table[slot]
        wheel.cancel(slot)
        c.pointee.state = .established
        memberCounters[Int(c.pointee.memberCounter)].connections += 1
        // Readiness reported while connecting is unknown now: assume ready, EAGAIN corrects it.
        c.pointee.upstream = Flow(source: c.pointee.client, sink: c.pointee.server,
                                  sourceReadable: true, sinkWritable: true, copying: plan.copySmallReads)
        c.pointee.downstream = Flow(source: c.pointee.server, sink: c.pointee.client,
                                    sourceReadable: true, sinkWritable: true, copying: plan.copySmallReads)
        c.pointee.lastClientActivity = now
        c.pointee.lastMemberActivity = now
        armIdleTimer(slot)
        service(slot)
    }

    // MARK: events on connection sockets

    @inline(__always)
    private func handleSocketEvent(slot: Int32, c: UnsafeMutablePointer<Connection>, isMember: Bool, events: UInt32) {
        let readable = events & (EventPoll.readable | EventPoll.readHangup | EventPoll.hangup | EventPoll.error) != 0
        let writable = events & (EventPoll.writable | EventPoll.hangup | EventPoll.error) != 0
        switch c.pointee.state {
        case .connecting:
            if isMember {
                guard writable else { return }
                // Writable without error or hangup is a finished handshake; only a failure
                // needs SO_ERROR to say why (saves a syscall per connection).
                let failed = events & (EventPoll.error | EventPoll.hangup) != 0
                if failed, let error = Socket.pendingError(c.pointee.server) {
                    connectAttemptFailed(slot, error: error, timedOut: false)
                } else {
                    established(slot)
                }
            } else if events & (EventPoll.error | EventPoll.hangup) != 0 {
                // The client gave up (RST) before a member answered.
                closeConnection(slot)
            }
        case .established:
            if isMember {
                if readable { c.pointee.downstream.sourceReadable = true }
                if writable { c.pointee.upstream.sinkWritable = true }
            } else {
                if readable { c.pointee.upstream.sourceReadable = true }
                if writable { c.pointee.downstream.sinkWritable = true }
            }
            service(slot)
        case .free:
            break
        }
    }

    /// Moves whatever can move in both directions; closes the connection when both
    /// directions have finished or either side failed.
    @inline(__always)
    private func service(_ slot: Int32) {
        let c = table[slot]
        let memberCounter = Int(c.pointee.memberCounter)
        do {
            let up = try pump(&c.pointee.upstream)
            if up.read > 0 { c.pointee.lastClientActivity = now }
            if up.written > 0 {
                c.pointee.lastMemberActivity = now
                memberCounters[memberCounter].bytesToMember &+= up.written
            }
            let down = try pump(&c.pointee.downstream)
            if down.read > 0 {
                c.pointee.lastMemberActivity = now
                memberCounters[memberCounter].bytesFromMember &+= down.read
            }
            if down.written > 0 { c.pointee.lastClientActivity = now }
        } catch {
            // RST or an error on either side ends both.
            closeConnection(slot)
            return
        }
        if c.pointee.upstream.finished && c.pointee.downstream.finished {
            closeConnection(slot)
        }
    }

    /// Moves bytes source → pipe → sink until one side would block or the source ends.
    /// Payload never enters user space. At most one pipe's worth is held per direction: the
    /// source is read only when the pipe is empty, which is what lets the pipe go back to the
    /// pool between bursts.
    @inline(__always)
    private func pump(_ f: inout Flow) throws(SystemError) -> (read: Int, written: Int) {
        var read = 0
        var written = 0
        defer {
            if f.buffered == 0 && f.hasPipe {
                pipes.release(f.pipe, empty: true)
                f.pipe = PipePool.Pipe(read: -1, write: -1, capacity: 0)
            }
        }
        while true {
            if f.buffered > 0 {
                guard f.sinkWritable else { break }
                switch try Splice.move(from: f.pipe.read, to: f.sink, length: f.buffered) {
                case let .done(n):
                    f.buffered -= n
                    written += n
                    if f.buffered > 0 { continue }
                case .wouldBlock:
                    f.sinkWritable = false
                    return (read, written)
                }
            }
            if f.sourceEnded {
                if !f.sinkShut {
                    Socket.shutdownWrite(f.sink)
                    f.sinkShut = true
                }
                break
            }
            guard f.sourceReadable else { break }
            if f.copying {
                switch try copySmallRead(&f) {
                case let .done(moved):
                    read += moved.read
                    written += moved.written
                    continue
                case .wouldBlock:
                    f.sourceReadable = false
                    return (read, written)
                }
            }
            if !f.hasPipe { f.pipe = try pipes.acquire() }
            switch try Splice.move(from: f.source, to: f.pipe.write, length: f.pipe.capacity) {
            case .done(0):
                f.sourceEnded = true
            case let .done(n):
                f.buffered = n
                read += n
                // A short read means the peer talks in small messages: two splices and a pipe
                // cost more than a copy for those.
                if n < Worker.copyBufferSize && plan.copySmallReads { f.copying = true }
            case .wouldBlock:
                f.sourceReadable = false
                return (read, written)
            }
        }
        return (read, written)
    }

    /// One read of at most a page with recv into the worker's buffer, sent straight on. What
    /// the sink does not take goes into the flow's pipe (empty here, and at least two pages),
    /// so no per-connection buffer exists and ordering is kept: the pipe drains first.
    @inline(__always)
    private func copySmallRead(_ f: inout Flow) throws(SystemError) -> IOResult<(read: Int, written: Int)> {
        let n: Int
        switch try Socket.receive(f.source, into: copyBuffer, count: Worker.copyBufferSize) {
        case .wouldBlock: return .wouldBlock
        case let .done(count): n = count
        }
        if n == 0 {
            f.sourceEnded = true
            return .done((0, 0))
        }
        // A full buffer means bulk data is coming: splice from the next read on.
        if n == Worker.copyBufferSize { f.copying = false }
        var sent = 0
        if f.sinkWritable {
            switch try Socket.send(f.sink, from: copyBuffer, count: n) {
            case let .done(count): sent = count
            case .wouldBlock: f.sinkWritable = false
            }
        }
        if sent < n {
            if !f.hasPipe { f.pipe = try pipes.acquire() }
            switch try Splice.write(f.pipe.write, from: copyBuffer + sent, count: n - sent) {
            case let .done(count) where count == n - sent:
                f.buffered = count
            default:
                throw SystemError(code: EAGAIN, call: "write(pipe)")
            }
        }
        return .done((n, sent))
    }

    // MARK: timers

    private func armIdleTimer(_ slot: Int32) {
        let c = table[slot]
        let rules = listenerRules[Int(c.pointee.listener)]
        let deadline = min(c.pointee.lastClientActivity + rules.timeoutClientDataMs,
                           c.pointee.lastMemberActivity + rules.timeoutMemberDataMs)
        wheel.arm(slot, at: deadline)
    }

    private func fireTimers() {
        expired.removeAll(keepingCapacity: true)
        wheel.collectExpired(now: now, into: &expired)
        for slot in expired {
            let c = table[slot]
            switch c.pointee.state {
            case .connecting:
                connectAttemptFailed(slot, error: SystemError(code: ETIMEDOUT, call: "connect"), timedOut: true)
            case .established:
                let rules = listenerRules[Int(c.pointee.listener)]
                if now >= c.pointee.lastClientActivity + rules.timeoutClientDataMs
                    || now >= c.pointee.lastMemberActivity + rules.timeoutMemberDataMs {
                    listenerCounters[Int(c.pointee.listener)].idleTimeouts += 1
                    closeConnection(slot)
                } else {
                    armIdleTimer(slot)  // there was activity since it was armed
                }
            case .free:
                break
            }
        }
    }

    // MARK: teardown

    private func closeConnection(_ slot: Int32) {
        let c = table[slot]
        wheel.cancel(slot)
        if c.pointee.upstream.hasPipe {
            pipes.release(c.pointee.upstream.pipe, empty: c.pointee.upstream.buffered == 0)
        }
        if c.pointee.downstream.hasPipe {
            pipes.release(c.pointee.downstream.pipe, empty: c.pointee.downstream.buffered == 0)
        }
        if c.pointee.client >= 0 { close(c.pointee.client) }
        if c.pointee.server >= 0 { close(c.pointee.server) }
        openCounts[Int(c.pointee.listener)].wrappingDecrement(ordering: .relaxed)
        table.free(slot)
    }

    private func teardown() {
        for slot in 0..<Int32(table.capacity) where table[slot].pointee.state != .free {
            closeConnection(slot)
        }
        for fd in listenFDs where fd >= 0 { close(fd) }
        listenFDs = listenFDs.map { _ in -1 }
        pipes.closeAll()
        copyBuffer.deallocate()
        udp?.teardown()
        close(wakeFD)
        poll.close()
        table.deallocate()
    }
}
