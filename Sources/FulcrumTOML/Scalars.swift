// Strings, numbers, booleans and dates/times.

extension Parser {
    // MARK: Scalars

    mutating func parseScalar(position nodePosition: TOMLPosition, ownerKey: Key?, inArray: Bool) throws(TOMLError) -> Entry {
        let valueStart = i
        let c = at(i)
        if c == .quote && i < n {
            let s = (at(i + 1) == .quote && at(i + 2) == .quote) ? try parseMultilineBasicString() : try parseBasicString()
            return .leaf(TOMLNode(value: .string(s), position: nodePosition))
        }
        if c == .apostrophe && i < n {
            let s = (at(i + 1) == .apostrophe && at(i + 2) == .apostrophe) ? try parseMultilineLiteralString() : try parseLiteralString()
            return .leaf(TOMLNode(value: .string(s), position: nodePosition))
        }
        if c == .equals && i < n {
            throw error(at: i, "found a second `=`; \(Parser.expectedValue)")
        }
        if i >= n || c == .lf || c == .cr || c == .hash {
            let after = ownerKey.map { " after `\(keyText($0)) =`" } ?? ""
            throw error(at: i, "found \(describe(i))\(after); \(Parser.expectedValue)")
        }
        // A bare token: number, boolean, date/time.
        while i < n && b[i].isBareValue { i += 1 }
        if let v = plainInteger(valueStart, i) { return .leaf(TOMLNode(value: .integer(v), position: nodePosition)) }
        // "1979-05-27 07:32:00": a date, one space, then a time.
        if i - valueStart == 10 && at(valueStart + 4) == 0x2D && at(valueStart + 7) == 0x2D
            && at(i) == .space && at(i + 1).isDigit && at(i + 2).isDigit && at(i + 3) == .colon {
            i += 1
            while i < n && b[i].isBareValue { i += 1 }
        }
        let token = Array(b[valueStart..<i])
        let next = at(i)
        let terminated = i >= n || next.isWhitespace || next == .lf || next == .cr || next == .hash
            || next == .comma || next == .closeBracket || next == .closeBrace
        if !token.isEmpty && terminated {
            switch classify(token) {
            case .success(let v):
                return .leaf(TOMLNode(value: v, position: nodePosition))
            case .failure(let f):
                if !looksLikeBareWord(token) {
                    throw error(at: valueStart + f.offset, f.message)
                }
            }
        }
        // Not a value: a bare word, an address, a path…
        throw bareWordError(valueStart: valueStart, ownerKey: ownerKey, inArray: inArray)
    }

    /// The commonest bare value, a short decimal integer (`protocol_port = 80`), read straight from
    /// the bytes; nil for anything else, which `classify` then reads in full. Copying each token
    /// into an array and its digits into two more was 330,000 allocations for the 110,000
    /// integers of a 100,000-member config.
    func plainInteger(_ from: Int, _ to: Int) -> Int64? {
        var k = from
        let negative = at(k) == 0x2D
        if negative || at(k) == 0x2B { k += 1 }
        // 1 to 18 digits cannot overflow; no leading zero (refused, with its own message).
        guard to - k >= 1, to - k <= 18, b[k] != 0x30 || to - k == 1 else { return nil }
        let next = at(to)
        guard to >= n || next.isWhitespace || next == .lf || next == .cr || next == .hash
            || next == .comma || next == .closeBracket || next == .closeBrace else { return nil }
        var value: Int64 = 0
        while k < to {
            let c = b[k]
            guard c.isDigit else { return nil }
            value = value * 10 + Int64(c - 0x30)
            k += 1
        }
        return negative ? -value : value
    }

    /// Tokens that are clearly not a malformed number: words, addresses, host:port.
    func looksLikeBareWord(_ token: [UInt8]) -> Bool {
        // Dates, times and radix integers get their precise message instead.
        if token.count >= 5 && token[0].isDigit && token[1].isDigit && token[2].isDigit && token[3].isDigit && token[4] == 0x2D { return false }
        if token.count >= 3 && token[0].isDigit && token[1].isDigit && token[2] == .colon { return false }
        let unsigned = token.first == 0x2B || token.first == 0x2D ? token.dropFirst() : token[...]
        if unsigned.count >= 2 && unsigned.first == 0x30 && [0x78, 0x6F, 0x62].contains(unsigned[unsigned.startIndex + 1]) { return false }
        var dots = 0
        for (k, c) in token.enumerated() {
            if c == .dot { dots += 1 }
            if c == .colon { return true }
            if c.isLetter {
                // Exponents and radix prefixes belong to numbers.
                if (c == 0x65 || c == 0x45) && k > 0 && token[k - 1].isDigit { continue }
                if (c == 0x78 || c == 0x6F || c == 0x62) && k == 1 && token[0] == 0x30 { continue }
                if c.isHexDigit && token.count > 2 && token[0] == 0x30 && token[1] == 0x78 { continue }
                if c == 0x5F { continue }
                return true
            }
        }
        return dots >= 2
    }

