// Support for the integration tests: they run real `fulcrumd` processes against real sockets on
// 127.0.0.1 / ::1 only. Everything here is blocking and thread based, with a timeout on every
// wait, so a hung daemon makes a test fail rather than hang.
//
// Contents: errors and clocks, socket addresses, `TCPSocket` (client side), listeners
// (`TCPListener`, `ClosedPort`, `BlackholeListener`), `PayloadStream` (chunked random bytes with
// an incremental SHA-256), `TestServer` (echo / reply-after-EOF / sink / source members),
// TOML config writing (`ConfigDir`, `DaemonConfig`), `FulcrumProcess` and `FulcrumTestCase`.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Errors, time, small utilities

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Seconds on the monotonic clock.
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func sleepSeconds(_ seconds: Double) {
    if seconds > 0 { usleep(useconds_t(seconds * 1_000_000)) }
}

/// A value behind a lock, for results written by worker threads.
final class Locked<Value> {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var current: Value { withLock { $0 } }
}

/// Carries a value across threads where the test code itself does the synchronisation.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Starts a real thread (not a dispatch worker: blocking sockets must not starve a pool).
func startThread(name: String = "fulcrum-it", _ body: @escaping () -> Void) {
    let work = UncheckedSendable(body)
    let thread = Thread { work.value() }
    thread.name = name
    thread.stackSize = 1 << 20
    thread.start()
}

/// Runs `body` on `count` threads concurrently; returns false if they did not all finish in time.
func runConcurrently(_ count: Int, timeout: Double, _ body: @escaping (Int) -> Void) -> Bool {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        startThread(name: "fulcrum-it-\(index)") {
            body(index)
            group.leave()
        }
    }
    return group.wait(timeout: .now() + timeout) == .success
}

extension SHA256Digest {
    var hex: String { self.map { String(format: "%02x", $0) }.joined() }
}

func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
@discardableResult
func waitUntil(timeout: Double, interval: Double = 0.02, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNow() + timeout
    while true {
        if condition() { return true }
        if monotonicNow() >= deadline { return false }
        sleepSeconds(interval)
    }
}

// MARK: - Paths

enum Paths {
    /// The package root: the nearest directory above this file holding Package.swift.
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    }()

    /// `FULCRUM_BIN` if set, else `<package root>/.build/debug/fulcrumd`.
    static func fulcrumBinary() throws -> String {
        let path: String
        if let fromEnv = ProcessInfo.processInfo.environment["FULCRUM_BIN"], !fromEnv.isEmpty {
            path = fromEnv
        } else {
            path = packageRoot.appendingPathComponent(".build/debug/fulcrumd").path
        }
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("""
                fulcrumd binary not found or not executable at \(path): run swift build first \
                (or set FULCRUM_BIN to the binary to test)
                """)
        }
        return path
    }
}

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

// MARK: - Listening helpers

/// A plain listening socket (used to occupy a port, and by `TestServer`).
final class TCPListener {
    let fd: Int32
    let address: SocketAddress
    private var closed = false

