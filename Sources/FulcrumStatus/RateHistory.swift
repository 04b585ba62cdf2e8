/// One sample of a listener's or member's traffic, rates over the step that ended at `unixSeconds`.
public struct RatePoint: Sendable, Equatable {
    public var unixSeconds: Int64
    /// New TCP connections plus new UDP sessions per second.
    public var connectionsPerSecond: Int
    /// Payload bytes per second client→member (listener: from clients; member: to the member),
    /// and member→client.
    public var bytesInPerSecond: Int
    public var bytesOutPerSecond: Int

    public init(unixSeconds: Int64, connectionsPerSecond: Int, bytesInPerSecond: Int, bytesOutPerSecond: Int) {
        self.unixSeconds = unixSeconds
        self.connectionsPerSecond = connectionsPerSecond
        self.bytesInPerSecond = bytesInPerSecond
        self.bytesOutPerSecond = bytesOutPerSecond
    }
}

/// The rates behind HAProxy's rate, rate_max and smax and the status page's charts: the
/// control thread records a snapshot about once a second, rates come from counter deltas over
/// the elapsed time, and every listener and member keeps its last `capacity` points.
/// Listeners are keyed by name, members by "pool/member"; ones gone from a snapshot (a reload
/// removed them) are forgotten, so the size stays bounded by the config.
public struct RateHistory: Sendable {
    public let capacity: Int
    private var listeners = RateSeries.Table()
    private var members = RateSeries.Table()
    /// When the previous snapshot was recorded (milliseconds, any monotonic or wall clock).
    private var lastMs: Int64?

    public init(capacity: Int = 300) {
        self.capacity = capacity
    }

    public mutating func record(_ snapshot: StatusSnapshot, atMs: Int64) {
        let elapsedMs: Int64? = lastMs.flatMap { atMs > $0 ? atMs - $0 : nil }
        // A clock that did not move forward gives no rate: keep the older baseline.
        if lastMs != nil && elapsedMs == nil { return }
        lastMs = atMs
        let at = RateSeries.Step(unixSeconds: floorSeconds(atMs), elapsedMs: elapsedMs)
        listeners.record(snapshot.listeners.map { listener in
            (listener.name, RateSeries.Reading(
                total: listener.total, bytesIn: listener.bytesIn, bytesOut: listener.bytesOut,
                current: listener.current))
        }, at: at, capacity: capacity)
        members.record(snapshot.pools.flatMap { pool in
            pool.members.map { member in
                (RateHistory.key(pool: pool.name, member: member.name), RateSeries.Reading(
                    total: member.tcp.connections + member.udp.sessions,
                    bytesIn: member.tcp.bytesToMember + member.udp.bytesTo,
                    bytesOut: member.tcp.bytesFromMember + member.udp.bytesFrom,
                    current: member.current))
            }
        }, at: at, capacity: capacity)
    }

    /// Fills every `sampled` field of `snapshot` from the latest points (zero where none yet).
    public func apply(to snapshot: inout StatusSnapshot) {
        for i in snapshot.listeners.indices {
            let listener = snapshot.listeners[i]
            snapshot.listeners[i].sampled = listeners.sampled(listener.name, current: listener.current)
        }
        for p in snapshot.pools.indices {
            let pool = snapshot.pools[p].name
            for m in snapshot.pools[p].members.indices {
                let member = snapshot.pools[p].members[m]
                snapshot.pools[p].members[m].sampled =
                    members.sampled(RateHistory.key(pool: pool, member: member.name), current: member.current)
            }
        }
    }

    /// The points of one listener, oldest first (empty for an unknown name).
    public func listenerPoints(_ name: String) -> [RatePoint] { listeners.points(name) }

    /// The points of one member, oldest first.
    public func memberPoints(pool: String, member: String) -> [RatePoint] {
        members.points(RateHistory.key(pool: pool, member: member))
    }

    /// `{"listeners":{"NAME":[[t,conn_s,in_Bps,out_Bps],...]},"members":{"pool/member":[...]}}`,
    /// oldest point first, for the status page's charts (HTTP `/history.json`).
    public func json() -> String {
        var json = JSONWriter()
        json.object { json in
            json.object("listeners") { listeners.write(to: &$0) }
            json.object("members") { members.write(to: &$0) }
        }
        return json.output
    }

    static func key(pool: String, member: String) -> String { pool + "/" + member }

    private func floorSeconds(_ ms: Int64) -> Int64 {
        ms >= 0 ? ms / 1000 : (ms - 999) / 1000
    }
}
