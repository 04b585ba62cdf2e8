import FulcrumStatus

/// The CSV of `show stat`, read by column name. Fields are looked up through the `# `
/// header, never by position, so the daemon can add (or reorder) columns without breaking
/// fulcrumctl; a column the daemon does not send reads as "" (or 0).
struct StatTable {
    struct Row {
        fileprivate let fields: [String]
        fileprivate let columns: [String: Int]

        subscript(_ name: String) -> String {
            guard let i = columns[name], i < fields.count else { return "" }
            return fields[i]
        }

        /// A counter; "" and anything unparsable (HAProxy leaves some cells empty) read as 0.
        func int(_ name: String) -> Int { Int(self[name]) ?? 0 }

        var proxy: String { self["pxname"] }
        var service: String { self["svname"] }
        var isListener: Bool { service == "FRONTEND" }
        var isPool: Bool { service == "BACKEND" }
        var isMember: Bool { !isListener && !isPool }
        /// Identity across refreshes: listener and pool names can coincide, so the kind is part of it.
        var key: String { proxy + "/" + service }
    }

    enum ParseError: Error, CustomStringConvertible {
        case noHeader
        case missingColumn(String)

        var description: String {
            switch self {
            case .noHeader: return "the show stat reply has no \"# \" header line"
            case let .missingColumn(name): return "the show stat reply has no \(name) column"
            }
        }
    }

    let rows: [Row]
    /// Members grouped once: a lookup per pool, not a scan of every row per pool.
    private let membersByPool: [String: [Row]]

    init(_ reply: Reply) throws(ParseError) {
        guard let header = reply.lines.first, header.hasPrefix("#") else { throw .noHeader }
        var names = CSV.split(header.dropFirst())
        if let first = names.first { names[0] = String(first.drop { $0 == " " }) }
        var columns: [String: Int] = [:]
        for (i, name) in names.enumerated() where columns[name] == nil { columns[name] = i }
        // Without these two no row can be placed; everything else is optional.
        for required in ["pxname", "svname"] where columns[required] == nil { throw .missingColumn(required) }
        rows = reply.lines.dropFirst().filter { !$0.isEmpty }.map { Row(fields: CSV.split($0[...]), columns: columns) }
        membersByPool = Dictionary(grouping: rows.filter(\.isMember), by: \.proxy)
    }

    var listeners: [Row] { rows.filter(\.isListener) }
    var pools: [Row] { rows.filter(\.isPool) }
    func members(of pool: String) -> [Row] { membersByPool[pool] ?? [] }
}
