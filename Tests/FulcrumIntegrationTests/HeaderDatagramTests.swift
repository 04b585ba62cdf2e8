// PROXY v2 on UDP pools: every datagram to the member carries a header naming the client; the
// member's plain replies reach the client unchanged.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A UDP member that strips and parses the v2 header of each datagram and echoes the payload.
final class HeaderDatagramMember: UDPStoppable, @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    private let seen = Locked<[SeenHeader]>([])
    private let failures = Locked<[String]>([])

    init(host: String) throws {
        let address = try SocketAddress(host: host, port: 0)
        fd = try UDP.socket(family: address.family)
        try Sock.bind(fd, address)
        port = try SocketAddress.local(of: fd).port
        let socket = fd
        startThread(name: "proxy-udp-member") { [seen, failures] in
            var buffer = [UInt8](repeating: 0, count: 70_000)
            var peer = sockaddr_storage()
            while true {
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &peer) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(socket, &buffer, buffer.count, 0, $0, &length) }
                }
                if n < 0 { return }
                do {
                    guard let (header, headerLength) = try TestProxyParser.parse(Array(buffer[0..<n])) else {
                        throw TestFailure("datagram of \(n) bytes holds no complete PROXY header")
                    }
                    seen.withLock { $0.append(header) }
                    let payload = Array(buffer[headerLength..<n])
                    _ = withUnsafePointer(to: &peer) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socket, payload, payload.count, 0, $0, length) }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
    }

    var headers: [SeenHeader] { seen.current }
    var errors: [String] { failures.current }
    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

final class HeaderDatagramTests: UDPTestCase {
    private func run(host: String, family: UInt8) throws {
        let member = try HeaderDatagramMember(host: host)
        defer { member.stop() }
        let port = try freeUDPPort(host: host)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(address: host, port: port)],
            pools: [PoolSpec(name: "udp", members: [MemberSpec(name: "m1", address: host, port: member.port)],
                             extra: ["protocol = \"PROXYV2\""])]))
        var expected: [SeenHeader] = []
        for c in 0..<5 {
            let client = try makeUDPClient(host: host, port: port, receiveTimeout: 2.0)
            for i in 0..<20 {
                let payload = udpPayload(client: c, sequence: i, size: 1 + (i * 97) % 1400)
                guard let reply = try client.exchange(payload, retries: 3, isReply: { $0 == payload }, stray: { _ in }) else {
                    throw TestFailure("client \(c) datagram \(i): no reply\n\(daemon.diagnostics)")
                }
                _ = reply
                expected.append(SeenHeader(source: host, sourcePort: client.localPort, destination: host,
                                           destinationPort: port, family: family))
            }
        }
        XCTAssertEqual(member.errors, [])
        XCTAssertEqual(Set(member.headers.map(\.description)), Set(expected.map(\.description)),
                       "each datagram's header names its client and the listener")
        XCTAssertGreaterThanOrEqual(member.headers.count, 100)
        try terminate(daemon)
    }

    func testProxyV2UDP4() throws { try run(host: "127.0.0.1", family: 0x12) }

    func testProxyV2UDP6() throws { try run(host: "::1", family: 0x22) }
}
