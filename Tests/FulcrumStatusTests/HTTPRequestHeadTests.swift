import XCTest
@testable import FulcrumStatus

final class HTTPRequestHeadTests: XCTestCase {
    private func parse(_ text: String) -> HTTPRequestHead.Outcome {
        HTTPRequestHead.parse(Array(text.utf8))
    }

    private func status(_ outcome: HTTPRequestHead.Outcome) -> Int? {
        if case .invalid(let status, _) = outcome { return status }
        return nil
    }

    func testRequests() {
        XCTAssertEqual(parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"),
                       .request(method: "GET", path: "/metrics", query: nil))
        XCTAssertEqual(parse("HEAD / HTTP/1.0\r\n\r\n"), .request(method: "HEAD", path: "/", query: nil))
        XCTAssertEqual(parse("GET /status.json?pretty=1&x HTTP/1.1\r\n\r\n"),
                       .request(method: "GET", path: "/status.json", query: "pretty=1&x"))
        XCTAssertEqual(parse("GET /a? HTTP/1.1\r\n\r\n"), .request(method: "GET", path: "/a", query: ""))
    }

    func testBareLineFeedsAndLeadingBlankLines() {
        XCTAssertEqual(parse("GET /metrics HTTP/1.1\nHost: x\n\n"), .request(method: "GET", path: "/metrics", query: nil))
        XCTAssertEqual(parse("\r\n\nGET / HTTP/1.1\r\n\r\n"), .request(method: "GET", path: "/", query: nil))
    }

    func testBytesAfterTheHeadAreIgnored() {
        XCTAssertEqual(parse("GET / HTTP/1.1\r\n\r\ngarbage"), .request(method: "GET", path: "/", query: nil))
    }

    func testIncomplete() {
        let full = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n\r\n"
        let bytes = Array(full.utf8)
        for cut in 0..<bytes.count {
            XCTAssertEqual(HTTPRequestHead.parse(Array(bytes[..<cut])), .incomplete, "cut at \(cut)")
        }
        XCTAssertEqual(HTTPRequestHead.parse(bytes), .request(method: "GET", path: "/metrics", query: nil))
    }

    func testBadRequestLines() {
        for line in ["GET\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n",
                     "GET metrics HTTP/1.1\r\n\r\n", "GET http://x/ HTTP/1.1\r\n\r\n", "GET / HTTP/1\r\n\r\n",
                     "GET / http/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n", "GET /a\u{7F} HTTP/1.1\r\n\r\n",
                     "GET /é HTTP/1.1\r\n\r\n", " GET / HTTP/1.1\r\n\r\n"] {
            XCTAssertEqual(status(parse(line)), 400, line.debugDescription)
        }
        // Judged as soon as the request line ends, without waiting for the headers.
        XCTAssertEqual(status(parse("\u{16}\u{03}\u{01}\u{02}\u{00}\n")), 400)
    }

    func testBadHeaders() {
        XCTAssertEqual(status(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n")), 400)
        XCTAssertEqual(status(parse("GET / HTTP/1.1\r\nHost : x\r\n\r\n")), 400)
        XCTAssertEqual(status(parse("GET / HTTP/1.1\r\n: x\r\n\r\n")), 400)
        XCTAssertEqual(status(parse("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n")), 400)
        XCTAssertEqual(status(parse("GET / HTTP/1.1\r\nA: b\u{0}c\r\n\r\n")), 400)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nA:\tb c\r\nEmpty:\r\n\r\n"), .request(method: "GET", path: "/", query: nil))
    }

    func testVersionAndMethod() {
        XCTAssertEqual(status(parse("GET / HTTP/2.0\r\n\r\n")), 505)
        XCTAssertEqual(status(parse("GET / HTTP/1.2\r\n\r\n")), 505)
        XCTAssertEqual(parse("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
                       .invalid(status: 405, reason: "Method Not Allowed: allowed GET, HEAD"))
        XCTAssertEqual(status(parse("get / HTTP/1.1\r\n\r\n")), 405, "methods are case-sensitive")
        XCTAssertEqual(status(parse("DELETE / HTTP/1.0\r\n\r\n")), 405)
    }

    func testTooLarge() {
        let line = "GET / HTTP/1.1\r\n"
        /// A complete head of exactly `size` bytes.
        func head(_ size: Int) -> String {
            line + "X: " + String(repeating: "a", count: size - line.utf8.count - 3 - 4) + "\r\n\r\n"
        }
        XCTAssertEqual(head(8192).utf8.count, 8192)
        XCTAssertEqual(parse(head(8191)), .request(method: "GET", path: "/", query: nil))
        XCTAssertEqual(parse(head(8192)), .request(method: "GET", path: "/", query: nil), "8192 bytes is allowed")
        XCTAssertEqual(status(parse(head(8193))), 431)
        XCTAssertEqual(status(parse(head(20_000))), 431)

        // 8 KiB + 1 of an unfinished head: refused without waiting for the end.
        XCTAssertEqual(status(parse(line + "X: " + String(repeating: "b", count: 8192))), 431)
        XCTAssertEqual(status(parse(String(repeating: "a", count: 8193))), 431, "no line end at all")
        XCTAssertEqual(parse(String(repeating: "a", count: 8192)), .incomplete)
        XCTAssertEqual(status(parse("GET /" + String(repeating: "p", count: 9000) + " HTTP/1.1\r\n\r\n")), 431)
        XCTAssertEqual(status(parse(String(repeating: "\r\n", count: 5000))), 431)
    }

    func testRandomBytesNeverCrash() {
        var generator = SplitMix64(seed: 0x5EED)
        let alphabet = Array("GET /HTTP1.0\r\n: aZ?".utf8)
        for round in 0..<4000 {
            let count = Int(generator.next() % 300)
            var bytes = [UInt8]()
            for _ in 0..<count {
                let r = generator.next()
                // Half the rounds use bytes that look like HTTP, so deeper paths are reached.
                bytes.append(round % 2 == 0 ? UInt8(truncatingIfNeeded: r) : alphabet[Int(r % UInt64(alphabet.count))])
            }
            let outcome = HTTPRequestHead.parse(bytes)
            if case .invalid(let status, let reason) = outcome {
                XCTAssertTrue([400, 405, 431, 505].contains(status))
                XCTAssertFalse(reason.isEmpty)
            }
        }
        let big = (0..<20_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        _ = HTTPRequestHead.parse(big)
        big.withUnsafeBytes { _ = HTTPRequestHead.parse($0) }
        XCTAssertEqual(HTTPRequestHead.parse([]), .incomplete)
    }
}

/// A tiny deterministic generator, so a failing random case can be replayed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
