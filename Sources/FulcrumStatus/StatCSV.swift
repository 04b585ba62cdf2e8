/// The reply to `show stat`: HAProxy's CSV (`# ` header, one row per frontend, server and
/// backend) restricted to the fields Fulcrum has, in HAProxy's order, then Fulcrum's own.
/// Empty cells mean "not applicable here", as in HAProxy.
///
/// | column         | FRONTEND (listener)              | member row                          | BACKEND (pool)                    |
/// |----------------|----------------------------------|-------------------------------------|-----------------------------------|
/// | pxname         | listener name                    | pool name                           | pool name                         |
/// | svname         | FRONTEND                         | member name                         | BACKEND                           |
/// | scur           | open conns / live sessions       | member.current                      | sum of members                    |
/// | smax           | sampled.currentMax               | sampled.currentMax                  | empty (not sampled per pool)      |
/// | slim           | connectionLimit, empty when -1   | empty                               | empty                             |
/// | stot           | total                            | tcp.connections + udp.sessions      | sum of members                    |
/// | bin / bout     | bytes from / to clients          | bytes to / from the member          | sum of members                    |
/// | ereq           | TCP deniedCIDR+refusedLimit, UDP denied+truncated | empty              | empty                             |
/// | econ           | empty                            | tcp.connectFailures (TCP pools)     | sum of members (TCP pools)        |
/// | eresp          | empty                            | empty                               | empty                             |
/// | status         | OPEN                             | haproxyStatus                       | UP if ONLINE/DEGRADED, else DOWN  |
/// | weight         | empty                            | weight in force                     | sum over members in ready state   |
/// | act / bck      | empty                            | 1/0 for active, 0/1 for backup      | serving active / backup members   |
/// | chkfail, chkdown, downtime | empty                | from health, empty without monitor  | empty                             |
/// | lastchg        | empty                            | now - health.lastChange             | empty                             |
/// | lbtot          | empty                            | = stot                              | sum of members                    |
/// | type           | 0                                | 2                                   | 1                                 |
/// | rate, rate_max | sampled                          | sampled                             | rate: sum; rate_max: empty        |
/// | check_status   | empty                            | health.lastCheck, empty if none     | empty                             |
/// | check_duration | empty                            | ms, rounded; empty if no check yet  | empty                             |
/// | addr           | listen endpoint                  | member endpoint                     | empty                             |
/// | proto          | TCP or UDP                       | pool transports, "/"-joined         | pool transports, "/"-joined       |
/// | op_status      | empty                            | Octavia status                      | pool's Octavia status             |
/// | admin_state    | empty                            | ready/drain/maint                   | empty                             |
/// | dcon, refused_limit, no_member, idle_timeouts | TCP listener counters | empty        | empty                             |
/// | udp_din/dout   | UDP datagrams in / out           | datagrams to / from (UDP pools)     | sum of members (UDP pools)        |
/// | udp_sess_cur/tot | live / created sessions        | live / assigned sessions (UDP pools)| sum of members (UDP pools)        |
/// | udp_expired, udp_evicted, udp_denied, udp_truncated, udp_dropped | UDP listener counters | empty | empty         |
/// | udp_refused    | empty                            | ICMP refused (UDP pools)            | sum of members (UDP pools)        |
public enum StatCSV {
    public static let columns: [String] = [
        "pxname", "svname", "scur", "smax", "slim", "stot", "bin", "bout", "ereq", "econ", "eresp",
        "status", "weight", "act", "bck", "chkfail", "chkdown", "lastchg", "downtime", "lbtot", "type",
        "rate", "rate_max", "check_status", "check_duration",
        // Fulcrum's own, after HAProxy's.
        "addr", "proto", "op_status", "admin_state", "dcon", "refused_limit", "no_member", "idle_timeouts",
        "udp_din", "udp_dout", "udp_sess_cur", "udp_sess_tot", "udp_expired", "udp_evicted", "udp_denied",
        "udp_truncated", "udp_dropped", "udp_refused",
    ]

    public static func render(_ snapshot: StatusSnapshot) -> String {
        var out = "# " + columns.joined(separator: ",") + "\n"
        for listener in snapshot.listeners {
            out += frontendRow(listener).line
        }
        for pool in snapshot.pools {
            for member in pool.members {
                out += memberRow(member, in: pool, now: snapshot.info.now).line
            }
            out += backendRow(pool).line
        }
        return out
    }

    private static func frontendRow(_ listener: ListenerStatus) -> StatRow {
        var row = StatRow()
        row["pxname"] = listener.name
        row["svname"] = "FRONTEND"
        row["scur"] = "\(listener.current)"
        row["smax"] = "\(listener.sampled.currentMax)"
        row["slim"] = listener.connectionLimit < 0 ? "" : "\(listener.connectionLimit)"
        row["stot"] = "\(listener.total)"
        row["bin"] = "\(listener.bytesIn)"
        row["bout"] = "\(listener.bytesOut)"
        row["status"] = "OPEN"
        row["type"] = "0"
        row["rate"] = "\(listener.sampled.rate)"
        row["rate_max"] = "\(listener.sampled.rateMax)"
        row["addr"] = listener.endpoint
        row["proto"] = listener.transport.rawValue
        switch listener.transport {
        case .tcp:
            let tcp = listener.tcp
            row["ereq"] = "\(tcp.deniedCIDR + tcp.refusedLimit)"
            row["dcon"] = "\(tcp.deniedCIDR)"
            row["refused_limit"] = "\(tcp.refusedLimit)"
            row["no_member"] = "\(tcp.noMember)"
            row["idle_timeouts"] = "\(tcp.idleTimeouts)"
        case .udp:
            let udp = listener.udp
            row["ereq"] = "\(udp.denied + udp.truncated)"
            row["udp_din"] = "\(udp.datagramsIn)"
            row["udp_dout"] = "\(udp.datagramsOut)"
            row["udp_sess_cur"] = "\(listener.current)"
            row["udp_sess_tot"] = "\(udp.sessionsCreated)"
            row["udp_expired"] = "\(udp.sessionsExpired)"
            row["udp_evicted"] = "\(udp.sessionsEvicted)"
            row["udp_denied"] = "\(udp.denied)"
            row["udp_truncated"] = "\(udp.truncated)"
            row["udp_dropped"] = "\(udp.dropped)"
        }
        return row
    }