    init(host: String = "127.0.0.1", port: UInt16 = 0, backlog: Int32 = 512, reuseAddress: Bool = true) throws {
        let requested = try SocketAddress(host: host, port: port)
        let fd = try Sock.create(family: requested.family)
        do {
            if reuseAddress { Sock.setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1) }
            if requested.family == AF_INET6 { Sock.setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            try Sock.bind(fd, requested)
            guard listen(fd, backlog) == 0 else { throw SocketError("listen", errno) }
            self.address = try SocketAddress.local(of: fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
    }

    var port: UInt16 { address.port }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    deinit { close() }
}

/// A port bound but not listening: connects to it are refused, and nobody else can take it.
final class ClosedPort {
    let port: UInt16
    private let fd: Int32

    init(host: String = "127.0.0.1") throws {
        let address = try SocketAddress(host: host, port: 0)
        fd = try Sock.create(family: address.family)
        do {
            try Sock.bind(fd, address)
            port = try SocketAddress.local(of: fd).port
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { Glibc.close(fd) }
}

/// A loopback port whose SYNs go unanswered: a listener with backlog 0 whose accept queue we
/// fill with our own connections and never accept (Linux then drops further SYNs).
final class BlackholeListener {
    let port: UInt16
    private let listenFD: Int32
    private var fillers: [Int32] = []

    init(host: String = "127.0.0.1") throws {
        let address = try SocketAddress(host: host, port: 0)
        listenFD = try Sock.create(family: address.family)
        try Sock.bind(listenFD, address)
        guard listen(listenFD, 0) == 0 else { throw SocketError("listen", errno) }
        port = try SocketAddress.local(of: listenFD).port
        let target = try SocketAddress(host: host, port: port)
        // Fill the accept queue: connect until one connect does not complete.
        for _ in 0..<16 {
            let fd = try Sock.create(family: address.family)
            do {
                try Sock.connect(fd, target, timeout: 0.3)
                fillers.append(fd)
            } catch {
                Glibc.close(fd)
                break
            }
        }
    }

    /// True when a direct connect gets no answer within `timeout` (the trick works here).
    func connectHangs(timeout: Double = 1.0) -> Bool {
        guard let address = try? SocketAddress(host: "127.0.0.1", port: port),
              let fd = try? Sock.create(family: address.family) else { return false }
        defer { Glibc.close(fd) }
        do {
            try Sock.connect(fd, address, timeout: timeout)
            return false
        } catch let error as SocketError {
            return error.code == ETIMEDOUT
        } catch {
            return false
        }
    }

    func close() {
        for fd in fillers { Glibc.close(fd) }
        fillers.removeAll()
    }

    deinit {
        close()
        Glibc.close(listenFD)
    }
}

// MARK: - Payloads

/// A deterministic stream of pseudo-random bytes (splitmix64), produced chunk by chunk and
/// hashed as it goes, so hundreds of MiB never sit in memory.
final class PayloadStream {
    let total: Int
    private(set) var produced = 0
    private var state: UInt64
    private let chunkBytes: Int
    private let words: UnsafeMutablePointer<UInt64>
    private var hasher = SHA256()

    init(seed: UInt64, total: Int, chunkSize: Int = 256 * 1024) {
        precondition(chunkSize > 0 && chunkSize % 8 == 0)
        self.total = total
        self.state = seed &* 0x2545_F491_4F6C_DD1D
        self.chunkBytes = chunkSize
        self.words = UnsafeMutablePointer<UInt64>.allocate(capacity: chunkSize / 8)
    }

    deinit { words.deallocate() }

    var isFinished: Bool { produced >= total }

    /// The next chunk (valid until the next call), or nil when everything was produced.
    func nextChunk() -> UnsafeRawBufferPointer? {
        let count = min(chunkBytes, total - produced)
        guard count > 0 else { return nil }
        let wordCount = (count + 7) / 8
        var s = state
        for i in 0..<wordCount {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words[i] = z ^ (z >> 31)
        }
        state = s
        let chunk = UnsafeRawBufferPointer(start: UnsafeRawPointer(words), count: count)
        hasher.update(bufferPointer: chunk)
        produced += count
        return chunk
    }

    /// SHA-256 of everything produced so far.
    func digest() -> SHA256Digest { hasher.finalize() }

    /// Produces everything and returns its hash (what a receiver must end up with).
    static func expectedDigest(seed: UInt64, total: Int) -> SHA256Digest {
        let stream = PayloadStream(seed: seed, total: total)
        while stream.nextChunk() != nil {}
        return stream.digest()
    }
}

/// Sends a payload through `socket` on a separate thread while this thread reads everything
/// back until EOF (sender and reader must run concurrently or buffers deadlock).
func echoRoundTrip(_ socket: TCPSocket, seed: UInt64, size: Int, timeout: Double = 60) throws
    -> (sent: SHA256Digest, received: SHA256Digest, receivedCount: Int)
{
    let sendResult = Locked<Result<SHA256Digest, Error>?>(nil)
    let senderDone = DispatchSemaphore(value: 0)
    startThread(name: "fulcrum-it-sender") {
        let stream = PayloadStream(seed: seed, total: size)
        do {
            let deadline = monotonicNow() + timeout
            while let chunk = stream.nextChunk() {
                try socket.send(chunk)
                if monotonicNow() > deadline { throw TestFailure("sending \(size) bytes took more than \(timeout) s") }
            }
            socket.shutdownWrite()
            sendResult.withLock { $0 = .success(stream.digest()) }
        } catch {
            sendResult.withLock { $0 = .failure(error) }
        }
        senderDone.signal()
    }
    let received: (count: Int, digest: SHA256Digest)
    do {
        received = try socket.readToEOF(limit: size * 2, totalTimeout: timeout)
    } catch {
        _ = senderDone.wait(timeout: .now() + 5)
        throw TestFailure("reading the echo failed after sending \(sendResult.current.map { "\($0)" } ?? "(sender still running)"): \(error)")
    }
    guard senderDone.wait(timeout: .now() + timeout) == .success else {
        throw TestFailure("sender did not finish within \(timeout) s")
    }
    switch sendResult.current {
    case let .success(digest)?:
        return (digest, received.digest, received.count)
    case let .failure(error)?:
        throw TestFailure("sending failed: \(error)")
    case nil:
        throw TestFailure("sender produced no result")
    }
}

// MARK: - Member servers

/// A member: thread-per-connection TCP server on 127.0.0.1 or ::1, counting accepted
/// connections and recording, per connection, what it received and sent (bytes and SHA-256).
final class TestServer {
    enum Mode {
        /// Echo everything; at EOF shut down writing and close.
        case echo
        /// Read until EOF, then send `bytes` random bytes and close.
        case replyAfterEOF(bytes: Int)
        /// Read until EOF, recording hash and count; then close.
        case sink
        /// Send `bytes` random bytes, shut down writing, then read until EOF (recorded); close.
        case source(bytes: Int)
    }

    struct Record {
        var id: Int
        var peer: String
        var receivedBytes = 0
        var receivedDigest: SHA256Digest?
        var sentBytes = 0
        var sentDigest: SHA256Digest?
        var finished = false
        var error: String?
    }

    let host: String
    let mode: Mode
    let port: UInt16
    private let listener: TCPListener
    private let cond = NSCondition()
    private var records: [Record] = []
    private var liveFDs: Set<Int32> = []
    private var stopping = false
    private var acceptLoopDone = false
    private let ioTimeout: Double

    init(host: String = "127.0.0.1", mode: Mode = .echo, ioTimeout: Double = 60) throws {
        self.host = host
        self.mode = mode
        self.ioTimeout = ioTimeout
        listener = try TCPListener(host: host, port: 0, backlog: 1024)
        port = listener.port
        startThread(name: "fulcrum-it-server-\(port)") { [self] in acceptLoop() }
    }

    var acceptedCount: Int {
        cond.lock()
        defer { cond.unlock() }
        return records.count
    }

    var allRecords: [Record] {
        cond.lock()
        defer { cond.unlock() }
        return records
    }

    /// Waits until at least `count` connections have finished; returns all records, or nil.
    func waitFinished(count: Int, timeout: Double) -> [Record]? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while records.filter(\.finished).count < count {
            if !cond.wait(until: deadline) {
                return records.filter(\.finished).count >= count ? records : nil
            }
        }
        return records
    }

    func stop() {
        cond.lock()
        stopping = true
        for fd in liveFDs { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        cond.unlock()
        cond.lock()
        let deadline = Date(timeIntervalSinceNow: 2)
        while !acceptLoopDone {
            if !cond.wait(until: deadline) { break }
        }
        cond.unlock()
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            cond.lock()
            let stop = stopping
            cond.unlock()
            if stop { break }
            guard (try? Sock.poll(listener.fd, events: Int16(POLLIN), timeout: 0.1)) == true else { continue }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listener.fd, $0, &length)
                }
            }
            if fd < 0 { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // (accept4 needs _GNU_SOURCE, not visible here)
            let peer = SocketAddress(storage: storage, length: length).description
            cond.lock()
            if stopping {
                cond.unlock()
                Glibc.close(fd)
                break
            }
            let id = records.count
            records.append(Record(id: id, peer: peer))
            liveFDs.insert(fd)
            cond.broadcast()
            cond.unlock()
            startThread(name: "fulcrum-it-conn-\(port)-\(id)") { [self] in serve(fd: fd, id: id) }
        }
        listener.close()
        cond.lock()
        acceptLoopDone = true
        cond.broadcast()
        cond.unlock()
    }

    private func serve(fd: Int32, id: Int) {
        Sock.setTimeouts(fd, receive: ioTimeout, send: ioTimeout)
        var result = Record(id: id, peer: "")
        let size = 256 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }

        func drain() throws {
            var hasher = SHA256()
            while true {
                let n = try Sock.recv(fd, buffer)
                if n == 0 { break }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                result.receivedBytes += n
            }
            result.receivedDigest = hasher.finalize()
        }

        func sendRandom(_ bytes: Int) throws {
            let stream = PayloadStream(seed: UInt64.random(in: 1...UInt64.max), total: bytes)
            while let chunk = stream.nextChunk() {
                try Sock.sendAll(fd, chunk, timeout: ioTimeout)
                result.sentBytes += chunk.count
            }
            result.sentDigest = stream.digest()
        }

        do {
            switch mode {
            case .echo:
                var received = SHA256()
                while true {
                    let n = try Sock.recv(fd, buffer)
                    if n == 0 { break }
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                    received.update(bufferPointer: chunk)
                    result.receivedBytes += n
                    try Sock.sendAll(fd, chunk, timeout: ioTimeout)
                    result.sentBytes += n
                }
                result.receivedDigest = received.finalize()
                result.sentDigest = result.receivedDigest
                _ = Glibc.shutdown(fd, Int32(SHUT_WR))
            case let .replyAfterEOF(bytes):
                try drain()
                try sendRandom(bytes)
                _ = Glibc.shutdown(fd, Int32(SHUT_WR))
            case .sink:
                try drain()
            case let .source(bytes):
                try sendRandom(bytes)
                _ = Glibc.shutdown(fd, Int32(SHUT_WR))
                try drain()
            }
        } catch {
            result.error = "\(error)"
        }

        cond.lock()
        liveFDs.remove(fd)
        Glibc.close(fd)
        records[id].receivedBytes = result.receivedBytes
        records[id].receivedDigest = result.receivedDigest
        records[id].sentBytes = result.sentBytes
        records[id].sentDigest = result.sentDigest
        records[id].error = result.error
        records[id].finished = true
        cond.broadcast()
        cond.unlock()
    }
}

