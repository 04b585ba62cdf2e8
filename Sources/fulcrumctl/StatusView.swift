import ArgumentParser
import FulcrumStatus

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show listeners, pools and members with their status and traffic.",
        discussion: """
            Sends `show stat` and prints two aligned tables: the listeners, then each pool \
            followed by its members, with operating status, run-time admin state, weight, \
            open and total connections, bytes in and out, the last health check and how \
            long ago the status last changed. Status words are coloured only when standard \
            output is a terminal and NO_COLOR is not set.
            """)

    @OptionGroup var socket: SocketOptions

    func run() throws {
        let client = try Conversation.connect(socket)
        let table = try StatView.table(Conversation.ask(client, .showStat(json: false)))
        print(StatusView(table: table).render(colour: Terminal.stdout().colour))
    }
}

/// The `status` tables, built from the `show stat` rows.
struct StatusView {
    let table: StatTable

    func render(colour: Bool) -> String {
        // Datagram counts only mean something with UDP listeners; leave them out otherwise.
        let udp = table.rows.contains { $0["proto"].uppercased() == "UDP" || $0.int("udp_din") > 0 }
        var sections: [String] = []

        var listeners = Table(["LISTENER", "PROTO", "ADDRESS", "STATUS", "CUR", "TOTAL", "IN", "OUT"]
                              + (udp ? ["DGRAM IN", "DGRAM OUT"] : []),
                              rightAligned: Set(4...9))
        for row in table.listeners {
            listeners.append([Cell(row.proxy), Cell(row["proto"]), Cell(row["addr"]), StatView.status(row)]
                             + StatView.traffic(row) + (udp ? StatView.datagrams(row) : []))
        }
        sections.append(table.listeners.isEmpty ? "no listeners" : listeners.render(colour: colour))

        var pools = Table(["POOL/MEMBER", "ADDRESS", "STATUS", "ADMIN", "WEIGHT", "CUR", "TOTAL", "IN", "OUT"]
                          + (udp ? ["DGRAM IN", "DGRAM OUT"] : []) + ["LAST CHECK", "CHANGED"],
                          rightAligned: Set(4...(udp ? 10 : 8)))
        for pool in table.pools {
            pools.append([Cell(pool.proxy), "", StatView.status(pool), "", Cell(pool["weight"])]
                         + StatView.traffic(pool) + (udp ? StatView.datagrams(pool) : []) + ["", StatView.changed(pool)])
            for member in table.members(of: pool.proxy) {
                pools.append([Cell("  " + member.key), Cell(member["addr"]), StatView.status(member),
                              Cell(member["admin_state"]), Cell(member["weight"])]
                             + StatView.traffic(member) + (udp ? StatView.datagrams(member) : [])
                             + [Cell(StatView.lastCheck(member)), StatView.changed(member)])
            }
        }
        sections.append(table.pools.isEmpty ? "no pools" : pools.render(colour: colour))
        return sections.joined(separator: "\n\n")
    }
}

/// Cells shared by `status` and `top`.
enum StatView {
    /// Parses a `show stat` reply; a reply fulcrumctl cannot read is a broken conversation (2).
    static func table(_ reply: Reply) throws -> StatTable {
        do {
            return try StatTable(reply)
        } catch {
            printError("fulcrumctl: \(error)")
            throw ExitCode(2)
        }
    }

    /// Octavia's operating status when the daemon sends it, else HAProxy's status column.
    static func status(_ row: StatTable.Row) -> Cell {
        let word = row["op_status"].isEmpty ? row["status"] : row["op_status"]
        return Cell(word, colour: Colour.of(status: word))
    }

    static func traffic(_ row: StatTable.Row) -> [Cell] {
        [Cell(row["scur"]), Cell(row["stot"]), Cell(Human.bytes(row.int("bin"))), Cell(Human.bytes(row.int("bout")))]
    }

    static func datagrams(_ row: StatTable.Row) -> [Cell] {
        [Cell(row["udp_din"]), Cell(row["udp_dout"])]
    }

    /// "L7OK 3ms"; empty for a member without a monitor or before its first check.
    static func lastCheck(_ row: StatTable.Row) -> String {
        let code = row["check_status"]
        guard !code.isEmpty else { return "" }
        let duration = row["check_duration"]
        return duration.isEmpty ? code : code + " " + duration + "ms"
    }

    /// lastchg is seconds since the last status change (HAProxy's meaning).
    static func changed(_ row: StatTable.Row) -> Cell {
        guard let seconds = Int(row["lastchg"]) else { return "" }
        return Cell(Human.duration(seconds) + " ago")
    }
}
