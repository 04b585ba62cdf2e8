import XCTest
@testable import FulcrumStatus

final class HTTPResponseTests: XCTestCase {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testGet() {
        let response = HTTPResponse.render(status: 200, reason: "OK", contentType: "application/json", body: "{}")
        XCTAssertEqual(text(response), "HTTP/1.1 200 OK\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: 2\r\n"
            + "Connection: close\r\n"
            + "Cache-Control: no-store\r\n"
            + "X-Content-Type-Options: nosniff\r\n"
            + "\r\n{}")
    }

    func testHeadKeepsLengthDropsBody() {
        let body: [UInt8] = Array("héllo\n".utf8)
        let response = HTTPResponse.render(status: 200, reason: "OK", contentType: "text/plain", body: body, headOnly: true)
        let t = text(response)
        XCTAssertTrue(t.contains("Content-Length: 7\r\n"), t)
        XCTAssertTrue(t.hasSuffix("\r\n\r\n"), t)
    }

    func testBinaryBodyAndExtraHeaders() {
        let body: [UInt8] = [0, 255, 10]
        let response = HTTPResponse.render(status: 404, reason: "Not Found", contentType: "application/octet-stream",
                                           body: body, headers: [("X-A", "1")])
        XCTAssertEqual(Array(response.suffix(3)), body)
        XCTAssertTrue(text(response).contains("\r\nX-A: 1\r\n\r\n"))
    }

    func testNoHeaderInjection() {
        let response = text(HTTPResponse.render(status: 200, reason: "OK\r\nSet-Cookie: a=b", contentType: "t\nx",
                                                body: ""))
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 200 OK  Set-Cookie: a=b\r\nContent-Type: t x\r\n"), response)
    }

    func testRefusal() {
        let r405 = text(HTTPResponse.refusal(status: 405, reason: "Method Not Allowed: allowed GET, HEAD"))
        XCTAssertTrue(r405.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"), r405)
        XCTAssertTrue(r405.contains("\r\nAllow: GET, HEAD\r\n"), r405)
        XCTAssertTrue(r405.hasSuffix("\r\n\r\nMethod Not Allowed: allowed GET, HEAD\n"), r405)
        let r431 = text(HTTPResponse.refusal(status: 431, reason: "Request Header Fields Too Large: at most 8192 bytes"))
        XCTAssertTrue(r431.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), r431)
        XCTAssertFalse(r431.contains("Allow:"))
    }
}
