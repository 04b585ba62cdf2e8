import FulcrumAddress
import Synchronization

/// session_persistence SOURCE_IP: client (masked by the granularity) -> member, with expiry.
/// Shared by every worker of a pool, because one client's connections reach different workers
/// (SO_REUSEPORT hashes on the 4-tuple), so it takes a lock — only pools with persistence pay
/// for it. Fixed capacity, open addressing over a short probe window: when the window is full
/// the entry that expires first is replaced, so the table never grows.
public final class StickTable: Sendable {
    struct Entry {
        var key: IPAddress
        /// The member's index in the pool; -1 marks a free slot.
        var member: Int32
        var expires: Int64
    }

    /// The slots, behind the lock every lookup and record takes. A Mutex owns its value in
    /// place, so the lock is never moved (a pthread_mutex_t stored in a class and passed by
    /// `&` is only safe while the compiler happens not to copy it), and the array is changed
    /// in place under it: after init, no lookup or record allocates.
    private let entries: Mutex<[Entry]>
    private let mask: Int
    private let timeoutMs: Int64
    private let granularity: UInt32
    private static let probes = 8

    public init(capacity: Int = 65_536, timeoutSeconds: Int, granularity: UInt32) {
        var size = 1
        while size < capacity { size <<= 1 }
        entries = Mutex(Array(repeating: Entry(key: .v4(0), member: -1, expires: 0), count: size))
        mask = size - 1
        timeoutMs = Int64(timeoutSeconds) * 1000
        self.granularity = granularity
    }

    /// The table of a pool in a new configuration generation, taking over `old`'s clients.
    /// `memberMap[i]` is the new index of old member i, or -1 if the reload removed it (or
    /// its config changed, at the caller's choice). A client stuck to a member that remains
    /// stays stuck to it, keyed as before and seen when it was last seen: its expiry is
    /// last seen + the new timeout. Clients of removed members are dropped, as are all of
    /// them when the granularity changed, since the old keys group clients differently.
    ///
    /// Same capacity as `old`, and every entry kept in its slot: the slot depends only on
    /// the key and the capacity, so the probe windows are exactly as they were.
    public init(adopting old: StickTable, timeoutSeconds: Int, granularity: UInt32, memberMap: [Int32]) {
        mask = old.mask
        timeoutMs = Int64(timeoutSeconds) * 1000
        self.granularity = granularity
        let keys = granularity == old.granularity
        let shift = timeoutMs - old.timeoutMs
        let carried: [Entry] = old.entries.withLock { slots in
            slots.map { entry in
                var entry = entry
                let m = Int(entry.member)
                if keys && m >= 0 && m < memberMap.count && memberMap[m] >= 0 {
                    entry.member = memberMap[m]
                    entry.expires += shift
                } else {
                    entry.member = -1
                }
                return entry
            }
        }
        entries = Mutex(carried)
    }

    /// The key a client is stuck by: IPv4 masked by the granularity, IPv6 whole.
    @inline(__always)
    public func key(for client: IPAddress) -> IPAddress {
        if case let .v4(a) = client.unmapped { return .v4(a & granularity) }
        return client
    }

    /// The member `client` is stuck to, refreshing its expiry, or nil.
    public func lookup(_ client: IPAddress, now: Int64) -> Int32? {
        let k = key(for: client)
        var i = slot(k)
        return entries.withLock { entries -> Int32? in
            for _ in 0..<StickTable.probes {
                if entries[i].member >= 0 && entries[i].key == k {
                    guard entries[i].expires > now else {
                        entries[i].member = -1
                        return nil
                    }
                    entries[i].expires = now + timeoutMs
                    return entries[i].member
                }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// Sticks `client` to `member` (replacing any earlier choice).
    public func record(_ client: IPAddress, member: Int32, now: Int64) {
        let k = key(for: client)
        var i = slot(k)
        entries.withLock { entries in
            var victim = i
            for _ in 0..<StickTable.probes {
                if entries[i].member < 0 || entries[i].key == k || entries[i].expires <= now {
                    victim = i
                    break
                }
                if entries[i].expires < entries[victim].expires { victim = i }
                i = (i + 1) & mask
            }
            entries[victim] = Entry(key: k, member: member, expires: now + timeoutMs)
        }
    }

    /// Forgets every client stuck to `member` (it became unavailable).
    public func forget(member: Int32) {
        entries.withLock { entries in
            for i in entries.indices where entries[i].member == member { entries[i].member = -1 }
        }
    }

    @inline(__always)
    private func slot(_ k: IPAddress) -> Int {
        var h: UInt64
        switch k {
        case let .v4(a): h = UInt64(a) &* 0x9E37_79B9_7F4A_7C15
        case let .v6(hi, lo): h = (hi &* 0x9E37_79B9_7F4A_7C15) ^ (lo &* 0xC2B2_AE3D_27D4_EB4F)
        }
        h ^= h >> 31
        return Int(truncatingIfNeeded: h) & mask
    }
}
