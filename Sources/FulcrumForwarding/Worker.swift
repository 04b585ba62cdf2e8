import Atomics
import CFulcrumLinux
import FulcrumAddress
import FulcrumPools
import FulcrumProxyProtocol
import FulcrumSystem
import Glibc
import Logging
import Synchronization

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
        var countsOpen: Bool
        /// The PROXY header sent to members first, or nil for plain.
        var proxyHeader: ProxyProtocolVersion?
        /// on_member_down = shutdown_sessions.
        var shutdownOnDown: Bool
    }

    public let index: Int
    let workerCount: Int
    /// The generation this worker runs; it adopts the next one from `exchange` when woken.
    var plan: ForwardingPlan
    let exchange: PlanExchange?
    /// The generation this worker has adopted, for the control thread waiting on a reload.
    public let adopted: ManagedAtomic<Int>
    /// Per TCP listener (config, then retired): its rules and its open count.
    var listenerRules: [ListenerRules] = []
    var listenerOpen: [ManagedAtomic<Int>] = []
    var allowedCIDRs: [[CIDR]] = []
    var poolRules: [PoolRules] = []
    /// Member sockaddrs, indexed by pool memberBase + member index (config members).
    var memberAddresses: [SocketAddress] = []
    var logger: Logger
    /// This worker's epoll, wake eventfd and thread.
    public let loop: EventLoop
    /// `loop.poll`, kept as a plain value for the per-event path.
    let poll: EventPoll
    let control = ManagedAtomic<Control>(.run)
    /// This worker's listening socket per config TCP listener (-1 once closed for drain).
    var listenFDs: [Int32]
    var selectors: [PoolSelector] = []
    var table: ConnectionTable
    var wheel: TimerWheel
    var pipes: PipePool
    /// The one buffer small reads are copied through (see copySmallRead).
    let copyBuffer: UnsafeMutableRawPointer
    static let copyBufferSize = 4096
    var expired: [Int32] = []
    var now: Int64
    var draining = false
    /// The UDP side, once a generation has UDP listeners.
    var udp: UDPForwarder?
    let initialSlots: Int
    /// Listeners taken out of epoll after accept ran out of descriptors, and until when.
    var listenerPausedUntil: [Int64]
    var pausedListeners = 0
    var acceptErrorLogMs = Int64.min / 2
    /// The memberDownEvents value this worker last acted on.
    var seenMemberDownEvents: UInt64 = 0
    /// How many member-shutdown requests this worker has acted on.
    var seenShutdownRequests = 0
    /// The earliest time a connection kept for a removed listener or member must be closed
    /// (shutdown_grace after the reload that removed it); .max when there is none.
    var orphanDeadline = Int64.max
    /// A newer plan is published; adopted once this loop turn's events are handled.
    var adoptPending = false
    static let listenerPauseMs: Int64 = 100

    /// This worker's counters: written by this thread only, readable by any while it runs
    /// through `publishedCounters`. A reload moves them into a block sized for the new plan.
    var counters: WorkerCounters
    private let published: Mutex<(generation: Int, counters: WorkerCounters)>
    var listenerCounters: CounterArray<ListenerCells>
    var memberCounters: CounterArray<MemberCells>
    /// Per member: when a connect failure was last logged, and how many since, so a dead
    /// member under load produces a line a second rather than a line per connection.
    var failureLogMs: [Int64] = []
    var failuresSinceLog: [Int] = []

    static let connectEvents = EventPoll.readable | EventPoll.writable | EventPoll.readHangup
        | EventPoll.edgeTriggered
    static let acceptBatch = 64

    /// `listenFDs[i]` is this worker's bound, listening socket for `plan.listeners[i]`;
    /// `udpListenFDs[i]` its bound socket for `plan.udpListeners[i]`. With an `exchange`, the
    /// worker adopts each newer plan published there.
    public init(index: Int, workerCount: Int, plan: ForwardingPlan, listenFDs: [Int32], udpListenFDs: [Int32] = [],
                logger: Logger, initialSlots: Int = 1024, exchange: PlanExchange? = nil) throws(SystemError) {
        self.index = index
        self.workerCount = workerCount
        self.plan = plan
        self.exchange = exchange
        adopted = ManagedAtomic(plan.generation)
        self.initialSlots = initialSlots
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(index)"
        self.listenFDs = listenFDs
        loop = try EventLoop(name: "fulcrum-w\(index)", capacity: 256, wakeData: EventKind.wake.rawValue)
        poll = loop.poll
        now = cfl_monotonic_ms()
        table = ConnectionTable(capacity: initialSlots)
        wheel = TimerWheel(capacity: initialSlots, now: now)
        pipes = PipePool(size: plan.pipeSize)
        copyBuffer = UnsafeMutableRawPointer.allocate(byteCount: Worker.copyBufferSize, alignment: 64)
        expired.reserveCapacity(initialSlots)
        counters = WorkerCounters(plan: plan)
        published = Mutex((plan.generation, counters))
        listenerCounters = counters.listeners
        memberCounters = counters.members
        listenerPausedUntil = Array(repeating: 0, count: listenFDs.count)
        failureLogMs = Array(repeating: Int64.min / 2, count: plan.allMemberCount)
        failuresSinceLog = Array(repeating: 0, count: plan.allMemberCount)
        takeRules(of: plan, previous: nil)
        for (i, fd) in listenFDs.enumerated() {
            try poll.add(fd, events: EventPoll.readable, data: Worker.eventData(.listener, slot: Int32(i), generation: 0))
        }
        if !udpListenFDs.isEmpty {
            try startUDP(listenFDs: udpListenFDs)
        }
    }

    func startUDP(listenFDs udpListenFDs: [Int32]) throws(SystemError) {
        udp = UDPForwarder(plan: plan, poll: poll, listenFDs: udpListenFDs, workerIndex: index,
                           workerCount: workerCount, maxSessions: plan.udpMaxSessions, counters: counters,
                           logger: logger)
        for (i, fd) in udpListenFDs.enumerated() {
            try poll.add(fd, events: EventPoll.readable, data: Worker.eventData(.udpListener, slot: Int32(i), generation: 0))
        }
    }

    /// The per-event copies of a plan's rules. Selectors of pools whose runtime is the same
    /// object as before are kept (round robin goes on where it was).
    func takeRules(of plan: ForwardingPlan, previous: [Int32: PoolSelector]?) {
        let tcp = plan.listeners + plan.retiredListeners
        listenerRules = tcp.map {
            ListenerRules(pool: Int32($0.pool), connectionLimit: $0.connectionLimit,
                          timeoutClientDataMs: $0.timeoutClientDataMs,
                          timeoutMemberConnectMs: $0.timeoutMemberConnectMs,
                          timeoutMemberDataMs: $0.timeoutMemberDataMs)
        }
        listenerOpen = tcp.map(\.open)
        allowedCIDRs = tcp.map(\.allowedCIDRs)
        poolRules = plan.pools.map {
            PoolRules(retries: Int32($0.retries), memberBase: Int32($0.memberBase), countsOpen: $0.countsOpen,
                      proxyHeader: $0.proxyHeader,
                      shutdownOnDown: $0.shutdownOnDown)
        }
        memberAddresses = plan.pools.flatMap { $0.members.map(\.socketAddress) }
        selectors = plan.pools.enumerated().map { p, pool in
            if let kept = previous?[Int32(p)], kept.runtime === pool.runtime { return kept }
            return PoolSelector(pool: pool.config, workerIndex: index, workerCount: workerCount,
                                runtime: pool.runtime, stickTable: pool.stickTable)
        }
    }

    /// Who may read this worker's counters while it runs, and for which generation's indices.
    public func publishedCounters() -> (generation: Int, counters: WorkerCounters) {
        published.withLock { $0 }
    }

    func publish(_ counters: WorkerCounters, generation: Int) {
        published.withLock { $0 = (generation, counters) }
    }

    // MARK: control from other threads

    /// Stop accepting; the loop ends once the last connection has closed.
    public func beginDrain() { signal(.drain) }

    /// Close every connection now and end the loop.
    public func stop() { signal(.stop) }

    func signal(_ value: Control) {
        control.store(value, ordering: .sequentiallyConsistent)
        wake()
    }

    /// Makes the loop look at its control state and the plan's events now.
    public func wake() { loop.wake() }

    // MARK: the loop

    /// Runs until drained or stopped. Returns after every socket this worker owned is closed.
    public func run() {
        defer { teardown() }
        var lastTurnHadEvents = false
        while true {
            var timeout = wheel.millisecondsToNextTick(now: now)
            if pausedListeners > 0 && (timeout < 0 || timeout > 10) { timeout = 10 }
            // Idle UDP sessions are looked for at least every 100 ms.
            if let udp, udp.sessionCount > 0 && (timeout < 0 || timeout > 100) { timeout = 100 }
            if orphanDeadline != .max {
                let untilOrphans = Int32(clamping: max(0, orphanDeadline - now))
                if timeout < 0 || timeout > untilOrphans { timeout = untilOrphans }
            }
            var ready: Int
            do {
                // Before sleeping, give the CPU away once and look again. When the clients and
                // members share our cores, the events we wait for are usually produced by the
                // process that runs next; finding them without a sleep/wake-up round trip is
                // what kept request/response and new-connection rates level with HAProxy in
                // bench/ (measured: 0.6x without, about 0.9-1.0x with). On idle cores the
                // yield returns at once.
                ready = try poll.wait(timeoutMs: 0)
                // Only after a turn that had events: a wake-up for timers alone (UDP expiry
                // every 100 ms, the wheel) must not make an idle worker spin.
                if ready == 0 && lastTurnHadEvents && timeout != 0 && plan.busyPollMicroseconds > 0 {
                    ready = try busyPoll(microseconds: plan.busyPollMicroseconds)
                }
                if ready == 0 {
                    Pause.yieldProcessor()
                    // Returns at once if the yield let events in; no separate zero-timeout look.
                    ready = try poll.wait(timeoutMs: timeout)
                }
            } catch {
                logger.critical("event loop failed", metadata: ["error": "\(error)"])
                return
            }
            now = cfl_monotonic_ms()
            lastTurnHadEvents = ready > 0
            for i in 0..<ready {
                dispatch(data: poll.data(at: i), events: poll.events(at: i))
            }
            if let udp {
                udp.flushReplies()
                if udp.sessionCount > 0 { udp.expireIdle(now: now) }
            }
            if !wheel.isEmpty { fireTimers() }
            if pausedListeners > 0 { resumeListeners() }
            if adoptPending, let exchange {
                adoptPending = false
                adopt(exchange.publication)
            }
            if now >= orphanDeadline { closeExpiredOrphans() }
            if draining && table.active == 0 { return }
            if control.load(ordering: .relaxed) == .stop { return }
        }
    }

    /// busy_poll: looks for events for up to `budget` µs, giving the CPU away between looks,
    /// so that what arrives within it is found without a sleep and a wake-up. On a virtual
    /// machine a vCPU with nothing to run halts, and waking it costs tens of microseconds
    /// (HAProxy's busy-polling documents 30-100 µs); bench/RESULTS.md has the measurement.
    /// The yield keeps the clients and members that share our cores running meanwhile.
    func busyPoll(microseconds budget: Int64) throws(SystemError) -> Int {
        let deadline = cfl_monotonic_us() + budget
        repeat {
            Pause.yieldProcessor()
            let ready = try poll.wait(timeoutMs: 0)
            if ready > 0 { return ready }
        } while cfl_monotonic_us() < deadline
        return 0
    }

    @inline(__always)
    static func eventData(_ kind: EventKind, slot: Int32, generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(slot)) << 3 | kind.rawValue
    }

    @inline(__always)
    func dispatch(data: UInt64, events: UInt32) {
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

    func handleControl() {
        loop.consumeWake()
        if let exchange, exchange.latestGeneration.load(ordering: .acquiring) != plan.generation {
            // Taken at the end of this loop turn: events later in this batch still carry the
            // current plan's listener indices.
            adoptPending = true
        }
        let signals = plan.signals
        let downEvents = signals.memberDownEvents.load(ordering: .acquiring)
        if downEvents != seenMemberDownEvents {
            seenMemberDownEvents = downEvents
            shutDownSessionsOfDownMembers()
        }
        if signals.shutdownRequestCount.load(ordering: .acquiring) != seenShutdownRequests {
            let requests = signals.shutdownRequests(from: seenShutdownRequests)
            seenShutdownRequests += requests.count
            for identity in requests {
                if let flat = plan.memberIndex[identity] { shutDownSessions(memberCounter: flat) }
            }
        }
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
}
