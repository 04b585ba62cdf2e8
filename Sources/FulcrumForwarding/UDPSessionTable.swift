import FulcrumAddress

/// A worker's UDP sessions: client (listener, address, port) -> slot, with one least-recently-
/// used list per listener for idle expiry and a global bound enforced by evicting the oldest
/// tail. Everything lives in arrays that start small and double as sessions arrive, up to
/// `maxCount`: preallocating the maximum cost 450 MB at start for 1M sessions and 2 workers
/// (2.2 GB and 8 s for 10M), nearly all of it never touched. Once grown, lookups, inserts and
/// evictions allocate nothing. The caller keeps its own per-slot data (member socket,
/// counters) beside it and grows that to `capacity` when `insert` says the table grew.
public struct UDPSessionTable {
    public struct Key: Equatable {
        public var listener: Int32
        public var client: Endpoint

        public init(listener: Int32, client: Endpoint) {
            self.listener = listener
            self.client = client
        }
    }

    /// The most sessions the table holds (udp_max_sessions as capped at start).
    public let maxCount: Int
    /// Slots allocated now: grows by doubling up to `maxCount`.
    public private(set) var capacity: Int
    private var keys: [Key]
    private var inUse: [Bool]
    private var buckets: [Int32]
    private var chain: [Int32]
    private var newer: [Int32]
    private var older: [Int32]
    private var lastActive: [Int64]
    private var newest: [Int32]
    private var oldest: [Int32]
    private var freeHead: Int32
    private var bucketMask: Int
    public private(set) var count = 0

    private static let none: Int32 = -1
    private static let placeholder = Key(listener: -1, client: Endpoint(address: .v4(0), port: 0))
    /// Slots allocated at first: about 80 KB with the caller's side arrays.
    public static let defaultInitialCapacity = 256

    /// `capacity` is the most sessions it will hold; `initialCapacity` how many slots exist at
    /// first.
    public init(capacity maxCount: Int, listeners: Int, initialCapacity: Int = UDPSessionTable.defaultInitialCapacity) {
        precondition(maxCount > 0 && initialCapacity > 0)
        self.maxCount = maxCount
        let capacity = min(maxCount, initialCapacity)
        self.capacity = capacity
        keys = Array(repeating: UDPSessionTable.placeholder, count: capacity)
        inUse = Array(repeating: false, count: capacity)
        chain = Array(repeating: UDPSessionTable.none, count: capacity)
        newer = Array(repeating: UDPSessionTable.none, count: capacity)
        older = Array(repeating: UDPSessionTable.none, count: capacity)
        lastActive = Array(repeating: 0, count: capacity)
        newest = Array(repeating: UDPSessionTable.none, count: max(listeners, 1))
        oldest = Array(repeating: UDPSessionTable.none, count: max(listeners, 1))
        freeHead = 0
        for i in 0..<capacity { chain[i] = i + 1 < capacity ? Int32(i + 1) : UDPSessionTable.none }
        buckets = []
        bucketMask = 0
        rebuildBuckets()
    }

    public var isFull: Bool { count == maxCount }

    public func key(of slot: Int32) -> Key { keys[Int(slot)] }

    public func isInUse(_ slot: Int32) -> Bool { inUse[Int(slot)] }

    public func lastActivity(of slot: Int32) -> Int64 { lastActive[Int(slot)] }

    @inline(__always)
    public func find(_ key: Key) -> Int32? {
        var slot = buckets[bucket(of: key)]
        while slot != UDPSessionTable.none {
            if keys[Int(slot)] == key { return slot }
            slot = chain[Int(slot)]
        }
        return nil
    }

    /// Adds a session; the table must not be full (evict first). When `capacity` changed,
    /// the slots were reallocated: the caller grows its side arrays to match.
    public mutating func insert(_ key: Key, now: Int64) -> Int32 {
        precondition(count < maxCount, "session table full")
        if freeHead == UDPSessionTable.none { grow() }
        let slot = freeHead
        let i = Int(slot)
        freeHead = chain[i]
        keys[i] = key
        inUse[i] = true
        let b = bucket(of: key)
        chain[i] = buckets[b]
        buckets[b] = slot
        lastActive[i] = now
        linkNewest(slot)
        count += 1
        return slot
    }

    /// Doubles the slots (up to maxCount) and rehashes into twice as many buckets.
    private mutating func grow() {
        let old = capacity
        let bigger = min(maxCount, old * 2)
        keys += repeatElement(UDPSessionTable.placeholder, count: bigger - old)
        inUse += repeatElement(false, count: bigger - old)
        chain += repeatElement(UDPSessionTable.none, count: bigger - old)
        newer += repeatElement(UDPSessionTable.none, count: bigger - old)
        older += repeatElement(UDPSessionTable.none, count: bigger - old)
        lastActive += repeatElement(0, count: bigger - old)
        capacity = bigger
        for i in old..<bigger { chain[i] = i + 1 < bigger ? Int32(i + 1) : freeHead }
        freeHead = Int32(old)
        rebuildBuckets()
    }

