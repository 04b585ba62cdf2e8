// Support for the integration tests: they run real `fulcrumd` processes against real sockets on
// 127.0.0.1 / ::1 only. Everything here is blocking and thread based, with a timeout on every
// wait, so a hung daemon makes a test fail rather than hang.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Socket addresses

struct SocketAddress: CustomStringConvertible {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    var family: Int32 { Int32(storage.ss_family) }

    init(host: String, port: UInt16) throws {
        if host.contains(":") {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 else {
                throw TestFailure("not an IPv6 address: \(host)")
            }
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: &sin6) { src in dst.copyMemory(from: src) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else {
                throw TestFailure("not an IPv4 address: \(host)")
            }
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: &sin) { src in dst.copyMemory(from: src) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    var port: UInt16 {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer -> UInt16 in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    var host: String {
        var copy = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return withUnsafePointer(to: &copy) { pointer -> String in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var addr = sin6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                    return String(cString: text)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var addr = sin.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                return String(cString: text)
            }
        }
    }

    var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func local(of fd: Int32) throws -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw SocketError("getsockname", errno) }
        return SocketAddress(storage: storage, length: length)
    }
}

// MARK: - Low-level socket calls

struct SocketError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32
    init(_ operation: String, _ code: Int32) {
        self.operation = operation
        self.code = code
    }
    var isTimeout: Bool { code == EAGAIN || code == EWOULDBLOCK || code == ETIMEDOUT }
    var isReset: Bool { code == ECONNRESET || code == EPIPE }
    var isRefused: Bool { code == ECONNREFUSED }
    var description: String { "\(operation): \(errnoDescription(code))" }
}

enum Sock {
    static func create(family: Int32) throws -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket", errno) }
        return fd
    }

    static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// SO_RCVTIMEO / SO_SNDTIMEO: a blocked recv/send fails with EAGAIN after this long.
    static func setTimeouts(_ fd: Int32, receive: Double, send: Double) {
        func tv(_ seconds: Double) -> timeval {
            timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        }
        var r = tv(receive)
        var s = tv(send)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, socklen_t(MemoryLayout<timeval>.size))
    }

    static func setNonBlocking(_ fd: Int32, _ on: Bool) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK))
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) throws {
        let rc = address.withSockaddr { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { throw SocketError("bind \(address)", errno) }
    }

    /// Non-blocking connect with a deadline; the socket is left in blocking mode.
    static func connect(_ fd: Int32, _ address: SocketAddress, timeout: Double) throws {
        setNonBlocking(fd, true)
        defer { setNonBlocking(fd, false) }
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return }
        let err = errno
        guard err == EINPROGRESS || err == EINTR else { throw SocketError("connect \(address)", err) }
        let ready = try poll(fd, events: Int16(POLLOUT), timeout: timeout)
        guard ready else { throw SocketError("connect \(address) (no answer within \(timeout) s)", ETIMEDOUT) }
        var soError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
        if soError != 0 { throw SocketError("connect \(address)", soError) }
    }

    /// Waits for `events` on `fd`; true when some event (including HUP/ERR) is reported.
    static func poll(_ fd: Int32, events: Int16, timeout: Double) throws -> Bool {
        let deadline = monotonicNow() + timeout
        while true {
            let remaining = max(0, deadline - monotonicNow())
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let rc = Glibc.poll(&pfd, 1, Int32((remaining * 1000).rounded(.up)))
            if rc > 0 { return true }
            if rc == 0 {
                if monotonicNow() >= deadline { return false }
                continue
            }
            if errno == EINTR { continue }
            throw SocketError("poll", errno)
        }
    }

    /// Sends everything within `timeout` seconds (for the whole buffer, however the kernel
    /// splits it), else throws ETIMEDOUT.
    static func sendAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, timeout: Double) throws {
        guard var pointer = buffer.baseAddress else { return }
        var remaining = buffer.count
        let deadline = monotonicNow() + timeout
        while remaining > 0 {
            let n = Glibc.send(fd, pointer, remaining, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if n < 0 {
                let err = errno
                if err == EINTR { continue }
                if err == EAGAIN || err == EWOULDBLOCK {
                    let wait = deadline - monotonicNow()
                    guard wait > 0, try poll(fd, events: Int16(POLLOUT), timeout: wait) else {
                        throw SocketError("send (\(buffer.count - remaining) of \(buffer.count) bytes sent, peer not reading for \(timeout) s)", ETIMEDOUT)
                    }
                    continue
                }
                throw SocketError("send", err)
            }
            pointer += n
            remaining -= n
        }
    }

    /// Returns the byte count, 0 at EOF; throws on error or SO_RCVTIMEO expiry (EAGAIN).
    static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            let err = errno
            if err == EINTR { continue }
            if err == EAGAIN || err == EWOULDBLOCK {
                throw SocketError("recv (nothing arrived within the socket's receive timeout)", err)
            }
            throw SocketError("recv", err)
        }
    }
}