    private static func memberRow(_ member: MemberStatus, in pool: PoolStatus, now: Int64) -> StatRow {
        var row = StatRow()
        let total = member.tcp.connections + member.udp.sessions
        row["pxname"] = pool.name
        row["svname"] = member.name
        row["scur"] = "\(member.current)"
        row["smax"] = "\(member.sampled.currentMax)"
        row["stot"] = "\(total)"
        row["bin"] = "\(member.tcp.bytesToMember + member.udp.bytesTo)"
        row["bout"] = "\(member.tcp.bytesFromMember + member.udp.bytesFrom)"
        row["status"] = member.haproxyStatus
        row["weight"] = "\(member.weight)"
        row["act"] = member.backup ? "0" : "1"
        row["bck"] = member.backup ? "1" : "0"
        if let health = member.health {
            row["chkfail"] = "\(health.checksFailed)"
            row["chkdown"] = "\(health.downTransitions)"
            row["lastchg"] = "\(max(0, now - health.lastChange))"
            row["downtime"] = "\(health.downtimeSeconds)"
            if let check = health.lastCheck {
                row["check_status"] = check
                row["check_duration"] = wholeMilliseconds(health.lastCheckDurationMs).map { "\($0)" } ?? ""
            }
        }
        row["lbtot"] = "\(total)"
        row["type"] = "2"
        row["rate"] = "\(member.sampled.rate)"
        row["rate_max"] = "\(member.sampled.rateMax)"
        row["addr"] = member.endpoint
        row["proto"] = transportsText(pool)
        row["op_status"] = member.status.rawValue
        row["admin_state"] = member.adminState.rawValue
        if pool.transports.contains(.tcp) {
            row["econ"] = "\(member.tcp.connectFailures)"
        }
        if pool.transports.contains(.udp) {
            let udp = member.udp
            row["udp_din"] = "\(udp.datagramsTo)"
            row["udp_dout"] = "\(udp.datagramsFrom)"
            row["udp_sess_cur"] = "\(max(0, udp.sessions - udp.sessionsEnded))"
            row["udp_sess_tot"] = "\(udp.sessions)"
            row["udp_refused"] = "\(udp.refused)"
        }
        return row
    }

    private static func backendRow(_ pool: PoolStatus) -> StatRow {
        var row = StatRow()
        let tcp = pool.tcp
        let udp = pool.udp
        let total = tcp.connections + udp.sessions
        let serving = pool.members.filter { $0.status.isServing }
        row["pxname"] = pool.name
        row["svname"] = "BACKEND"
        row["scur"] = "\(pool.current)"
        row["stot"] = "\(total)"
        row["bin"] = "\(tcp.bytesToMember + udp.bytesTo)"
        row["bout"] = "\(tcp.bytesFromMember + udp.bytesFrom)"
        row["status"] = pool.status == .online || pool.status == .degraded ? "UP" : "DOWN"
        // Members in maint or drain (or admin down in the config) take no new traffic.
        let weight = pool.members
            .filter { $0.adminStateUp && $0.adminState == .ready }
            .reduce(0) { $0 + $1.weight }
        row["weight"] = "\(weight)"
        row["act"] = "\(serving.filter { !$0.backup }.count)"
        row["bck"] = "\(serving.filter { $0.backup }.count)"
        row["lbtot"] = "\(total)"
        row["type"] = "1"
        row["rate"] = "\(pool.members.reduce(0) { $0 + $1.sampled.rate })"
        row["proto"] = transportsText(pool)
        row["op_status"] = pool.status.rawValue
        if pool.transports.contains(.tcp) {
            row["econ"] = "\(tcp.connectFailures)"
        }
        if pool.transports.contains(.udp) {
            row["udp_din"] = "\(udp.datagramsTo)"
            row["udp_dout"] = "\(udp.datagramsFrom)"
            row["udp_sess_cur"] = "\(max(0, udp.sessions - udp.sessionsEnded))"
            row["udp_sess_tot"] = "\(udp.sessions)"
            row["udp_refused"] = "\(udp.refused)"
        }
        return row
    }

    private static func transportsText(_ pool: PoolStatus) -> String {
        pool.transports.map(\.rawValue).joined(separator: "/")
    }
}

/// One CSV row being filled by column name; unset columns stay empty.
struct StatRow {
    private var cells = [String](repeating: "", count: StatCSV.columns.count)

    subscript(column: String) -> String {
        get { StatCSV.columns.firstIndex(of: column).map { cells[$0] } ?? "" }
        set {
            guard let index = StatCSV.columns.firstIndex(of: column) else {
                preconditionFailure("no column \(column) in StatCSV.columns")
            }
            cells[index] = newValue
        }
    }

    /// The row as written: every text field through CSV.field, ended by a newline.
    var line: String { cells.map(CSV.field).joined(separator: ",") + "\n" }
}