// MARK: - Configuration

/// A temporary config directory (with conf.d/), removed in tearDown.
final class ConfigDir {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-it-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(
            at: url.appendingPathComponent("conf.d", isDirectory: true), withIntermediateDirectories: true)
    }

    /// Writes `text` to a path relative to the directory ("fulcrum.toml", "conf.d/50-web.toml").
    func write(_ relativePath: String, _ text: String) throws {
        try text.write(to: url.appendingPathComponent(relativePath), atomically: true, encoding: .utf8)
    }

    func filePath(_ relativePath: String) -> String { url.appendingPathComponent(relativePath).path }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

struct MemberSpec {
    var name: String
    var address: String = "127.0.0.1"
    var port: UInt16
    var weight: Int? = nil
    var adminStateUp: Bool? = nil
}

struct PoolSpec {
    var name: String = "web"
    var algorithm: String = "ROUND_ROBIN"
    var retries: Int? = nil
    var members: [MemberSpec]
}

struct ListenerSpec {
    var name: String = "web"
    var address: String = "127.0.0.1"
    var port: UInt16
    var defaultPool: String = "web"
    var connectionLimit: Int? = nil
    var timeoutClientData: Int? = nil
    var timeoutMemberConnect: Int? = nil
    var timeoutMemberData: Int? = nil
    var allowedCIDRs: [String]? = nil
}

