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

    public init(pool: Pool, health: MemberHealth? = nil, openCounts: MemberCounts? = nil) {
        self.pool = pool
        self.health = health ?? MemberHealth(count: pool.members.count)
        self.openCounts = openCounts ?? MemberCounts(count: pool.members.count)
        current = Mutex(PoolState(pool: pool))
        changes = .create(0)
    }

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
