/// A hashed timer wheel over integer timer ids (a worker's connection slots).
///
/// Arm and cancel are O(1): each id sits in a doubly linked list threaded through arrays, so
/// nothing is allocated per timer. A deadline further away than one turn of the wheel stays in
/// its bucket and is looked at again each turn, which costs one comparison per turn. Idle
/// timeouts do not re-arm on every byte: the owner records activity and, when the timer fires,
/// re-arms it for the remaining time instead of expiring.
public struct TimerWheel {
    public let tickMs: Int64
    private let mask: Int
    private var heads: [Int32]
    private var next: [Int32]
    private var prev: [Int32]
    private var bucketOf: [Int32]
    private var deadlines: [Int64]
    /// The tick whose bucket is examined next.
    private var cursor: Int64
    public private(set) var count = 0

    private static let none: Int32 = -1

    /// `buckets` must be a power of two. `now` is the clock origin in milliseconds.
    public init(capacity: Int, tickMs: Int64 = 10, buckets: Int = 1024, now: Int64) {
        precondition(buckets > 0 && buckets & (buckets - 1) == 0, "buckets must be a power of two")
        self.tickMs = tickMs
        mask = buckets - 1
        heads = [Int32](repeating: TimerWheel.none, count: buckets)
        next = [Int32](repeating: TimerWheel.none, count: capacity)
        prev = [Int32](repeating: TimerWheel.none, count: capacity)
        bucketOf = [Int32](repeating: TimerWheel.none, count: capacity)
        deadlines = [Int64](repeating: 0, count: capacity)
        cursor = now / tickMs
    }

    public var isEmpty: Bool { count == 0 }

    /// Makes room for ids up to `capacity - 1`. Only called when a worker grows its slot table.
    public mutating func grow(to capacity: Int) {
        guard capacity > next.count else { return }
        let extra = capacity - next.count
        next += repeatElement(TimerWheel.none, count: extra)
        prev += repeatElement(TimerWheel.none, count: extra)
        bucketOf += repeatElement(TimerWheel.none, count: extra)
        deadlines += repeatElement(0, count: extra)
    }

    public func isArmed(_ id: Int32) -> Bool { bucketOf[Int(id)] != TimerWheel.none }

    public func deadline(of id: Int32) -> Int64? { isArmed(id) ? deadlines[Int(id)] : nil }

    /// Arms (or re-arms) timer `id` to fire at `deadline` milliseconds.
    public mutating func arm(_ id: Int32, at deadline: Int64) {
        if isArmed(id) { cancel(id) }
        // The bucket of the tick holding the deadline; the cursor's bucket is rescanned until
        // the clock leaves that tick, so an entry fires at its deadline, not a tick later.
        // A deadline already in the past goes to the cursor's bucket.
        let tick = max(deadline / tickMs, cursor)
        let bucket = Int32(Int(tick) & mask)
        deadlines[Int(id)] = deadline
        link(id, into: bucket)
        count += 1
    }

    public mutating func cancel(_ id: Int32) {
        let i = Int(id)
        let bucket = bucketOf[i]
        guard bucket != TimerWheel.none else { return }
        let p = prev[i], n = next[i]
        if p != TimerWheel.none { next[Int(p)] = n } else { heads[Int(bucket)] = n }
        if n != TimerWheel.none { prev[Int(n)] = p }
        next[i] = TimerWheel.none
        prev[i] = TimerWheel.none
        bucketOf[i] = TimerWheel.none
        count -= 1
    }

    /// Milliseconds until the next tick boundary, for epoll_wait's timeout; -1 when idle.
    public func millisecondsToNextTick(now: Int64) -> Int32 {
        guard count > 0 else { return -1 }
        let boundary = (now / tickMs + 1) * tickMs
        return Int32(boundary - now)
    }

    /// Removes every timer whose deadline is at or before `now` and appends its id to
    /// `expired` (a buffer the caller reuses, so this allocates nothing once it has grown).
    public mutating func collectExpired(now: Int64, into expired: inout [Int32]) {
        let target = now / tickMs
        // After a long stall, one full turn visits every bucket; more turns would add nothing.
        var steps = min(target - cursor + 1, Int64(mask + 1))
        while steps > 0 && count > 0 {
            let bucket = Int(cursor) & mask
            var id = heads[bucket]
            while id != TimerWheel.none {
                let following = next[Int(id)]
                if deadlines[Int(id)] <= now {
                    cancel(id)
                    expired.append(id)
                }
                id = following
            }
            if cursor < target { cursor += 1 }
            steps -= 1
        }
        cursor = max(cursor, target)
    }

    private mutating func link(_ id: Int32, into bucket: Int32) {
        let i = Int(id)
        let head = heads[Int(bucket)]
        next[i] = head
        prev[i] = TimerWheel.none
        if head != TimerWheel.none { prev[Int(head)] = id }
        heads[Int(bucket)] = id
        bucketOf[i] = bucket
    }
}