/// A whole daemon configuration: globals go to fulcrum.toml, listeners and pools to
/// conf.d/50-web.toml (exercising drop-in discovery every time).
struct DaemonConfig {
    var workers: Int = 2
    var shutdownGrace: Int? = 2000
    var listeners: [ListenerSpec]
    var pools: [PoolSpec]

    static func quoted(_ s: String) -> String { "\"\(s)\"" }

    var mainFile: String {
        var lines = ["# written by FulcrumIntegrationTests", "workers = \(workers)"]
        if let shutdownGrace { lines.append("shutdown_grace = \(shutdownGrace)") }
        return lines.joined(separator: "\n") + "\n"
    }

    var dropInFile: String {
        var lines: [String] = []
        for l in listeners {
            lines.append("[listener.\(l.name)]")
            lines.append("protocol = \"TCP\"")
            lines.append("address = \(Self.quoted(l.address))")
            lines.append("protocol_port = \(l.port)")
            lines.append("default_pool = \(Self.quoted(l.defaultPool))")
            if let v = l.connectionLimit { lines.append("connection_limit = \(v)") }
            if let v = l.timeoutClientData { lines.append("timeout_client_data = \(v)") }
            if let v = l.timeoutMemberConnect { lines.append("timeout_member_connect = \(v)") }
            if let v = l.timeoutMemberData { lines.append("timeout_member_data = \(v)") }
            if let v = l.allowedCIDRs {
                lines.append("allowed_cidrs = [\(v.map(Self.quoted).joined(separator: ", "))]")
            }
            lines.append("")
        }
        for p in pools {
            lines.append("[pool.\(p.name)]")
            lines.append("lb_algorithm = \(Self.quoted(p.algorithm))")
            if let v = p.retries { lines.append("retries = \(v)") }
            lines.append("")
            for m in p.members {
                lines.append("[pool.\(p.name).members.\(m.name)]")
                lines.append("address = \(Self.quoted(m.address))")
                lines.append("protocol_port = \(m.port)")
                if let v = m.weight { lines.append("weight = \(v)") }
                if let v = m.adminStateUp { lines.append("admin_state_up = \(v)") }
                lines.append("")
            }
        }
        return lines.joined(separator: "\n")
    }

