// Support for the health monitor tests: members whose health can be switched while fulcrumd
// watches them (an HTTP server, a UDP responder, an accept-and-close TCP target, and child
// processes for HTTPS — python3 — and TLS — openssl s_server), and helpers that wait for the
// daemon's status-change log lines and check when they came.
//
// Everything here is stopped by HealthTestCase.tearDown, child processes included, whatever
// the test's outcome.

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

// MARK: - UDP responder

/// A UDP health target on its own thread: answers each datagram (echo, a fixed payload, or
/// nothing), and can be "closed" — its port then answers ICMP port unreachable, as a dead
/// service's does — and reopened on the same port. While closed the socket stays bound but is
/// connected to a peer that never sends (127.0.0.1:9 or [::1]:9): the kernel then finds no
/// socket for anyone else's datagrams, and nobody else can take the port meanwhile.
final class HealthUDPResponder: UDPStoppable {
    enum Reply: Equatable {
        case echo
        case fixed([UInt8])
        case silent
    }

    let host: String
    let port: UInt16
    private let fd: Int32
    private let cond = NSCondition()
    private var reply: Reply
    private var open = true
    private var datagrams = 0
    private var last: [UInt8]?
    private var stopping = false
    private var done = false
    private var stopped = false

    init(host: String = "127.0.0.1", reply: Reply = .echo) throws {
        self.host = host
        self.reply = reply
        // Bound to an explicit port (one found free first): a UDP socket bound to port 0 loses
        // its port on disconnect, one bound explicitly keeps it (SOCK_BINDPORT_LOCK).
        var attempt = 0
        var bound: (fd: Int32, port: UInt16)?
        while bound == nil {
            attempt += 1
            let address = try SocketAddress(host: host, port: try freeUDPPort(host: host))
            let fd = try UDP.socket(family: address.family)
            do {
                try Sock.bind(fd, address)
                bound = (fd, address.port)
            } catch let error as SocketError where error.code == EADDRINUSE && attempt < 20 {
                Glibc.close(fd)
            } catch {
                Glibc.close(fd)
                throw error
            }
        }
        fd = bound!.fd
        port = bound!.port
        UDP.setReceiveTimeout(fd, 0.05)
        startThread(name: "fulcrum-it-udp-health-\(port)") { [self] in serve() }
    }

    func setReply(_ reply: Reply) { cond.lock(); self.reply = reply; cond.unlock() }

    /// Datagrams received while open.
    var datagramCount: Int { cond.lock(); defer { cond.unlock() }; return datagrams }
    var lastDatagram: [UInt8]? { cond.lock(); defer { cond.unlock() }; return last }

    /// From now on datagrams to the port get ICMP port unreachable.
    func close() throws {
        cond.lock()
        defer { cond.unlock() }
        guard open else { return }
        let sink = try SocketAddress(host: host.contains(":") ? "::1" : "127.0.0.1", port: 9)
        let rc = sink.withSockaddr { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else { throw SocketError("connect (closing the UDP responder)", errno) }
        open = false
    }

    /// Serves the port again.
    func reopen() throws {
        cond.lock()
        defer { cond.unlock() }
        guard !open else { return }
        var unspec = sockaddr()
        unspec.sa_family = sa_family_t(AF_UNSPEC)
        let rc = Glibc.connect(fd, &unspec, socklen_t(MemoryLayout<sockaddr>.size))
        guard rc == 0 else { throw SocketError("connect AF_UNSPEC (reopening the UDP responder)", errno) }
        guard (try? SocketAddress.local(of: fd).port) == port else {
            throw TestFailure("the UDP responder lost its port \(port) when reopened")
        }
        open = true
    }

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
            let isOpen = open
            if isOpen {
                datagrams += 1
                last = got.bytes
            }
            let answer = reply
            cond.unlock()
            guard isOpen else { continue }
            switch answer {
            case .echo: try? UDP.sendTo(fd, got.bytes, got.from)
            case let .fixed(bytes): try? UDP.sendTo(fd, bytes, got.from)
            case .silent: break
            }
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
        let first = !stopped
        stopped = true
        cond.unlock()
        if first { Glibc.close(fd) }
    }
}

