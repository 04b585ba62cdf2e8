// Health test members over TCP: a listener that can stop and start on the same port, an
// accept-and-close target, and an HTTP member whose answer can be switched at run time.
// Stopped by HealthTestCase.tearDown whatever the outcome.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - A TCP listener that can stop and start listening on the same port

/// A listening socket that can stop listening (connects are then refused, as by a dead
/// member) and listen again on the same address and port (SO_REUSEADDR). While not listening
/// it keeps the port bound (like `ClosedPort`), so nobody else can take it in between.
final class SwitchableListener {
    let host: String
    let port: UInt16
    private let address: SocketAddress
    private let lock = NSLock()
    private let fd: Int32
    private var listening = true
    private var closed = false

    init(host: String = "127.0.0.1", backlog: Int32 = 512) throws {
        self.host = host
        // Bound to an explicit port (one found free first): a socket bound to port 0 loses its
        // port when it stops listening, one bound explicitly keeps it (SOCK_BINDPORT_LOCK).
        var attempt = 0
        var bound: (fd: Int32, address: SocketAddress)?
        while bound == nil {
            attempt += 1
            let address = try SocketAddress(host: host, port: try freePort(host: host))
            do {
                bound = (try SwitchableListener.boundSocket(address), address)
            } catch let error as SocketError where error.code == EADDRINUSE && attempt < 20 {
                continue
            }
        }
        let (fd, address) = bound!
        guard listen(fd, backlog) == 0 else {
            let err = errno
            Glibc.close(fd)
            throw SocketError("listen", err)
        }
        Sock.setNonBlocking(fd, true)
        self.fd = fd
        self.address = address
        port = address.port
    }

