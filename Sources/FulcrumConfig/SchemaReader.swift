import FulcrumTOML

/// Every problem found while decoding, kept rather than thrown so one run reports them all.
final class Diagnostics {
    struct Entry {
        var problem: ConfigProblem
        /// True for problems that another file could have fixed (a missing key, an undefined
        /// pool). When some file failed to parse, these would only be noise.
        var needsWholeConfig: Bool
    }

    private(set) var entries: [Entry] = []
    /// Things that load but deserve a word (LoadedConfig.warnings).
    private(set) var warnings: [ConfigProblem] = []

    func warn(_ origin: Origin?, _ path: [String], _ message: String) {
        warnings.append(ConfigProblem(file: origin?.file, line: origin?.line, keyPath: dottedPath(path), message: message))
    }

    func report(_ origin: Origin?, _ path: [String], _ message: String, needsWholeConfig: Bool = false) {
        let problem = ConfigProblem(file: origin?.file, line: origin?.line, keyPath: dottedPath(path), message: message)
        entries.append(Entry(problem: problem, needsWholeConfig: needsWholeConfig))
    }
}

/// The outcome of checking one value against what the schema allows.
enum Check<T> {
    case valid(T)
    /// Wrong TOML type: the caller's generic message names the type and what was expected.
    case wrongType
    /// Right type, bad value: the message says what is wrong and what is allowed.
    case invalid(String)
}

/// One TOML table being decoded: hands out checked values by key and reports anything
/// unknown, wrong or missing against the key path it came from.
struct TableReader {
    /// The key path of the table holding this one, and this table's key in it (nil for the
    /// document root): `path` is put together only when something uses it, mostly a message.
    /// Building it for every member was an array of four strings per member, for nothing.
    let parentPath: [String]
    let key: String?
    let origin: Origin
    let entries: TOMLTable
    let diagnostics: Diagnostics

    /// "listener", "web": the key path of this table.
    var path: [String] {
        guard let key else { return parentPath }
        var path = parentPath
        path.append(key)
        return path
    }

    init?(_ node: TOMLNode, path: [String], diagnostics: Diagnostics) {
        guard let entries = node.tableValue else { return nil }
        self.parentPath = path
        self.key = nil
        self.origin = node.origin
        self.entries = entries
        self.diagnostics = diagnostics
    }

    /// The table at `key` under `parentPath`.
    init?(_ node: TOMLNode, parentPath: [String], key: String, diagnostics: Diagnostics) {
        guard let entries = node.tableValue else { return nil }
        self.parentPath = parentPath
        self.key = key
        self.origin = node.origin
        self.entries = entries
        self.diagnostics = diagnostics
    }

    func report(_ key: String, _ message: String) {
        diagnostics.report(entries[key]?.origin ?? origin, path + [key], message)
    }

    func reportWrongType(_ key: String, _ node: TOMLNode, expected: String) {
        report(key, "\(node.rendered) is \(node.typeName); expected \(expected)")
    }