// MARK: - Child processes (python3 HTTPS server, openssl s_server)

enum HealthTools {
    /// The path of an executable: preferred absolute paths first, then $PATH.
    static func find(_ name: String, preferring: [String] = []) throws -> String {
        var candidates = preferring
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        candidates += path.split(separator: ":").map { "\($0)/\(name)" }
        candidates += ["/usr/local/bin/\(name)", "/usr/bin/\(name)", "/bin/\(name)"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        throw TestFailure("""
            \(name) is needed by the health monitor tests and was not found (looked in \(candidates.joined(separator: ", "))); \
            install it (Debian: apt-get install \(name == "python3" ? "python3" : "openssl"))
            """)
    }

    static func python3() throws -> String { try find("python3", preferring: ["/usr/bin/python3"]) }
    static func openssl() throws -> String { try find("openssl", preferring: ["/usr/bin/openssl"]) }

    /// Runs a command to completion (≤ timeout), returning its exit status and output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 60) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let collected = Locked<Data>(Data())
        let reader = DispatchSemaphore(value: 0)
        startThread(name: "fulcrum-it-tool-output") {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            collected.withLock { $0 = data }
            reader.signal()
        }
        if !waitUntil(timeout: timeout, interval: 0.02, { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
            _ = waitUntil(timeout: 5) { !process.isRunning }
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
        }
        _ = reader.wait(timeout: .now() + 5)
        let text = String(decoding: collected.current, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) failed (status \(process.terminationStatus)):\n\(text)")
        }
        return text
    }
}

/// A throwaway self-signed certificate (CN localhost; subjectAltName localhost / 127.0.0.1
/// unless told otherwise) in a temporary directory, removed in tearDown.
final class TestCertificate {
    let directory: URL
    let certPath: String
    let keyPath: String

    init(subjectAltName: String = "DNS:localhost,IP:127.0.0.1") throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-it-tls-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certPath = directory.appendingPathComponent("cert.pem").path
        keyPath = directory.appendingPathComponent("key.pem").path
        try HealthTools.run(try HealthTools.openssl(), [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "2",
            "-addext", "subjectAltName=\(subjectAltName)",
            "-keyout", keyPath, "-out", certPath,
        ])
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// A server run as a child process on a fixed loopback port: started, killed (SIGKILL, so
/// the port closes at once) and started again on the same port. Its output goes to a log file
/// shown in failure messages. The child is started through a tiny python3 wrapper that sets
/// PR_SET_PDEATHSIG, so it cannot outlive a crashed test process either.
final class ChildServer {
    let name: String
    let port: UInt16
    private let executable: String
    private let arguments: [String]
    private let logPath: String
    private let lock = NSLock()
    private var process: Process?
    private var stdinPipe: Pipe?

    init(name: String, port: UInt16, executable: String, arguments: [String], logPath: String) {
        self.name = name
        self.port = port
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
    }

    var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return process?.isRunning ?? false }
    var pid: Int32? { lock.lock(); defer { lock.unlock() }; return process?.processIdentifier }

