/// The request an HTTP health check sends: one request line and four headers, nothing else.
public enum HTTPCheckRequest {
    /// "METHOD PATH HTTP/VERSION", then Host (when given), User-Agent, Accept and
    /// Connection: close, so the member closes after answering and the checker never has to
    /// understand Content-Length or chunking to know the response is over.
    ///
    /// Everything is written verbatim: an IPv6 literal host must arrive bracketed, and method,
    /// path and host must have been checked for spaces and CR/LF by configuration validation.
    public static func encode(method: String, path: String, version: String, host: String?) -> [UInt8] {
        var text = "\(method) \(path) HTTP/\(version)\r\n"
        if let host {
            text += "Host: \(host)\r\n"
        }
        text += "User-Agent: fulcrum-health\r\n"
        text += "Accept: */*\r\n"
        text += "Connection: close\r\n"
        text += "\r\n"
        return Array(text.utf8)
    }
}

/// Reads the status line ("HTTP/1.1 503 Service Unavailable") at the start of a response, as
/// bytes arrive.
public enum HTTPStatusLine {
    /// - `incomplete`: a prefix of a valid status line; read more.
    /// - `status(code:headerBytes:)`: the status code, and when the blank line ending the
    ///   headers has arrived too, the number of bytes from the start of the input up to and
    ///   including it (so the body starts there); nil while headers are still arriving.
    /// - `malformed(reason)`: the reply can never become a valid status line.
    public enum Parse: Equatable, Sendable {
        case incomplete
        case status(code: Int, headerBytes: Int?)
        case malformed(String)
    }

    /// Longest status line accepted, line ending not counted. Real ones are under 100 bytes;
    /// the limit only stops a checker from buffering a stream that never sends a newline.
    static let maxLineLength = 1024
    static let quotedBytes = 40

    private static let lineFeed = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")
    private static let space = UInt8(ascii: " ")

    public static func parse(_ bytes: [UInt8]) -> Parse {
        parse(bytes[...])
    }

    /// Accepts "HTTP/" digit "." digit, a space, a three-digit code 100-599, then a space and
    /// any reason (not inspected) or the line end; lines end in CRLF or a bare LF. The fixed
    /// part is checked as it arrives, so garbage (a TLS alert, an SSH banner) is reported at
    /// once instead of after 1024 bytes.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> Parse {
        let newline = bytes.firstIndex(of: lineFeed)
        let received = bytes[bytes.startIndex..<(newline ?? bytes.endIndex)]
        // Without a newline yet, a trailing CR may be the first half of CRLF, so it is not
        // counted either way.
        let line = received.last == carriageReturn ? received.dropLast() : received

        if let problem = fixedPartProblem(line, lineComplete: newline != nil) {
            return problem
        }
        guard line.count <= maxLineLength else { return .malformed("status line too long") }
        guard let newline else { return .incomplete }

        let start = line.startIndex
        let code = (9...11).reduce(0) { $0 * 10 + Int(line[start + $1] - UInt8(ascii: "0")) }
        guard (100...599).contains(code) else {
            return .malformed("status code \(code) out of range 100-599: \(quote(line))")
        }
        return .status(code: code, headerBytes: endOfHeaders(bytes, after: newline))
    }

    /// "HTTP/d.d ddd" byte by byte, with what to say when that byte is wrong or missing; a nil
    /// byte means "any digit".
    private static let fixedPart: [(byte: UInt8?, problem: String)] =
        Array("HTTP/".utf8).map { ($0, "reply does not start with \"HTTP/\"") } + [
            (nil, "bad HTTP version in status line"),
            (UInt8(ascii: "."), "bad HTTP version in status line"),
            (nil, "bad HTTP version in status line"),
            (space, "no single space after the HTTP version"),
            (nil, "status code is not 3 digits"),
            (nil, "status code is not 3 digits"),
            (nil, "status code is not 3 digits"),
        ]

    /// Checks "HTTP/d.d ddd" followed by a space or the line end, as far as it has arrived.
    /// Returns nil when what is there is fine (the caller then decides between incomplete and
    /// complete), or the result to return.
    private static func fixedPartProblem(_ line: ArraySlice<UInt8>, lineComplete: Bool) -> Parse? {
        if lineComplete && line.isEmpty { return .malformed("empty status line") }
        let pattern = fixedPart
        for (offset, expected) in pattern.enumerated() {
            guard offset < line.count else {
                return lineComplete ? .malformed("\(expected.problem): \(quote(line))") : .incomplete
            }
            let byte = line[line.startIndex + offset]
            let matches = expected.byte.map { byte == $0 } ?? isDigit(byte)
            if !matches { return .malformed("\(expected.problem): \(quote(line))") }
        }
        if line.count > pattern.count && line[line.startIndex + pattern.count] != space {
            return .malformed("status code is not 3 digits: \(quote(line))")
        }
        if line.count == pattern.count && !lineComplete {
            return .incomplete  // a space and reason, or the line end, is still to come
        }
        return nil
    }

    /// Offset just past the first empty line after the status line, or nil if none yet.
    private static func endOfHeaders(_ bytes: ArraySlice<UInt8>, after statusLineEnd: Int) -> Int? {
        var lineStart = statusLineEnd + 1
        while let lineEnd = bytes[lineStart...].firstIndex(of: lineFeed) {
            let headerLine = bytes[lineStart..<lineEnd]
            if headerLine.isEmpty || (headerLine.count == 1 && headerLine.first == carriageReturn) {
                return lineEnd + 1 - bytes.startIndex
            }
            lineStart = lineEnd + 1
        }
        return nil
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Up to 40 received bytes in quotes, printable ASCII as is and everything else as \xNN,
    /// so a log line shows what actually answered (often a TLS alert or a banner).
    static func quote(_ line: ArraySlice<UInt8>) -> String {
        var text = "\""
        for byte in line.prefix(quotedBytes) {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                text += "\\" + String(UnicodeScalar(byte))
            case 0x20...0x7e:
                text += String(UnicodeScalar(byte))
            default:
                text += (byte < 0x10 ? "\\x0" : "\\x") + String(byte, radix: 16)
            }
        }
        text += "\""
        if line.count > quotedBytes { text += "..." }
        return text
    }
}
