/// The request head of the metrics/status HTTP endpoint: just enough HTTP/1.x to serve GET
/// and HEAD of a few fixed paths to Prometheus, curl and browsers. Bodies, keep-alive and
/// chunking are not supported: the server answers one request and closes.
public enum HTTPRequestHead {
    /// A head (request line and headers) longer than this is refused with 431.
    public static let maxBytes = 8192
    public static let allowedMethods = ["GET", "HEAD"]

    public enum Outcome: Sendable, Equatable {
        /// The blank line ending the head has not arrived yet: read more.
        case incomplete
        /// `path` without the query; `query` is what followed "?" (nil when there was no "?").
        case request(method: String, path: String, query: String?)
        /// Answer with this status and reason (a one-line text), then close.
        case invalid(status: Int, reason: String)
    }

    public static func parse(_ bytes: [UInt8]) -> Outcome {
        bytes.withUnsafeBytes { parse($0) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        var lines = HeadLines(bytes)
        // RFC 9112 2.2: a server should ignore empty lines before the request line.
        var first = lines.next()
        while case .line(let start, let end)? = first, start == end {
            first = lines.next()
        }
        guard case .line(let lineStart, let lineEnd)? = first else {
            return bytes.count > maxBytes ? tooLarge : .incomplete
        }
        if lines.consumed > maxBytes { return tooLarge }
        // The request line is judged as soon as it is complete, so garbage is refused at once.
        let requestLine: (method: String, target: [UInt8])
        switch parseRequestLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])) {
        case .success(let parsed): requestLine = parsed
        case .failure(let refusal): return refusal.outcome
        }
        while true {
            guard let line = lines.next(), case .line(let start, let end) = line else {
                return bytes.count > maxBytes ? tooLarge : .incomplete
            }
            if lines.consumed > maxBytes { return tooLarge }
            if start == end { break }
            if !isValidHeaderLine(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) {
                return .invalid(status: 400, reason: "Bad Request: malformed header line")
            }
        }
        guard allowedMethods.contains(requestLine.method) else {
            return .invalid(status: 405,
                            reason: "Method Not Allowed: allowed \(allowedMethods.joined(separator: ", "))")
        }
        let target = requestLine.target
        let path: [UInt8]
        var query: String?
        if let mark = target.firstIndex(of: UInt8(ascii: "?")) {
            path = Array(target[..<mark])
            query = String(decoding: target[(mark + 1)...], as: UTF8.self)
        } else {
            path = target
        }
        return .request(method: requestLine.method, path: String(decoding: path, as: UTF8.self), query: query)
    }

    private static let tooLarge = Outcome.invalid(
        status: 431, reason: "Request Header Fields Too Large: at most \(maxBytes) bytes")

    private struct Refusal: Error {
        let status: Int
        let reason: String
        var outcome: Outcome { .invalid(status: status, reason: reason) }
    }

    /// `METHOD SP origin-form SP HTTP/1.0|HTTP/1.1`, single spaces as RFC 9112 writes them.
    private static func parseRequestLine(_ line: UnsafeRawBufferPointer)
        -> Result<(method: String, target: [UInt8]), Refusal> {
        let bad = Refusal(status: 400, reason: "Bad Request: expected \"METHOD /path HTTP/1.1\"")
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .failure(bad) }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { return .failure(bad) }
        guard target.first == UInt8(ascii: "/"), target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(bad)
        }
        let versionText = Array(version)
        guard versionText.count == 8, versionText.starts(with: Array("HTTP/".utf8)),
              versionText[5].isDigit, versionText[6] == UInt8(ascii: "."), versionText[7].isDigit else {
            return .failure(bad)
        }
        guard versionText[5] == UInt8(ascii: "1"), versionText[7] <= UInt8(ascii: "1") else {
            return .failure(Refusal(status: 505, reason: "HTTP Version Not Supported: HTTP/1.0 and HTTP/1.1 only"))
        }
        return .success((String(decoding: method, as: UTF8.self), Array(target)))
    }

    /// `name: value`: a token name right before the colon (no blank, RFC 9112 5.1), no obs-fold
    /// continuation, no control bytes but tab in the value.
    private static func isValidHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return false }
        guard line[..<colon].allSatisfy(isTokenByte) else { return false }
        return line[(colon + 1)...].allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// RFC 9110 tchar.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// Lines of a request head, each ended by LF with an optional CR before it (bare LF is
/// tolerated, as RFC 9112 allows). A line without its LF yet is not returned.
private struct HeadLines {
    enum Item {
        /// Byte offsets of the line's text, CR and LF excluded.
        case line(start: Int, end: Int)
    }

    let bytes: UnsafeRawBufferPointer
    /// Bytes taken by the lines returned so far, their line ends included.
    private(set) var consumed = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func next() -> Item? {
        let start = consumed
        var i = start
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") {
                var end = i
                if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                consumed = i + 1
                return .line(start: start, end: end)
            }
            i += 1
        }
        return nil
    }
}

private extension UInt8 {
    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}