    var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)).map { $0.isEmpty ? "(empty)" : $0 } ?? "(no log)"
    }

    /// Starts the child and waits until its port accepts a TCP connection.
    func start(timeout: Double = 15) throws {
        guard !isRunning else { return }
        let python = try HealthTools.python3()
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let logHandle = FileHandle(forWritingAtPath: logPath) else { throw TestFailure("cannot write \(logPath)") }
        logHandle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", """
            import ctypes, os, sys
            try:
                ctypes.CDLL(None).prctl(1, 9)
            except Exception:
                pass
            os.execv(sys.argv[1], sys.argv[1:])
            """, executable] + arguments
        process.standardOutput = logHandle
        process.standardError = logHandle
        // A pipe we never write to nor close: stdin stays open and quiet (s_server reads it).
        let input = Pipe()
        process.standardInput = input
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        try process.run()
        try? logHandle.close()
        lock.lock()
        self.process = process
        stdinPipe = input
        lock.unlock()
        let ready = waitUntil(timeout: timeout, interval: 0.05) {
            guard process.isRunning else { return true }
            guard let socket = try? TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 0.5, ioTimeout: 1) else {
                return false
            }
            socket.close()
            return true
        }
        guard ready, process.isRunning else {
            let status = process.isRunning ? "still running" : "exited with status \(process.terminationStatus)"
            kill()
            throw TestFailure("\(name) (\(executable) \(arguments.joined(separator: " "))) did not accept connections on 127.0.0.1:\(port) within \(timeout) s (\(status)); its output:\n\(log)")
        }
    }

    /// SIGKILL and wait for the exit: the port is closed when this returns.
    func kill() {
        lock.lock()
        let process = self.process
        self.process = nil
        let input = stdinPipe
        stdinPipe = nil
        lock.unlock()
        guard let process else { return }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        _ = waitUntil(timeout: 10, interval: 0.01) { !process.isRunning }
        try? input?.fileHandleForWriting.close()
    }
}

/// The HTTPS member: python3's http.server behind the ssl module, answering every request
/// with the status code in a control file it re-reads per request.
final class HTTPSTestServer {
    let server: ChildServer
    let certificate: TestCertificate
    private let controlPath: String

    var port: UInt16 { server.port }

    init(certificate: TestCertificate, status: Int = 200) throws {
        self.certificate = certificate
        let id = UUID().uuidString.prefix(8)
        controlPath = certificate.path("status-\(id)")
        let scriptPath = certificate.path("https-\(id).py")
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let port = try freePort()
        server = ChildServer(name: "python3 HTTPS server", port: port, executable: try HealthTools.python3(),
                             arguments: [scriptPath, String(port), certificate.certPath, certificate.keyPath, controlPath],
                             logPath: certificate.path("https-\(id).log"))
        try setStatus(status)
    }

    /// Takes effect with the next request (written atomically: never a half-written file).
    func setStatus(_ code: Int) throws {
        try "\(code)\n".write(toFile: controlPath, atomically: true, encoding: .utf8)
    }

    func start() throws { try server.start() }
    func kill() { server.kill() }

    static let script = """
        import http.server, ssl, sys, time
        port, cert, key, control = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            def answer(self, with_body):
                try:
                    code = int(open(control).read().strip())
                except Exception:
                    code = 500
                body = b"" if code in (204, 304) or not with_body else b"health\\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self): self.answer(True)
            def do_POST(self): self.answer(True)
            def do_OPTIONS(self): self.answer(True)
            def do_HEAD(self): self.answer(False)
            def log_message(self, *args): pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128
            def finish_request(self, request, client_address):
                # The TLS handshake runs here, on the connection's own thread, so a client that
                # connects and says nothing never blocks the accept loop.
                request.settimeout(5)
                try:
                    tls = context.wrap_socket(request, server_side=True)
                except Exception:
                    return
                try:
                    self.RequestHandlerClass(tls, client_address, self)
                except Exception:
                    pass
                finally:
                    try:
                        tls.close()
                    except Exception:
                        pass
            def handle_error(self, request, client_address):
                pass

        deadline = time.monotonic() + 10
        while True:
            try:
                server = Server(("127.0.0.1", port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        print("listening on 127.0.0.1:%d" % port, flush=True)
        server.serve_forever()
        """
}

/// The TLS member: `openssl s_server -www` (a TLS server that answers a ServerHello to any
/// ClientHello), killable and restartable on the same port.
final class TLSTestServer {
    let server: ChildServer
    var port: UInt16 { server.port }

    /// `extraArguments` go to s_server (e.g. `-servername NAME -servername_fatal`).
    init(certificate: TestCertificate, extraArguments: [String] = []) throws {
        let port = try freePort()
        let id = UUID().uuidString.prefix(8)
        server = ChildServer(name: "openssl s_server", port: port, executable: try HealthTools.openssl(),
                             arguments: ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificate.certPath,
                                         "-key", certificate.keyPath, "-www", "-quiet"] + extraArguments,
                             logPath: certificate.path("s_server-\(id).log"))
    }

    func start() throws { try server.start() }
    func kill() { server.kill() }
}

// MARK: - Status changes in the daemon's log

/// One `member POOL/NAME ADDR is NEW (was OLD): CAUSE, check took N ms` or
/// `pool NAME is NEW (was OLD): …` line.
struct StatusChange: CustomStringConvertible {
    let line: LogLine
    let status: String
    let previous: String
    /// The check code (member lines only).
    var check: String? { line.metadata["check"] }
    /// When the test first saw the line (monotonic seconds).
    let seenAt: Double

    var description: String { line.raw }

    /// Parses "… is NEW (was OLD): …" out of a message.
    static func parse(_ message: String) -> (status: String, previous: String)? {
        guard let isRange = message.range(of: " is ") else { return nil }
        let rest = message[isRange.upperBound...]
        guard let space = rest.firstIndex(of: " ") else { return nil }
        let status = String(rest[..<space])
        let afterStatus = rest[space...]
        guard afterStatus.hasPrefix(" (was "), let close = afterStatus.firstIndex(of: ")") else { return nil }
        let previous = afterStatus[afterStatus.index(afterStatus.startIndex, offsetBy: 6)..<close]
        return (status, String(previous))
    }
}

/// Follows one member's (or one pool's) status changes in a daemon's log, in order: each
/// `next` waits for the change after the ones already returned.
final class StatusWatch {
    let process: FulcrumProcess
    let pool: String
    let member: String?
    private(set) var consumed = 0
    private var seenAt: [Double] = []

    init(_ process: FulcrumProcess, pool: String, member: String? = nil) {
        self.process = process
        self.pool = pool
        self.member = member
    }

    var what: String { member.map { "member \(pool)/\($0)" } ?? "pool \(pool)" }

    /// Every status change of this member/pool logged so far.
    func all() -> [LogLine] {
        let prefix = member.map { "member \(pool)/\($0) " } ?? "pool \(pool) is "
        return process.logLines.filter { line in
            guard line.message.hasPrefix(prefix), line.metadata["pool"] == pool,
                  member == nil || line.metadata["member"] == member else { return false }
            return StatusChange.parse(line.message) != nil
        }
    }

    /// The next status change, waiting up to `timeout`; nil if none came.
    func next(timeout: Double) -> StatusChange? {
        var found: [LogLine] = []
        let came = waitUntil(timeout: timeout, interval: 0.01) {
            found = all()
            return found.count > consumed
        }
        guard came else { return nil }
        let now = monotonicNow()
        while seenAt.count < found.count { seenAt.append(now) }
        let line = found[consumed]
        consumed += 1
        guard let parsed = StatusChange.parse(line.message) else { return nil }
        return StatusChange(line: line, status: parsed.status, previous: parsed.previous, seenAt: seenAt[consumed - 1])
    }

    /// Marks every change logged so far as seen.
    func skipAll() {
        let count = all().count
        let now = monotonicNow()
        while seenAt.count < count { seenAt.append(now) }
        consumed = count
    }
}

// MARK: - Base test case

/// Stops the health test's servers and child processes in tearDown, and offers the config
/// pieces and status waits the health tests share.
class HealthTestCase: UDPTestCase {
    private let healthObjects = Locked<(http: [HealthHTTPServer], udp: [HealthUDPResponder], accept: [AcceptCloseServer],
                                        children: [ChildServer], certificates: [TestCertificate])>(([], [], [], [], []))

    override func tearDown() {
        let objects = healthObjects.withLock { o -> (http: [HealthHTTPServer], udp: [HealthUDPResponder], accept: [AcceptCloseServer], children: [ChildServer], certificates: [TestCertificate]) in
            defer { o = ([], [], [], [], []) }
            return o
        }
        for child in objects.children { child.kill() }
        if let run = testRun, run.totalFailureCount > 0 {
            for child in objects.children {
                print("output of \(child.name) on port \(child.port):\n\(child.log)")
            }
        }
        for server in objects.http { server.stop() }
        for responder in objects.udp { responder.stop() }
        for server in objects.accept { server.stop() }
        for certificate in objects.certificates { certificate.remove() }
        super.tearDown()
    }

    func makeHTTPHealthServer(host: String = "127.0.0.1", _ behaviour: HealthHTTPServer.Behaviour = .status(200)) throws -> HealthHTTPServer {
        let server = try HealthHTTPServer(host: host, behaviour: behaviour)
        healthObjects.withLock { $0.http.append(server) }
        return server
    }

    func makeUDPResponder(host: String = "127.0.0.1", _ reply: HealthUDPResponder.Reply = .echo) throws -> HealthUDPResponder {
        let responder = try HealthUDPResponder(host: host, reply: reply)
        healthObjects.withLock { $0.udp.append(responder) }
        return responder
    }

    func makeAcceptCloseServer(host: String = "127.0.0.1") throws -> AcceptCloseServer {
        let server = try AcceptCloseServer(host: host)
        healthObjects.withLock { $0.accept.append(server) }
        return server
    }

    func makeCertificate(subjectAltName: String = "DNS:localhost,IP:127.0.0.1") throws -> TestCertificate {
        let certificate = try TestCertificate(subjectAltName: subjectAltName)
        healthObjects.withLock { $0.certificates.append(certificate) }
        return certificate
    }

    /// Registered before it starts, so tearDown kills it even if starting fails half way.
    func makeHTTPSServer(_ certificate: TestCertificate, status: Int = 200) throws -> HTTPSTestServer {
        let server = try HTTPSTestServer(certificate: certificate, status: status)
        healthObjects.withLock { $0.children.append(server.server) }
        try server.start()
        return server
    }

    func makeTLSServer(_ certificate: TestCertificate, extraArguments: [String] = []) throws -> TLSTestServer {
        let server = try TLSTestServer(certificate: certificate, extraArguments: extraArguments)
        healthObjects.withLock { $0.children.append(server.server) }
        try server.start()
        return server
    }

    /// `[pool.NAME.healthmonitor]` lines.
    func monitor(_ type: String, delay: Double, timeout: Double, up: Int, down: Int, _ extra: [String] = []) -> [String] {
        ["type = \"\(type)\"", "delay = \(delay)", "timeout = \(timeout)", "max_retries = \(up)",
         "max_retries_down = \(down)"] + extra
    }

    /// Waits for the watched member's (or pool's) next status change and checks it: the new
    /// status, the check code, and — when `since` is given — that it came no earlier than
    /// `notBefore` and no later than `within` seconds after `since`. Throws when no change
    /// comes in time or it is a different one (later steps would only repeat the failure).
    @discardableResult
    func expectChange(_ watch: StatusWatch, to status: String, check: String? = nil, contains: String? = nil,
                      since: Double? = nil, within: Double, notBefore: Double? = nil, _ context: String = "",
                      file: StaticString = #filePath, line: UInt = #line) throws -> StatusChange {
        let started = since ?? monotonicNow()
        let remaining = max(0.1, started + within - monotonicNow())
        guard let change = watch.next(timeout: remaining) else {
            let log = watch.all().map(\.raw).joined(separator: "\n")
            throw TestFailure("\(watch.what): no status change to \(status) within \(String(format: "%.2f", within)) s \(context)\nits changes so far:\n\(log)\n\(watch.process.diagnostics)")
        }
        guard change.status == status else {
            throw TestFailure("\(watch.what): expected a change to \(status) \(context), got: \(change.line.raw)\n\(watch.process.diagnostics)")
        }
        let elapsed = change.seenAt - started
        if let check {
            XCTAssertEqual(change.check, check, "\(watch.what) went \(status) \(context) by the wrong check: \(change.line.raw)", file: file, line: line)
        }
        if let contains {
            XCTAssertTrue(change.line.message.contains(contains), "\(watch.what) \(status) \(context): the message lacks \(contains.debugDescription): \(change.line.raw)", file: file, line: line)
        }
        if since != nil {
            XCTAssertLessThanOrEqual(elapsed, within, "\(watch.what) went \(status) \(context) too late", file: file, line: line)
            if let notBefore {
                XCTAssertGreaterThanOrEqual(elapsed, notBefore, "\(watch.what) went \(status) \(context) after \(String(format: "%.3f", elapsed)) s: sooner than its checks could have run (≥ \(String(format: "%.3f", notBefore)) s)\n\(change.line.raw)", file: file, line: line)
            }
        }
        print("\(watch.what) -> \(status) \(context): seen \(String(format: "%.3f", elapsed)) s after\(since == nil ? " waiting" : "") [\(change.check ?? "-")]")
        return change
    }
}