    func write(to dir: ConfigDir) throws {
        try dir.write("fulcrum.toml", mainFile)
        try dir.write("conf.d/50-web.toml", dropInFile)
    }
}

// MARK: - Log lines

/// One daemon log line: `<time> <level> <message> key=value key=value…`.
struct LogLine: CustomStringConvertible {
    let raw: String
    let time: String
    let level: String
    let message: String
    let metadata: [String: String]

    init?(_ raw: String) {
        let tokens = raw.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard tokens.count >= 3 else { return nil }
        self.raw = raw
        time = tokens[0]
        level = tokens[1]
        func isMetadata(_ token: String) -> Bool {
            guard let eq = token.firstIndex(of: "="), eq != token.startIndex else { return false }
            return token[..<eq].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
        }
        let firstMeta = tokens[2...].firstIndex(where: isMetadata) ?? tokens.count
        message = tokens[2..<firstMeta].joined(separator: " ")
        var meta: [String: String] = [:]
        for token in tokens[firstMeta...] {
            guard let eq = token.firstIndex(of: "=") else { continue }
            var value = String(token[token.index(after: eq)...])
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            meta[String(token[..<eq])] = value
        }
        metadata = meta
    }

    var description: String { raw }

    func int(_ key: String) -> Int? { metadata[key].flatMap { Int($0) } }
}

// MARK: - The daemon process

/// A running fulcrumd (or a one-shot invocation of it), with stdout and stderr captured by
/// background threads.
final class FulcrumProcess {
    struct ExitStatus: Equatable, CustomStringConvertible {
        var code: Int32
        var signaled: Bool
        var isSuccess: Bool { !signaled && code == 0 }
        var description: String { signaled ? "killed by signal \(code)" : "exit status \(code)" }
    }

    let arguments: [String]
    private let process = Process()
    private let errPipe = Pipe()
    private let outPipe = Pipe()
    private let cond = NSCondition()
    private var errBytes: [UInt8] = []
    private var outBytes: [UInt8] = []
    private var errEOF = false
    private var outEOF = false
    private var exit: ExitStatus?
    private(set) var exitTime: Double?
    let startTime: Double

