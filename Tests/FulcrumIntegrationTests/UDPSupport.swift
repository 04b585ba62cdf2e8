// Support for the UDP integration tests: a blocking UDP client socket and UDP members (echo,
// tagging echo, wrong payload, silent, DNS-like responder) on their own threads; UDPTestCase
// (UDPSupport+TestCase.swift) stops them in tearDown. Every receive is bounded by SO_RCVTIMEO.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

enum UDP {
    static func socket(family: Int32) throws -> Int32 {
        let fd = Glibc.socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket(SOCK_DGRAM)", errno) }
        // Room for many 64 KiB datagrams (rmem_max permitting) so our side never drops.
        Sock.setInt(fd, SOL_SOCKET, SO_RCVBUF, 4 << 20)
        Sock.setInt(fd, SOL_SOCKET, SO_SNDBUF, 4 << 20)
        return fd
    }

    static func setReceiveTimeout(_ fd: Int32, _ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    static func sendTo(_ fd: Int32, _ bytes: [UInt8], _ address: SocketAddress) throws {
        while true {
            let n = bytes.withUnsafeBytes { raw in
                address.withSockaddr { Glibc.sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), $0, $1) }
            }
            if n >= 0 { return }
            if errno == EINTR { continue }
            throw SocketError("sendto \(address) (\(bytes.count) bytes)", errno)
        }
    }

    /// One datagram, or nil when SO_RCVTIMEO expires. `truncated` if it did not fit.
    static func receive(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws
        -> (bytes: [UInt8], from: SocketAddress, truncated: Bool)?
    {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.recvfrom(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC), $0, &length)
                }
            }
            if n >= 0 {
                let kept = min(n, buffer.count)
                return (Array(UnsafeRawBufferPointer(rebasing: buffer[0..<kept])),
                        SocketAddress(storage: storage, length: length), n > buffer.count)
            }
            let err = errno
            if err == EINTR { continue }
            if err == EAGAIN || err == EWOULDBLOCK { return nil }
            throw SocketError("recvfrom", err)
        }
    }
}

/// Finds a free UDP port on `host` (bind port 0, read it, close).
func freeUDPPort(host: String = "127.0.0.1") throws -> UInt16 {
    let address = try SocketAddress(host: host, port: 0)
    let fd = try UDP.socket(family: address.family)
    defer { close(fd) }
    try Sock.bind(fd, address)
    return try SocketAddress.local(of: fd).port
}

/// Datagrams the kernel dropped on sockets bound to local `port` (receive buffer full), from
/// the last column of /proc/net/udp and /proc/net/udp6.
func kernelUDPDrops(port: UInt16) -> Int {
    var total = 0
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        // (String(contentsOfFile:) stops after one read of a /proc file: about 4 KiB.)
        guard let data = FileHandle(forReadingAtPath: file)?.readDataToEndOfFile() else { continue }
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 12, let colon = fields[1].lastIndex(of: ":"),
                  UInt16(fields[1][fields[1].index(after: colon)...], radix: 16) == port,
                  let drops = Int(fields[fields.count - 1]) else { continue }
            total += drops
        }
    }
    return total
}

protocol UDPStoppable: AnyObject { func stop() }

