import TOMLKit

/// Where a value was written: the file it came from and, when the line scanner found it,
/// the 1-based line of its key or table header.
struct Origin: Equatable, Sendable {
    var file: String
    var line: Int?
}

/// A parsed TOML value that remembers its origin. TOMLKit forgets positions, and after
/// drop-ins are merged nothing else could tell which file a value came from.
struct TOMLNode {
    enum Value {
        case string(String)
        case integer(Int)
        case float(Double)
        case boolean(Bool)
        case array([TOMLNode])
        case table([String: TOMLNode])
        /// Dates and times: valid TOML, never valid in this schema.
        case other(kind: String, text: String)
    }

    var value: Value
    var origin: Origin

    static func emptyRoot(file: String) -> TOMLNode {
        TOMLNode(value: .table([:]), origin: Origin(file: file, line: nil))
    }
}

// MARK: - Building from TOMLKit

extension TOMLNode {
    /// Converts a parsed document, attaching lines found by `KeyLines`. Values the scanner
    /// has no line for (inside inline tables and arrays) take their parent's line, which is
    /// the line of the key that holds them.
    init(document: TOMLTable, file: String, lines: KeyLines) {
        self = TOMLNode.convert(document, path: [], file: file, lines: lines, inheritedLine: nil)
    }

    private static func convert(_ value: TOMLValueConvertible, path: [String], file: String,
                                lines: KeyLines, inheritedLine: Int?) -> TOMLNode {
        let line = lines.line(for: path) ?? inheritedLine
        let origin = Origin(file: file, line: line)
        switch value.type {
        case .table:
            var entries: [String: TOMLNode] = [:]
            if let table = value.table {
                for (key, child) in table {
                    entries[key] = convert(child, path: path + [key], file: file, lines: lines, inheritedLine: line)
                }
            }
            return TOMLNode(value: .table(entries), origin: origin)
        case .array:
            var items: [TOMLNode] = []
            if let array = value.array {
                for item in array {
                    items.append(convert(item, path: path, file: file, lines: lines, inheritedLine: line))
                }
            }
            return TOMLNode(value: .array(items), origin: origin)
        case .string:
            return TOMLNode(value: .string(value.string ?? ""), origin: origin)
        case .int:
            return TOMLNode(value: .integer(value.int ?? 0), origin: origin)
        case .double:
            return TOMLNode(value: .float(value.double ?? .nan), origin: origin)
        case .bool:
            return TOMLNode(value: .boolean(value.bool ?? false), origin: origin)
        case .date, .time, .dateTime:
            return TOMLNode(value: .other(kind: value.type.description, text: value.debugDescription),
                            origin: origin)
        }
    }
}

// MARK: - Merging drop-ins

extension TOMLNode {
    /// The systemd drop-in rule: tables merge key by key so a later file can change one
    /// attribute without restating the object; anything else (arrays included) is replaced
    /// whole by the later file. A merged table keeps the origin of its first definition,
    /// so "missing key" problems point at the file that defined the object.
    func merged(with later: TOMLNode) -> TOMLNode {
        guard case .table(var entries) = value, case .table(let overrides) = later.value else {
            return later
        }
        for (key, override) in overrides {
            entries[key] = entries[key].map { $0.merged(with: override) } ?? override
        }
        return TOMLNode(value: .table(entries), origin: origin)
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
        case let .other(kind, _): return "a \(kind)"
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
        case let .table(entries):
            if entries.isEmpty { return "{}" }
            let pairs = entries.keys.sorted().map { "\(keySegment($0)) = \(entries[$0]!.renderedInFull)" }
            return "{ " + pairs.joined(separator: ", ") + " }"
        case let .other(_, text): return text
        }
    }
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