    init(arguments: [String]) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: try Paths.fulcrumBinary())
        process.arguments = arguments
        process.standardError = errPipe
        process.standardOutput = outPipe
        process.standardInput = FileHandle.nullDevice
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        startTime = monotonicNow()
        let cond = self.cond
        process.terminationHandler = { [weak self] p in
            let status = ExitStatus(code: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal)
            cond.lock()
            self?.exit = status
            self?.exitTime = monotonicNow()
            cond.broadcast()
            cond.unlock()
        }
        try process.run()
        startReader(errPipe.fileHandleForReading.fileDescriptor, isStderr: true)
        startReader(outPipe.fileHandleForReading.fileDescriptor, isStderr: false)
    }

    private func startReader(_ fd: Int32, isStderr: Bool) {
        startThread(name: "fulcrum-it-\(isStderr ? "stderr" : "stdout")") { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                cond.lock()
                if n > 0 {
                    if isStderr { errBytes += buffer[0..<n] } else { outBytes += buffer[0..<n] }
                } else {
                    if isStderr { errEOF = true } else { outEOF = true }
                }
                cond.broadcast()
                cond.unlock()
                if n <= 0 { break }
            }
        }
    }

    var pid: Int32 { process.processIdentifier }

    var stderrText: String {
        cond.lock()
        defer { cond.unlock() }
        return String(decoding: errBytes, as: UTF8.self)
    }

    var stdoutText: String {
        cond.lock()
        defer { cond.unlock() }
        return String(decoding: outBytes, as: UTF8.self)
    }

    var logLines: [LogLine] {
        stderrText.split(separator: "\n").compactMap { LogLine(String($0)) }
    }

    var exitStatus: ExitStatus? {
        cond.lock()
        defer { cond.unlock() }
        return exit
    }

    var hasExited: Bool { exitStatus != nil }

    /// The last `maxLines` lines of stderr, for failure messages.
    func stderrTail(_ maxLines: Int = 200) -> String {
        let lines = stderrText.split(separator: "\n", omittingEmptySubsequences: false)
        let tail = lines.suffix(maxLines).joined(separator: "\n")
        return lines.count > maxLines ? "[… \(lines.count - maxLines) earlier lines]\n" + tail : tail
    }

    var diagnostics: String {
        "fulcrumd \(arguments.joined(separator: " ")) (\(exitStatus.map { "\($0)" } ?? "running"))\n--- stderr ---\n\(stderrTail())\n--- end stderr ---"
    }

    /// Waits for a log line matching `predicate`; nil on timeout or if the process exits first.
    func waitForLog(timeout: Double, where predicate: (LogLine) -> Bool) -> LogLine? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while true {
            let lines = String(decoding: errBytes, as: UTF8.self).split(separator: "\n").compactMap { LogLine(String($0)) }
            if let hit = lines.first(where: predicate) { return hit }
            if errEOF { return nil }
            if !cond.wait(until: deadline) {
                let lines = String(decoding: errBytes, as: UTF8.self).split(separator: "\n").compactMap { LogLine(String($0)) }
                return lines.first(where: predicate)
            }
        }
    }

    /// Waits (≤ timeout) for the `fulcrumd ready` line; throws with the captured stderr if the
    /// process exits first or the line does not come.
    func waitReady(timeout: Double = 30) throws {
        if waitForLog(timeout: timeout, where: { $0.message == "fulcrumd ready" }) != nil { return }
        throw TestFailure("fulcrumd did not log 'fulcrumd ready' within \(timeout) s\n\(diagnostics)")
    }

    func sendSignal(_ signal: Int32) {
        guard !hasExited else { return }
        kill(pid, signal)
    }

    /// Waits for the process to exit, then (briefly) for stderr to reach EOF so the last lines
    /// are captured. Nil if it is still running after `timeout`.
    @discardableResult
    func waitExit(timeout: Double) -> ExitStatus? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while exit == nil {
            if !cond.wait(until: deadline) { break }
        }
        guard let status = exit else { return nil }
        let eofDeadline = Date(timeIntervalSinceNow: 2)
        while !(errEOF && outEOF) {
            if !cond.wait(until: eofDeadline) { break }
        }
        return status
    }

    /// SIGTERM, then SIGKILL if it does not exit; used in tearDown so nothing leaks.
    func stop() {
        guard !hasExited else { return }
        sendSignal(SIGTERM)
        if waitExit(timeout: 5) == nil {
            sendSignal(SIGKILL)
            waitExit(timeout: 5)
        }
    }

    /// `listener stats` metadata for listener `name` (logged at exit).
    func listenerStats(_ name: String) -> LogLine? {
        logLines.last { $0.message == "listener stats" && $0.metadata["listener"] == name }
    }

    /// `member stats` metadata for POOL/MEMBER (logged at exit).
    func memberStats(pool: String, member: String) -> LogLine? {
        logLines.last { $0.message == "member stats" && $0.metadata["pool"] == pool && $0.metadata["member"] == member }
    }

    /// Runs fulcrumd to completion (e.g. --check-config, --version).
    static func run(_ arguments: [String], timeout: Double = 30) throws
        -> (status: ExitStatus, stdout: String, stderr: String)
    {
        let p = try FulcrumProcess(arguments: arguments)
        guard let status = p.waitExit(timeout: timeout) else {
            p.sendSignal(SIGKILL)
            p.waitExit(timeout: 5)
            throw TestFailure("fulcrumd \(arguments.joined(separator: " ")) did not exit within \(timeout) s\n\(p.diagnostics)")
        }
        return (status, p.stdoutText, p.stderrText)
    }
}

// MARK: - Base test case

