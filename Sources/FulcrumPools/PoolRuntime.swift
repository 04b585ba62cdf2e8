import Atomics
import FulcrumConfig
import FulcrumStatus
import Synchronization

/// One pool as it runs, shared by every worker's selector for it: the health flags, the open
/// counts, and the PoolState in force. Runtime member changes (weight, ready/drain/maint) come
/// from the control thread, which builds the new PoolState here, off the data path, and
/// publishes it: a selector sees the generation move with one load per pick and takes the new
/// state under the lock only then.
public final class PoolRuntime: @unchecked Sendable {
    public let pool: Pool
    public let health: MemberHealth
    public let openCounts: MemberCounts
    private let current: Mutex<PoolState>
    @usableFromInline let changes: UnsafeAtomic<UInt64>

    /// Member name -> index into `pool.members`, built once: a reload and the status socket
    /// look members up by name, and a linear scan per lookup would make a reload of a large
    /// pool quadratic.
    private let indexByName: [String: Int]

    public convenience init(pool: Pool, health: MemberHealth? = nil, openCounts: MemberCounts? = nil) {
        self.init(pool: pool, health: health ?? MemberHealth(count: pool.members.count),
                  openCounts: openCounts ?? MemberCounts(count: pool.members.count), state: PoolState(pool: pool))
    }

    /// The runtime of `pool` in a new configuration generation, taking over from `old` (the
    /// same pool's runtime in the generation being replaced, nil for a pool that is new).
    /// State is carried by member name, never by position, and only for a member whose config
    /// is identical: an operator's runtime weight or drain/maint stays in force across a
    /// reload unless the config of that member changed, which says the operator now wants
    /// what the config says.
    ///
    /// Health flags are carried under the rule the HealthChecker uses to carry verdicts
    /// (MemberHealth.keepsVerdict: unchanged monitor, and unchanged check endpoint and
    /// admin_state_up; a weight change keeps the verdict). The new checker, adopting the old
    /// one, sets them again from the verdicts it carries: the same values, so no flag flips
    /// and flips back, whichever of the two a reload builds first.
    ///
    /// Open counts start at zero: each worker adds its own open connections and sessions
    /// back when it takes up the new plan (they are the worker's to count, and copying them
    /// here would count them twice).
    public convenience init(pool: Pool, adopting old: PoolRuntime?) {
        guard let old else {
            self.init(pool: pool)
            return
        }
        let count = pool.members.count
        let oldState = old.state
        let sameMonitor = MemberHealth.keepsVerdicts(from: old.pool, to: pool)
        var weights = pool.members.map(\.weight)
        var adminStates = Array(repeating: AdminState.ready, count: count)
        let health = MemberHealth(count: count)
        for (i, member) in pool.members.enumerated() {
            guard let j = old.memberIndex(named: member.name) else { continue }
            let was = old.pool.members[j]
            if was == member {
                weights[i] = oldState.weights[j]
                adminStates[i] = oldState.adminStates[j]
            }
            if sameMonitor && MemberHealth.keepsVerdict(from: was, to: member) {
                health.set(member: i, up: old.health.isUp(j))
            }
        }
        self.init(pool: pool, health: health, openCounts: MemberCounts(count: count),
                  state: PoolState(pool: pool, weights: weights, adminStates: adminStates))
    }

    private init(pool: Pool, health: MemberHealth, openCounts: MemberCounts, state: PoolState) {
        self.pool = pool
        self.health = health
        self.openCounts = openCounts
        current = Mutex(state)
        changes = .create(0)
        // A validated config has unique member names; keep the first if a test's has not.
        indexByName = Dictionary(pool.members.indices.map { (pool.members[$0].name, $0) }) { first, _ in first }
    }

    /// The index into `pool.members` of the member called `name`, or nil.
    public func memberIndex(named name: String) -> Int? { indexByName[name] }

    deinit { changes.destroy() }

    /// Moves on every published change.
    @inlinable
    public var generation: UInt64 { changes.load(ordering: .acquiring) }

    /// The state in force. Takes the lock: selectors call it only when the generation moved.
    public var state: PoolState { current.withLock { $0 } }

    public enum ChangeError: Error, Equatable, CustomStringConvertible {
        case noMember(String)
        case weightOutOfRange(Int)

        public var description: String {
            switch self {
            case let .noMember(name): return "no member \(name)"
            case let .weightOutOfRange(w): return "weight \(w): allowed 0..256"
            }
        }
    }

    /// Sets a member's admin state; returns the one it had. Control thread.
    @discardableResult
    public func set(member: Int, adminState: AdminState) -> AdminState {
        update { state in
            var states = state.adminStates
            let old = states[member]
            states[member] = adminState
            return (old, old == adminState ? nil : PoolState(pool: pool, weights: state.weights, adminStates: states))
        }
    }

    /// Sets a member's weight (0...256); returns the one it had. Control thread.
    @discardableResult
    public func set(member: Int, weight: Int) throws(ChangeError) -> Int {
        guard (0...256).contains(weight) else { throw .weightOutOfRange(weight) }
        return update { state in
            var weights = state.weights
            let old = weights[member]
            weights[member] = weight
            return (old, old == weight ? nil : PoolState(pool: pool, weights: weights, adminStates: state.adminStates))
        }
    }

    /// Writers take turns; the new state (a Maglev table for hashing pools) is built outside
    /// the lock selectors take, so a pick never waits for a build.
    private let writers = Mutex(())

    private func update<T>(_ build: (PoolState) -> (T, PoolState?)) -> T {
        writers.withLock { _ in
            let (result, next) = build(state)
            if let next {
                current.withLock { $0 = next }
                changes.wrappingIncrement(ordering: .releasing)
            }
            return result
        }
    }
}
