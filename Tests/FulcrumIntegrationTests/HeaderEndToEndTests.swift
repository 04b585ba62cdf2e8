// PROXY protocol towards members, end to end: a member that parses the header with this
// file's own parser (independent of Sources/) sees the true client and listener addresses,
// then the client's bytes unchanged.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What a member learnt from a PROXY header.
struct SeenHeader: Equatable, CustomStringConvertible {
    var source: String
    var sourcePort: UInt16
    var destination: String
    var destinationPort: UInt16
    var family: UInt8  // v2 family/transport byte; 0 for v1

    var description: String { "\(source):\(sourcePort) -> \(destination):\(destinationPort) family \(family)" }
}

enum TestProxyParser {
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// Parses a header at the start of `bytes`; returns it and its length, nil if incomplete.
    static func parse(_ bytes: [UInt8]) throws -> (SeenHeader, Int)? {
        if bytes.count >= 16, Array(bytes[0..<12]) == v2Signature {
            guard bytes[12] == 0x21 else { throw TestFailure("v2 version/command byte \(bytes[12])") }
            let family = bytes[13]
            let length = Int(bytes[14]) << 8 | Int(bytes[15])
            guard bytes.count >= 16 + length else { return nil }
            let body = Array(bytes[16..<(16 + length)])
            func port(_ at: Int) -> UInt16 { UInt16(body[at]) << 8 | UInt16(body[at + 1]) }
            switch family {
            case 0x11, 0x12:
                guard length >= 12 else { throw TestFailure("short v2 IPv4 block") }
                let src = body[0..<4].map(String.init).joined(separator: ".")
                let dst = body[4..<8].map(String.init).joined(separator: ".")
                return (SeenHeader(source: src, sourcePort: port(8), destination: dst, destinationPort: port(10), family: family), 16 + length)
            case 0x21, 0x22:
                guard length >= 36 else { throw TestFailure("short v2 IPv6 block") }
                return (SeenHeader(source: ipv6(Array(body[0..<16])), sourcePort: port(32),
                                   destination: ipv6(Array(body[16..<32])), destinationPort: port(34), family: family), 16 + length)
            default:
                throw TestFailure("v2 family byte \(family)")
            }
        }
        guard let end = bytes.firstIndex(of: 0x0A) else {
            if bytes.count > 107 { throw TestFailure("v1 line longer than 107 bytes") }
            return nil
        }
        guard end > 0, bytes[end - 1] == 0x0D else { throw TestFailure("v1 line without CRLF") }
        let fields = String(decoding: bytes[0..<(end - 1)], as: UTF8.self).split(separator: " ")
        guard fields.count == 6, fields[0] == "PROXY", fields[1] == "TCP4" || fields[1] == "TCP6",
              let sp = UInt16(fields[4]), let dp = UInt16(fields[5]) else {
            throw TestFailure("bad v1 line \(String(decoding: bytes[0..<end], as: UTF8.self).debugDescription)")
        }
        return (SeenHeader(source: String(fields[2]), sourcePort: sp, destination: String(fields[3]), destinationPort: dp, family: 0), end + 1)
    }

    static func ipv6(_ b: [UInt8]) -> String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: b) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
        return String(cString: text)
    }
}

/// A TCP member that parses a PROXY header, then echoes everything after it.
final class HeaderEchoMember: @unchecked Sendable {
    let listener: TCPListener
    private let seen = Locked<[SeenHeader]>([])
    private let failures = Locked<[String]>([])

    init(host: String) throws {
        listener = try TCPListener(host: host)
        let listenFD = listener.fd
        startThread(name: "proxy-member") { [seen, failures] in
            while true {
                let fd = accept(listenFD, nil, nil)
                if fd < 0 { return }
                startThread(name: "proxy-member-conn") {
                    let socket = TCPSocket(fd: fd, ioTimeout: 10)
                    defer { socket.close() }
                    var buffered: [UInt8] = []
                    var chunk = [UInt8](repeating: 0, count: 65536)
                    do {
                        while true {
                            let n = try chunk.withUnsafeMutableBytes { try socket.recv(into: $0) }
                            if n == 0 { return }
                            buffered += chunk[0..<n]
                            if let (header, length) = try TestProxyParser.parse(buffered) {
                                seen.withLock { $0.append(header) }
                                let rest = Array(buffered[length...])
                                if !rest.isEmpty { try socket.send(rest) }
                                break
                            }
                        }
                        while true {
                            let n = try chunk.withUnsafeMutableBytes { try socket.recv(into: $0) }
                            if n == 0 { break }
                            try socket.send(Array(chunk[0..<n]))
                        }
                        socket.shutdownWrite()
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
        }
    }

    var port: UInt16 { listener.port }
    var headers: [SeenHeader] { seen.current }
    var errors: [String] { failures.current }
    func stop() { listener.close() }
}

final class HeaderEndToEndTests: FulcrumTestCase {
    private func run(protocol proto: String, host: String, source: String?, expectSource: String, family: UInt8) throws {
        let member = try HeaderEchoMember(host: host)
        defer { member.stop() }
        let port = try freePort(host: host)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(address: host, port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", address: host, port: member.port)],
                             extra: ["protocol = \"\(proto)\""])]))
        for round in 0..<3 {
            let client = try connect(host: host, port: port, source: source, ioTimeout: 10)
            let clientPort = client.localAddress!.port
            let r = try echoRoundTrip(client, seed: UInt64(round + 7), size: 1 << 20, timeout: 30)
            XCTAssertEqual(r.received, r.sent, "\(proto): payload after the header must be the client's bytes")
            XCTAssertEqual(r.receivedCount, 1 << 20)
            client.close()
            guard waitUntil(timeout: 5, { member.headers.count == round + 1 }) else {
                throw TestFailure("\(proto): member saw \(member.headers.count) headers, errors \(member.errors)\n\(daemon.diagnostics)")
            }
            XCTAssertEqual(member.headers[round], SeenHeader(source: expectSource, sourcePort: clientPort,
                                                             destination: host, destinationPort: port, family: family),
                           "\(proto) header")
        }
        XCTAssertEqual(member.errors, [])
        try terminate(daemon)
    }

    func testProxyV1TCP4CarriesTheRealClient() throws {
        try run(protocol: "PROXY", host: "127.0.0.1", source: "127.0.0.2", expectSource: "127.0.0.2", family: 0)
    }

    func testProxyV1TCP6() throws {
        try run(protocol: "PROXY", host: "::1", source: nil, expectSource: "::1", family: 0)
    }

    func testProxyV2TCP4() throws {
        try run(protocol: "PROXYV2", host: "127.0.0.1", source: "127.0.0.3", expectSource: "127.0.0.3", family: 0x11)
    }

    func testProxyV2TCP6() throws {
        try run(protocol: "PROXYV2", host: "::1", source: nil, expectSource: "::1", family: 0x21)
    }
}