/// Owns everything a test starts (processes, servers, sockets, directories) and tears it
/// down afterwards; on failure it adds the daemons' stderr to the failure output.
class FulcrumTestCase: XCTestCase {
    private let resources = Locked<(
        processes: [FulcrumProcess], servers: [TestServer], sockets: [TCPSocket],
        dirs: [ConfigDir], others: [AnyObject]
    )>(([], [], [], [], []))

    override func setUp() {
        super.setUp()
        signal(SIGPIPE, SIG_IGN)
    }

    override func tearDown() {
        let r = resources.withLock { r -> (processes: [FulcrumProcess], servers: [TestServer], sockets: [TCPSocket], dirs: [ConfigDir], others: [AnyObject]) in
            let copy = r
            r = ([], [], [], [], [])
            return copy
        }
        for socket in r.sockets { socket.close() }
        for process in r.processes { process.stop() }
        for server in r.servers { server.stop() }
        for dir in r.dirs { dir.remove() }
        if let run = testRun, run.totalFailureCount > 0 {
            for process in r.processes {
                XCTFail("captured output of a fulcrumd started by this test:\n\(process.diagnostics)")
            }
        }
        super.tearDown()
    }

    /// Keeps `object` alive until tearDown (for ClosedPort, BlackholeListener, …).
    func keep(_ object: AnyObject) { resources.withLock { $0.others.append(object) } }

    func makeServer(host: String = "127.0.0.1", mode: TestServer.Mode = .echo) throws -> TestServer {
        let server = try TestServer(host: host, mode: mode)
        resources.withLock { $0.servers.append(server) }
        return server
    }

    func makeConfigDir() throws -> ConfigDir {
        let dir = try ConfigDir()
        resources.withLock { $0.dirs.append(dir) }
        return dir
    }

    func makeConfigDir(_ config: DaemonConfig) throws -> ConfigDir {
        let dir = try makeConfigDir()
        try config.write(to: dir)
        return dir
    }

    /// Launches fulcrumd on `dir` without waiting for readiness.
    func launchFulcrum(configDir dir: ConfigDir, logLevel: String = "info") throws -> FulcrumProcess {
        let process = try FulcrumProcess(arguments: ["--config-dir", dir.path, "--log-level", logLevel])
        resources.withLock { $0.processes.append(process) }
        return process
    }

    /// Writes `config`, launches fulcrumd and waits for `fulcrumd ready`.
    func startFulcrum(_ config: DaemonConfig, logLevel: String = "info") throws -> FulcrumProcess {
        let dir = try makeConfigDir(config)
        return try startFulcrum(configDir: dir, logLevel: logLevel)
    }

    func startFulcrum(configDir dir: ConfigDir, logLevel: String = "info") throws -> FulcrumProcess {
        let process = try launchFulcrum(configDir: dir, logLevel: logLevel)
        try process.waitReady(timeout: 30)
        return process
    }

    /// Connects a client (tracked, closed in tearDown).
    func connect(
        host: String = "127.0.0.1", port: UInt16, timeout: Double = 5, source: String? = nil, ioTimeout: Double = 30
    ) throws -> TCPSocket {
        let socket = try TCPSocket.connect(host: host, port: port, timeout: timeout, source: source, ioTimeout: ioTimeout)
        resources.withLock { $0.sockets.append(socket) }
        return socket
    }

    /// SIGTERM and wait for a clean exit (status 0), returning the process for its stats.
    func terminate(_ process: FulcrumProcess, timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line) throws {
        process.sendSignal(SIGTERM)
        guard let status = process.waitExit(timeout: timeout) else {
            throw TestFailure("fulcrumd did not exit within \(timeout) s of SIGTERM\n\(process.diagnostics)")
        }
        XCTAssertEqual(status, .init(code: 0, signaled: false), "fulcrumd exit after SIGTERM\n\(process.diagnostics)", file: file, line: line)
    }

    /// A named stat from a stats line, failing clearly when the line or key is missing.
    func stat(_ line: LogLine?, _ key: String, _ what: String, _ process: FulcrumProcess) throws -> Int {
        guard let line else { throw TestFailure("no \(what) line logged at exit\n\(process.diagnostics)") }
        guard let value = line.int(key) else {
            throw TestFailure("\(what) line has no integer \(key)=: \(line.raw)\n\(process.diagnostics)")
        }
        return value
    }
}
