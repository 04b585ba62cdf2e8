/// Where something was written: file, 1-based line, 1-based column (in Unicode scalars).
public struct TOMLPosition: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// "conf.d/50-web.toml:12:9".
    public var description: String { "\(file):\(line):\(column)" }
}

public struct TOMLDate: Sendable, Equatable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }
}

public struct TOMLTime: Sendable, Equatable, Hashable {
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// Fractional seconds as nanoseconds (TOML allows more digits; they are truncated).
    public var nanosecond: Int

    public init(hour: Int, minute: Int, second: Int, nanosecond: Int = 0) {
        self.hour = hour
        self.minute = minute
        self.second = second
        self.nanosecond = nanosecond
    }
}

/// Only the date-time cases are boxed (`indirect`), being the payloads wider than a table: boxing
/// every value cost 360,000 allocations and 24 ms of a 0.21 s load of 100,000 members.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// Minutes east of UTC; `Z` is 0.
    indirect case offsetDateTime(TOMLDate, TOMLTime, offsetMinutes: Int)
    indirect case localDateTime(TOMLDate, TOMLTime)
    case localDate(TOMLDate)
    indirect case localTime(TOMLTime)
    case array([TOMLNode])
    case table(TOMLTable)
}

/// A value and where it was written. For a key's value: the position of the key (the start of
/// its first segment); for a table: its header (or, for a table created implicitly by a dotted
/// key or a deeper header, the first place that created it); for an array element: the element.
public struct TOMLNode: Sendable, Equatable {
    public var value: TOMLValue
    public var position: TOMLPosition

    public init(value: TOMLValue, position: TOMLPosition) {
        self.value = value
        self.position = position
    }
}

/// One key of a table and its node.
public struct TOMLEntry: Sendable, Equatable {
    public var key: String
    public var node: TOMLNode

    public init(key: String, node: TOMLNode) {
        self.key = key
        self.node = node
    }
}

/// A table's entries in the order their keys were first written.
///
/// One array of key/node pairs, with a hash index only past `TOMLTable.indexThreshold` keys:
/// most tables are a member's or listener's handful of keys, where comparing a few short
/// strings is cheaper than hashing one. Converting the parsed tree into a dictionary and a key
/// array per table took 0.19 s of a 1.04 s load of 100,000 members; keys and nodes in one array
/// rather than two are also 120,000 fewer allocations. Large tables (10,000 pools) keep
/// constant-time lookup.
public struct TOMLTable: Sendable, Equatable {
    /// The entries, in the order their keys were first written; keys are distinct.
    public private(set) var pairs: [TOMLEntry]
    /// Key → position in `pairs`; nil while the table has at most `indexThreshold` keys.
    private var index: [String: Int]?

    /// Up to this many keys a lookup compares strings one by one; past it the table keeps a hash
    /// index. 16 rather than 8 spares a pool of 10 members its dictionary: 14 ms less on a 0.23 s
    /// load of 10,000 such pools; 32 gained nothing more.
    static let indexThreshold = 16

    public init() {
        pairs = []
        index = nil
    }

    /// From a dictionary and a key order; keys without an entry are left out, entries without
    /// a key follow in key order.
    public init(entries: [String: TOMLNode], keys: [String]) {
        self.init()
        for key in keys { if let node = entries[key] { updateValue(node, forKey: key) } }
        for key in entries.keys.sorted() where self.index(forKey: key) == nil { updateValue(entries[key]!, forKey: key) }
    }

    /// The parser's finished entries (keys distinct) and its index, if it built one.
    init(pairs: [TOMLEntry], index: [String: Int]?) {
        self.pairs = pairs
        self.index = index
    }

    /// The keys in written order (a new array on each call; `pairs` has them without one).
    public var keys: [String] { pairs.map(\.key) }
    public var count: Int { pairs.count }
    public var isEmpty: Bool { pairs.isEmpty }

    public subscript(key: String) -> TOMLNode? {
        guard let i = index(forKey: key) else { return nil }
        return pairs[i].node
    }

    /// The position of `key` in `pairs`.
    public func index(forKey key: String) -> Int? {
        TOMLTable.find(key, in: pairs, index: index)
    }

    /// The entries as a read-only view with a dictionary's reading surface (`entries[key]`,
    /// `entries.keys`, `entries.count`), keys in written order.
    public var entries: TOMLEntries { TOMLEntries(table: self) }

    /// Sets the node of `key`: in place when the key exists, else appended after the others.
    /// Returns the node it replaced.
    @discardableResult
    public mutating func updateValue(_ node: TOMLNode, forKey key: String) -> TOMLNode? {
        if let i = index(forKey: key) {
            let old = pairs[i].node
            pairs[i].node = node
            return old
        }
        TOMLTable.append(TOMLEntry(key: key, node: node), to: &pairs, index: &index)
        return nil
    }

    /// Gives `body` the node at `i` to change in place, so a nested table is not copied.
    public mutating func modifyNode<R>(at i: Int, _ body: (inout TOMLNode) throws -> R) rethrows -> R {
        try body(&pairs[i].node)
    }

    // Shared with the parser's tables, which hold the same two fields.

    static func find(_ key: String, in pairs: [TOMLEntry], index: [String: Int]?) -> Int? {
        if let index { return index[key] }
        return pairs.firstIndex { $0.key == key }
    }

    /// Appends an entry whose key is not in `pairs` yet, keeping `index` in step: built once
    /// the table grows past the threshold, then extended.
    static func append(_ entry: consuming TOMLEntry, to pairs: inout [TOMLEntry], index: inout [String: Int]?) {
        let key = entry.key
        pairs.append(entry)
        if index != nil {
            index![key] = pairs.count - 1
        } else if pairs.count > indexThreshold {
            var built: [String: Int] = [:]
            built.reserveCapacity(pairs.count * 2)
            for (i, pair) in pairs.enumerated() { built[pair.key] = i }
            index = built
        }
    }

    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        // The index only mirrors the keys.
        lhs.pairs == rhs.pairs
    }
}

/// A table's entries by key, read-only, in written order.
public struct TOMLEntries: Sendable, Equatable {
    public let table: TOMLTable

    public subscript(key: String) -> TOMLNode? { table[key] }
    public var keys: [String] { table.keys }
    public var values: [TOMLNode] { table.pairs.map(\.node) }
    public var count: Int { table.count }
    public var isEmpty: Bool { table.isEmpty }
}

/// A document the parser refuses: where, what was found, what was expected, and for the
/// commonest operator mistakes a hint ("strings need quotes: address = \"127.0.0.1\"").
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: TOMLPosition
    /// "found `1` after `127.0.0`; expected a value: a quoted string, number, boolean, date, array or inline table".
    public var message: String
    public var hint: String?

    public init(position: TOMLPosition, message: String, hint: String? = nil) {
        self.position = position
        self.message = message
        self.hint = hint
    }

    /// "FILE:LINE:COLUMN: MESSAGE (hint: HINT)".
    public var description: String {
        "\(position): \(message)" + (hint.map { " (hint: \($0))" } ?? "")
    }
}

/// Bounds a hostile or broken file cannot get past: the parser refuses the document with a
/// clear error instead of using unbounded time, memory or stack.
public struct TOMLLimits: Sendable, Equatable {
    public var maxBytes: Int
    /// Nesting of arrays and inline tables, and of table-header / dotted-key segments.
    public var maxDepth: Int
    public var maxKeyBytes: Int

    public init(maxBytes: Int = 16 << 20, maxDepth: Int = 64, maxKeyBytes: Int = 1024) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxKeyBytes = maxKeyBytes
    }

    public static let standard = TOMLLimits()
}
