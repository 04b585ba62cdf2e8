/// TOML 1.0.0 parser: pure Swift, no Foundation, one pass over the UTF-8 bytes, explicit stacks
/// for nested arrays and inline tables (nothing the input controls drives recursion), linear time.
public enum TOMLParser {
    /// Parses one document. `file` goes into every position. Never crashes, never recurses
    /// in a way input can drive deep, linear time in the input.
    public static func parse(_ text: String, file: String, limits: TOMLLimits = .standard) throws(TOMLError) -> TOMLTable {
        try parse(Array(text.utf8), file: file, limits: limits)
    }

    /// Parses one document from its bytes, which must be UTF-8 (a leading UTF-8 byte-order mark is
    /// skipped). Invalid UTF-8 is a `TOMLError` with the position of the first bad byte.
    public static func parse(_ bytes: [UInt8], file: String, limits: TOMLLimits = .standard) throws(TOMLError) -> TOMLTable {
        if bytes.count > limits.maxBytes {
            throw TOMLError(
                position: TOMLPosition(file: file, line: 1, column: 1),
                message: "document is \(bytes.count) bytes; expected at most \(limits.maxBytes) (limits.maxBytes)")
        }
        var parser = Parser(bytes: bytes, file: file, limits: limits)
        try parser.validateEncoding()
        return try parser.parseDocument()
    }
}

// MARK: - Byte constants

extension UInt8 {
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let tab: UInt8 = 0x09
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22        // "
    static let apostrophe: UInt8 = 0x27   // '
    static let hash: UInt8 = 0x23         // #
    static let comma: UInt8 = 0x2C
    static let dot: UInt8 = 0x2E
    static let equals: UInt8 = 0x3D
    static let colon: UInt8 = 0x3A
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let backslash: UInt8 = 0x5C

    var isDigit: Bool { self >= 0x30 && self <= 0x39 }
    var isHexDigit: Bool { isDigit || (self >= 0x41 && self <= 0x46) || (self >= 0x61 && self <= 0x66) }
    var isLetter: Bool { (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A) }
    var isBareKey: Bool { isLetter || isDigit || self == 0x5F || self == 0x2D }
    /// Characters a bare value (number, boolean, date/time) is made of.
    var isBareValue: Bool { isBareKey || self == 0x2B || self == .dot || self == .colon }
    var isWhitespace: Bool { self == .space || self == .tab }
    /// Control characters TOML refuses in strings and comments (tab is allowed).
    var isForbiddenControl: Bool { (self < 0x20 && self != .tab) || self == 0x7F }
}

// MARK: - Parser

struct Key {
    var segments: [String]
    var start: Int
    var end: Int
}

struct Parser {
    let b: [UInt8]
    let n: Int
    let file: String
    let limits: TOMLLimits
    /// After a leading byte-order mark, if any.
    let start: Int
    var i: Int

    // Monotonic position cursor: positions are almost always asked for in increasing order.
    var curOffset: Int
    var curLine = 1
    var curColumn = 1
    var curLineStart: Int

    let root: MTable
    var current: MTable

    init(bytes: [UInt8], file: String, limits: TOMLLimits) {
        b = bytes
        n = bytes.count
        self.file = file
        self.limits = limits
        let bom = n >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        start = bom ? 3 : 0
        i = start
        curOffset = start
        curLineStart = start
        root = MTable(kind: .header, position: TOMLPosition(file: file, line: 1, column: 1))
        current = root
    }

    // MARK: Positions and errors

    mutating func position(_ offset: Int) -> TOMLPosition {
        let target = min(max(offset, start), n)
        if target < curOffset {
            if target >= curLineStart {
                curOffset = curLineStart
                curColumn = 1
            } else {
                curOffset = start
                curLine = 1
                curColumn = 1
                curLineStart = start
            }
        }
        while curOffset < target {
            let c = b[curOffset]
            if c == .lf {
                curLine += 1
                curColumn = 1
                curLineStart = curOffset + 1
            } else if c & 0xC0 != 0x80 {
                curColumn += 1
            }
            curOffset += 1
        }
        return TOMLPosition(file: file, line: curLine, column: curColumn)
    }