    /// Sizes the buckets to at least twice the slots and rechains the sessions in use.
    private mutating func rebuildBuckets() {
        var bucketCount = 1
        while bucketCount < capacity * 2 { bucketCount <<= 1 }
        bucketMask = bucketCount - 1
        if buckets.count != bucketCount {
            buckets = Array(repeating: UDPSessionTable.none, count: bucketCount)
        } else {
            for b in buckets.indices { buckets[b] = UDPSessionTable.none }
        }
        for i in 0..<capacity where inUse[i] {
            let b = bucket(of: keys[i])
            chain[i] = buckets[b]
            buckets[b] = Int32(i)
        }
    }

    /// Marks the session as just used: it moves to the front of its listener's list.
    @inline(__always)
    public mutating func touch(_ slot: Int32, now: Int64) {
        let i = Int(slot)
        lastActive[i] = now
        if newest[Int(keys[i].listener)] == slot { return }
        unlinkLRU(slot)
        linkNewest(slot)
    }

    public mutating func remove(_ slot: Int32) {
        let i = Int(slot)
        precondition(inUse[i])
        let b = bucket(of: keys[i])
        if buckets[b] == slot {
            buckets[b] = chain[i]
        } else {
            var p = buckets[b]
            while chain[Int(p)] != slot { p = chain[Int(p)] }
            chain[Int(p)] = chain[i]
        }
        unlinkLRU(slot)
        inUse[i] = false
        chain[i] = freeHead
        freeHead = slot
        count -= 1
    }

    /// The least recently used session of `listener` if it has been idle since `cutoff` or
    /// earlier.
    @inline(__always)
    public func idle(listener: Int32, since cutoff: Int64) -> Int32? {
        let slot = oldest[Int(listener)]
        guard slot != UDPSessionTable.none, lastActive[Int(slot)] <= cutoff else { return nil }
        return slot
    }

    /// The least recently used session over all listeners: the one to evict when full.
    public func leastRecentlyUsed() -> Int32? {
        var best: Int32?
        for l in oldest.indices where oldest[l] != UDPSessionTable.none {
            let slot = oldest[l]
            if best == nil || lastActive[Int(slot)] < lastActive[Int(best!)] { best = slot }
        }
        return best
    }

    /// A reload renumbered the listeners: `map[old]` is each one's new index (the caller has
    /// removed the sessions of listeners that went, so every one in use maps). Sessions keep
    /// their slots and their order; the hash chains are rebuilt, as the hash covers the
    /// listener.
    public mutating func renumberListeners(_ map: [Int32], count listeners: Int) {
        var newest = Array(repeating: UDPSessionTable.none, count: max(listeners, 1))
        var oldest = newest
        for old in self.newest.indices where old < map.count && map[old] >= 0 {
            newest[Int(map[old])] = self.newest[old]
            oldest[Int(map[old])] = self.oldest[old]
        }
        self.newest = newest
        self.oldest = oldest
        for i in 0..<capacity where inUse[i] { keys[i].listener = map[Int(keys[i].listener)] }
        rebuildBuckets()
    }

    @inline(__always)
    private func bucket(of key: Key) -> Int {
        var h: UInt64 = UInt64(UInt32(bitPattern: key.listener)) &* 0x9E37_79B9_7F4A_7C15
        switch key.client.address {
        case let .v4(a): h ^= UInt64(a) &* 0xC2B2_AE3D_27D4_EB4F
        case let .v6(hi, lo): h ^= (hi &* 0xC2B2_AE3D_27D4_EB4F) ^ (lo &* 0x1656_67B1_9E37_79F9)
        }
        h ^= UInt64(key.client.port) &* 0x27D4_EB2F_1656_67C5
        h ^= h >> 29
        return Int(truncatingIfNeeded: h) & bucketMask
    }

    private mutating func linkNewest(_ slot: Int32) {
        let i = Int(slot)
        let l = Int(keys[i].listener)
        older[i] = newest[l]
        newer[i] = UDPSessionTable.none
        if newest[l] != UDPSessionTable.none { newer[Int(newest[l])] = slot }
        newest[l] = slot
        if oldest[l] == UDPSessionTable.none { oldest[l] = slot }
    }

    private mutating func unlinkLRU(_ slot: Int32) {
        let i = Int(slot)
        let l = Int(keys[i].listener)
        if newer[i] != UDPSessionTable.none { older[Int(newer[i])] = older[i] } else { newest[l] = older[i] }
        if older[i] != UDPSessionTable.none { newer[Int(older[i])] = newer[i] } else { oldest[l] = newer[i] }
        newer[i] = UDPSessionTable.none
        older[i] = UDPSessionTable.none
    }
}