    mutating func bareWordError(valueStart: Int, ownerKey: Key?, inArray: Bool) -> TOMLError {
        // The word as the operator wrote it.
        var end = valueStart
        if ownerKey != nil {
            end = lineEnd(from: valueStart)
            var k = valueStart
            while k < end && b[k] != .hash { k += 1 }
            end = k
            while end > valueStart && b[end - 1].isWhitespace { end -= 1 }
        } else {
            while end < n {
                let c = b[end]
                if c.isWhitespace || c == .lf || c == .cr || c == .hash || c == .comma || c == .closeBracket || c == .closeBrace { break }
                end += 1
            }
        }
        if end == valueStart { end = min(valueStart + 1, n) }
        let word = text(valueStart, end)
        let lower = word.lowercased()
        if lower == "true" || lower == "false" {
            return error(at: valueStart, "found `\(word)`; \(Parser.expectedValue)", hint: "booleans are lowercase: \(lower)")
        }
        let quoted = "\"" + word.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
        let hint: String
        if let key = ownerKey {
            hint = "strings need quotes: \(keyText(key)) = \(quoted)"
        } else {
            hint = "strings need quotes: \(quoted)"
        }
        return error(at: valueStart, "found `\(word)`; \(Parser.expectedValue)", hint: hint)
    }

    // MARK: Strings

    func unclosed(_ open: Int) -> String {
        var column = 1
        var k = open
        while k > start && b[k - 1] != .lf {
            k -= 1
        }
        while k < open {
            if b[k] & 0xC0 != 0x80 { column += 1 }
            k += 1
        }
        return "the string opened at column \(column) is not closed on this line"
    }

