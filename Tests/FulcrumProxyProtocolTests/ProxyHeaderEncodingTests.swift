import CAllocationCounter
import FulcrumAddress
import FulcrumProxyProtocol
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ProxyHeaderEncodingTests: XCTestCase {
    /// What HAProxy 2.6.12 sent to a member, captured on the wire.
    func testReproducesHAProxyCapturesExactly() throws {
        let cases: [(String, ProxyProtocolVersion, String, String)] = [
            ("haproxy-v1-tcp4", .v1, "127.0.0.5:40001", "127.0.0.1:17951"),
            ("haproxy-v1-tcp6", .v1, "[::1]:40004", "[::1]:17954"),
            ("haproxy-v2-tcp4", .v2, "127.0.0.5:40002", "127.0.0.1:17952"),
            ("haproxy-v2-tcp6", .v2, "[::1]:40003", "[::1]:17953"),
        ]
        for (name, version, client, listener) in cases {
            let captured = try fixture(name)
            let encoded = ProxyHeader.bytes(version, transport: .stream, client: endpoint(client), listener: endpoint(listener))
            XCTAssertEqual(hexString(encoded), hexString(captured), name)
            XCTAssertEqual(ProxyHeaderParser.parse(captured), .complete(ParsedProxyHeader(
                version: version, transport: .stream, client: endpoint(client), listener: endpoint(listener),
                length: captured.count)), name)
        }
    }

    func testV2FamilyTransportBytes() {
        let expectations: [(String, String, ProxyTransport, UInt8, Int)] = [
            ("10.0.0.1:1", "10.0.0.2:2", .stream, 0x11, 28),
            ("10.0.0.1:1", "10.0.0.2:2", .datagram, 0x12, 28),
            ("[2001:db8::1]:1", "[2001:db8::2]:2", .stream, 0x21, 52),
            ("[2001:db8::1]:1", "[2001:db8::2]:2", .datagram, 0x22, 52),
        ]
        for (client, listener, transport, familyByte, length) in expectations {
            let header = ProxyHeader.bytes(.v2, transport: transport, client: endpoint(client), listener: endpoint(listener))
            XCTAssertEqual(header.count, length)
            XCTAssertEqual(header[12], 0x21, "version 2, PROXY")
            XCTAssertEqual(header[13], familyByte)
            XCTAssertEqual(Int(header[14]) << 8 | Int(header[15]), length - 16)
        }
    }

    /// Mixed families become IPv6 with the IPv4 side mapped to ::ffff:a.b.c.d, like HAProxy.
    func testMixedFamiliesUseIPv4MappedIPv6() {
        let v4Client = endpoint("192.0.2.7:5000")
        let v6Listener = endpoint("[2001:db8::10]:443")
        XCTAssertEqual(line(ProxyHeader.bytes(.v1, transport: .stream, client: v4Client, listener: v6Listener)),
                       "PROXY TCP6 ::ffff:192.0.2.7 2001:db8::10 5000 443\r\n")
        XCTAssertEqual(line(ProxyHeader.bytes(.v1, transport: .stream, client: v6Listener, listener: v4Client)),
                       "PROXY TCP6 2001:db8::10 ::ffff:192.0.2.7 443 5000\r\n")
        let binary = ProxyHeader.bytes(.v2, transport: .datagram, client: v4Client, listener: v6Listener)
        XCTAssertEqual(binary[13], 0x22)
        XCTAssertEqual(hexString(Array(binary[16..<32])), "00000000000000000000ffffc0000207")
        XCTAssertEqual(ProxyHeaderParser.parse(binary), .complete(ParsedProxyHeader(
            version: .v2, transport: .datagram, client: endpoint("[::ffff:192.0.2.7]:5000"),
            listener: v6Listener, length: 52)))
        // An IPv4-mapped client on an IPv6 listener is already IPv6: written as given.
        XCTAssertEqual(line(ProxyHeader.bytes(.v1, transport: .stream, client: endpoint("[::ffff:10.1.2.3]:9"),
                                              listener: endpoint("[::]:80"))),
                       "PROXY TCP6 ::ffff:10.1.2.3 :: 9 80\r\n")
    }

    func testIPv6TextMatchesRFC5952AndInetNtop() {
        let cases: [(String, String)] = [
            ("::1", "::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // first of two equal runs
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),          // longest run wins
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // a single zero group stays
            ("fe80::", "fe80::"),
            ("FE80:0000:0000:0000:0202:B3FF:FE1E:8329", "fe80::202:b3ff:fe1e:8329"),
            ("::", "::"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),  // glibc inet_ntop, so HAProxy: dotted quad kept
            ("::1.2.3.4", "::1.2.3.4"),            // IPv4-compatible: glibc prints a dotted quad too
            ("::1:0", "::0.1.0.0"),                // ... even for this one (zero run of exactly 6)
            ("::100", "::100"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ]
        for (input, expected) in cases {
            let header = ProxyHeader.bytes(.v1, transport: .stream, client: endpoint("[\(input)]:1"), listener: endpoint("[::1]:2"))
            XCTAssertEqual(line(header), "PROXY TCP6 \(expected) ::1 1 2\r\n", input)
            XCTAssertEqual(inetNtop(IPAddress(input)!), expected, "inet_ntop disagrees for \(input)")
        }
        XCTAssertEqual(ProxyHeader.bytes(.v1, transport: .stream, client: endpoint(maxIPv6), listener: endpoint(maxIPv6)).count,
                       104, "longest v1 line this encoder writes")
    }

    /// Many addresses with long and short zero runs, compared with the C library's inet_ntop.
    func testIPv6TextAgreesWithInetNtopOnRandomAddresses() {
        var generator = SystemRandomNumberGenerator()
        let groupChoices: [UInt64] = [0, 0, 0, 1, 0xFFFF, 0x0DB8, 0x10]
        for _ in 0..<20_000 {
            var halves: [UInt64] = [0, 0]
            for group in 0..<8 {
                let value = Bool.random(using: &generator) ? groupChoices.randomElement(using: &generator)!
                                                           : UInt64.random(in: 0...0xFFFF, using: &generator)
                halves[group / 4] |= value << UInt64(48 - 16 * (group % 4))
            }
            let address = IPAddress.v6(halves[0], halves[1])
            let header = ProxyHeader.bytes(.v1, transport: .stream, client: Endpoint(address: address, port: 1),
                                           listener: Endpoint(address: .v6(0, 1), port: 2))
            let expected = "PROXY TCP6 \(inetNtop(address)) ::1 1 2\r\n"
            guard line(header) == expected else {
                return XCTFail("\(line(header).debugDescription) != \(expected.debugDescription)")
            }
            XCTAssertEqual(ProxyHeaderParser.parse(header), .complete(ParsedProxyHeader(
                version: .v1, transport: .stream, client: Endpoint(address: address, port: 1),
                listener: Endpoint(address: .v6(0, 1), port: 2), length: header.count)))
        }
    }

    func testIPv4AndPortTextEdges() {
        let header = ProxyHeader.bytes(.v1, transport: .stream, client: endpoint("0.0.0.0:0"), listener: endpoint("255.255.255.255:65535"))
        XCTAssertEqual(line(header), "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n")
        XCTAssertEqual(line(ProxyHeader.bytes(.v1, transport: .stream, client: endpoint("10.20.3.100:10"),
                                              listener: endpoint("1.0.0.9:100"))),
                       "PROXY TCP4 10.20.3.100 1.0.0.9 10 100\r\n")
    }

    /// encode writes into caller memory only: counted with the test-only malloc counter on a
    /// thread of its own.
    func testEncodeAllocatesNothing() {
        let client4 = endpoint("192.0.2.1:40000"), listener4 = endpoint("198.51.100.2:443")
        let client6 = endpoint("[2001:db8::1:0:0:1]:40000"), listener6 = endpoint("[::ffff:1.2.3.4]:443")
        let result = LoopResult()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ProxyHeader.maxLength, alignment: 8)
            defer { buffer.deallocate() }
            func encodeAll(_ rounds: Int) -> Int {
                var total = 0
                for i in 0..<rounds {
                    let version: ProxyProtocolVersion = i & 1 == 0 ? .v1 : .v2
                    let transport: ProxyTransport = version == .v2 && i & 2 == 0 ? .datagram : .stream
                    let client = i & 4 == 0 ? client4 : client6
                    let listener = i & 8 == 0 ? listener4 : listener6
                    total &+= ProxyHeader.encode(version, transport: transport, client: client, listener: listener, into: buffer)
                }
                return total
            }
            _ = encodeAll(16)  // warm up every path once
            cac_track_current_thread()
            defer { cac_untrack_current_thread() }
            let before = cac_allocations()
            result.bytes = encodeAll(100_000)
            result.allocations = cac_allocations() - before
            done.signal()
        }
        thread.start()
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success)
        XCTAssertGreaterThan(result.bytes, 100_000 * 28)
        XCTAssertEqual(result.allocations, 0, "encode allocated \(result.allocations) times in 100k calls")
    }
}

private final class LoopResult: @unchecked Sendable {
    var bytes = 0
    var allocations: Int64 = 0
}

private let maxIPv6 = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"

func endpoint(_ text: String) -> Endpoint {
    let colon = text.lastIndex(of: ":")!
    var host = text[..<colon]
    if host.hasPrefix("[") { host = host.dropFirst().dropLast() }
    return Endpoint(address: IPAddress(String(host))!, port: UInt16(text[text.index(after: colon)...])!)
}

func line(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

private func fixture(_ name: String) throws -> [UInt8] {
    let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "hex", subdirectory: "Fixtures"), name)
    let text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let digits = Array(text.utf8)
    XCTAssertEqual(digits.count % 2, 0, name)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

private func inetNtop(_ address: IPAddress) -> String {
    address.withIPv6Bytes { raw in
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(AF_INET6, raw.baseAddress, &text, socklen_t(text.count))
        return String(cString: text)
    }
}