/// An unconnected client socket (so replies from any source are seen and checked).
final class UDPClient: UDPStoppable {
    let fd: Int32
    let target: SocketAddress
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 70_000, alignment: 8)
    private let lock = NSLock()
    private var closed = false

    init(to host: String, port: UInt16, source: String? = nil, receiveTimeout: Double = 1.0) throws {
        target = try SocketAddress(host: host, port: port)
        fd = try UDP.socket(family: target.family)
        do {
            try Sock.bind(fd, try SocketAddress(host: source ?? (target.family == AF_INET6 ? "::1" : "127.0.0.1"), port: 0))
        } catch {
            Glibc.close(fd)
            throw error
        }
        UDP.setReceiveTimeout(fd, receiveTimeout)
    }

    deinit {
        stop()
        buffer.deallocate()
    }

    var localPort: UInt16 { (try? SocketAddress.local(of: fd).port) ?? 0 }

    func setReceiveTimeout(_ seconds: Double) { UDP.setReceiveTimeout(fd, seconds) }

    func send(_ bytes: [UInt8]) throws { try UDP.sendTo(fd, bytes, target) }

    /// The next datagram from anyone, or nil after the receive timeout. Throws if it was
    /// truncated or did not come from the listener's address and port.
    func receive() throws -> [UInt8]? {
        guard let got = try UDP.receive(fd, buffer) else { return nil }
        guard got.from.description == target.description else {
            throw TestFailure("reply came from \(got.from), not from the listener \(target)")
        }
        guard !got.truncated else { throw TestFailure("a reply larger than \(buffer.count) bytes arrived") }
        return got.bytes
    }

    /// Sends `request` and waits for a reply accepted by `isReply` (other datagrams go to
    /// `stray`, which may throw), resending after each receive timeout up to `retries` times.
    /// Returns the reply and the number of resends, or nil if none came.
    func exchange(_ request: [UInt8], retries: Int, isReply: ([UInt8]) -> Bool,
                  stray: ([UInt8]) throws -> Void = { _ in }) throws -> (reply: [UInt8], resends: Int)? {
        for attempt in 0...retries {
            try send(request)
            while let reply = try receive() {
                if isReply(reply) { return (reply, attempt) }
                try stray(reply)
            }
        }
        return nil
    }

    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}

/// A UDP member on its own thread: a blocking socket on 127.0.0.1 or ::1, port 0.
final class UDPMember: UDPStoppable {
    enum Mode {
        /// Send each datagram back unchanged.
        case echo
        /// Reply `name|payload` (so the client sees which member answered).
        case tagged
        /// Reply a payload that differs from the request.
        case wrongPayload
        /// Never answer.
        case silent
        /// DNS-like: same id and question, plus a TXT answer naming this member.
        case dns
    }

    let name: String
    let mode: Mode
    let port: UInt16
    let address: SocketAddress
    private let fd: Int32
    private let cond = NSCondition()
    private var stopping = false
    private var done = false
    private var datagrams = 0
    private var ports: Set<UInt16> = []

    init(name: String, host: String = "127.0.0.1", mode: Mode = .echo) throws {
        self.name = name
        self.mode = mode
        let requested = try SocketAddress(host: host, port: 0)
        fd = try UDP.socket(family: requested.family)
        do {
            try Sock.bind(fd, requested)
            address = try SocketAddress.local(of: fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        port = address.port
        UDP.setReceiveTimeout(fd, 0.05)
        startThread(name: "fulcrum-it-udp-\(name)") { [self] in serve() }
    }

    /// Datagrams received so far.
    var datagramCount: Int { cond.lock(); defer { cond.unlock() }; return datagrams }

    /// Distinct source ports seen (one per Fulcrum session socket).
    var sourcePorts: Set<UInt16> { cond.lock(); defer { cond.unlock() }; return ports }

    static func dnsAnswerText(_ member: String) -> String { "member=\(member)" }

    private func serve() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 70_000, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            cond.lock()
            let stop = stopping
            cond.unlock()
            if stop { break }
            guard let got = try? UDP.receive(fd, buffer) else { continue }
            cond.lock()
            datagrams += 1
            ports.insert(got.from.port)
            cond.unlock()
            let reply: [UInt8]?
            switch mode {
            case .echo: reply = got.bytes
            case .tagged: reply = Array("\(name)|".utf8) + got.bytes
            case .wrongPayload: reply = Array("wrong:".utf8) + got.bytes.map { $0 ^ 0xFF }
            case .silent: reply = nil
            case .dns: reply = DNSMessage.answer(to: got.bytes, text: Self.dnsAnswerText(name))
            }
            if let reply { try? UDP.sendTo(fd, reply, got.from) }
        }
        cond.lock()
        done = true
        cond.broadcast()
        cond.unlock()
    }

    /// Stops the thread and closes the socket: the port is then closed (ICMP unreachable).
    func stop() {
        cond.lock()
        let first = !stopping
        stopping = true
        let deadline = Date(timeIntervalSinceNow: 2)
        while !done {
            if !cond.wait(until: deadline) { break }
        }
        cond.unlock()
        if first { Glibc.close(fd) }
    }
}
