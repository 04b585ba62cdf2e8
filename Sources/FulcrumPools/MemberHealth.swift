import Atomics
import FulcrumConfig

/// Which members of one pool the health monitor currently lets take new traffic, shared by
/// every worker's selector and written only by the health checker. One flag per member in
/// one buffer (no reference counting on the pick path) and a generation that moves on every
/// change, so a selector notices a change with one load and recomputes what it caches.
///
/// A pool without a monitor keeps every flag up for its whole life.
public final class MemberHealth: @unchecked Sendable {
    public let count: Int
    @usableFromInline let flags: UnsafeMutablePointer<UnsafeAtomic<Bool>>
    @usableFromInline let changes: UnsafeAtomic<UInt64>

    public init(count: Int) {
        self.count = count
        flags = .allocate(capacity: max(count, 1))
        for i in 0..<count { (flags + i).initialize(to: UnsafeAtomic<Bool>.create(true)) }
        changes = .create(0)
    }

    deinit {
        for i in 0..<count { flags[i].destroy() }
        flags.deallocate()
        changes.destroy()
    }

    /// Bumped after every flag change; readers that see a new value re-read the flags.
    @inlinable
    public var generation: UInt64 { changes.load(ordering: .acquiring) }

    /// Whether the health monitor lets `member` take new traffic. Read when a reload carries
    /// flags over to a new generation (PoolRuntime, HealthChecker), not on the pick path,
    /// which reads `flags` directly.
    public func isUp(_ member: Int) -> Bool {
        flags[member].load(ordering: .relaxed)
    }

    /// Health checker only. Returns whether anything changed.
    @discardableResult
    public func set(member: Int, up: Bool) -> Bool {
        guard flags[member].exchange(up, ordering: .relaxed) != up else { return false }
        changes.wrappingIncrement(ordering: .releasing)
        return true
    }

    // A reload carries a member's verdict over when what its checks test is unchanged: the
    // pool's monitor and what happens on a down verdict, the member's check endpoint and
    // whether it is checked at all. Other member changes (weight, backup, a traffic port
    // behind monitor_port) keep the verdict. PoolRuntime and the HealthChecker both ask
    // these, so the flags a reload publishes never flip one way and back.

    /// Whether verdicts in `old` (the same pool, previous configuration) may carry over.
    public static func keepsVerdicts(from old: Pool, to pool: Pool) -> Bool {
        pool.healthMonitor == old.healthMonitor && pool.onMemberDown == old.onMemberDown
    }

    /// Whether `old`'s verdict (same name, previous configuration) carries over to `member`.
    public static func keepsVerdict(from old: Member, to member: Member) -> Bool {
        old.monitorEndpoint == member.monitorEndpoint && old.adminStateUp == member.adminStateUp
    }
}
