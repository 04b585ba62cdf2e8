import FulcrumAddress

enum PoolSchema {
    static let keys = ["lb_algorithm", "retries", "members", "protocol", "session_persistence",
                       "healthmonitor", "on_member_down"]
    static let persistenceKeys = ["type", "persistence_timeout", "persistence_granularity"]
    static let memberKeys = ["address", "protocol_port", "weight", "backup", "admin_state_up",
                             "monitor_address", "monitor_port"]
    // Joined once, not for each of 10,000 pools.
    static let algorithmNames = LBAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")
    static let protocolNames = PoolProtocol.allCases.map(\.rawValue).joined(separator: ", ")
    static let downActionNames = OnMemberDown.allCases.map(\.rawValue).joined(separator: ", ")

    /// The pool, or nil when anything in it is invalid (already reported). `order` ranks
    /// definitions as the operator reads them (file load order, line, name).
    static func decode(name: String, _ table: TableReader, order: (Origin, String) -> OrderKey) -> Pool? {
        table.rejectUnknownKeys(allowed: keys)
        let known = algorithmNames
        let algorithm = table.plainString("lb_algorithm", expected: "a string (\(known))",
                                     default: LBAlgorithm.roundRobin) { text -> Check<LBAlgorithm> in
            guard let algorithm = LBAlgorithm(rawValue: text) else {
                return .invalid("\(quoted(text)) is not a load-balancing algorithm; allowed: \(known)")
            }
            return .valid(algorithm)
        }
        let retries = table.integer("retries", 0...10, default: Pool.defaultRetries)
        let protocols = protocolNames
        // Absent means plain, matching whichever listener uses the pool.
        let proxyProtocol: PoolProtocol?? = table.entries["protocol"] == nil ? .some(nil)
            : table.plainString("protocol", expected: "a string (\(protocols))", default: nil) { text -> Check<PoolProtocol?> in
                guard let value = PoolProtocol(rawValue: text) else {
                    return .invalid("\(quoted(text)) is not a pool protocol; allowed: \(protocols)")
                }
                return .valid(value)
            }
        let persistence = decodePersistence(table)
        let monitor = HealthMonitorSchema.decode(table)
        let downActions = downActionNames
        let onMemberDown = table.plainString("on_member_down", expected: "a string (\(downActions))",
                                        default: OnMemberDown.keep) { text -> Check<OnMemberDown> in
            guard let action = OnMemberDown(rawValue: text) else {
                return .invalid("\(quoted(text)) is not an action; allowed: \(downActions)")
            }
            return .valid(action)
        }

        // Only messages use it.
        func header() -> String { dottedPath(table.path + ["members"]) + ".NAME" }
        let members = table.namedTables("members", kind: "member", header: header()) { name, reader in
            decodeMember(name: name, reader)
        }
        // A wrongly typed `members` is already reported; only a genuinely empty pool is news.
        if members.isEmpty, table.isEmpty("members") {
            table.diagnostics.report(table.origin, table.path,
                                     "pool has no members; define at least one [\(header())]",
                                     needsWholeConfig: true)
        }
        let distinct = checkDistinctEndpoints(members, pool: table, order: order)

        guard let algorithm, let retries, let proxyProtocol, let persistence, let monitor, let onMemberDown,
              !members.isEmpty, distinct else { return nil }
        // Sized once: growing it member by member (and the arrays that fed the endpoint check)
        // made four or five allocations per pool.
        var valid: [Member] = []
        valid.reserveCapacity(members.count)
        for member in members {
            guard let member else { return nil }
            valid.append(member)
        }
        var pool = Pool(name: name, lbAlgorithm: algorithm, retries: retries, members: valid)
        pool.proxyProtocol = proxyProtocol
        pool.sessionPersistence = persistence.value
        pool.healthMonitor = monitor
        pool.onMemberDown = onMemberDown
        return pool
    }

