import FulcrumAddress
import FulcrumProxyProtocol
import XCTest

final class ProxyHeaderParserTests: XCTestCase {
    private let pairs: [(String, String)] = [
        ("192.0.2.1:40000", "198.51.100.2:443"),
        ("0.0.0.0:0", "255.255.255.255:65535"),
        ("[2001:db8::1:0:0:1]:1", "[fe80::1]:65535"),
        ("[::ffff:1.2.3.4]:5", "[::1]:6"),
        ("10.0.0.1:7", "[2001:db8::5]:8"),  // mixed: parsed back as IPv4-mapped IPv6
    ]

    func testRoundTripsEveryVersionTransportAndFamily() {
        let combinations: [(ProxyProtocolVersion, ProxyTransport)] = [(.v1, .stream), (.v2, .stream), (.v2, .datagram)]
        for (version, transport) in combinations {
            for (clientText, listenerText) in pairs {
                let client = endpoint(clientText), listener = endpoint(listenerText)
                let header = ProxyHeader.bytes(version, transport: transport, client: client, listener: listener)
                XCTAssertLessThanOrEqual(header.count, ProxyHeader.maxLength)
                let mixed = client.address.isIPv4 != listener.address.isIPv4
                let expected = ParsedProxyHeader(
                    version: version, transport: transport,
                    client: mixed ? mapped(client) : client, listener: mixed ? mapped(listener) : listener,
                    length: header.count)
                let payload: [UInt8] = Array("GET / HTTP/1.1\r\n".utf8)
                XCTAssertEqual(ProxyHeaderParser.parse(header), .complete(expected), "\(version) \(transport) \(clientText)")
                XCTAssertEqual(ProxyHeaderParser.parse(header + payload), .complete(expected), "payload after the header is not read")
            }
        }
    }

