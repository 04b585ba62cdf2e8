/// The line of every key path written in one TOML file. TOMLKit keeps no positions for
/// values, so this recovers them from the text, which the parser has already accepted: the
/// scanner can be lenient, it only has to follow table headers, keys, and the extent of
/// values (strings, multi-line arrays) well enough not to mistake a value for a key.
struct KeyLines {
    /// Keys and headers as written.
    private var explicit: [[String]: Int] = [:]
    /// Tables created on the way to a deeper key (`[a.b.c]` creates `a` and `a.b`).
    private var implicit: [[String]: Int] = [:]

    init() {}

    init(scanning text: String) {
        var scanner = Scanner(bytes: Array(text.utf8))
        scanner.run()
        self = scanner.lines
    }

    func line(for path: [String]) -> Int? {
        explicit[path] ?? implicit[path]
    }

    /// Records `key` written at `line` inside the table at `base`.
    fileprivate mutating func record(base: [String], key: [String], line: Int) {
        var path = base
        for (index, segment) in key.enumerated() {
            path.append(segment)
            if index == key.count - 1 {
                if explicit[path] == nil { explicit[path] = line }
            } else if implicit[path] == nil {
                implicit[path] = line
            }
        }
    }
}

private enum ASCII {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#")
    static let equals = UInt8(ascii: "=")
    static let dot = UInt8(ascii: ".")
    static let quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'")
    static let backslash = UInt8(ascii: "\\")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
}

private struct Scanner {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var table: [String] = []
    var lines = KeyLines()

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func peek(_ offset: Int = 0) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    mutating func run() {
        while let byte = peek() {
            switch byte {
            case ASCII.space, ASCII.tab, ASCII.carriageReturn:
                index += 1
            case ASCII.newline:
                index += 1
                line += 1
            case ASCII.hash:
                skipToLineEnd()
            case ASCII.openBracket:
                header()
            default:
                keyValue()
            }
        }
    }

    mutating func header() {
        let startLine = line
        let isArray = peek(1) == ASCII.openBracket
        index += isArray ? 2 : 1
        if let path = key() {
            skipBlanks()
            if peek() == ASCII.closeBracket, !isArray || peek(1) == ASCII.closeBracket {
                lines.record(base: [], key: path, line: startLine)
                table = path
            }
        }
        skipToLineEnd()
    }

    mutating func keyValue() {
        let startLine = line
        guard let path = key() else { return skipToLineEnd() }
        skipBlanks()
        guard peek() == ASCII.equals else { return skipToLineEnd() }
        index += 1
        lines.record(base: table, key: path, line: startLine)
        skipValue()
        skipToLineEnd()
    }

    /// A dotted key: bare, "basic" or 'literal' segments joined by dots.
    mutating func key() -> [String]? {
        var segments: [String] = []
        while true {
            skipBlanks()
            guard let segment = keySegment() else { return nil }
            segments.append(segment)
            skipBlanks()
            guard peek() == ASCII.dot else { return segments }
            index += 1
        }
    }

    mutating func keySegment() -> String? {
        switch peek() {
        case ASCII.quote?:
            return basicKey()
        case ASCII.apostrophe?:
            index += 1
            let start = index
            while let byte = peek(), byte != ASCII.apostrophe, byte != ASCII.newline { index += 1 }
            guard peek() == ASCII.apostrophe else { return nil }
            defer { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        default:
            let start = index
            while let byte = peek(), isBareKeyByte(byte) { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }
    }

    /// A quoted key, unescaped so it matches the key TOMLKit reports.
    mutating func basicKey() -> String? {
        index += 1
        var decoded: [UInt8] = []
        while let byte = peek(), byte != ASCII.newline {
            index += 1
            if byte == ASCII.quote { return String(decoding: decoded, as: UTF8.self) }
            guard byte == ASCII.backslash, let escape = peek() else {
                decoded.append(byte)
                continue
            }
            index += 1
            switch escape {
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "e"): decoded.append(0x1B)
            case UInt8(ascii: "x"): decoded.append(contentsOf: hexScalar(digits: 2))
            case UInt8(ascii: "u"): decoded.append(contentsOf: hexScalar(digits: 4))
            case UInt8(ascii: "U"): decoded.append(contentsOf: hexScalar(digits: 8))
            default: decoded.append(escape)
            }
        }
        return nil
    }

    mutating func hexScalar(digits: Int) -> [UInt8] {
        guard index + digits <= bytes.count,
              let value = UInt32(String(decoding: bytes[index..<index + digits], as: UTF8.self), radix: 16),
              let scalar = Unicode.Scalar(value) else { return [] }
        index += digits
        return Array(String(Character(scalar)).utf8)
    }

    /// Skips one value, which may span lines (arrays, multi-line strings); stops before the
    /// newline that ends it.
    mutating func skipValue() {
        var depth = 0
        while let byte = peek() {
            switch byte {
            case ASCII.quote, ASCII.apostrophe:
                skipString(delimiter: byte)
            case ASCII.openBracket, ASCII.openBrace:
                depth += 1
                index += 1
            case ASCII.closeBracket, ASCII.closeBrace:
                depth = max(0, depth - 1)
                index += 1
            case ASCII.hash:
                skipToLineEnd()
            case ASCII.newline:
                if depth == 0 { return }
                line += 1
                index += 1
            default:
                index += 1
            }
        }
    }

    mutating func skipString(delimiter: UInt8) {
        let escapes = delimiter == ASCII.quote
        let multiline = peek(1) == delimiter && peek(2) == delimiter
        index += multiline ? 3 : 1
        while let byte = peek() {
            if byte == ASCII.newline {
                guard multiline else { return }
                line += 1
            } else if byte == delimiter {
                if !multiline {
                    index += 1
                    return
                }
                if peek(1) == delimiter && peek(2) == delimiter {
                    index += 3
                    // Up to two more quotes belong to the content: """a""""" ends in a".
                    var extra = 0
                    while extra < 2, peek() == delimiter { index += 1; extra += 1 }
                    return
                }
            } else if escapes && byte == ASCII.backslash {
                index += 1
                if peek() == ASCII.newline { line += 1 }
            }
            index += 1
        }
    }

    mutating func skipBlanks() {
        while let byte = peek(), byte == ASCII.space || byte == ASCII.tab { index += 1 }
    }

    mutating func skipToLineEnd() {
        while let byte = peek(), byte != ASCII.newline { index += 1 }
    }

    func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return byte >= 0x80 // TOML 1.1 allows Unicode bare keys.
        }
    }
}
