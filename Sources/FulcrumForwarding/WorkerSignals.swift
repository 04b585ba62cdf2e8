import Atomics
import Synchronization

/// What the control side asks of every worker, outside the per-event path: each worker looks
/// at these when woken. One object for the engine's whole life, handed from plan to plan.
final class WorkerSignals: Sendable {
    /// Bumped by the health checker when a member of a shutdown_sessions pool goes down;
    /// workers that see it move close that member's connections.
    let memberDownEvents = ManagedAtomic<UInt64>(0)
    /// Members whose connections and sessions an operator asked to close, as "pool/member" so
    /// a reload between the request and a worker acting on it cannot change its meaning; in
    /// order. `shutdownRequestCount` moves after each append, and each worker remembers how
    /// many it has acted on. A rare path: a lock and a copy are fine here.
    private let shutdownRequests = Mutex<[String]>([])
    let shutdownRequestCount = ManagedAtomic<Int>(0)

    func requestShutdown(member identity: String) {
        shutdownRequests.withLock { $0.append(identity) }
        shutdownRequestCount.wrappingIncrement(ordering: .releasing)
    }

    /// Requests from index `from` on.
    func shutdownRequests(from: Int) -> [String] {
        shutdownRequests.withLock { requests in Array(requests[min(from, requests.count)...]) }
    }
}

/// A generation as handed to the workers: the plan, and per worker the listening sockets the
/// engine bound for its new listeners (per listener index; -1 where the sockets carry over).
struct Publication: Sendable {
    let plan: ForwardingPlan
    let tcpFDs: [[Int32]]
    let udpFDs: [[Int32]]
}

/// The newest generation, for workers to adopt when woken: the control thread publishes one
/// here, and each worker reports the one it runs in its `adopted`.
public final class PlanExchange: Sendable {
    private let latest: Mutex<Publication>
    let latestGeneration: ManagedAtomic<Int>

    init(_ plan: ForwardingPlan) {
        latest = Mutex(Publication(plan: plan, tcpFDs: [], udpFDs: []))
        latestGeneration = ManagedAtomic(plan.generation)
    }

    var publication: Publication { latest.withLock { $0 } }

    func publish(_ publication: Publication) {
        latest.withLock { $0 = publication }
        latestGeneration.store(publication.plan.generation, ordering: .releasing)
    }
}
