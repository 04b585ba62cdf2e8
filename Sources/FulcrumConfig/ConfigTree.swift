import FulcrumTOML

// The parser's node, under the name the whole module uses, so files that only read the tree
// need not import the parser.
typealias TOMLNode = FulcrumTOML.TOMLNode

/// Where a value was written: the file it came from and the 1-based line and column of its
/// key or table header (from the parser's positions).
struct Origin: Equatable, Sendable {
    var file: String
    var line: Int?
    var column: Int? = nil
}

extension TOMLNode {
    var origin: Origin { Origin(file: position.file, line: position.line, column: position.column) }

    static func emptyRoot(file: String) -> TOMLNode {
        TOMLNode(value: .table(TOMLTable()), position: TOMLPosition(file: file, line: 1, column: 1))
    }

    /// The table, or nil when the value is not a table.
    var tableValue: TOMLTable? {
        if case let .table(table) = value { return table }
        return nil
    }
}

// MARK: - Merging drop-ins

extension TOMLNode {
    /// The systemd drop-in rule: tables merge key by key so a later file can change one
    /// attribute without restating the object; anything else (arrays included) is replaced
    /// whole by the later file. A merged table keeps the origin of its first definition,
    /// so "missing key" problems point at the file that defined the object.
    func merged(with later: TOMLNode) -> TOMLNode {
        var result = self
        result.merge(later)
        return result
    }

    /// `merged(with:)` in place: a table is changed where it is rather than copied out and
    /// stored back, so the only tables copied are those the caller still holds (once each).
    /// The recursion follows the table nesting, which the parser bounds (TOMLLimits.maxDepth).
    mutating func merge(_ later: TOMLNode) {
        guard case .table(var table) = value, case .table(let overrides) = later.value else {
            self = later
            return
        }
        // This node lets go of the table, so `table` holds the only reference and changes in place.
        value = .boolean(false)
        for pair in overrides.pairs {
            if let i = table.index(forKey: pair.key) {
                table.modifyNode(at: i) { $0.merge(pair.node) }
            } else {
                table.updateValue(pair.node, forKey: pair.key)
            }
        }
        value = .table(table)
    }
}

// MARK: - Describing values in messages

extension TOMLNode {
    /// The TOML type with its article, as a sentence needs it: "is a string".
    var typeName: String {
        switch value {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .boolean: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        case .offsetDateTime: return "an offset date-time"
        case .localDateTime: return "a local date-time"
        case .localDate: return "a local date"
        case .localTime: return "a local time"
        }
    }

    /// The value as the operator would have typed it, shortened so one message stays one line.
    var rendered: String {
        let text = renderedInFull
        return text.count <= 60 ? text : String(text.prefix(57)) + "..."
    }

    private var renderedInFull: String {
        switch value {
        case let .string(text): return quoted(text)
        case let .integer(number): return String(number)
        case let .float(number): return String(number)
        case let .boolean(flag): return String(flag)
        case let .array(items): return "[" + items.map(\.renderedInFull).joined(separator: ", ") + "]"
        case let .table(table):
            if table.isEmpty { return "{}" }
            let pairs = table.pairs.map { "\(keySegment($0.key)) = \($0.node.renderedInFull)" }
            return "{ " + pairs.joined(separator: ", ") + " }"
        case let .offsetDateTime(date, time, offset):
            let sign = offset < 0 ? "-" : "+"
            return "\(render(date))T\(render(time))" + (offset == 0 ? "Z" : "\(sign)\(twoDigits(abs(offset) / 60)):\(twoDigits(abs(offset) % 60))")
        case let .localDateTime(date, time): return "\(render(date))T\(render(time))"
        case let .localDate(date): return render(date)
        case let .localTime(time): return render(time)
        }
    }

    private func render(_ date: TOMLDate) -> String {
        "\(date.year)-\(twoDigits(date.month))-\(twoDigits(date.day))"
    }

    private func render(_ time: TOMLTime) -> String {
        "\(twoDigits(time.hour)):\(twoDigits(time.minute)):\(twoDigits(time.second))"
    }

    private func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

/// TOML basic-string quoting, so a value with odd characters is shown unambiguously.
func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

/// A key as it must be written in TOML: bare when it can be, quoted otherwise.
func keySegment(_ key: String) -> String {
    let bare = !key.isEmpty && key.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
    return bare ? key : quoted(key)
}

/// "listener.web.protocol_port"; a name containing a dot is quoted so the path stays readable TOML.
func dottedPath(_ path: [String]) -> String {
    path.map(keySegment).joined(separator: ".")
}
