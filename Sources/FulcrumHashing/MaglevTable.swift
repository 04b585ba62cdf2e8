/// A Maglev consistent-hashing lookup table (Eisenbud et al., "Maglev: A Fast and Reliable
/// Software Network Load Balancer", NSDI 2016, §3.4), with weights.
///
/// Every member gets a permutation of the `size` slots from two hashes of its identity:
/// `offset = h1 % size`, `skip = h2 % (size - 1) + 1`, slot j = `(offset + j * skip) % size`
/// (a full permutation because `size` is prime). Members then take turns, in identity order,
/// each claiming the next slot of its permutation that is still free, until every slot is taken.
///
/// Weights: relative weights normalised to the largest one. Each round every member adds its
/// weight to a credit; while the credit reaches the largest weight it takes a turn (at most one
/// per round) and pays the largest weight. A member with the largest weight takes a turn every
/// round, one with half of it every other round, so every member's slot count is its weight
/// share of `size` to within one slot. (Giving a member `w` turns in a row per round would
/// starve the members sorted last once the weight sum approaches `size`.)
///
/// The table depends only on the set of (identity, weight) pairs: members are ordered by the
/// UTF-8 bytes of their identity (then weight) before the turns, so two nodes given the same
/// members in any order build the same table. Entries hold indices into `members` as given,
/// so callers map a slot straight back to their own array.
///
/// Identities should be unique (exact duplicates get the same permutation and split its slots).
public struct MaglevTable: Sendable, Equatable {
    /// Number of slots; a prime.
    public let size: Int
    /// `entries[slot]` = index into the `members` passed to `init`; all -1 when it was empty.
    @usableFromInline let entries: [Int32]

    /// Seeds of the two identity hashes (offset, skip). Changing either remaps every flow.
    static let offsetSeed: UInt64 = 0x6D61_676C_6576_6F66  // "maglevof"
    static let skipSeed: UInt64 = 0x6D61_676C_6576_736B    // "maglevsk"

    /// `members`: stable identities (e.g. "10.0.0.11:8080" or the member name) with weights
    /// >= 1; leave weight-0 members out. `size` must be a prime (see `defaultSize`).
    public init(members: [(identity: String, weight: Int)], size: Int) {
        precondition(size >= 2 && Primes.isPrime(size), "Maglev table size must be a prime >= 2, got \(size)")
        precondition(members.count <= Int(Int32.max), "too many members")
        self.size = size
        guard !members.isEmpty else {
            entries = [Int32](repeating: -1, count: size)
            return
        }
        for member in members {
            precondition(member.weight >= 1 && member.weight <= Int(Int32.max),
                         "member \(member.identity): weight \(member.weight) outside 1...\(Int32.max)")
        }

        // Identity order, independent of the caller's order.
        let order = members.indices.sorted { a, b in
            let x = members[a], y = members[b]
            if x.identity != y.identity {
                return x.identity.utf8.lexicographicallyPrecedes(y.identity.utf8)
            }
            if x.weight != y.weight { return x.weight < y.weight }
            return a < b
        }

        let n = order.count
        let m = UInt64(size)
        var position = [Int](repeating: 0, count: n)  // next candidate slot of each permutation
        var skip = [Int](repeating: 0, count: n)
        var weight = [Int](repeating: 0, count: n)
        var credit = [Int](repeating: 0, count: n)
        var original = [Int32](repeating: 0, count: n)
        var maxWeight = 0
        for (k, index) in order.enumerated() {
            var identity = members[index].identity
            let (h1, h2) = identity.withUTF8 { utf8 -> (UInt64, UInt64) in
                let raw = UnsafeRawBufferPointer(utf8)
                return (FlowHash.hash(bytes: raw, seed: Self.offsetSeed),
                        FlowHash.hash(bytes: raw, seed: Self.skipSeed))
            }
            position[k] = Int(h1 % m)
            skip[k] = Int(h2 % (m - 1)) + 1
            weight[k] = members[index].weight
            original[k] = Int32(index)
            maxWeight = max(maxWeight, weight[k])
        }

        var table = [Int32](repeating: -1, count: size)
        table.withUnsafeMutableBufferPointer { slots in
            var filled = 0
            while true {
                for k in 0..<n {
                    credit[k] += weight[k]
                    if credit[k] < maxWeight { continue }
                    credit[k] -= maxWeight
                    var slot = position[k]
                    let step = skip[k]
                    while slots[slot] >= 0 {
                        slot += step
                        if slot >= size { slot -= size }
                    }
                    slots[slot] = original[k]
                    slot += step
                    if slot >= size { slot -= size }
                    position[k] = slot
                    filled += 1
                    if filled == size { return }
                }
            }
        }
        entries = table
    }

    /// Smallest prime >= max(65537, 100 × memberCount): 65537 up to 655 members, so each member
    /// holds at least ~100 slots (shares even to about 1%, little disruption on changes).
    public static func defaultSize(memberCount: Int) -> Int {
        let (wanted, overflow) = memberCount.multipliedReportingOverflow(by: 100)
        precondition(!overflow, "member count too large")
        return Primes.nextPrime(atLeast: max(65537, wanted))
    }

    /// The member for a flow hash: index into `members` as given, -1 if there were none.
    /// The slot is `(hash × size) >> 64` (Lemire's multiply-shift range reduction): as even as
    /// `hash % size` for a well-mixed hash, without a 64-bit division. O(1), no allocation.
    @inlinable
    public func member(forHash hash: UInt64) -> Int32 {
        entries[Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(size)).high)]
    }

    /// The member owning `slot` (0 ..< size).
    @inlinable
    public func member(atSlot slot: Int) -> Int32 {
        entries[slot]
    }
}
