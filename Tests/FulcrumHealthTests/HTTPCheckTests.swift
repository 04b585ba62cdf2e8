import XCTest
@testable import FulcrumHealth

final class HTTPCheckTests: XCTestCase {
    // MARK: request

    func testHTTP11RequestWithHost() {
        let request = HTTPCheckRequest.encode(method: "GET", path: "/healthz", version: "1.1", host: "api.example.com")
        XCTAssertEqual(String(decoding: request, as: UTF8.self),
                       "GET /healthz HTTP/1.1\r\n"
                       + "Host: api.example.com\r\n"
                       + "User-Agent: fulcrum-health\r\n"
                       + "Accept: */*\r\n"
                       + "Connection: close\r\n"
                       + "\r\n")
    }

    func testHTTP10RequestWithoutHost() {
        let request = HTTPCheckRequest.encode(method: "HEAD", path: "/", version: "1.0", host: nil)
        XCTAssertEqual(String(decoding: request, as: UTF8.self),
                       "HEAD / HTTP/1.0\r\nUser-Agent: fulcrum-health\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    }

    func testHostIsWrittenVerbatimSoCallersBracketIPv6() {
        let request = HTTPCheckRequest.encode(method: "GET", path: "/status?full=1", version: "1.1", host: "[2001:db8::1]:8080")
        let text = String(decoding: request, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("GET /status?full=1 HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n"), text)
    }

    func testRequestEndsWithOneBlankLineAndParsesAsHeaders() {
        let request = HTTPCheckRequest.encode(method: "GET", path: "/", version: "1.1", host: "h")
        XCTAssertEqual(Array(request.suffix(4)), Array("\r\n\r\n".utf8))
        XCTAssertEqual(request.filter { $0 == UInt8(ascii: "\n") }.count, 6, "request line, 4 headers, blank line")
    }

    // MARK: status line: complete

    func testStatusLineAlone() {
        XCTAssertEqual(parse("HTTP/1.0 200 OK\r\n"), .status(code: 200, headerBytes: nil))
        XCTAssertEqual(parse("HTTP/1.1 503 Service Unavailable\r\n"), .status(code: 503, headerBytes: nil))
    }

    func testEmptyReasonWithAndWithoutTheSpace() {
        XCTAssertEqual(parse("HTTP/1.1 204\r\n"), .status(code: 204, headerBytes: nil))
        XCTAssertEqual(parse("HTTP/1.1 204 \r\n"), .status(code: 204, headerBytes: nil))
    }

    func testBareLFLineEndings() {
        XCTAssertEqual(parse("HTTP/1.1 404 Not Found\n"), .status(code: 404, headerBytes: nil))
        XCTAssertEqual(parse("HTTP/1.1 404\nA: b\n\nbody"), .status(code: 404, headerBytes: 19))
    }

    func testHeaderBytesPointsJustPastTheBlankLine() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n"
        XCTAssertEqual(parse(head + "ok"), .status(code: 200, headerBytes: head.utf8.count))
        XCTAssertEqual(parse(head), .status(code: 200, headerBytes: head.utf8.count))
        XCTAssertEqual(parse("HTTP/1.0 500 Oops\r\n\r\n"), .status(code: 500, headerBytes: 21), "no headers at all")
    }

    func testHeaderBytesIsNilUntilTheBlankLineArrives() {
        let head = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"
        let bytes = Array(head.utf8)
        let statusLineLength = "HTTP/1.1 200 OK\r\n".utf8.count
        for end in statusLineLength..<bytes.count {
            XCTAssertEqual(HTTPStatusLine.parse(bytes[0..<end]), .status(code: 200, headerBytes: nil), "prefix of \(end)")
        }
        XCTAssertEqual(HTTPStatusLine.parse(bytes[...]), .status(code: 200, headerBytes: bytes.count))
    }

    func testMixedLineEndingsInHeaders() {
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nA: b\n\r\nrest"), .status(code: 200, headerBytes: 24))
    }

    func testReasonPhraseIsNotInspected() {
        XCTAssertEqual(parse("HTTP/1.1 200 \u{00e9}t\u{00e9} fine\t ok\r\n"), .status(code: 200, headerBytes: nil))
    }

    func testAnyDigitDotDigitVersionAndBoundaryCodes() {
        XCTAssertEqual(parse("HTTP/2.0 100 Continue\r\n"), .status(code: 100, headerBytes: nil))
        XCTAssertEqual(parse("HTTP/1.1 599 Custom\r\n"), .status(code: 599, headerBytes: nil))
    }

    func testSliceOffsetsAreRelativeToTheSliceStart() {
        let bytes = Array("xxxxHTTP/1.1 200 OK\r\n\r\nbody".utf8)
        XCTAssertEqual(HTTPStatusLine.parse(bytes[4...]), .status(code: 200, headerBytes: 19))
    }

    // MARK: status line: arriving in pieces

    func testEveryPrefixOfAValidStatusLineIsIncomplete() {
        let bytes = Array("HTTP/1.1 503 Service Unavailable\r\n".utf8)
        for end in 0..<bytes.count {
            XCTAssertEqual(HTTPStatusLine.parse(bytes[0..<end]), .incomplete, "prefix of \(end) bytes")
        }
        XCTAssertEqual(HTTPStatusLine.parse(bytes[...]), .status(code: 503, headerBytes: nil))
    }

    func testShortFormIsIncompleteUntilTheLineEnds() {
        XCTAssertEqual(parse("HTTP/1.1 204"), .incomplete, "a space, reason or line end may still follow")
        XCTAssertEqual(parse("HTTP/1.1 204\r"), .incomplete)
        XCTAssertEqual(parse("HTTP/1.1 204\r\n"), .status(code: 204, headerBytes: nil))
    }

    func testResponseSplitAcrossReadsAccumulates() {
        let chunks = ["HT", "TP/1", ".1 3", "01 Moved", " Permanently\r", "\nLocation: /x\r\n", "\r", "\n"]
        var received: [UInt8] = []
        var results: [HTTPStatusLine.Parse] = []
        for chunk in chunks {
            received += Array(chunk.utf8)
            results.append(HTTPStatusLine.parse(received))
        }
        XCTAssertEqual(results, [
            .incomplete, .incomplete, .incomplete, .incomplete, .incomplete,
            .status(code: 301, headerBytes: nil),
            .status(code: 301, headerBytes: nil),
            .status(code: 301, headerBytes: received.count),
        ])
    }

    // MARK: status line: malformed

    func testNotHTTPIsReportedAsSoonAsItIsSeen() {
        XCTAssertEqual(parse("SSH"), .malformed("reply does not start with \"HTTP/\": \"SSH\""))
        XCTAssertEqual(parse("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
                       .malformed("reply does not start with \"HTTP/\": \"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\""))
        XCTAssertEqual(parse("http/1.1 200 OK\r\n"), .malformed("reply does not start with \"HTTP/\": \"http/1.1 200 OK\""))
        XCTAssertEqual(parse(" HTTP/1.1 200 OK\r\n"), .malformed("reply does not start with \"HTTP/\": \" HTTP/1.1 200 OK\""))
    }

    func testBinaryIsQuotedAsHex() {
        // A TLS server's fatal protocol_version alert, answering plain text.
        let alert: [UInt8] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]
        XCTAssertEqual(HTTPStatusLine.parse(alert), .malformed(
            "reply does not start with \"HTTP/\": \"\\x15\\x03\\x01\\x00\\x02\\x02F\""), "0x46 is printable")
    }

    func testQuotesAndBackslashesInTheQuoteAreEscaped() {
        XCTAssertEqual(parse("\"a\\b\"\n"), .malformed("reply does not start with \"HTTP/\": \"\\\"a\\\\b\\\"\""))
    }

    func testQuoteStopsAtFortyBytes() {
        let line = String(repeating: "<html>", count: 10)
        XCTAssertEqual(parse(line + "\r\n"),
                       .malformed("reply does not start with \"HTTP/\": \"\(line.prefix(40))\"..."))
    }

    func testBadVersions() {
        XCTAssertEqual(parse("HTTP/11 200 OK\r\n"), .malformed("bad HTTP version in status line: \"HTTP/11 200 OK\""))
        XCTAssertEqual(parse("HTTP/1.x 200 OK\r\n"), .malformed("bad HTTP version in status line: \"HTTP/1.x 200 OK\""))
        XCTAssertEqual(parse("HTTP/a"), .malformed("bad HTTP version in status line: \"HTTP/a\""))
        XCTAssertEqual(parse("HTTP/1.1\r\n"), .malformed("no single space after the HTTP version: \"HTTP/1.1\""))
        XCTAssertEqual(parse("HTTP/1.1  200 OK\r\n"), .malformed("status code is not 3 digits: \"HTTP/1.1  200 OK\""))
    }

    func testBadCodes() {
        XCTAssertEqual(parse("HTTP/1.1 20 OK\r\n"), .malformed("status code is not 3 digits: \"HTTP/1.1 20 OK\""))
        XCTAssertEqual(parse("HTTP/1.1 2000 OK\r\n"), .malformed("status code is not 3 digits: \"HTTP/1.1 2000 OK\""))
        XCTAssertEqual(parse("HTTP/1.1 200OK\r\n"), .malformed("status code is not 3 digits: \"HTTP/1.1 200OK\""))
        XCTAssertEqual(parse("HTTP/1.1 20\r\n"), .malformed("status code is not 3 digits: \"HTTP/1.1 20\""))
        XCTAssertEqual(parse("HTTP/1.1 099 Low\r\n"), .malformed("status code 99 out of range 100-599: \"HTTP/1.1 099 Low\""))
        XCTAssertEqual(parse("HTTP/1.1 600 High\r\n"), .malformed("status code 600 out of range 100-599: \"HTTP/1.1 600 High\""))
        XCTAssertEqual(parse("HTTP/1.1 204\rX\r\n"), .malformed("status code is not 3 digits: \"HTTP/1.1 204\\x0dX\""))
    }

    func testEmptyStatusLine() {
        XCTAssertEqual(parse("\r\n"), .malformed("empty status line"))
        XCTAssertEqual(parse("\n"), .malformed("empty status line"))
        XCTAssertEqual(parse("\r"), .incomplete)
        XCTAssertEqual(parse(""), .incomplete)
    }

    // MARK: status line: length limit

    func testStatusLineOf1024BytesIsAccepted() {
        let line = "HTTP/1.1 200 " + String(repeating: "r", count: 1024 - 13)
        XCTAssertEqual(line.utf8.count, 1024)
        XCTAssertEqual(parse(line), .incomplete)
        XCTAssertEqual(parse(line + "\r"), .incomplete, "the CR may be half of the line end")
        XCTAssertEqual(parse(line + "\r\n"), .status(code: 200, headerBytes: nil))
        XCTAssertEqual(parse(line + "\n"), .status(code: 200, headerBytes: nil))
    }

    func testStatusLineOver1024BytesIsTooLong() {
        let line = "HTTP/1.1 200 " + String(repeating: "r", count: 1025 - 13)
        XCTAssertEqual(parse(line), .malformed("status line too long"), "no newline yet, already too long")
        XCTAssertEqual(parse(line + "\r\n"), .malformed("status line too long"))
        XCTAssertEqual(parse("HTTP/1.1 200 " + String(repeating: "r", count: 100_000)), .malformed("status line too long"))
    }

    func testNeverEndingGarbageIsReportedAsGarbageNotTooLong() {
        let garbage = String(repeating: "z", count: 5000)
        XCTAssertEqual(parse(garbage), .malformed("reply does not start with \"HTTP/\": \"\(garbage.prefix(40))\"..."))
    }

    private func parse(_ text: String) -> HTTPStatusLine.Parse {
        HTTPStatusLine.parse(Array(text.utf8)[...])
    }
}
