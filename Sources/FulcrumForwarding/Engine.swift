import CFulcrumLinux
import FulcrumConfig
import FulcrumStatus
import FulcrumSystem
import Glibc
import Logging
import Atomics
import Synchronization

/// The data plane as a whole: binds every listener once per worker, runs the workers on their
/// own threads, and drains or stops them. Control-plane code talks to this, never to sockets.
public final class Engine: @unchecked Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public let listener: String
        public let endpoint: String
        public let cause: SystemError
        /// The port asked for: EACCES below 1024 means a missing capability, not a path.
        public var port: UInt16 = 0
        public var description: String {
            let text = "listener \(listener) \(endpoint): cannot listen: \(cause)"
            guard cause.code == EACCES, port > 0, port < 1024 else { return text }
            return text + "; binding a port below 1024 needs CAP_NET_BIND_SERVICE"
        }
    }

    /// A reload that cannot be applied; nothing has changed.
    public enum ReloadError: Error, CustomStringConvertible {
        case cannotListen(StartError)
        case shuttingDown
        case workersDidNotAdopt(generation: Int)

        public var description: String {
            switch self {
            case let .cannotListen(error): return "\(error)"
            case .shuttingDown: return "shutting down: no reload"
            case let .workersDidNotAdopt(generation):
                return "configuration generation \(generation) is in force, but not every worker had taken it after 10 s"
            }
        }
    }

    private let current: Mutex<ForwardingPlan>
    private let exchange: PlanExchange
    public let workers: [Worker]
    private let workerCount: Int
    private let draining = ManagedAtomic(false)
    private let logger: Logger

    /// The generation in force: the one every worker has adopted.
    public var plan: ForwardingPlan { current.withLock { $0 } }

    /// Binds all listening sockets up front so a bad address or a port in use is reported
    /// before anything runs, naming the listener.
    public init(config: Config, logger: Logger) throws {
        self.logger = logger
        let plan = ForwardingPlan(config: config)
        if !plan.udpListeners.isEmpty && plan.udpMaxSessions < plan.configuredUDPMaxSessions {
            for listener in plan.udpListeners {
                logger.warning("udp listener \(listener.name): udp_max_sessions \(plan.configuredUDPMaxSessions) per worker capped to \(plan.udpMaxSessions) by RLIMIT_NOFILE=\(SystemLimits.current().openFiles): half of the descriptors left after listeners and a reserve stay for TCP, status and health checks",
                               metadata: ["listener": "\(listener.name)"])
            }
        }
        current = Mutex(plan)
        exchange = PlanExchange(plan)
        let count = config.workers
        workerCount = count
        let (sockets, udpSockets) = try Engine.bind(plan.listeners, plan.udpListeners, workers: count)
        do {
            var built: [Worker] = []
            for w in 0..<count {
                built.append(try Worker(index: w, workerCount: count, plan: plan, listenFDs: sockets[w],
                                        udpListenFDs: udpSockets[w], logger: logger, exchange: exchange))
            }
            workers = built
        } catch {
            for fds in sockets + udpSockets { for fd in fds where fd >= 0 { close(fd) } }
            throw error
        }
    }

    /// One SO_REUSEPORT socket per worker for each listener given (-1 for those `skip` says
    /// already have sockets). On failure, closes what it bound and names the listener.
    private static func bind(_ tcp: [ForwardingPlan.ListenerPlan], _ udp: [ForwardingPlan.ListenerPlan], workers: Int,
                             skipTCP: [Int32] = [], skipUDP: [Int32] = []) throws(StartError) -> ([[Int32]], [[Int32]]) {
        var sockets = Array(repeating: Array(repeating: Int32(-1), count: tcp.count), count: workers)
        var udpSockets = Array(repeating: Array(repeating: Int32(-1), count: udp.count), count: workers)
        func closeAll() { for fds in sockets + udpSockets { for fd in fds where fd >= 0 { close(fd) } } }
        for (i, listener) in tcp.enumerated() where i >= skipTCP.count || skipTCP[i] < 0 {
            for w in 0..<workers {
                do {
                    sockets[w][i] = try Socket.makeTCPListener(listener.endpoint)
                } catch {
                    closeAll()
                    throw StartError(listener: listener.name, endpoint: "\(listener.endpoint)", cause: error,
                                     port: listener.endpoint.port)
                }
            }
        }
        for (i, listener) in udp.enumerated() where i >= skipUDP.count || skipUDP[i] < 0 {
            for w in 0..<workers {
                do {
                    udpSockets[w][i] = try Datagram.makeListener(listener.endpoint)
                } catch {
                    closeAll()
                    throw StartError(listener: listener.name, endpoint: "\(listener.endpoint)", cause: error,
                                     port: listener.endpoint.port)
                }
            }
        }
        return (sockets, udpSockets)
    }

    /// Starts one thread per worker. A thread that cannot start is fatal to the daemon (it
    /// reports it): the others are stopped first.
    public func start() throws(SystemError) {
        for worker in workers {
            do {
                try worker.loop.start { worker.run() }
            } catch {
                stop()
                throw error
            }
        }
    }

    /// A reload that has built its plan and bound its new listeners, not yet in force.
    public struct PreparedReload: Sendable {
        public let plan: ForwardingPlan
        let tcpFDs: [[Int32]]
        let udpFDs: [[Int32]]
    }

    /// First half of a reload: builds the next generation from the one in force and binds the
    /// sockets of new listeners. A failure refuses the reload with nothing changed; so does
    /// `abandon`. Control thread only, one reload at a time.
    public func prepareReload(_ config: Config) throws(ReloadError) -> PreparedReload {
        guard !draining.load(ordering: .acquiring) else { throw .shuttingDown }
        let next = ForwardingPlan(config: config, previous: plan, nowMs: cfl_monotonic_ms())
        let succession = next.succession!
        do {
            let (tcp, udp) = try Engine.bind(next.listeners, next.udpListeners, workers: workerCount,
                                             skipTCP: succession.tcpSocketsFrom, skipUDP: succession.udpSocketsFrom)
            return PreparedReload(plan: next, tcpFDs: tcp, udpFDs: udp)
        } catch {
            throw .cannotListen(error)
        }
    }

    /// Closes what `prepareReload` bound.
    public func abandon(_ prepared: PreparedReload) {
        for fds in prepared.tcpFDs + prepared.udpFDs { for fd in fds where fd >= 0 { close(fd) } }
    }

    /// Second half: hands the plan to every worker and returns once all of them run it — new
    /// listeners are accepting and new connections use the new pools. The plan is in force
    /// from here on even if this throws: a worker that has not taken it yet will at its next
    /// loop turn (the error only says it is late).
    public func commit(_ prepared: PreparedReload) throws(ReloadError) {
        let next = prepared.plan
        exchange.publish(Publication(plan: next, tcpFDs: prepared.tcpFDs, udpFDs: prepared.udpFDs))
        current.withLock { $0 = next }
        for worker in workers { worker.wake() }
        // Workers adopt at their next loop turn: well under a millisecond, idle or busy.
        let deadline = cfl_monotonic_ms() + 10_000
        for worker in workers {
            while worker.adopted.load(ordering: .acquiring) != next.generation {
                if cfl_monotonic_ms() > deadline { throw .workersDidNotAdopt(generation: next.generation) }
                var pause = timespec(tv_sec: 0, tv_nsec: 100_000)
                nanosleep(&pause, nil)
            }
        }
    }

    /// Stops accepting on every listener; workers end as their last connection closes.
    public func beginDrain() {
        draining.store(true, ordering: .releasing)
        for worker in workers { worker.beginDrain() }
    }

    /// Closes every remaining connection and ends the workers.
    public func stop() {
        draining.store(true, ordering: .releasing)
        for worker in workers { worker.stop() }
    }

    /// Waits for every worker to end, up to `timeout` seconds. True if they all ended.
    public func wait(timeout: Double) -> Bool {
        let deadline = cfl_monotonic_ms() + Int64(timeout * 1000)
        for worker in workers {
            let left = max(0, deadline - cfl_monotonic_ms())
            if !worker.loop.join(timeoutMs: Int(left)) { return false }
        }
        return true
    }

    /// A member of a shutdown_sessions pool went down: every worker closes its connections.
    public func memberWentDown() {
        plan.signals.memberDownEvents.wrappingIncrement(ordering: .releasing)
        for worker in workers { worker.wake() }
    }

    /// An operator's `shutdown sessions member`: every worker closes the member's connections
    /// and UDP sessions.
    public func shutDownSessions(pool: String, member: String) {
        plan.signals.requestShutdown(member: "\(pool)/\(member)")
        for worker in workers { worker.wake() }
    }

    /// Counters summed over workers, read while they run (or after). Each value is one the
    /// counter really had; values of different counters may be a few events apart. Indexed
    /// as `plan` (the one in force unless given) indexes its config listeners and members.
    public func counterTotals(for plan: ForwardingPlan? = nil) -> CounterTotals {
        let plan = plan ?? self.plan
        var totals = CounterTotals(listeners: plan.listeners.count, udpListeners: plan.udpListeners.count,
                                   members: plan.memberCount)
        for worker in workers {
            let (generation, c) = worker.publishedCounters()
            // Only between a reload's publication and the last worker's adoption, which the
            // control thread (the only reader while running) waits out.
            guard generation == plan.generation else { continue }
            for i in 0..<totals.listeners.count { totals.listeners[i] = totals.listeners[i] + c.listeners[i].values }
            for i in 0..<totals.udpListeners.count { totals.udpListeners[i] = totals.udpListeners[i] + c.udpListeners[i].values }
            for i in 0..<totals.members.count {
                totals.members[i] = totals.members[i] + c.members[i].values
                totals.udpMembers[i] = totals.udpMembers[i] + c.udpMembers[i].values
            }
        }
        return totals
    }

    /// TCP connections open on every listener, retired ones included, from the counters.
    public func openConnections() -> Int {
        var open = 0
        for worker in workers {
            let c = worker.publishedCounters().counters.listeners
            for i in 0..<c.count {
                let values = c[i].values
                open += values.accepted - values.closed
            }
        }
        return open
    }
}

/// Every counter summed over workers, indexed as the plan indexes listeners and members.
public struct CounterTotals: Sendable {
    public var listeners: [ListenerCounters]
    public var udpListeners: [UDPListenerCounters]
    public var members: [MemberCounters]
    public var udpMembers: [UDPMemberCounters]

    init(listeners: Int, udpListeners: Int, members: Int) {
        self.listeners = Array(repeating: ListenerCounters(), count: listeners)
        self.udpListeners = Array(repeating: UDPListenerCounters(), count: udpListeners)
        self.members = Array(repeating: MemberCounters(), count: members)
        self.udpMembers = Array(repeating: UDPMemberCounters(), count: members)
    }
}
