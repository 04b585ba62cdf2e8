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

public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// Minutes east of UTC; `Z` is 0.
    case offsetDateTime(TOMLDate, TOMLTime, offsetMinutes: Int)
    case localDateTime(TOMLDate, TOMLTime)
    case localDate(TOMLDate)
    case localTime(TOMLTime)
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

/// A table's entries by key, and the order they were first written in.
public struct TOMLTable: Sendable, Equatable {
    public var entries: [String: TOMLNode]
    public var keys: [String]

    public init(entries: [String: TOMLNode] = [:], keys: [String] = []) {
        self.entries = entries
        self.keys = keys
    }

    public subscript(key: String) -> TOMLNode? { entries[key] }
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
