// Support for the UDP integration tests: the base test case (tracks UDP members and clients,
// reads the UDP stats lines), DNS-shaped messages, deterministic payloads.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs `count` clients on their own threads; returns the failures they reported (plus one if
/// they did not all finish within `timeout`).
func runUDPClients(_ count: Int, timeout: Double, _ body: @escaping (Int) throws -> Void) -> [String] {
    let failures = Locked<[String]>([])
    let finished = runConcurrently(count, timeout: timeout) { index in
        do { try body(index) } catch { failures.withLock { $0.append("client \(index): \(error)") } }
    }
    if !finished { failures.withLock { $0.append("clients did not all finish within \(timeout) s") } }
    return failures.current
}

/// Just enough DNS: a 12-byte header, one question (labels, type, class), one TXT answer.
enum DNSMessage {
    static func query(id: UInt16, name: String) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes += Array(label.utf8)
        }
        bytes += [0, 0x00, 0x10, 0x00, 0x01]  // root, QTYPE TXT, QCLASS IN
        return bytes
    }

    static func id(_ message: [UInt8]) -> UInt16? {
        message.count >= 2 ? UInt16(message[0]) << 8 | UInt16(message[1]) : nil
    }

    /// The question section (QNAME + QTYPE + QCLASS) that starts at byte 12, or nil.
    static func question(_ message: [UInt8]) -> [UInt8]? {
        var i = 12
        while i < message.count {
            let length = Int(message[i])
            if length == 0 { break }
            guard length < 64 else { return nil }
            i += 1 + length
        }
        guard i < message.count, i + 5 <= message.count else { return nil }
        return Array(message[12..<(i + 5)])
    }

    static func answer(to query: [UInt8], text: String) -> [UInt8]? {
        guard let id = id(query), let question = question(query) else { return nil }
        let txt = Array(text.utf8)
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
        bytes += question
        bytes += [0xC0, 0x0C, 0x00, 0x10, 0x00, 0x01, 0, 0, 0, 60]  // name ptr, TXT, IN, TTL 60
        bytes += [0, UInt8(txt.count + 1), UInt8(txt.count)] + txt
        return bytes
    }

    /// The TXT text of an answer built by `answer(to:text:)`.
    static func answerText(_ message: [UInt8]) -> String? {
        guard let question = question(message) else { return nil }
        let start = 12 + question.count + 10 + 3
        guard message.count >= start, message[12 + question.count] == 0xC0 else { return nil }
        return String(decoding: message[start...], as: UTF8.self)
    }
}

/// A test case that also stops the UDP members and clients it made.
class UDPTestCase: FulcrumTestCase {
    private let udpObjects = Locked<[UDPStoppable]>([])

    override func tearDown() {
        let objects = udpObjects.withLock { o -> [UDPStoppable] in
            defer { o = [] }
            return o
        }
        for object in objects { object.stop() }
        super.tearDown()
    }

    func makeUDPMember(_ name: String, host: String = "127.0.0.1", mode: UDPMember.Mode = .echo) throws -> UDPMember {
        let member = try UDPMember(name: name, host: host, mode: mode)
        udpObjects.withLock { $0.append(member) }
        return member
    }

    func makeUDPClient(host: String = "127.0.0.1", port: UInt16, source: String? = nil,
                       receiveTimeout: Double = 1.0) throws -> UDPClient {
        let client = try UDPClient(to: host, port: port, source: source, receiveTimeout: receiveTimeout)
        udpObjects.withLock { $0.append(client) }
        return client
    }

    /// A UDP listener spec with the usual names.
    func udpListener(name: String = "udp", address: String = "127.0.0.1", port: UInt16, pool: String = "udp",
                     timeoutClientData: Int? = nil, allowedCIDRs: [String]? = nil) -> ListenerSpec {
        ListenerSpec(name: name, protocol: "UDP", address: address, port: port, defaultPool: pool,
                     timeoutClientData: timeoutClientData, allowedCIDRs: allowedCIDRs)
    }

    func udpPool(name: String = "udp", _ members: [UDPMember], host: String = "127.0.0.1") -> PoolSpec {
        PoolSpec(name: name, members: members.map { MemberSpec(name: $0.name, address: host, port: $0.port) })
    }

    func udpListenerStat(_ process: FulcrumProcess, _ listener: String, _ key: String) throws -> Int {
        let line = process.logLines.last { $0.message == "udp listener stats" && $0.metadata["listener"] == listener }
        return try stat(line, key, "udp listener stats \(listener)", process)
    }

    func udpMemberStat(_ process: FulcrumProcess, pool: String, member: String, _ key: String) throws -> Int {
        let line = process.logLines.last {
            $0.message == "udp member stats" && $0.metadata["pool"] == pool && $0.metadata["member"] == member
        }
        return try stat(line, key, "udp member stats \(pool)/\(member)", process)
    }
}

/// Deterministic datagram content: client id and sequence number first (as far as the size
/// allows), then splitmix64 bytes seeded by both, so a misdelivered reply never matches.
func udpPayload(client: Int, sequence: Int, size: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: size)
    var state = (UInt64(client) << 32) | UInt64(sequence)
    bytes.withUnsafeMutableBytes { raw in
        var i = 0
        while i < size {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let n = min(8, size - i)
            withUnsafeBytes(of: &z) { src in
                raw.baseAddress!.advanced(by: i).copyMemory(from: src.baseAddress!, byteCount: n)
            }
            i += n
        }
    }
    let header = withUnsafeBytes(of: UInt32(client).bigEndian, Array.init)
        + withUnsafeBytes(of: UInt32(sequence).bigEndian, Array.init)
    for i in 0..<min(size, header.count) { bytes[i] = header[i] }
    return bytes
}
