import FulcrumConfig

/// announce_when evaluated for one VIP from the health of the pools behind it. Pure.
public enum AnycastCondition {
    /// One pool of a VIP's listeners: members that take new traffic now (ONLINE, NO_MONITOR)
    /// out of all of them. UNKNOWN (no verdict yet), DRAINING, OFFLINE and ERROR do not count:
    /// a node must not draw flows it would have to refuse.
    public struct PoolHealth: Sendable, Equatable {
        public var name: String
        public var up: Int
        public var total: Int

        public init(name: String, up: Int, total: Int) {
            self.name = name
            self.up = up
            self.total = total
        }
    }

    /// Whether the VIP should be announced, and the reason in words for the log and `show anycast`.
    public static func evaluate(_ when: AnycastSettings.AnnounceWhen, pools: [PoolHealth]) -> (holds: Bool, reason: String) {
        if when == .always { return (true, "announce_when = always") }
        guard !pools.isEmpty else { return (false, "no listener on this address") }
        let holds: Bool
        switch when {
        case .anyMemberUp: holds = pools.contains { $0.up > 0 }
        case .allPoolsUp: holds = pools.allSatisfy { $0.up > 0 }
        case .always: holds = true
        }
        if pools.count == 1, let pool = pools.first {
            return (holds, "pool \(pool.name): \(pool.up) of \(counted(pool.total, "member")) up")
        }
        let list = pools.map { "\($0.name) \($0.up)/\($0.total)" }.joined(separator: ", ")
        return (holds, "members up in pools \(list)")
    }

    private static func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}