    /// `session_persistence = { type = "SOURCE_IP", persistence_timeout = S, persistence_granularity = MASK }`.
    /// Returns nil when invalid (reported); `.init(value: nil)` when absent.
    static func decodePersistence(_ table: TableReader) -> (value: SessionPersistence?, Void)? {
        guard table.entries["session_persistence"] != nil else { return (nil, ()) }
        guard let sub = table.table("session_persistence", expected: "an inline table { type = \"SOURCE_IP\", ... }") else {
            return nil
        }
        sub.rejectUnknownKeys(allowed: persistenceKeys)
        let type = sub.plainString("type", expected: "a string (SOURCE_IP)", default: nil as String?) { text -> Check<String> in
            text == "SOURCE_IP" ? .valid(text)
                : .invalid("\(quoted(text)) is not supported; allowed: SOURCE_IP (HTTP_COOKIE and APP_COOKIE need an HTTP balancer)")
        }
        let timeout = sub.integer("persistence_timeout", 1...86_400, default: SessionPersistence.defaultTimeoutSeconds,
                                  unit: " (seconds)")
        let granularity = sub.plainString("persistence_granularity", expected: "an IPv4 netmask string such as \"255.255.255.0\"",
                                     default: UInt32.max) { text -> Check<UInt32> in
            guard case let .v4(mask)? = IPAddress(text), mask == 0 || (~mask & (~mask &+ 1)) == 0 else {
                return .invalid("\(quoted(text)) is not a netmask; allowed: a contiguous IPv4 mask such as \"255.255.255.0\"")
            }
            return .valid(mask)
        }
        guard type != nil, let timeout, let granularity else { return nil }
        return (SessionPersistence(timeoutSeconds: timeout, granularity: granularity), ())
    }

    /// Two members on one address and port would be one backend counted twice (Octavia refuses
    /// them too). The later definition is reported, naming the earlier. False when any clash.
    /// Members that did not decode (nil, already reported) are left out.
    private static func checkDistinctEndpoints(_ decoded: [Member?], pool: TableReader,
                                               order: (Origin, String) -> OrderKey) -> Bool {
        // Nearly always there is no clash, which one pass over a set shows; only a clash needs
        // the members in definition order (ordering every pool's members took 5% of a load).
        var endpoints = Set<Endpoint>(minimumCapacity: decoded.count)
        guard decoded.contains(where: { member in
            member.map { !endpoints.insert(Endpoint(address: $0.address.unmapped, port: $0.port)).inserted } ?? false
        }) else { return true }
        // Where each member was defined: its [pool.NAME.members.NAME] table.
        let definitions = pool.entries["members"]?.tableValue
        let members = decoded.compactMap { member in
            member.map { (member: $0, origin: definitions?[$0.name]?.origin ?? pool.origin) }
        }
        let ordered = members.map { (entry: $0, key: order($0.origin, $0.member.name)) }.sorted { $0.key < $1.key }
        var first: [Endpoint: (member: Member, origin: Origin)] = [:]
        var distinct = true
        for (entry, _) in ordered {
            let endpoint = Endpoint(address: entry.member.address.unmapped, port: entry.member.port)
            guard let earlier = first[endpoint] else {
                first[endpoint] = entry
                continue
            }
            distinct = false
            let place = earlier.origin.line.map { "\(earlier.origin.file):\($0)" } ?? earlier.origin.file
            pool.diagnostics.report(entry.origin, pool.path + ["members", entry.member.name],
                               "member \(quoted(entry.member.name)) on \(entry.member.endpoint) is the same endpoint as "
                                   + "member \(quoted(earlier.member.name)) (\(place)); allowed: one member per address and port",
                               needsWholeConfig: true)
        }
        return distinct
    }

    static func decodeMember(name: String, _ table: TableReader) -> Member? {
        table.rejectUnknownKeys(allowed: memberKeys)
        let address = table.plainString("address", expected: "an IP address string",
                                   default: nil as IPAddress?, parseAddress)
        let port = table.integer("protocol_port", 1...65535, default: nil)
        let weight = table.integer("weight", 0...256, default: 1)
        let backup = table.boolean("backup", default: false)
        let adminStateUp = table.boolean("admin_state_up", default: true)
        let monitorAddress: IPAddress?? = table.entries["monitor_address"] == nil ? .some(nil)
            : table.plainString("monitor_address", expected: "an IP address string", default: nil as IPAddress?, parseAddress)
        let monitorPort: Int?? = table.entries["monitor_port"] == nil ? .some(nil)
            : table.integer("monitor_port", 1...65535, default: nil)
        guard let address, let port, let weight, let backup, let adminStateUp, let monitorAddress, let monitorPort else {
            return nil
        }
        var member = Member(name: name, address: address, port: UInt16(port), weight: weight,
                            backup: backup, adminStateUp: adminStateUp)
        member.monitorAddress = monitorAddress
        member.monitorPort = monitorPort.map { UInt16($0) }
        return member
    }
}
