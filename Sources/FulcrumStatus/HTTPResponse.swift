/// A complete HTTP/1.1 response for the status endpoint. Every response closes the connection
/// (one request per connection keeps the server simple), is never cached (the numbers change
/// every second) and is not content-sniffed by browsers.
public enum HTTPResponse {
    public static func render(status: Int, reason: String, contentType: String, body: [UInt8],
                              headOnly: Bool = false, headers: [(name: String, value: String)] = []) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(headerText(reason))\r\n"
        head += "Content-Type: \(headerText(contentType))\r\n"
        // HEAD gets the length the GET body would have, and no body.
        head += "Content-Length: \(body.count)\r\n"
        head += "Connection: close\r\n"
        head += "Cache-Control: no-store\r\n"
        head += "X-Content-Type-Options: nosniff\r\n"
        for header in headers {
            head += "\(headerText(header.name)): \(headerText(header.value))\r\n"
        }
        head += "\r\n"
        var out = Array(head.utf8)
        if !headOnly { out += body }
        return out
    }

    public static func render(status: Int, reason: String, contentType: String, body: String,
                              headOnly: Bool = false, headers: [(name: String, value: String)] = []) -> [UInt8] {
        render(status: status, reason: reason, contentType: contentType, body: Array(body.utf8),
               headOnly: headOnly, headers: headers)
    }

    /// The reply to a refused request head: the reason as a text/plain body, and the methods
    /// allowed when the method was the problem (RFC 9110 requires Allow with 405).
    public static func refusal(status: Int, reason: String, headOnly: Bool = false) -> [UInt8] {
        let allow: [(name: String, value: String)] =
            status == 405 ? [("Allow", HTTPRequestHead.allowedMethods.joined(separator: ", "))] : []
        return render(status: status, reason: reasonPhrase(reason), contentType: "text/plain; charset=utf-8",
                      body: reason + "\n", headOnly: headOnly, headers: allow)
    }

    /// Header text cannot hold CR, LF or other controls (they would split or forge headers).
    private static func headerText(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7F ? " " : $0
        }))
    }

    /// "Bad Request: expected ..." → "Bad Request" for the status line.
    private static func reasonPhrase(_ reason: String) -> String {
        reason.split(separator: ":", maxSplits: 1).first.map(String.init) ?? reason
    }
}