    mutating func error(at offset: Int, _ message: String, hint: String? = nil) -> TOMLError {
        TOMLError(position: position(offset), message: message, hint: hint)
    }

    @inline(__always) func at(_ k: Int) -> UInt8 { k < n ? b[k] : 0 }

    /// "`x`", "end of line", "end of file", "control character U+0001".
    func describe(_ offset: Int) -> String {
        guard offset < n else { return "end of file" }
        let c = b[offset]
        if c == .lf || (c == .cr && at(offset + 1) == .lf) { return "end of line" }
        if c == .cr { return "a carriage return without a line feed" }
        if c < 0x20 || c == 0x7F { return "control character " + hex(UInt32(c)) }
        return "`" + scalarText(offset) + "`"
    }

    func scalarText(_ offset: Int) -> String {
        var end = offset + 1
        while end < n && b[end] & 0xC0 == 0x80 { end += 1 }
        return String(decoding: b[offset..<end], as: UTF8.self)
    }

    func text(_ from: Int, _ to: Int) -> String {
        String(decoding: b[max(from, 0)..<min(max(to, from), n)], as: UTF8.self)
    }

    func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The end of the current line (offset of its LF / CRLF, or of the end of the file).
    func lineEnd(from offset: Int) -> Int {
        var k = offset
        while k < n && b[k] != .lf && !(b[k] == .cr && at(k + 1) == .lf) { k += 1 }
        return k
    }

    // MARK: Encoding

