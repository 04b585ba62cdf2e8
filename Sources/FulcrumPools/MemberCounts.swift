import Atomics

/// Open connections (or UDP sessions) per member, shared by every worker's selector for a pool.
/// Plain atomics in one buffer: reading them while choosing costs no reference counting, which
/// an array of ManagedAtomic objects would (it doubled least-connections' pick time).
public final class MemberCounts: @unchecked Sendable {
    public let count: Int
    @usableFromInline let atomics: UnsafeMutablePointer<UnsafeAtomic<Int>>

    public init(count: Int) {
        self.count = count
        atomics = .allocate(capacity: max(count, 1))
        for i in 0..<count { (atomics + i).initialize(to: UnsafeAtomic<Int>.create(0)) }
    }

    deinit {
        for i in 0..<count { atomics[i].destroy() }
        atomics.deallocate()
    }

    @inlinable
    public subscript(member: Int) -> UnsafeAtomic<Int> { atomics[member] }
}
