import Glibc

/// Whether to write ANSI escapes: only to a terminal, and never when the user opted out
/// (https://no-color.org: NO_COLOR set to anything non-empty) or the terminal cannot take them.
struct Terminal {
    let isTTY: Bool
    let colour: Bool

    static func stdout() -> Terminal {
        let tty = isatty(STDOUT_FILENO) == 1
        let optedOut = !(environment("NO_COLOR") ?? "").isEmpty
        return Terminal(isTTY: tty, colour: tty && !optedOut && environment("TERM") != "dumb")
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

enum Colour: String {
    case green = "\u{1B}[32m"
    case yellow = "\u{1B}[33m"
    case red = "\u{1B}[31m"
    case grey = "\u{1B}[90m"

    static let reset = "\u{1B}[0m"

    /// The colour of a status word, whichever vocabulary it comes from: Octavia's operating
    /// status (ONLINE, DRAINING, ...) or HAProxy's status column (UP, DRAIN, MAINT, ...).
    static func of(status: String) -> Colour? {
        switch status.uppercased() {
        case "ONLINE", "UP", "OPEN": return .green
        case "DRAINING", "DRAIN", "DEGRADED": return .yellow
        case "ERROR", "DOWN": return .red
        case "OFFLINE", "MAINT", "STOPPED": return .grey
        default: return nil
        }
    }
}

/// One cell: the text, and optionally a colour applied after alignment, so escape codes
/// never count towards a column's width.
struct Cell: ExpressibleByStringLiteral {
    var text: String
    var colour: Colour?

    init(_ text: String, colour: Colour? = nil) {
        self.text = text
        self.colour = colour
    }

    init(stringLiteral text: String) { self.init(text) }
}

/// A plain aligned table: header row, then rows; numeric columns right-aligned.
struct Table {
    var headers: [String]
    /// Columns (by index) aligned right: counts and sizes read best lined up on the units.
    var rightAligned: Set<Int>
    var rows: [[Cell]] = []

    init(_ headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    mutating func append(_ row: [Cell]) { rows.append(row) }

    func render(colour: Bool) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.text.count) }
        }
        var lines = [line(headers.map { Cell($0) }, widths: widths, colour: false)]
        lines += rows.map { line($0, widths: widths, colour: colour) }
        return lines.joined(separator: "\n")
    }

    private func line(_ cells: [Cell], widths: [Int], colour: Bool) -> String {
        var out = ""
        for (i, width) in widths.enumerated() {
            let cell = i < cells.count ? cells[i] : Cell("")
            let padding = String(repeating: " ", count: max(0, width - cell.text.count))
            var text = cell.text
            if colour, let c = cell.colour, !text.isEmpty { text = c.rawValue + text + Colour.reset }
            if i > 0 { out += "  " }
            out += rightAligned.contains(i) ? padding + text : text + padding
        }
        // Trailing blanks of the last, left-aligned column are noise in a pipe or a diff.
        while out.last == " " { out.removeLast() }
        return out
    }
}

/// Human-readable numbers without Foundation's formatters.
enum Human {
    /// 512 B, 1.2 KiB, 3.4 MiB ... binary units, one decimal below 100 of a unit.
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        guard n >= 1024 else { return "\(n) B" }
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return decimal(value) + " " + units[unit]
    }

    /// One decimal place below 100, none above: "1.2", "12.0", "345".
    static func decimal(_ value: Double) -> String {
        if value >= 99.95 { return "\(Int(value.rounded()))" }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// A span of seconds: "42s", "5m12s", "3h04m", "2d03h".
    static func duration(_ seconds: Int) -> String {
        let s = max(0, seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(twoDigits(s % 60))s" }
        if s < 86400 { return "\(s / 3600)h\(twoDigits(s % 3600 / 60))m" }
        return "\(s / 86400)d\(twoDigits(s % 86400 / 3600))h"
    }

    static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