    mutating func validateEncoding() throws(TOMLError) {
        var k = start
        while k < n {
            let c = b[k]
            if c < 0x80 {
                if c == 0 { throw error(at: k, "found a NUL byte (U+0000); TOML documents cannot contain NUL") }
                k += 1
                continue
            }
            var need = 0
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; hi = 0x9F
            case 0xF0: need = 3; lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; hi = 0x8F
            default:
                throw error(at: k, "found byte 0x\(String(c, radix: 16, uppercase: true)); expected UTF-8 text (the document is not valid UTF-8)")
            }
            for j in 1...need {
                let d = at(k + j)
                let ok = k + j < n && (j == 1 ? (d >= lo && d <= hi) : (d & 0xC0 == 0x80))
                if !ok {
                    throw error(at: k, "found an invalid UTF-8 sequence starting with byte 0x\(String(c, radix: 16, uppercase: true)); expected UTF-8 text (the document is not valid UTF-8)")
                }
            }
            k += need + 1
        }
    }

    // MARK: Document

    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        while true {
            skipWhitespace()
            guard i < n else { break }
            let c = b[i]
            if c == .hash {
                try skipComment()
                try expectEndOfLine()
                continue
            }
            if c == .lf { i += 1; continue }
            if c == .cr {
                if at(i + 1) == .lf { i += 2; continue }
                throw error(at: i, "found a carriage return without a line feed; expected a new line (LF or CRLF)")
            }
            if c == .openBracket {
                try parseHeader()
            } else if c.isBareKey || c == .quote || c == .apostrophe {
                try parseKeyValue()
            } else {
                throw error(at: i, "found \(describe(i)); expected a key, a [table] header or a comment")
            }
            try expectEndOfLine()
        }
        return buildDocument(root)
    }

    mutating func skipWhitespace() {
        while i < n && b[i].isWhitespace { i += 1 }
    }

    /// At `#`: skips to the end of the line (not consuming it), refusing control characters.
    mutating func skipComment() throws(TOMLError) {
        i += 1
        while i < n {
            let c = b[i]
            if c == .lf { return }
            if c == .cr {
                if at(i + 1) == .lf { return }
                throw error(at: i, "found a carriage return without a line feed in a comment; expected a new line (LF or CRLF)")
            }
            if c.isForbiddenControl {
                throw error(at: i, "found control character \(hex(UInt32(c))) in a comment; expected text (only tab is allowed)")
            }
            i += 1
        }
    }

    mutating func expectEndOfLine() throws(TOMLError) {
        skipWhitespace()
        if at(i) == .hash && i < n { try skipComment() }
        if i >= n { return }
        if b[i] == .lf { i += 1; return }
        if b[i] == .cr && at(i + 1) == .lf { i += 2; return }
        throw error(at: i, "found \(describe(i)); expected the end of the line (or a # comment)")
    }

    // MARK: Keys

    mutating func parseKey() throws(TOMLError) -> Key {
        let keyStart = i
        var segments: [String] = []
        var end = i
        while true {
            if segments.count >= limits.maxDepth {
                throw error(at: i, "found a key with more than \(limits.maxDepth) dotted parts; expected at most \(limits.maxDepth) (limits.maxDepth)")
            }
            let segStart = i
            let c = at(i)
            var segment: String
            if i < n && c.isBareKey {
                while i < n && b[i].isBareKey { i += 1 }
                if i - segStart > limits.maxKeyBytes { throw keyTooLong(segStart) }
                segment = String(decoding: b[segStart..<i], as: UTF8.self)
            } else if c == .quote || c == .apostrophe {
                if at(i + 1) == c && at(i + 2) == c {
                    throw error(at: i, "found a multi-line string where a key was expected; expected a bare key or a single-line quoted key")
                }
                segment = c == .quote ? try parseBasicString() : try parseLiteralString()
                if segment.utf8.count > limits.maxKeyBytes { throw keyTooLong(segStart) }
            } else {
                let what = segments.isEmpty ? "a key" : "a key after `.`"
                if c == .equals && segments.isEmpty {
                    throw error(at: i, "found `=` with no key before it; expected a key")
                }
                throw error(at: i, "found \(describe(i)); expected \(what) (letters, digits, `_`, `-`, or a quoted key)")
            }
            segments.append(segment)
            end = i
            skipWhitespace()
            if at(i) == .dot && i < n {
                i += 1
                skipWhitespace()
                continue
            }
            return Key(segments: segments, start: keyStart, end: end)
        }
    }

    mutating func keyTooLong(_ offset: Int) -> TOMLError {
        error(at: offset, "found a key longer than \(limits.maxKeyBytes) bytes; expected at most \(limits.maxKeyBytes) (limits.maxKeyBytes)")
    }

    func keyText(_ key: Key) -> String { text(key.start, key.end) }

    func dotted(_ segments: ArraySlice<String>) -> String {
        segments.map { s -> String in
            if !s.isEmpty && s.utf8.allSatisfy({ $0.isBareKey }) { return s }
            return "\"" + s + "\""
        }.joined(separator: ".")
    }

    // MARK: Key/value pairs

    mutating func parseKeyValue() throws(TOMLError) {
        let key = try parseKey()
        try expectEquals(after: key)
        let keyPos = position(key.start)
        let value = try parseValue(ownerPosition: keyPos, key: key)
        try insert(value, into: current, key: key, keyPosition: keyPos)
    }

    mutating func expectEquals(after key: Key) throws(TOMLError) {
        skipWhitespace()
        if at(i) == .equals && i < n {
            i += 1
            skipWhitespace()
            return
        }
        let name = keyText(key)
        if at(i) == .colon && i < n {
            throw error(at: i, "found `:` after key `\(name)`; expected `=`", hint: "TOML assigns with =, not :")
        }
        let eol = lineEnd(from: i)
        var rest = text(i, eol)
        if let hashIndex = rest.firstIndex(of: "#") { rest = String(rest[..<hashIndex]) }
        rest = trimmed(rest)
        if rest.isEmpty || at(i) == .hash {
            throw error(at: i, "found \(describe(i)) after key `\(name)`; expected `=` and a value",
                        hint: "keys and values are joined with =: \(name) = value")
        }
        if rest.contains("=") {
            throw error(at: i, "found \(describe(i)) in key `\(text(key.start, i))\(firstWord(rest))`; expected `.` or `=` (bare keys are letters, digits, `_` and `-`; quote other keys)")
        }
        throw error(at: i, "found `\(firstWord(rest))` after key `\(name)`; expected `=`",
                    hint: "keys and values are joined with =: \(name) = \(rest)")
    }

    func trimmed(_ s: String) -> String {
        var scalars = Substring(s)
        while let f = scalars.first, f == " " || f == "\t" { scalars.removeFirst() }
        while let l = scalars.last, l == " " || l == "\t" { scalars.removeLast() }
        return String(scalars)
    }

    func firstWord(_ s: String) -> String {
        String(s.prefix { $0 != " " && $0 != "\t" })
    }

    /// Inserts `value` at the (possibly dotted) `key` relative to `table`, creating the
    /// intermediate tables. Refuses duplicates, extending inline tables, and dotted keys
    /// reaching into tables defined by headers or into arrays.
    mutating func insert(_ value: MEntry, into table: MTable, key: Key, keyPosition: TOMLPosition) throws(TOMLError) {
        var t = table
        let segments = key.segments
        for (index, segment) in segments.dropLast().enumerated() {
            if let existing = t.entries[segment] {
                let path = dotted(segments[...index])
                switch existing {
                case .table(let sub):
                    if sub.frozen {
                        throw error(at: key.start, "found key `\(keyText(key))` extending `\(path)`, an inline table (at \(sub.position)); expected a new key (inline tables cannot be extended)")
                    }
                    if sub.kind == .header {
                        throw error(at: key.start, "found dotted key `\(keyText(key))` extending table `\(path)`, which has its own [header] (at \(sub.position)); expected a new key (add the key under that header instead)")
                    }
                    if sub.kind == .implicit { sub.kind = .dotted }
                    t = sub
                case .array(let a):
                    throw error(at: key.start, "found dotted key `\(keyText(key))` going through `\(path)`, which is an array (at \(a.position)); expected a table")
                case .leaf(_, let p):
                    throw error(at: key.start, "found dotted key `\(keyText(key))` going through `\(path)`, which already has a value (at \(p)); expected a table")
                }
            } else {
                let sub = MTable(kind: .dotted, position: keyPosition)
                t.entries[segment] = .table(sub)
                t.keys.append(segment)
                t = sub
            }
        }
        let last = segments[segments.count - 1]
        if let existing = t.entries[last] {
            throw error(at: key.start, "found key `\(keyText(key))` a second time; expected each key once (first defined at \(existing.position))")
        }
        t.entries[last] = value
        t.keys.append(last)
    }

    // MARK: Headers

    mutating func parseHeader() throws(TOMLError) {
        let headerStart = i
        i += 1
        let isArray = at(i) == .openBracket && i < n
        if isArray { i += 1 }
        skipWhitespace()
        let nameStart = i
        if at(i) == .closeBracket || i >= n || b[i] == .lf || b[i] == .cr {
            throw error(at: i, "found \(describe(i)); expected a table name")
        }
        let key = try parseKey()
        skipWhitespace()
        if at(i) != .closeBracket || i >= n {
            let c = at(i)
            var hint: String? = nil
            if i < n && (c.isBareKey || c == .quote || c == .apostrophe) {
                let eol = lineEnd(from: nameStart)
                var close = nameStart
                while close < eol && b[close] != .closeBracket { close += 1 }
                let words = text(nameStart, close).split(whereSeparator: { $0 == " " || $0 == "\t" })
                let name = words.joined(separator: ".")
                hint = "table names are joined with dots, not spaces: " + (isArray ? "[[\(name)]]" : "[\(name)]")
            }
            throw error(at: i, "found \(describe(i)) in table header; expected `.` or `\(isArray ? "]]" : "]")`", hint: hint)
        }
        i += 1
        if isArray {
            if at(i) != .closeBracket || i >= n {
                throw error(at: i, "found \(describe(i)) after array-of-tables name; expected `]]`")
            }
            i += 1
        }
        let headerPosition = position(headerStart)
        let segments = key.segments
        var t = root
        for (index, segment) in segments.dropLast().enumerated() {
            if let existing = t.entries[segment] {
                let path = dotted(segments[...index])
                switch existing {
                case .table(let sub):
                    if sub.frozen {
                        throw error(at: headerStart, "found header [\(keyText(key))] extending `\(path)`, an inline table (at \(sub.position)); expected a new table (inline tables cannot be extended)")
                    }
                    t = sub
                case .array(let a):
                    guard a.ofTables, case .table(let lastTable)? = a.items.last else {
                        throw error(at: headerStart, "found header [\(keyText(key))] going through `\(path)`, a static array (at \(a.position)); expected a table")
                    }
                    t = lastTable
                case .leaf(_, let p):
                    throw error(at: headerStart, "found header [\(keyText(key))] going through `\(path)`, which already has a value (at \(p)); expected a table")
                }
            } else {
                let sub = MTable(kind: .implicit, position: headerPosition)
                t.entries[segment] = .table(sub)
                t.keys.append(segment)
                t = sub
            }
        }
        let last = segments[segments.count - 1]
        let name = keyText(key)
        if !isArray {
            if let existing = t.entries[last] {
                switch existing {
                case .table(let sub):
                    if sub.frozen {
                        throw error(at: headerStart, "found header [\(name)] for an inline table (at \(sub.position)); expected a new table (inline tables cannot be extended)")
                    }
                    switch sub.kind {
                    case .implicit:
                        sub.kind = .header
                        sub.position = headerPosition
                        current = sub
                        return
                    case .dotted:
                        throw error(at: headerStart, "found header [\(name)] for a table already created by dotted keys (at \(sub.position)); expected each table defined once")
                    case .header, .inline:
                        throw error(at: headerStart, "found header [\(name)] a second time; expected each table defined once (first at \(sub.position))")
                    }
                case .array(let a):
                    if a.ofTables {
                        throw error(at: headerStart, "found header [\(name)] for an array of tables (at \(a.position)); expected [[\(name)]] to add an element")
                    }
                    throw error(at: headerStart, "found header [\(name)] for a key that already holds an array (at \(a.position)); expected each key defined once")
                case .leaf(_, let p):
                    throw error(at: headerStart, "found header [\(name)] for a key that already has a value (at \(p)); expected each key defined once")
                }
            }
            let sub = MTable(kind: .header, position: headerPosition)
            t.entries[last] = .table(sub)
            t.keys.append(last)
            current = sub
        } else {
            let element = MTable(kind: .header, position: headerPosition)
            if let existing = t.entries[last] {
                switch existing {
                case .array(let a) where a.ofTables:
                    a.items.append(.table(element))
                    current = element
                    return
                case .array(let a):
                    throw error(at: headerStart, "found [[\(name)]] appending to a static array (at \(a.position)); expected an array of tables (static arrays cannot be extended)")
                case .table(let sub):
                    throw error(at: headerStart, "found [[\(name)]] for a key that is already a table (at \(sub.position)); expected each key defined once")
                case .leaf(_, let p):
                    throw error(at: headerStart, "found [[\(name)]] for a key that already has a value (at \(p)); expected each key defined once")
                }
            }
            let a = MArray(ofTables: true, position: headerPosition)
            a.items.append(.table(element))
            t.entries[last] = .array(a)
            t.keys.append(last)
            current = element
        }
    }

    // MARK: Values (explicit stack)

    enum Frame {
        case array(MArray)
        case table(MTable, key: Key, keyPosition: TOMLPosition)
    }

    static let expectedValue = "expected a value: a quoted string, number, boolean, date, array or inline table"

    /// Whitespace, new lines and comments, as allowed between array elements.
    mutating func skipArraySpace() throws(TOMLError) {
        while i < n {
            let c = b[i]
            if c.isWhitespace || c == .lf {
                i += 1
            } else if c == .cr && at(i + 1) == .lf {
                i += 2
            } else if c == .hash {
                try skipComment()
            } else {
                return
            }
        }
    }

    mutating func parseValue(ownerPosition: TOMLPosition, key: Key) throws(TOMLError) -> MEntry {
        var stack: [Frame] = []
        outer: while true {
            let valueStart = i
            let nodePosition: TOMLPosition
            switch stack.last {
            case nil: nodePosition = ownerPosition
            case .array?: nodePosition = position(valueStart)
            case .table(_, _, let kp)?: nodePosition = kp
            }
            var value: MEntry
            let c = at(i)
            if c == .openBracket && i < n {
                if nesting(stack) >= limits.maxDepth { throw tooDeep(i) }
                let a = MArray(ofTables: false, position: nodePosition)
                i += 1
                stack.append(.array(a))
                try skipArraySpace()
                if at(i) == .closeBracket && i < n {
                    i += 1
                    stack.removeLast()
                    value = .array(a)
                } else {
                    continue outer
                }
            } else if c == .openBrace && i < n {
                if nesting(stack) >= limits.maxDepth { throw tooDeep(i) }
                let t = MTable(kind: .inline, position: nodePosition)
                i += 1
                skipWhitespace()
                if at(i) == .closeBrace && i < n {
                    i += 1
                    t.frozen = true
                    value = .table(t)
                } else {
                    let k = try parseInlineKey()
                    stack.append(.table(t, key: k, keyPosition: position(k.start)))
                    continue outer
                }
            } else {
                let inArray: Bool
                if case .array? = stack.last { inArray = true } else { inArray = false }
                value = try parseScalar(position: nodePosition, ownerKey: stack.isEmpty ? key : nil, inArray: inArray)
            }
            // Reduce: hand the finished value to the enclosing frames.
            while true {
                guard let top = stack.last else { return value }
                switch top {
                case .array(let a):
                    a.items.append(value)
                    try skipArraySpace()
                    if at(i) == .comma && i < n {
                        i += 1
                        try skipArraySpace()
                        if at(i) == .closeBracket && i < n {
                            i += 1
                            stack.removeLast()
                            value = .array(a)
                            continue
                        }
                        continue outer
                    }
                    if at(i) == .closeBracket && i < n {
                        i += 1
                        stack.removeLast()
                        value = .array(a)
                        continue
                    }
                    if i >= n {
                        throw error(at: i, "found end of file in an array; expected `,` or `]` (the array opened at \(a.position) is not closed)")
                    }
                    throw error(at: i, "found \(describe(i)) in an array; expected `,` or `]`")
                case .table(let t, let k, let kp):
                    try insert(value, into: t, key: k, keyPosition: kp)
                    skipWhitespace()
                    if at(i) == .comma && i < n {
                        i += 1
                        skipWhitespace()
                        if at(i) == .closeBrace && i < n {
                            throw error(at: i, "found `}` after `,` in an inline table; expected a key (inline tables do not allow a trailing comma)")
                        }
                        let next = try parseInlineKey()
                        stack[stack.count - 1] = .table(t, key: next, keyPosition: position(next.start))
                        continue outer
                    }
                    if at(i) == .closeBrace && i < n {
                        i += 1
                        t.frozen = true
                        stack.removeLast()
                        value = .table(t)
                        continue
                    }
                    if i >= n || b[i] == .lf || b[i] == .cr || b[i] == .hash {
                        throw error(at: i, "found \(describe(i)) in an inline table; expected `,` or `}` (inline tables must be on one line)")
                    }
                    throw error(at: i, "found \(describe(i)) in an inline table; expected `,` or `}`")
                }
            }
        }
    }

    mutating func parseInlineKey() throws(TOMLError) -> Key {
        let c = at(i)
        if i >= n || c == .lf || c == .cr || c == .hash {
            throw error(at: i, "found \(describe(i)) in an inline table; expected a key or `}` (inline tables must be on one line)")
        }
        if c == .comma {
            throw error(at: i, "found `,` in an inline table; expected a key")
        }
        let k = try parseKey()
        try expectEquals(after: k)
        return k
    }

    /// How deep the value being parsed sits: one per enclosing array or inline table, plus the
    /// extra segments of dotted keys inside inline tables (each is a table level too). Bounded by
    /// `limits.maxDepth`, so the finished value, its deallocation and the tree all stay shallow.
    func nesting(_ stack: [Frame]) -> Int {
        var depth = 0
        for frame in stack {
            switch frame {
            case .array: depth += 1
            case .table(_, let key, _): depth += key.segments.count
            }
        }
        return depth
    }

    mutating func tooDeep(_ offset: Int) -> TOMLError {
        error(at: offset, "found arrays and inline tables nested more than \(limits.maxDepth) deep; expected at most \(limits.maxDepth) (limits.maxDepth)")
    }
}
