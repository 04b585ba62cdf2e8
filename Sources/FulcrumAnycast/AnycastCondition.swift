import FulcrumConfig

/// announce_when evaluated for one VIP from the health of the pools behind it. Pure.
public enum AnycastCondition {
    /// One pool of a VIP's listeners: members that take new traffic now (ONLINE, NO_MONITOR),
    /// members without a verdict yet (UNKNOWN: just started, or their monitor changed on a
    /// reload), and all of them. DRAINING, OFFLINE and ERROR count as neither.
    public struct PoolHealth: Sendable, Equatable {
        public var name: String
        public var up: Int
        public var unknown: Int
        public var total: Int

        public init(name: String, up: Int, unknown: Int = 0, total: Int) {
            self.name = name
            self.up = up
            self.unknown = unknown
            self.total = total
        }

        /// Up, down, or not known until a member without a verdict gets one.
        var isUp: Bool? { up > 0 ? true : unknown > 0 ? nil : false }
    }

    /// Whether the VIP should be announced (nil: not known yet, so the announcement stays as it
    /// is), and the reason in words for the log and `show anycast`. Undecided rather than down
    /// while members wait for a first verdict: a reload that changes a monitor restarts its
    /// members' verdicts on every node at once, and must not withdraw the VIP everywhere.
    public static func evaluate(_ when: AnycastSettings.AnnounceWhen, pools: [PoolHealth]) -> (holds: Bool?, reason: String) {
        if when == .always { return (true, "announce_when = always") }
        guard !pools.isEmpty else { return (false, "no listener on this address") }
        let verdicts = pools.map(\.isUp)
        let holds: Bool?
        switch when {
        case .anyMemberUp:
            holds = verdicts.contains(true) ? true : verdicts.contains(nil) ? nil : false
        case .allPoolsUp:
            holds = verdicts.contains(false) ? false : verdicts.contains(nil) ? nil : true
        case .always:
            holds = true
        }
        if pools.count == 1, let pool = pools.first {
            return (holds, "pool \(pool.name): \(pool.up) of \(counted(pool.total, "member")) up" + unchecked(pool.unknown))
        }
        let list = pools.map { "\($0.name) \($0.up)/\($0.total)" }.joined(separator: ", ")
        return (holds, "members up in pools \(list)" + unchecked(pools.reduce(0) { $0 + $1.unknown }))
    }

    private static func unchecked(_ count: Int) -> String {
        count == 0 ? "" : ", \(count) not checked yet"
    }

    private static func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}