    private static func boundSocket(_ address: SocketAddress) throws -> Int32 {
        let fd = try Sock.create(family: address.family)
        Sock.setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if address.family == AF_INET6 { Sock.setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        do {
            try Sock.bind(fd, address)
        } catch {
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    var isListening: Bool { lock.lock(); defer { lock.unlock() }; return listening && !closed }

    /// Stops listening: shutdown(2) on a listening socket closes it for new connections (its
    /// accept queue is reset) but, bound to an explicit port, the socket keeps that port, so
    /// connects are refused and nobody else can take it until `startListening`.
    func stopListening() throws {
        lock.lock()
        defer { lock.unlock() }
        guard listening, !closed else { return }
        guard Glibc.shutdown(fd, Int32(SHUT_RDWR)) == 0 else { throw SocketError("shutdown (stop listening)", errno) }
        listening = false
        guard (try? SocketAddress.local(of: fd).port) == port else {
            throw TestFailure("the listener lost its port \(port) when it stopped listening")
        }
    }

    /// Listens again on the same socket, so the same address and port.
    func startListening(backlog: Int32 = 512) throws {
        lock.lock()
        defer { lock.unlock() }
        guard !listening, !closed else { return }
        guard listen(fd, backlog) == 0 else { throw SocketError("listen again on \(address)", errno) }
        guard (try? SocketAddress.local(of: fd).port) == port else {
            throw TestFailure("listening again moved the listener off port \(port)")
        }
        listening = true
    }

    /// Waits up to `timeout` for a connection and accepts it; nil when none came, when not
    /// listening, or once closed.
    func accept(timeout: Double) -> Int32? {
        lock.lock()
        let current = fd, active = listening && !closed
        lock.unlock()
        guard active else {
            sleepSeconds(timeout)
            return nil
        }
        // The descriptor may be closed and replaced meanwhile: poll only wakes us up, the
        // accept itself happens under the lock on the socket that is current then.
        var pfd = pollfd(fd: current, events: Int16(POLLIN), revents: 0)
        _ = Glibc.poll(&pfd, 1, Int32(timeout * 1000))
        lock.lock()
        defer { lock.unlock() }
        guard listening, !closed, fd == current else { return nil }
        let accepted = Glibc.accept(fd, nil, nil)
        guard accepted >= 0 else { return nil }
        _ = fcntl(accepted, F_SETFD, FD_CLOEXEC)
        return accepted
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    deinit { close() }
}

/// A TCP target that accepts every connection and closes it at once, counting them: cheap
/// enough for hundreds of monitored members' TCP checks. Can refuse and listen again.
final class AcceptCloseServer {
    let listener: SwitchableListener
    private let cond = NSCondition()
    private var accepted = 0
    private var stopping = false
    private var done = false

    init(host: String = "127.0.0.1") throws {
        listener = try SwitchableListener(host: host, backlog: 4096)
        startThread(name: "fulcrum-it-accept-close-\(listener.port)") { [self] in loop() }
    }

    var host: String { listener.host }
    var port: UInt16 { listener.port }
    var acceptedCount: Int { cond.lock(); defer { cond.unlock() }; return accepted }

    func refuse() throws { try listener.stopListening() }
    func listenAgain() throws { try listener.startListening(backlog: 4096) }

    private func loop() {
        while true {
            cond.lock()
            let stop = stopping
            cond.unlock()
            if stop { break }
            guard let fd = listener.accept(timeout: 0.05) else { continue }
            Glibc.close(fd)
            cond.lock()
            accepted += 1
            cond.unlock()
        }
        cond.lock()
        done = true
        cond.broadcast()
        cond.unlock()
    }

    func stop() {
        cond.lock()
        stopping = true
        let deadline = Date(timeIntervalSinceNow: 2)
        while !done { if !cond.wait(until: deadline) { break } }
        cond.unlock()
        listener.close()
    }
}

// MARK: - HTTP member

/// An HTTP/1.x server for health checks (thread per connection), whose answer can be switched
/// at run time: a status code, or accept-and-never-answer; and whose listener can be closed
/// (connects refused) and reopened on the same port. Counts requests and remembers the last
/// request line and Host header. Anything that does not start like an HTTP request (a TLS
/// ClientHello, say) gets "400 Bad Request" at once, as from a real web server.
final class HealthHTTPServer {
    enum Behaviour: Equatable {
        case status(Int)
        /// Read the request, never answer, keep the connection until the peer closes it.
        case silent
    }

    let listener: SwitchableListener
    private let cond = NSCondition()
    private var behaviour: Behaviour
    private var requests = 0
    private var garbage = 0
    private var lastLine: String?
    private var lastHostHeader: String?
    private var liveFDs: Set<Int32> = []
    private var stopping = false
    private var loopDone = false

    init(host: String = "127.0.0.1", behaviour: Behaviour = .status(200)) throws {
        self.behaviour = behaviour
        listener = try SwitchableListener(host: host)
        startThread(name: "fulcrum-it-http-\(listener.port)") { [self] in acceptLoop() }
    }

    var host: String { listener.host }
    var port: UInt16 { listener.port }

    func set(_ behaviour: Behaviour) { cond.lock(); self.behaviour = behaviour; cond.unlock() }
    func setStatus(_ code: Int) { set(.status(code)) }

    /// Connects are refused until `listenAgain()`.
    func refuse() throws { try listener.stopListening() }
    func listenAgain() throws { try listener.startListening() }

    /// Complete HTTP requests received (whatever was answered).
    var requestCount: Int { cond.lock(); defer { cond.unlock() }; return requests }
    /// Connections that did not start with an HTTP request (answered 400).
    var garbageCount: Int { cond.lock(); defer { cond.unlock() }; return garbage }
    var lastRequestLine: String? { cond.lock(); defer { cond.unlock() }; return lastLine }
    /// The last request's Host header value; nil when that request had none.
    var lastHost: String? { cond.lock(); defer { cond.unlock() }; return lastHostHeader }

    private func acceptLoop() {
        while true {
            cond.lock()
            let stop = stopping
            cond.unlock()
            if stop { break }
            guard let fd = listener.accept(timeout: 0.05) else { continue }
            cond.lock()
            if stopping {
                cond.unlock()
                Glibc.close(fd)
                break
            }
            liveFDs.insert(fd)
            cond.unlock()
            startThread(name: "fulcrum-it-http-conn-\(listener.port)") { [self] in serve(fd) }
        }
        cond.lock()
        loopDone = true
        cond.broadcast()
        cond.unlock()
    }

    private func serve(_ fd: Int32) {
        defer {
            cond.lock()
            liveFDs.remove(fd)
            Glibc.close(fd)
            cond.unlock()
        }
        Sock.setTimeouts(fd, receive: 5, send: 5)
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let end = Array("\r\n\r\n".utf8)
        var isHTTP = true
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }  // closed, reset or timed out before a whole request
            request += chunk[0..<n]
            if let first = request.first, !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) {
                isHTTP = false
                break
            }
            if request.count >= end.count, containsSequence(request, end) { break }
            if request.count > 64 * 1024 { isHTTP = false; break }
        }
        guard isHTTP else {
            cond.lock()
            garbage += 1
            cond.unlock()
            respond(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        }
        let text = String(decoding: request, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        let host = lines.dropFirst().first { $0.lowercased().hasPrefix("host:") }
            .map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
        cond.lock()
        requests += 1
        lastLine = lines.first
        lastHostHeader = host
        let now = behaviour
        cond.unlock()
        switch now {
        case let .status(code):
            let isHead = lines.first?.hasPrefix("HEAD ") ?? false
            let body = (code == 204 || code == 304 || isHead) ? "" : "health \(code)\n"
            let length = (code == 204 || code == 304) ? "" : "Content-Length: \(body.utf8.count)\r\n"
            respond(fd, "HTTP/1.1 \(code) \(reason(code))\r\n\(length)Connection: close\r\n\r\n\(body)")
        case .silent:
            // Hold the connection without a word until the checker gives up (or we stop).
            Sock.setTimeouts(fd, receive: 0.1, send: 1)
            while true {
                cond.lock()
                let stop = stopping
                cond.unlock()
                if stop { return }
                let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { return }
            }
        }
    }

    /// Sends the response, ends our side, and waits (briefly) for the peer to close, so the
    /// response is never cut short by a reset for unread data.
    private func respond(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        do {
            try bytes.withUnsafeBytes { try Sock.sendAll(fd, $0, timeout: 2) }
        } catch {
            return
        }
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        Sock.setTimeouts(fd, receive: 1, send: 1)
        var sink = [UInt8](repeating: 0, count: 4096)
        while sink.withUnsafeMutableBytes({ Glibc.recv(fd, $0.baseAddress, $0.count, 0) }) > 0 {}
    }

    private func reason(_ code: Int) -> String {
        switch code {
        case 200: return "OK"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }

    func stop() {
        cond.lock()
        stopping = true
        for fd in liveFDs { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        let deadline = Date(timeIntervalSinceNow: 2)
        while !loopDone { if !cond.wait(until: deadline) { break } }
        cond.unlock()
        listener.close()
    }

    deinit { stop() }
}

private func containsSequence(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard haystack.count >= needle.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if Array(haystack[start..<(start + needle.count)]) == needle { return true }
    }
    return false
}
