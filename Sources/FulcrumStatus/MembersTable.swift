/// The reply to `show members [POOL]`: a plain-text table for people, columns padded to their
/// widest cell, numbers right-aligned.
public enum MembersTable {
    private static let header = ["POOL", "MEMBER", "ADDRESS", "STATUS", "ADMIN", "WEIGHT", "CUR", "TOTAL",
                                 "BYTES_IN", "BYTES_OUT", "CHECK"]
    /// Which columns hold numbers (right-aligned).
    private static let numeric: Set<Int> = [5, 6, 7, 8, 9]

    /// All pools, or only `pool`; nil when no pool has that name (the caller replies with an error).
    public static func render(_ snapshot: StatusSnapshot, pool: String? = nil) -> String? {
        var pools = snapshot.pools
        if let pool {
            guard let selected = snapshot.pool(named: pool) else { return nil }
            pools = [selected]
        }
        var rows = [header]
        for pool in pools {
            for member in pool.members {
                rows.append(row(member, pool: pool))
            }
        }
        return TextTable.render(rows, rightAligned: numeric)
    }

    private static func row(_ member: MemberStatus, pool: PoolStatus) -> [String] {
        [
            pool.name,
            member.name,
            member.endpoint,
            member.status.rawValue,
            // admin_state_up = false in the config wins over the state set at run time.
            member.adminStateUp ? member.adminState.rawValue : "disabled",
            "\(member.weight)",
            "\(member.current)",
            "\(member.tcp.connections + member.udp.sessions)",
            "\(member.tcp.bytesToMember + member.udp.bytesTo)",
            "\(member.tcp.bytesFromMember + member.udp.bytesFrom)",
            checkText(member.health),
        ].map(OneLineText.escaped)
    }

    /// "L7OK 12ms", "L4CON 1003ms", or "-" before a first check or without a monitor.
    private static func checkText(_ health: MemberHealthStatus?) -> String {
        guard let health, let check = health.lastCheck else { return "-" }
        guard let ms = wholeMilliseconds(health.lastCheckDurationMs) else { return check }
        return "\(check) \(ms)ms"
    }
}