    func testAcceptsUnknownAndLocal() {
        for text in ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ::2 65535 65535\r\n"] {
            XCTAssertEqual(ProxyHeaderParser.parse(Array(text.utf8)), .complete(ParsedProxyHeader(
                version: .v1, transport: nil, client: nil, listener: nil, length: text.utf8.count)))
        }
        let local = v2Header(command: 0x20, family: 0x00, body: [])
        XCTAssertEqual(ProxyHeaderParser.parse(local), .complete(ParsedProxyHeader(
            version: .v2, transport: nil, client: nil, listener: nil, length: 16)))
        // LOCAL must be skipped by its length even when it carries an address block.
        let localWithAddresses = v2Header(command: 0x20, family: 0x11, body: [UInt8](repeating: 7, count: 12))
        XCTAssertEqual(ProxyHeaderParser.parse(localWithAddresses + [1, 2, 3]), .complete(ParsedProxyHeader(
            version: .v2, transport: nil, client: nil, listener: nil, length: 28)))
    }

    func testSkipsTLVsCoveredByTheLength() {
        var header = ProxyHeader.bytes(.v2, transport: .stream, client: endpoint("192.0.2.1:1000"), listener: endpoint("192.0.2.2:80"))
        let tlvs: [UInt8] = [0x01, 0x00, 0x02, 0x68, 0x32,   // ALPN "h2"
                             0x04, 0x00, 0x00,               // NOOP, empty
                             0x05, 0x00, 0x03, 0xAA, 0xBB, 0xCC]  // UNIQUE_ID
        header[15] = UInt8(12 + tlvs.count)
        header += tlvs
        let expected = ParsedProxyHeader(version: .v2, transport: .stream, client: endpoint("192.0.2.1:1000"),
                                         listener: endpoint("192.0.2.2:80"), length: 16 + 12 + tlvs.count)
        XCTAssertEqual(ProxyHeaderParser.parse(header + Array("payload".utf8)), .complete(expected))
        for cut in 0..<header.count {
            XCTAssertEqual(ProxyHeaderParser.parse(Array(header[..<cut])), .needMoreBytes, "prefix of \(cut) bytes")
        }
    }

    func testEveryTruncatedPrefixNeedsMoreBytes() {
        var headers = [Array("PROXY UNKNOWN\r\n".utf8), v2Header(command: 0x20, family: 0x00, body: [])]
        for (version, transport) in [(ProxyProtocolVersion.v1, ProxyTransport.stream), (.v2, .stream), (.v2, .datagram)] {
            for (client, listener) in pairs {
                headers.append(ProxyHeader.bytes(version, transport: transport, client: endpoint(client), listener: endpoint(listener)))
            }
        }
        headers.append(Array("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n".utf8))
        headers.append(Array("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n".utf8))
        XCTAssertEqual(headers.last?.count, 107, "the longest v1 line the spec allows")
        for header in headers {
            guard case .complete = ProxyHeaderParser.parse(header) else { return XCTFail("not valid: \(line(header).debugDescription)") }
            for cut in 0..<header.count {
                XCTAssertEqual(ProxyHeaderParser.parse(Array(header[..<cut])), .needMoreBytes, "\(hexString(header)) cut at \(cut)")
            }
        }
    }

    func testRejectsMalformedHeadersWithAMessage() {
        let v4Body: [UInt8] = [192, 0, 2, 1, 192, 0, 2, 2, 0x03, 0xE8, 0x00, 0x50]
        var badSignature = v2Header(command: 0x21, family: 0x11, body: v4Body)
        badSignature[7] = 0x52
        var tooLongLine = Array("PROXY UNKNOWN ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 92)
        tooLongLine += Array("\r\n".utf8)  // 108 bytes
        let cases: [(String, [UInt8], String)] = [
            ("not PROXY at all", Array("GET / HTTP/1.1\r\n".utf8), "not a PROXY protocol header"),
            ("v1 signature", Array("PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n".utf8), "bad v1 signature"),
            ("v1 lowercase", Array("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n".utf8), "not a PROXY protocol header"),
            ("v2 signature", badSignature, "bad v2 signature"),
            ("v2 version 1", v2Header(command: 0x11, family: 0x11, body: v4Body), "version nibble is 1"),
            ("v2 version 3", v2Header(command: 0x31, family: 0x11, body: v4Body), "version nibble is 3"),
            ("v2 command 2", v2Header(command: 0x22, family: 0x11, body: v4Body), "command nibble is 2"),
            ("v2 family 4", v2Header(command: 0x21, family: 0x41, body: v4Body), "address family nibble is 4"),
            ("v2 transport 3", v2Header(command: 0x21, family: 0x13, body: v4Body), "transport nibble is 3"),
            ("v2 INET/UNSPEC", v2Header(command: 0x21, family: 0x10, body: v4Body), "mixes UNSPEC"),
            ("v2 length < IPv4 block", v2Header(command: 0x21, family: 0x11, body: Array(v4Body[..<11])), "shorter than the 12-byte address block"),
            ("v2 length < IPv6 block", v2Header(command: 0x21, family: 0x21, body: [UInt8](repeating: 0, count: 35)), "shorter than the 36-byte"),
            ("v2 length < UNIX block", v2Header(command: 0x21, family: 0x31, body: [UInt8](repeating: 0, count: 200)), "216-byte"),
            ("v2 TLV overruns", v2Header(command: 0x21, family: 0x11, body: v4Body + [0x01, 0x00, 0x05, 0x68, 0x32]), "past the header end"),
            ("v2 TLV header cut", v2Header(command: 0x21, family: 0x11, body: v4Body + [0x04, 0x00]), "cut short"),
            ("v1 over 107 bytes", tooLongLine, "longer than 107"),
            ("v1 no CRLF in 107", Array("PROXY UNKNOWN".utf8) + [UInt8](repeating: 0x20, count: 100), "no CRLF within"),
            ("v1 bare LF", Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".utf8), "LF at offset 30 without CR"),
            ("v1 CR without LF", Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r".utf8), "not LF"),
            ("v1 control byte", Array("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n".utf8), "not printable"),
            ("v1 protocol", Array("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n".utf8), "\"UDP4\" is not TCP4"),
            ("v1 double space", Array("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n".utf8), "single spaces"),
            ("v1 missing port", Array("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n".utf8), "single spaces"),
            ("v1 trailing space", Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n".utf8), "single spaces"),
            ("v1 octet 256", Array("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n".utf8), "source address \"1.2.3.256\""),
            ("v1 octet leading 0", Array("PROXY TCP4 1.2.3.4 5.6.07.8 1 2\r\n".utf8), "destination address"),
            ("v1 three octets", Array("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n".utf8), "not a dotted quad"),
            ("v1 IPv6 in TCP4", Array("PROXY TCP4 ::1 ::1 1 2\r\n".utf8), "not a dotted quad"),
            ("v1 IPv4 in TCP6", Array("PROXY TCP6 1.2.3.4 ::1 1 2\r\n".utf8), "is not an IPv6 address"),
            ("v1 bad IPv6", Array("PROXY TCP6 ::1 1::2::3 1 2\r\n".utf8), "\"1::2::3\" is not an IPv6"),
            ("v1 IPv6 zone", Array("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n".utf8), "not an IPv6"),
            ("v1 port 65536", Array("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n".utf8), "source port 65536 is greater than 65535"),
            ("v1 port 99999", Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n".utf8), "destination port 99999"),
            ("v1 port leading 0", Array("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n".utf8), "without leading zeros"),
            ("v1 port sign", Array("PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n".utf8), "not a decimal number"),
            ("v1 UNKNOWN glued", Array("PROXY UNKNOWNX\r\n".utf8), "\"UNKNOWNX\""),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 12)
        for (name, bytes, fragment) in cases {
            guard case let .invalid(message) = ProxyHeaderParser.parse(bytes) else {
                XCTFail("\(name): accepted \(hexString(bytes))")
                continue
            }
            XCTAssertTrue(message.contains(fragment), "\(name): message \"\(message)\" lacks \"\(fragment)\"")
        }
    }

    /// Garbage is reported as soon as it is visible, not after waiting for a whole header.
    func testRejectsEarly() {
        XCTAssertEqual(ProxyHeaderParser.parse([0x0D, 0x0A, 0x0D, 0x0B]), .invalid("bad v2 signature: byte 3 is 0x0b, expected 0x0a"))
        if case .invalid = ProxyHeaderParser.parse(Array("PROXY TCP4 1.2".utf8) + [0x00]) {} else { XCTFail("NUL in v1 line") }
        XCTAssertEqual(ProxyHeaderParser.parse(Array(v2Header(command: 0x21, family: 0x11, body: []).prefix(14))), .needMoreBytes)
        XCTAssertEqual(ProxyHeaderParser.parse(Array(v2Header(command: 0x25, family: 0x11, body: []).prefix(13))),
                       .invalid("v2 command nibble is 5 (byte 12 = 0x25), only 0 (LOCAL) and 1 (PROXY) are defined"))
    }
}

private func v2Header(command: UInt8, family: UInt8, body: [UInt8]) -> [UInt8] {
    [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, command, family,
     UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
}

private func mapped(_ endpoint: Endpoint) -> Endpoint {
    guard case let .v4(value) = endpoint.address else { return endpoint }
    return Endpoint(address: .v6(0, 0xFFFF_0000_0000 | UInt64(value)), port: endpoint.port)
}