    /// Unknown keys are errors: a misspelt key silently ignored is a setting silently lost.
    func rejectUnknownKeys(allowed: [String]) {
        for key in entries.pairs.lazy.map(\.key) where !allowed.contains(key) {
            var message = "unknown key \(quoted(key))"
            if let guess = closestKey(to: key, in: allowed) { message += " (did you mean \(guess)?)" }
            report(key, message + "; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The value at `key`, checked. Absent: `fallback`, or a "missing" problem when there is none.
    /// `expected` is only formatted for a message: formatting it up front for every key read
    /// (the allowed range of each integer, the algorithm names of each pool) allocated a string
    /// or two per value read, about 300,000 for a config of 100,000 members.
    func value<T>(_ key: String, expected: @autoclosure () -> String, default fallback: T?,
                  _ check: (TOMLNode) -> Check<T>) -> T? {
        guard let i = entries.index(forKey: key) else {
            if let fallback { return fallback }
            diagnostics.report(origin, path + [key], "required key is missing; expected \(expected())",
                               needsWholeConfig: true)
            return nil
        }
        // Checked where it lies in the table rather than through a copy of the node.
        switch check(entries.pairs[i].node) {
        case let .valid(result):
            return result
        case .wrongType:
            reportWrongType(key, entries.pairs[i].node, expected: expected())
        case let .invalid(message):
            report(key, message)
        }
        return nil
    }

    func integer(_ key: String, _ range: ClosedRange<Int>, default fallback: Int?, unit: String = "") -> Int? {
        func allowed() -> String { "\(range.lowerBound)..\(range.upperBound)\(unit)" }
        return value(key, expected: "an integer \(allowed())", default: fallback) { node in
            guard case let .integer(wide) = node.value else { return .wrongType }
            guard let number = Int(exactly: wide), range.contains(number) else {
                return .invalid("\(wide) is out of range; allowed: \(allowed())")
            }
            return .valid(number)
        }
    }

    /// Seconds given as an integer or a float (0.5), returned in whole milliseconds.
    func seconds(_ key: String, min minimum: Double, max maximum: Double, default fallback: Int?) -> Int? {
        func allowed() -> String { "\(formatSeconds(minimum))..\(formatSeconds(maximum)) seconds (fractions allowed, e.g. 0.5)" }
        return value(key, expected: "a number \(allowed())", default: fallback) { node in
            let number: Double
            switch node.value {
            case let .integer(whole): number = Double(whole)
            case let .float(fraction): number = fraction
            default: return .wrongType
            }
            guard number.isFinite, number >= minimum, number <= maximum else {
                return .invalid("\(node.rendered) is out of range; allowed: \(allowed())")
            }
            let ms = (number * 1000).rounded()
            guard ms == number * 1000 || abs(ms - number * 1000) < 1e-6 else {
                return .invalid("\(node.rendered) is finer than a millisecond; allowed: \(allowed()) in whole milliseconds")
            }
            return .valid(Int(ms))
        }
    }

    func boolean(_ key: String, default fallback: Bool) -> Bool? {
        value(key, expected: "a boolean (true or false)", default: fallback) { node in
            guard case let .boolean(flag) = node.value else { return .wrongType }
            return .valid(flag)
        }
    }

    /// A string, checked and turned into a model value by `parse`.
    func string<T>(_ key: String, expected: @autoclosure () -> String, default fallback: T?,
                   _ parse: (String) -> Check<T>) -> T? {
        value(key, expected: expected(), default: fallback) { node in
            guard case let .string(text) = node.value else { return .wrongType }
            return parse(text)
        }
    }

    /// An optional sub-table; nil when absent or (reported) not a table.
    func table(_ key: String, expected: @autoclosure () -> String) -> TableReader? {
        guard let node = entries[key] else { return nil }
        if let reader = TableReader(node, parentPath: path, key: key, diagnostics: diagnostics) { return reader }
        reportWrongType(key, node, expected: expected())
        return nil
    }

    /// True when `key` is absent or an empty table: "nothing defined", as opposed to
    /// "defined wrongly", which is reported on its own.
    func isEmpty(_ key: String) -> Bool {
        guard let node = entries[key] else { return true }
        if let children = node.tableValue { return children.isEmpty }
        return false
    }

    /// The named objects under `key` ([listener.NAME], [pool.NAME.members.NAME]), each decoded
    /// by `decode`, in name order. Names that break the naming rule are reported but still
    /// decoded, so their other problems show up in the same run. Each reader goes straight to
    /// `decode` rather than into an array first: copying 100,000 readers into one and out again
    /// was 2% of a load.
    func namedTables<T>(_ key: String, kind: String, header: @autoclosure () -> String,
                        _ decode: (_ name: String, _ reader: TableReader) -> T) -> [T] {
        guard let collection = table(key, expected: "a table of \(kind)s [\(header())]") else { return [] }
        let pairs = collection.entries.pairs
        // Built once for all the objects in the collection, which share it.
        let collectionPath = collection.path
        var result: [T] = []
        result.reserveCapacity(pairs.count)
        for i in pairs.indices.sorted(by: { pairs[$0].key < pairs[$1].key }) {
            let name = pairs[i].key
            guard let reader = TableReader(pairs[i].node, parentPath: collectionPath, key: name, diagnostics: diagnostics) else {
                collection.reportWrongType(name, pairs[i].node, expected: "a table [\(dottedPath(collection.path + [name]))]")
                continue
            }
            if !isValidObjectName(name) {
                collection.report(name, "\(quoted(name)) is not a valid \(kind) name; "
                    + "allowed: 1..64 characters from A-Z a-z 0-9 _ . -")
            }
            result.append(decode(name, reader))
        }
        return result
    }
}

func isValidObjectName(_ name: String) -> Bool {
    (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// The allowed key a typo most likely meant, if any is close enough to be a good guess.
private func closestKey(to key: String, in allowed: [String]) -> String? {
    let scored = allowed.map { ($0, editDistance(key.lowercased(), $0)) }
    guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }),
          best.1 <= max(1, min(key.count, best.0.count) / 3) else { return nil }
    return best.0
}

private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    var previous = Array(0...b.count)
    for (i, byteA) in a.enumerated() {
        var current = [i + 1]
        for (j, byteB) in b.enumerated() {
            current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (byteA == byteB ? 0 : 1)))
        }
        previous = current
    }
    return previous[b.count]
}

func formatSeconds(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
}
