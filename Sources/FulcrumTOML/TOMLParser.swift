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
    /// The segments before the last: empty for the usual undotted key, which so needs no array
    /// (an array per key was 230,000 allocations for the key/value lines of 100,000 members).
    var leading: [String]
    var last: String
    var start: Int
    var end: Int

    var count: Int { leading.count + 1 }
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

    var arena = Arena()
    /// The `leading` array of the last key parsed, handed back once the key is used, so the
    /// next dotted key or header reuses its storage rather than allocating and releasing one
    /// per header: 5 ms of a 0.22 s load with 110,000 headers.
    var spareLeading: [String] = []
    /// Table 0 of the arena is the document; `current` the table key/value lines go into.
    let root = 0
    var current = 0

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
        _ = arena.newTable(.header, TOMLPosition(file: file, line: 1, column: 1))
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
        // Every byte of the document passes through here once: eight bytes at a time when they
        // hold no line feed, counting the bytes that start a character (all but UTF-8
        // continuation bytes 10xxxxxx), without bounds checks. Byte by byte it was 6% of the
        // instructions of a parse; this takes 45% fewer.
        var offset = curOffset, line = curLine, column = curColumn, lineStart = curLineStart
        b.withUnsafeBytes { bytes in
            let high: UInt64 = 0x8080_8080_8080_8080, ones: UInt64 = 0x0101_0101_0101_0101
            while offset < target {
                if offset + 8 <= target {
                    let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    let lf = word ^ (ones &* UInt64(UInt8.lf))
                    if (lf &- ones) & ~lf & high == 0 {
                        // Continuation bytes: high bit set, next bit clear.
                        column += word & high == 0 ? 8 : 8 - (word & ~(word << 1) & high).nonzeroBitCount
                        offset += 8
                        continue
                    }
                }
                let c = bytes[offset]
                if c == .lf {
                    line += 1
                    column = 1
                    lineStart = offset + 1
                } else if c & 0xC0 != 0x80 {
                    column += 1
                }
                offset += 1
            }
        }
        curOffset = offset
        curLine = line
        curColumn = column
        curLineStart = lineStart
        return TOMLPosition(file: file, line: line, column: column)
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
            // Eight bytes at a time while they are ASCII without NUL, the whole of a usual
            // config: a byte-by-byte loop was 3% of a parse, this is under 1%.
            k = asciiRun(from: k)
            guard k < n else { return }
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

    /// The first offset from `k` at which eight bytes are not all ASCII and non-NUL (or where
    /// fewer than eight are left); `k` itself when it is.
    func asciiRun(from k: Int) -> Int {
        b.withUnsafeBytes { raw in
            var k = k
            while k + 8 <= n {
                let word = raw.loadUnaligned(fromByteOffset: k, as: UInt64.self)
                let high: UInt64 = 0x8080_8080_8080_8080
                // A byte of zero sets its high bit in (word - 0x01…) & ~word.
                if word & high != 0 || (word &- 0x0101_0101_0101_0101) & ~word & high != 0 { break }
                k += 8
            }
            return k
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
        return arena.buildDocument(root: root)
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
        var leading: [String] = []
        var previous: String? = nil
        var end = i
        while true {
            if leading.count + (previous == nil ? 0 : 1) >= limits.maxDepth {
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
                let what = previous == nil ? "a key" : "a key after `.`"
                if c == .equals && previous == nil {
                    throw error(at: i, "found `=` with no key before it; expected a key")
                }
                throw error(at: i, "found \(describe(i)); expected \(what) (letters, digits, `_`, `-`, or a quoted key)")
            }
            if let previous {
                if leading.capacity == 0 {
                    swap(&leading, &spareLeading)
                    leading.removeAll(keepingCapacity: true)
                    // One allocation for the usual [pool.NAME.members.NAME], not one per doubling.
                    if leading.capacity == 0 { leading.reserveCapacity(4) }
                }
                leading.append(previous)
            }
            previous = segment
            end = i
            skipWhitespace()
            if at(i) == .dot && i < n {
                i += 1
                skipWhitespace()
                continue
            }
            return Key(leading: leading, last: segment, start: keyStart, end: end)
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
        if key.leading.capacity > 0 { spareLeading = key.leading }
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
    mutating func insert(_ value: Entry, into table: Int, key: Key, keyPosition: TOMLPosition) throws(TOMLError) {
        var t = table
        let segments = key.leading
        for index in segments.indices {
            let segment = segments[index]
            if let slot = arena.find(segment, inTable: t) {
                // Built only for a message: formatting it for every key cost 4% of a load.
                func path() -> String { dotted(segments[...index]) }
                let ref = arena.ref(inTable: t, slot: slot)
                if let sub = ref.table {
                    if arena.tables[sub].frozen {
                        throw error(at: key.start, "found key `\(keyText(key))` extending `\(path())`, an inline table (at \(arena.tables[sub].position)); expected a new key (inline tables cannot be extended)")
                    }
                    if arena.tables[sub].kind == .header {
                        throw error(at: key.start, "found dotted key `\(keyText(key))` extending table `\(path())`, which has its own [header] (at \(arena.tables[sub].position)); expected a new key (add the key under that header instead)")
                    }
                    if arena.tables[sub].kind == .implicit { arena.tables[sub].kind = .dotted }
                    t = sub
                } else if let a = ref.array {
                    throw error(at: key.start, "found dotted key `\(keyText(key))` going through `\(path())`, which is an array (at \(arena.arrays[a].position)); expected a table")
                } else {
                    throw error(at: key.start, "found dotted key `\(keyText(key))` going through `\(path())`, which already has a value (at \(arena.tables[t].pairs[slot].node.position)); expected a table")
                }
            } else {
                let sub = arena.newTable(.dotted, keyPosition)
                arena.tables[t].append(segment, Arena.placeholder, ref: .table(sub))
                t = sub
            }
        }
        let last = key.last
        if let slot = arena.find(last, inTable: t) {
            throw error(at: key.start, "found key `\(keyText(key))` a second time; expected each key once (first defined at \(arena.position(inTable: t, slot: slot)))")
        }
        let (node, ref) = Arena.slot(value)
        arena.tables[t].append(last, node, ref: ref)
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
        defer { if key.leading.capacity > 0 { spareLeading = key.leading } }
        let segments = key.leading
        var t = root
        for index in segments.indices {
            let segment = segments[index]
            if let slot = arena.find(segment, inTable: t) {
                func path() -> String { dotted(segments[...index]) }
                let ref = arena.ref(inTable: t, slot: slot)
                if let sub = ref.table {
                    if arena.tables[sub].frozen {
                        throw error(at: headerStart, "found header [\(keyText(key))] extending `\(path())`, an inline table (at \(arena.tables[sub].position)); expected a new table (inline tables cannot be extended)")
                    }
                    t = sub
                } else if let a = ref.array {
                    guard arena.arrays[a].ofTables, !arena.arrays[a].items.isEmpty,
                          let lastTable = arena.arrays[a].refs.ref(at: arena.arrays[a].items.count - 1).table else {
                        throw error(at: headerStart, "found header [\(keyText(key))] going through `\(path())`, a static array (at \(arena.arrays[a].position)); expected a table")
                    }
                    t = lastTable
                } else {
                    throw error(at: headerStart, "found header [\(keyText(key))] going through `\(path())`, which already has a value (at \(arena.tables[t].pairs[slot].node.position)); expected a table")
                }
            } else {
                let sub = arena.newTable(.implicit, headerPosition)
                arena.tables[t].append(segment, Arena.placeholder, ref: .table(sub))
                t = sub
            }
        }
        let last = key.last
        // The header as written, for messages only.
        var name: String { keyText(key) }
        let existing = arena.find(last, inTable: t)
        if !isArray {
            if let slot = existing {
                let ref = arena.ref(inTable: t, slot: slot)
                if let sub = ref.table {
                    let subPosition = arena.tables[sub].position
                    if arena.tables[sub].frozen {
                        throw error(at: headerStart, "found header [\(name)] for an inline table (at \(subPosition)); expected a new table (inline tables cannot be extended)")
                    }
                    switch arena.tables[sub].kind {
                    case .implicit:
                        arena.tables[sub].kind = .header
                        arena.tables[sub].position = headerPosition
                        current = sub
                        return
                    case .dotted:
                        throw error(at: headerStart, "found header [\(name)] for a table already created by dotted keys (at \(subPosition)); expected each table defined once")
                    case .header, .inline:
                        throw error(at: headerStart, "found header [\(name)] a second time; expected each table defined once (first at \(subPosition))")
                    }
                } else if let a = ref.array {
                    if arena.arrays[a].ofTables {
                        throw error(at: headerStart, "found header [\(name)] for an array of tables (at \(arena.arrays[a].position)); expected [[\(name)]] to add an element")
                    }
                    throw error(at: headerStart, "found header [\(name)] for a key that already holds an array (at \(arena.arrays[a].position)); expected each key defined once")
                } else {
                    throw error(at: headerStart, "found header [\(name)] for a key that already has a value (at \(arena.tables[t].pairs[slot].node.position)); expected each key defined once")
                }
            }
            let sub = arena.newTable(.header, headerPosition)
            arena.tables[t].append(last, Arena.placeholder, ref: .table(sub))
            current = sub
        } else {
            if let slot = existing {
                let ref = arena.ref(inTable: t, slot: slot)
                if let a = ref.array {
                    guard arena.arrays[a].ofTables else {
                        throw error(at: headerStart, "found [[\(name)]] appending to a static array (at \(arena.arrays[a].position)); expected an array of tables (static arrays cannot be extended)")
                    }
                    let element = arena.newTable(.header, headerPosition)
                    arena.arrays[a].append(Arena.placeholder, ref: .table(element))
                    current = element
                    return
                } else if let sub = ref.table {
                    throw error(at: headerStart, "found [[\(name)]] for a key that is already a table (at \(arena.tables[sub].position)); expected each key defined once")
                } else {
                    throw error(at: headerStart, "found [[\(name)]] for a key that already has a value (at \(arena.tables[t].pairs[slot].node.position)); expected each key defined once")
                }
            }
            let a = arena.newArray(ofTables: true, headerPosition)
            let element = arena.newTable(.header, headerPosition)
            arena.arrays[a].append(Arena.placeholder, ref: .table(element))
            arena.tables[t].append(last, Arena.placeholder, ref: .array(a))
            current = element
        }
    }

    // MARK: Values (explicit stack)

    enum Frame {
        case array(Int)
        case table(Int, key: Key, keyPosition: TOMLPosition)
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

    mutating func parseValue(ownerPosition: TOMLPosition, key: Key) throws(TOMLError) -> Entry {
        var stack: [Frame] = []
        outer: while true {
            let valueStart = i
            let nodePosition: TOMLPosition
            switch stack.last {
            case nil: nodePosition = ownerPosition
            case .array?: nodePosition = position(valueStart)
            case .table(_, _, let kp)?: nodePosition = kp
            }
            var value: Entry
            let c = at(i)
            if c == .openBracket && i < n {
                if nesting(stack) >= limits.maxDepth { throw tooDeep(i) }
                let a = arena.newArray(ofTables: false, nodePosition)
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
                let t = arena.newTable(.inline, nodePosition)
                i += 1
                skipWhitespace()
                if at(i) == .closeBrace && i < n {
                    i += 1
                    arena.tables[t].frozen = true
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
                    let (node, ref) = Arena.slot(value)
                    arena.arrays[a].append(node, ref: ref)
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
                        throw error(at: i, "found end of file in an array; expected `,` or `]` (the array opened at \(arena.arrays[a].position) is not closed)")
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
                        arena.tables[t].frozen = true
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
            case .table(_, let key, _): depth += key.count
            }
        }
        return depth
    }

    mutating func tooDeep(_ offset: Int) -> TOMLError {
        error(at: offset, "found arrays and inline tables nested more than \(limits.maxDepth) deep; expected at most \(limits.maxDepth) (limits.maxDepth)")
    }
}
