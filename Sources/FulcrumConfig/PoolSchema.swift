import FulcrumAddress

enum PoolSchema {
    static let keys = ["lb_algorithm", "retries", "members"]
    static let memberKeys = ["address", "protocol_port", "weight", "backup", "admin_state_up"]

    /// The pool, or nil when anything in it is invalid (already reported).
    static func decode(name: String, _ table: TableReader) -> Pool? {
        table.rejectUnknownKeys(allowed: keys)
        let algorithm = table.string("lb_algorithm", expected: "a string (ROUND_ROBIN)",
                                     default: LBAlgorithm.roundRobin) { text -> Check<LBAlgorithm> in
            switch LBAlgorithm(rawValue: text) {
            case .roundRobin?:
                return .valid(.roundRobin)
            case _?:
                return .invalid("\(quoted(text)) is not supported yet; allowed: ROUND_ROBIN")
            case nil:
                let known = LBAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")
                return .invalid("\(quoted(text)) is not a load-balancing algorithm; allowed: \(known)")
            }
        }
        let retries = table.integer("retries", 0...10, default: Pool.defaultRetries)

        let header = dottedPath(table.path + ["members"]) + ".NAME"
        let memberTables = table.namedTables("members", kind: "member", header: header)
        // A wrongly typed `members` is already reported; only a genuinely empty pool is news.
        if memberTables.isEmpty, table.isEmpty("members") {
            table.diagnostics.report(table.origin, table.path,
                                     "pool has no members; define at least one [\(header)]",
                                     needsWholeConfig: true)
        }
        let members = memberTables.map { decodeMember(name: $0.name, $0.reader) }

        guard let algorithm, let retries, !members.isEmpty else { return nil }
        let valid = members.compactMap { $0 }
        guard valid.count == members.count else { return nil }
        return Pool(name: name, lbAlgorithm: algorithm, retries: retries, members: valid)
    }

    static func decodeMember(name: String, _ table: TableReader) -> Member? {
        table.rejectUnknownKeys(allowed: memberKeys)
        let address = table.string("address", expected: "an IP address string",
                                   default: nil as IPAddress?, parseAddress)
        let port = table.integer("protocol_port", 1...65535, default: nil)
        let weight = table.integer("weight", 0...256, default: 1)
        let backup = table.boolean("backup", default: false)
        let adminStateUp = table.boolean("admin_state_up", default: true)
        guard let address, let port, let weight, let backup, let adminStateUp else { return nil }
        return Member(name: name, address: address, port: UInt16(port), weight: weight,
                      backup: backup, adminStateUp: adminStateUp)
    }
}
