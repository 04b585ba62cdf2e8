import Atomics

/// nginx's smooth weighted round robin, computed once into a sequence of member indices.
///
/// Each step adds every member's weight to its running score, picks the highest score and
/// subtracts the total from it. Weights 5/1/1 give a a b a c a a rather than a a a a a b c, so
/// no member gets a burst. Precomputing one full cycle (length = sum of weights) makes each
/// pick an array read and an increment.
public struct SmoothWeightedRoundRobin: Sendable {
    public let sequence: [Int32]
    @usableFromInline var position: Int

    /// `weights[i]` is member i's weight; members with weight 0 never appear.
    public init(weights: [Int], startOffset: Int = 0) {
        self.init(sequence: SmoothWeightedRoundRobin.cycle(weights: weights), startOffset: startOffset)
    }

    /// A cycle computed earlier (PoolState builds it off the data path).
    public init(sequence: [Int32], startOffset: Int) {
        self.sequence = sequence
        position = sequence.isEmpty ? 0 : startOffset % sequence.count
    }

    /// One full cycle of the smooth WRR order.
    public static func cycle(weights: [Int]) -> [Int32] {
        let total = weights.reduce(0) { $0 + max($1, 0) }
        guard total > 0 else { return [] }
        var scores = [Int](repeating: 0, count: weights.count)
        var order: [Int32] = []
        order.reserveCapacity(total)
        for _ in 0..<total {
            var best = -1
            for i in weights.indices where weights[i] > 0 {
                scores[i] += weights[i]
                if best < 0 || scores[i] > scores[best] { best = i }
            }
            scores[best] -= total
            order.append(Int32(best))
        }
        return order
    }

    public var isEmpty: Bool { sequence.isEmpty }

    /// The next member in the cycle that is not in `excluded`, or nil if every member is.
    @inlinable
    public mutating func next(excluding excluded: MemberSet = MemberSet()) -> Int32? {
        let count = sequence.count
        guard count > 0 else { return nil }
        for _ in 0..<count {
            let member = sequence[position]
            position += 1
            if position == count { position = 0 }
            if !excluded.contains(member) { return member }
        }
        return nil
    }

    /// As `next(excluding:)`, also skipping members whose health flag is down. A skipped
    /// member's turn goes to the next one in the cycle, so the others keep their proportions.
    @inlinable
    public mutating func next(excluding excluded: MemberSet, up: UnsafeMutablePointer<UnsafeAtomic<Bool>>) -> Int32? {
        let count = sequence.count
        guard count > 0 else { return nil }
        for _ in 0..<count {
            let member = sequence[position]
            position += 1
            if position == count { position = 0 }
            if !excluded.contains(member) && up[Int(member)].load(ordering: .relaxed) { return member }
        }
        return nil
    }
}

/// A small set of member indices (the members a connection already tried). Members past 64
/// are never recorded, so a connection retrying in a huge pool may try one twice.
public struct MemberSet: Sendable, Equatable {
    @usableFromInline var bits: UInt64 = 0

    public init() {}

    @inlinable
    public func contains(_ member: Int32) -> Bool {
        member < 64 && bits & (1 << UInt64(member)) != 0
    }

    @inlinable
    public mutating func insert(_ member: Int32) {
        if member < 64 { bits |= 1 << UInt64(member) }
    }
}
