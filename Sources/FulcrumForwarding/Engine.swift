import CFulcrumLinux
import FulcrumConfig
import FulcrumStatus
import FulcrumSystem
import Glibc
import Logging

/// The data plane as a whole: binds every listener once per worker, runs the workers on their
/// own threads, and drains or stops them. Control-plane code talks to this, never to sockets.
public final class Engine: @unchecked Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public let listener: String
        public let endpoint: String
        public let cause: SystemError
        public var description: String { "listener \(listener) \(endpoint): cannot listen: \(cause)" }
    }

    public let plan: ForwardingPlan
    public let workers: [Worker]
    private let logger: Logger

    /// Binds all listening sockets up front so a bad address or a port in use is reported
    /// before anything runs, naming the listener.
    public init(config: Config, logger: Logger) throws {
        self.logger = logger
        plan = ForwardingPlan(config: config)
        let count = config.workers
        var sockets = Array(repeating: [Int32](), count: count)
        do {
            for listener in plan.listeners {
                for w in 0..<count {
                    do {
                        sockets[w].append(try Socket.makeTCPListener(listener.endpoint))
                    } catch {
                        throw StartError(listener: listener.name, endpoint: "\(listener.endpoint)", cause: error)
                    }
                }
            }
            var udpSockets = Array(repeating: [Int32](), count: count)
            for listener in plan.udpListeners {
                for w in 0..<count {
                    do {
                        udpSockets[w].append(try Datagram.makeListener(listener.endpoint))
                    } catch {
                        for fds in udpSockets { for fd in fds { close(fd) } }
                        throw StartError(listener: listener.name, endpoint: "\(listener.endpoint)", cause: error)
                    }
                }
            }
            var built: [Worker] = []
            for w in 0..<count {
                built.append(try Worker(index: w, workerCount: count, plan: plan, listenFDs: sockets[w],
                                        udpListenFDs: udpSockets[w], logger: logger))
            }
            workers = built
        } catch {
            for fds in sockets { for fd in fds { close(fd) } }
            throw error
        }
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

    /// Stops accepting on every listener; workers end as their last connection closes.
    public func beginDrain() {
        for worker in workers { worker.beginDrain() }
    }

    /// Closes every remaining connection and ends the workers.
    public func stop() {
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
        plan.memberDownEvents.wrappingIncrement(ordering: .releasing)
        for worker in workers { worker.wake() }
    }

    /// An operator's `shutdown sessions member`: every worker closes the member's connections
    /// and UDP sessions.
    public func shutDownSessions(pool: Int, member: Int) {
        plan.requestShutdown(memberCounter: plan.pools[pool].memberBase + member)
        for worker in workers { worker.wake() }
    }

    /// Counters summed over workers, read while they run (or after). Each value is one the
    /// counter really had; values of different counters may be a few events apart.
    public func counterTotals() -> CounterTotals {
        var totals = CounterTotals(listeners: plan.listeners.count, udpListeners: plan.udpListeners.count,
                                   members: plan.memberCount)
        for worker in workers {
            let c = worker.counters
            for i in 0..<c.listeners.count { totals.listeners[i] = totals.listeners[i] + c.listeners[i].values }
            for i in 0..<c.udpListeners.count { totals.udpListeners[i] = totals.udpListeners[i] + c.udpListeners[i].values }
            for i in 0..<c.members.count {
                totals.members[i] = totals.members[i] + c.members[i].values
                totals.udpMembers[i] = totals.udpMembers[i] + c.udpMembers[i].values
            }
        }
        return totals
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