/// Finds a free TCP port: bind port 0, read it, close. (Racy by nature; good enough here.)
func freePort(host: String = "127.0.0.1") throws -> UInt16 {
    let address = try SocketAddress(host: host, port: 0)
    let fd = try Sock.create(family: address.family)
    defer { close(fd) }
    try Sock.bind(fd, address)
    return try SocketAddress.local(of: fd).port
}

// MARK: - Client socket

/// How a connection ended when we waited for the peer to close it.
enum CloseOutcome: Equatable, CustomStringConvertible {
    case eof
    case reset
    case data(Int)
    case timeout
    case error(Int32)

    var isClosed: Bool { self == .eof || self == .reset }

    var description: String {
        switch self {
        case .eof: return "EOF"
        case .reset: return "reset"
        case let .data(n): return "\(n) unexpected byte(s)"
        case .timeout: return "still open (timeout)"
        case let .error(code): return "error \(errnoDescription(code))"
        }
    }
}

/// A blocking TCP socket with receive/send timeouts. Closing is idempotent.
final class TCPSocket {
    let fd: Int32
    let ioTimeout: Double
    private let lock = NSLock()
    private var closed = false

    init(fd: Int32, ioTimeout: Double) {
        self.fd = fd
        self.ioTimeout = ioTimeout
        Sock.setTimeouts(fd, receive: ioTimeout, send: ioTimeout)
    }

    deinit { close() }

    /// Connects to host:port, optionally from a given source address, within `timeout` seconds.
    static func connect(
        host: String, port: UInt16, timeout: Double = 5, source: String? = nil, ioTimeout: Double = 30
    ) throws -> TCPSocket {
        let address = try SocketAddress(host: host, port: port)
        let fd = try Sock.create(family: address.family)
        do {
            if let source {
                try Sock.bind(fd, try SocketAddress(host: source, port: 0))
            }
            try Sock.connect(fd, address, timeout: timeout)
        } catch {
            Glibc.close(fd)
            throw error
        }
        Sock.setInt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        return TCPSocket(fd: fd, ioTimeout: ioTimeout)
    }

    var localAddress: SocketAddress? { try? SocketAddress.local(of: fd) }

    func send(_ buffer: UnsafeRawBufferPointer) throws { try Sock.sendAll(fd, buffer, timeout: ioTimeout) }

    func send(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try Sock.sendAll(fd, $0, timeout: ioTimeout) } }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func recv(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try Sock.recv(fd, buffer) }

    /// Reads exactly `count` bytes; throws on EOF before that.
    func recvExactly(_ count: Int) throws -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = try result.withUnsafeMutableBytes { raw in
                try Sock.recv(fd, UnsafeMutableRawBufferPointer(rebasing: raw[got...]))
            }
            if n == 0 { throw TestFailure("EOF after \(got) of \(count) expected bytes") }
            got += n
        }
        return result
    }

    /// Reads until EOF, hashing everything; throws on error, on a read stalled for ioTimeout,
    /// past `limit` bytes, or when it takes more than `totalTimeout` seconds in all.
    func readToEOF(limit: Int = Int.max, totalTimeout: Double = 180) throws -> (count: Int, digest: SHA256Digest) {
        let deadline = monotonicNow() + totalTimeout
        let size = 256 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var total = 0
        while true {
            let n = try Sock.recv(fd, buffer)
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += n
            if total > limit { throw TestFailure("received more than \(limit) bytes") }
            if monotonicNow() > deadline {
                throw TestFailure("reading to EOF took more than \(totalTimeout) s (\(total) bytes so far)")
            }
        }
        return (total, hasher.finalize())
    }

    /// Sends a short message and expects it echoed back.
    func exchange(_ text: String) throws {
        try send(text)
        let back = try recvExactly(text.utf8.count)
        guard back == Array(text.utf8) else {
            throw TestFailure("echo mismatch: sent \(text.debugDescription), got \(String(decoding: back, as: UTF8.self).debugDescription)")
        }
    }

    /// Waits up to `timeout` for the peer to close: EOF, reset, unexpected data, or still open.
    func awaitClose(timeout: Double) -> CloseOutcome {
        do {
            guard try Sock.poll(fd, events: Int16(POLLIN), timeout: timeout) else { return .timeout }
        } catch let error as SocketError {
            return .error(error.code)
        } catch {
            return .error(EIO)
        }
        var byte: UInt8 = 0
        let n = Glibc.recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        if n == 0 { return .eof }
        if n > 0 { return .data(n) }
        let err = errno
        if err == ECONNRESET || err == EPIPE { return .reset }
        if err == EAGAIN || err == EWOULDBLOCK { return .timeout }
        return .error(err)
    }

    func shutdownWrite() { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }

    /// Closes with SO_LINGER 0, so the peer sees a reset.
    func abort() {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}