    mutating func parseBasicString() throws(TOMLError) -> String {
        let open = i
        i += 1
        // Most strings have no escapes: decoded straight from the bytes, without building a
        // copy byte by byte (an array grown once or twice for each of 120,000 string values).
        var k = i
        while k < n {
            let c = b[k]
            if c == .quote {
                let s = String(decoding: b[i..<k], as: UTF8.self)
                i = k + 1
                return s
            }
            if c == .backslash || c.isForbiddenControl { break }
            k += 1
        }
        var out: [UInt8] = Array(b[i..<k])
        i = k
        while true {
            guard i < n else {
                throw error(at: i, "found end of file in a string; expected a closing `\"`", hint: unclosed(open))
            }
            let c = b[i]
            if c == .quote {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c == .backslash {
                try parseEscape(into: &out, multiline: false)
            } else if c == .lf || c == .cr {
                throw error(at: i, "found end of line in a string; expected a closing `\"`", hint: unclosed(open))
            } else if c.isForbiddenControl {
                throw error(at: i, "found control character \(hex(UInt32(c))) in a string; expected text (write it as an escape such as \\u\(hex(UInt32(c)).dropFirst(2)))")
            } else {
                out.append(c)
                i += 1
            }
        }
    }

    mutating func parseLiteralString() throws(TOMLError) -> String {
        let open = i
        i += 1
        let contentStart = i
        while true {
            guard i < n else {
                throw error(at: i, "found end of file in a string; expected a closing `'`", hint: unclosed(open))
            }
            let c = b[i]
            if c == .apostrophe {
                i += 1
                return String(decoding: b[contentStart..<(i - 1)], as: UTF8.self)
            }
            if c == .lf || c == .cr {
                throw error(at: i, "found end of line in a string; expected a closing `'`", hint: unclosed(open))
            }
            if c.isForbiddenControl {
                throw error(at: i, "found control character \(hex(UInt32(c))) in a literal string; expected text")
            }
            i += 1
        }
    }

    /// A new line inside a multi-line string: LF or CRLF, appended as written.
    mutating func multilineNewline(_ out: inout [UInt8]) throws(TOMLError) -> Bool {
        let c = b[i]
        if c == .lf { out.append(.lf); i += 1; return true }
        if c == .cr {
            if at(i + 1) == .lf { out.append(.cr); out.append(.lf); i += 2; return true }
            throw error(at: i, "found a carriage return without a line feed in a string; expected text or a new line (LF or CRLF)")
        }
        return false
    }

    mutating func skipOpeningNewline() {
        if at(i) == .lf && i < n { i += 1 } else if at(i) == .cr && at(i + 1) == .lf { i += 2 }
    }

    mutating func parseMultilineBasicString() throws(TOMLError) -> String {
        try parseMultilineString(quote: .quote, escapes: true)
    }

    mutating func parseMultilineLiteralString() throws(TOMLError) -> String {
        try parseMultilineString(quote: .apostrophe, escapes: false)
    }

    /// `"""…"""` (escapes) or `'''…'''` (none): up to two quotes may close the content, as in
    /// `""""a"""""`; a line-ending backslash only means something in the basic form.
    mutating func parseMultilineString(quote: UInt8, escapes: Bool) throws(TOMLError) -> String {
        let open = i
        let mark = escapes ? "\"" : "'"
        let delimiter = String(repeating: mark, count: 3)
        i += 3
        skipOpeningNewline()
        var out: [UInt8] = []
        while true {
            guard i < n else {
                throw error(at: i, "found end of file in a multi-line string; expected a closing `\(delimiter)` (the string opened at \(position(open)))")
            }
            let c = b[i]
            if c == quote {
                var q = 0
                while at(i + q) == quote && i + q < n { q += 1 }
                if q >= 3 {
                    if q > 5 {
                        throw error(at: i + 5, "found `\(mark)` after a closing `\(delimiter)`; expected at most two quotes before the closing `\(delimiter)`")
                    }
                    for _ in 0..<(q - 3) { out.append(quote) }
                    i += q
                    return String(decoding: out, as: UTF8.self)
                }
                for _ in 0..<q { out.append(quote) }
                i += q
            } else if escapes && c == .backslash {
                try parseEscape(into: &out, multiline: true)
            } else if try multilineNewline(&out) {
                continue
            } else if c.isForbiddenControl {
                let kind = escapes ? "a string; expected text (write it as an escape)" : "a literal string; expected text"
                throw error(at: i, "found control character \(hex(UInt32(c))) in \(kind)")
            } else {
                out.append(c)
                i += 1
            }
        }
    }

    /// At `\`: appends the escaped character (or, in a multi-line string, skips a line-ending backslash).
    mutating func parseEscape(into out: inout [UInt8], multiline: Bool) throws(TOMLError) {
        let slash = i
        i += 1
        let c = at(i)
        guard i < n else {
            throw error(at: i, "found end of file after `\\`; expected an escape")
        }
        switch c {
        case 0x62: out.append(0x08); i += 1          // \b
        case 0x74: out.append(.tab); i += 1          // \t
        case 0x6E: out.append(.lf); i += 1           // \n
        case 0x66: out.append(0x0C); i += 1          // \f
        case 0x72: out.append(.cr); i += 1           // \r
        case .quote: out.append(.quote); i += 1
        case .backslash: out.append(.backslash); i += 1
        case 0x75, 0x55:                             // \uXXXX, \UXXXXXXXX
            let count = c == 0x75 ? 4 : 8
            i += 1
            var v: UInt32 = 0
            for k in 0..<count {
                let d = at(i + k)
                guard i + k < n, d.isHexDigit else {
                    throw error(at: slash, "found `\(text(slash, min(i + k + 1, lineEnd(from: slash))))`; expected `\\\(c == 0x75 ? "u" : "U")` followed by \(count) hex digits")
                }
                v = v &* 16 &+ UInt32(hexValue(d))
            }
            i += count
            guard let scalar = Unicode.Scalar(v) else {
                throw error(at: slash, "found `\(text(slash, i))`, which is not a Unicode scalar value; expected a code point up to U+10FFFF that is not a surrogate (U+D800…U+DFFF)")
            }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        case .space, .tab, .lf, .cr:
            // Line-ending backslash: only whitespace may follow it on its line.
            guard multiline else {
                throw error(at: slash, "found `\\` followed by \(describe(i)); expected an escape: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX or \\UXXXXXXXX (a line-ending backslash only works in a multi-line \"\"\" string)")
            }
            var k = i
            while at(k).isWhitespace && k < n { k += 1 }
            if !(at(k) == .lf && k < n) && !(at(k) == .cr && at(k + 1) == .lf) {
                throw error(at: slash, "found \(describe(k)) after a line-ending `\\`; expected only whitespace up to the end of the line")
            }
            i = k
            while i < n {
                let d = b[i]
                if d.isWhitespace || d == .lf { i += 1 } else if d == .cr && at(i + 1) == .lf { i += 2 } else { break }
            }
        default:
            let shown = i < n && !c.isForbiddenControl && c != .lf ? "`\\" + scalarText(i) + "`" : "`\\` followed by \(describe(i))"
            throw error(at: slash, "found \(shown); expected an escape: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX or \\UXXXXXXXX")
        }
    }

    func hexValue(_ d: UInt8) -> UInt8 {
        if d.isDigit { return d - 0x30 }
        if d >= 0x61 { return d - 0x61 + 10 }
        return d - 0x41 + 10
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for ch in self {
            if ch == target { out += replacement } else { out.append(ch) }
        }
        return out
    }
}
