import CFulcrumLinux
import Dispatch
import FulcrumConfig
import FulcrumSystem
import Foundation
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
    private let finished = DispatchGroup()
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

    public func start() {
        for worker in workers {
            finished.enter()
            let thread = Thread { [finished] in
                // The kernel's thread name (15 bytes at most), so top -H and /proc show who is busy.
                _ = cfl_set_thread_name("fulcrum-w\(worker.index)")
                worker.run()
                finished.leave()
            }
            thread.name = "fulcrum-worker-\(worker.index)"
            thread.stackSize = 1 << 20
            thread.start()
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
        finished.wait(timeout: .now() + timeout) == .success
    }

    /// A member of a shutdown_sessions pool went down: every worker closes its connections.
    public func memberWentDown() {
        plan.memberDownEvents.wrappingIncrement(ordering: .releasing)
        for worker in workers { worker.wake() }
    }

    /// Counters summed over workers. Exact once the workers have ended.
    public func listenerCounters() -> [ListenerCounters] {
        workers.reduce(Array(repeating: ListenerCounters(), count: plan.listeners.count)) { sum, w in
            zip(sum, w.listenerCounters).map(+)
        }
    }

    public func udpListenerCounters() -> [UDPListenerCounters] {
        workers.reduce(Array(repeating: UDPListenerCounters(), count: plan.udpListeners.count)) { sum, w in
            zip(sum, w.udpListenerCounters).map(+)
        }
    }

    public func udpMemberCounters() -> [UDPMemberCounters] {
        workers.reduce(Array(repeating: UDPMemberCounters(), count: plan.memberCount)) { sum, w in
            zip(sum, w.udpMemberCounters).map(+)
        }
    }

    public func memberCounters() -> [MemberCounters] {
        workers.reduce(Array(repeating: MemberCounters(), count: plan.memberCount)) { sum, w in
            zip(sum, w.memberCounters).map(+)
        }
    }
}
