// Hostile and careless clients of the status socket and the HTTP endpoint: binary garbage,
// a 10 MiB line, clients that leave mid-reply, slowloris, a thousand idle connections, an
// oversized request head. Meanwhile a thread keeps sending checked payloads through a
// listener: the control plane must cost the data plane nothing, and the daemon must answer
// the next honest client, keep its memory and let go of every descriptor.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Connections through a listener on a thread of their own, one after the other, each
/// sending a pseudo-random payload and checking the echo byte for byte.
final class CheckedTrafficLoop {
    private let port: UInt16
    private let state = Locked<(stop: Bool, done: Bool, ok: Int, failures: [String])>((false, false, 0, []))

    init(port: UInt16) {
        self.port = port
        startThread(name: "fulcrum-it-traffic") { [self] in run() }
    }

    private func run() {
        var i = 0
        while !state.current.stop {
            i += 1
            let size = 1 + (i * 7919) % 16384
            var payload = [UInt8](repeating: 0, count: size)
            var x = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            for j in 0..<size {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17
                payload[j] = UInt8(truncatingIfNeeded: x)
            }
            do {
                let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 5, ioTimeout: 5)
                defer { socket.close() }
                try socket.send(payload)
                let back = try socket.recvExactly(size)
                guard back == payload else { throw TestFailure("echo of \(size) bytes differs") }
                socket.shutdownWrite()
                guard socket.awaitClose(timeout: 5) == .eof else { throw TestFailure("no clean EOF after the echo") }
                state.withLock { $0.ok += 1 }
            } catch {
                state.withLock { $0.failures.append("connection \(i): \(error)") }
            }
            sleepSeconds(0.005)
        }
        state.withLock { $0.done = true }
    }

    var succeeded: Int { state.current.ok }

    /// Stops and returns how many connections succeeded and what failed.
    func stop() -> (ok: Int, failures: [String]) {
        state.withLock { $0.stop = true }
        _ = waitUntil(timeout: 15) { state.current.done }
        let s = state.current
        return (s.ok, s.failures)
    }
}

/// A raw connection to a Unix socket (no protocol), or nil.
func statusSocketRawConnect(_ path: String) -> Int32? {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, byte) in path.utf8.prefix(107).enumerated() { raw[i] = byte }
    }
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// Reads what arrives on `fd` until EOF, reset or `timeout`; the bytes and how it ended.
func readUntilPeerCloses(_ fd: Int32, timeout: Double) -> (bytes: [UInt8], closed: Bool) {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    let deadline = monotonicNow() + timeout
    while true {
        let remaining = deadline - monotonicNow()
        guard remaining > 0, (try? Sock.poll(fd, events: Int16(POLLIN), timeout: remaining)) == true else {
            return (out, false)
        }
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        if n > 0 { out += buffer[0..<n]; continue }
        if n == 0 { return (out, true) }
        if errno == EAGAIN || errno == EINTR { continue }
        return (out, true)  // ECONNRESET and friends: closed
    }
}

/// CPU time (utime + stime, clock ticks) of the thread of `pid` named `name`.
func procThreadTicks(_ pid: Int32, named name: String) throws -> Int {
    let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
    for task in tasks {
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)) ?? ""
        guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == name else { continue }
        let stat = try String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { break }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Int(fields[11]), let stime = Int(fields[12]) else { break }
        return utime + stime
    }
    throw TestFailure("no thread \(name) in /proc/\(pid)/task")
}

final class HostileClientTests: FulcrumTestCase {
    private struct Setup {
        let daemon: FulcrumProcess
        let socket: String
        let httpPort: UInt16
        let webPort: UInt16
    }

    private func start() throws -> Setup {
        let member = try makeServer(mode: .echo)
        let webPort = try freePort(), httpPort = try freePort()
        var config = DaemonConfig(listeners: [ListenerSpec(port: webPort)],
                                  pools: [PoolSpec(members: [MemberSpec(name: "a", port: member.port)])])
        config.status = ["metrics_listen = \(DaemonConfig.quoted("127.0.0.1:\(httpPort)"))"]
        let dir = try makeConfigDir(config)
        let daemon = try startFulcrum(configDir: dir)
        return Setup(daemon: daemon, socket: dir.statusSocket, httpPort: httpPort, webPort: webPort)
    }

    /// Runs traffic briefly so the workers hold what they keep between connections (splice
    /// pipes), then counts the daemon's descriptors: the baseline to come back to.
    private func warmedUpDescriptors(_ s: Setup) throws -> Int {
        let warmUp = CheckedTrafficLoop(port: s.webPort)
        _ = waitUntil(timeout: 5) { warmUp.succeeded >= 20 }
        let (ok, failures) = warmUp.stop()
        guard failures.isEmpty, ok >= 20 else { throw TestFailure("warm-up traffic: \(ok) ok, failures \(failures)") }
        let pid = s.daemon.pid
        var count = procOpenDescriptors(pid)
        // Settle: the last connection's descriptors go shortly after its close.
        _ = waitUntil(timeout: 2, interval: 0.1) {
            let now = procOpenDescriptors(pid)
            defer { count = now }
            return now == count
        }
        return count
    }

    /// A new client gets `show info` answered; the time it took.
    private func honestClient(_ s: Setup, within seconds: Double, _ what: String) -> Double? {
        let started = monotonicNow()
        do {
            let client = try StatusSocketClient(path: s.socket, timeout: seconds)
            let info = try client.command("show info")
            guard info.contains("pid: \(s.daemon.pid)\n") else {
                XCTFail("\(what): show info answered without the pid: \(info)")
                return nil
            }
        } catch {
            XCTFail("\(what): a new client got no answer to show info: \(error)\n\(s.daemon.diagnostics)")
            return nil
        }
        let took = monotonicNow() - started
        XCTAssertLessThan(took, seconds, "\(what): show info took \(took) s")
        return took
    }

    private func checkTraffic(_ traffic: CheckedTrafficLoop, _ s: Setup) {
        let (ok, failures) = traffic.stop()
        XCTAssertEqual(failures, [], "connections through the listener failed meanwhile\n\(s.daemon.diagnostics)")
        XCTAssertGreaterThan(ok, 20, "connections through the listener meanwhile")
        XCTAssertFalse(s.daemon.hasExited, "fulcrumd is still running\n\(s.daemon.diagnostics)")
    }

    /// Binary garbage, 10 MiB lines, clients that close mid-reply, garbage and oversized heads
    /// on HTTP, and a slowloris client: traffic flows, an honest client is answered, the
    /// slowloris is cut at the 10 s head deadline, RSS stays within 30 MiB and every
    /// descriptor is released.
    func testGarbageHugeLinesAbandonedRepliesAndSlowloris() throws {
        let s = try start()
        let pid = s.daemon.pid
        _ = try StatusSocketClient(path: s.socket).command("show stat")  // warm up the reply paths
        let baselineFDs = try warmedUpDescriptors(s)
        let baselineRSS = try procResidentKiB(pid)
        let traffic = CheckedTrafficLoop(port: s.webPort)

        // Slowloris: a request head one byte every 250 ms, never finished.
        let slow = try TCPSocket.connect(host: "127.0.0.1", port: s.httpPort, ioTimeout: 5)
        let slowStarted = monotonicNow()
        let slowResult = Locked<(closedAfter: Double?, received: [UInt8])>((nil, []))
        startThread(name: "fulcrum-it-slowloris") {
            let head = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8) + [UInt8](repeating: UInt8(ascii: "z"), count: 200)
            for byte in head {
                let sent = [byte].withUnsafeBytes { Glibc.send(slow.fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }
                if sent != 1 { break }
                let (bytes, closed) = readUntilPeerCloses(slow.fd, timeout: 0.25)
                slowResult.withLock { $0.received += bytes }
                if closed { break }
                if monotonicNow() - slowStarted > 20 { break }
            }
            slowResult.withLock { $0.closedAfter = monotonicNow() - slowStarted }
        }

        // Binary garbage with NULs (and, by chance, newlines): each line is refused or the
        // connection is closed; an honest command afterwards on the same connection is answered
        // unless it was closed.
        var generator = SystemRandomNumberGenerator()
        for round in 0..<5 {
            let client = try StatusSocketClient(path: s.socket)
            var garbage = (0..<(16 * 1024)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            garbage[100] = 0
            garbage[garbage.count - 1] = UInt8(ascii: "\n")
            let newlines = garbage.filter { $0 == UInt8(ascii: "\n") }.count
            _ = garbage.withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            try client.write("show info\n")
            var errors = 0
            var answered = false
            do {
                while true {
                    let reply = try client.readReply()
                    if reply.contains("pid: \(pid)\n") { answered = true; break }
                    let lines = statusReplyLines(reply)
                    XCTAssertTrue(lines.count == 1 && lines[0].hasPrefix("error: "), "garbage round \(round): reply \(reply.debugDescription)")
                    errors += 1
                }
            } catch {
                XCTAssertGreaterThan(errors, 0, "garbage round \(round): closed without an error reply (\(error))")
            }
            if answered {
                XCTAssertEqual(errors, newlines, "garbage round \(round): one error per garbage line")
            }
        }
        _ = honestClient(s, within: 3, "after garbage")

        // A 10 MiB line without a newline, three times: an error, then the connection closes.
        for round in 0..<3 {
            guard let fd = statusSocketRawConnect(s.socket) else { throw TestFailure("cannot connect to \(s.socket)") }
            defer { close(fd) }
            let sendResult = Locked<Int>(0)
            let sent = DispatchSemaphore(value: 0)
            startThread(name: "fulcrum-it-huge-line") {
                let chunk = [UInt8](repeating: UInt8(ascii: "A"), count: 1 << 20)
                var total = 0
                for _ in 0..<10 {
                    var offset = 0
                    while offset < chunk.count {
                        let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress! + offset, chunk.count - offset, Int32(MSG_NOSIGNAL)) }
                        if n <= 0 { break }
                        offset += n
                        total += n
                    }
                    if offset < chunk.count { break }
                }
                sendResult.withLock { $0 = total }
                sent.signal()
            }
            let (bytes, closed) = readUntilPeerCloses(fd, timeout: 10)
            let text = String(decoding: bytes, as: UTF8.self)
            XCTAssertTrue(closed, "10 MiB line round \(round): the connection is closed")
            XCTAssertTrue(text.hasPrefix("error: ") && text.hasSuffix("\n\n") && statusReplyLines(text).count == 1,
                          "10 MiB line round \(round): one error line: \(text.prefix(300).debugDescription)")
            XCTAssertEqual(sent.wait(timeout: .now() + 10), .success, "the sender gave up once the daemon closed")
            XCTAssertLessThan(sendResult.current, 10 << 20, "the daemon stopped reading before 10 MiB")
        }
        let rssAfterHuge = try procResidentKiB(pid)
        XCTAssertLessThan(rssAfterHuge - baselineRSS, 30 * 1024, "RSS grew from \(baselineRSS) KiB to \(rssAfterHuge) KiB")

        // 100 × show metrics in one write, then gone without reading (and once after reading a bit).
        for round in 0..<20 {
            guard let fd = statusSocketRawConnect(s.socket) else { throw TestFailure("cannot connect to \(s.socket)") }
            let burst = Array(String(repeating: "show metrics\n", count: 100).utf8)
            _ = burst.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if round % 2 == 1 {
                var some = [UInt8](repeating: 0, count: 1000)
                _ = recv(fd, &some, some.count, 0)
            }
            if round % 4 == 3 {
                var l = linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            }
            close(fd)
        }
        _ = honestClient(s, within: 3, "after clients left mid-reply")

        // HTTP: garbage → 400, an oversized head (10 KiB, then 64 KiB) → 431, and an honest
        // GET /metrics while the slowloris is still dripping.
        let garbageHTTP = try ControlHTTP.request(port: s.httpPort, "\u{01}\u{02}GARBAGE\0\0 / nonsense\r\n\r\n")
        XCTAssertEqual(garbageHTTP.status, 400, garbageHTTP.statusLine)
        for size in [10 * 1024, 64 * 1024] {
            var head = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            var i = 0
            while head.utf8.count < size {
                head += "X-Filler-\(i): \(String(repeating: "f", count: 100))\r\n"
                i += 1
            }
            let big = try ControlHTTP.request(port: s.httpPort, head + "\r\n")
            XCTAssertEqual(big.status, 431, "a \(head.utf8.count)-byte request head: \(big.statusLine)")
        }
        XCTAssertNil(slowResult.current.closedAfter, "the slowloris is still connected here")
        let metrics = try ControlHTTP.get(port: s.httpPort, "/metrics", timeout: 3)
        XCTAssertEqual(metrics.status, 200, "GET /metrics during the slowloris: \(metrics.statusLine)")
        XCTAssertTrue(metrics.body.contains("fulcrum_listener_connections_total{listener=\"web\"}"))

        // The slowloris is cut at the 10 s deadline for a head (checked once a second).
        XCTAssertTrue(waitUntil(timeout: 16) { slowResult.current.closedAfter != nil }, "the slowloris connection is closed")
        if let after = slowResult.current.closedAfter {
            XCTAssertGreaterThan(after, 9, "the slowloris was closed after \(after) s")
            XCTAssertLessThan(after, 13.5, "the slowloris was closed after \(after) s")
        }
        XCTAssertFalse(String(decoding: slowResult.current.received, as: UTF8.self).contains(" 200 "),
                       "the slowloris got no 200: \(String(decoding: slowResult.current.received, as: UTF8.self).prefix(200))")
        slow.close()

        _ = honestClient(s, within: 3, "at the end")
        checkTraffic(traffic, s)
        let rss = try procResidentKiB(pid)
        XCTAssertLessThan(rss - baselineRSS, 30 * 1024, "RSS grew from \(baselineRSS) KiB to \(rss) KiB")
        XCTAssertTrue(waitUntil(timeout: 5) { procOpenDescriptors(pid) <= baselineFDs },
                      "fulcrumd has \(procOpenDescriptors(pid)) descriptors open, \(baselineFDs) before the hostile clients: \(procDescriptorTargets(pid))")
    }

    /// 1,000 idle clients on the status socket, then 1,000 idle TCP connections on the HTTP
    /// port: the daemon keeps at most 512 and a new honest client is answered within seconds.
    func testThousandIdleClientsDoNotLockOutANewOne() throws {
        let s = try start()
        let pid = s.daemon.pid
        let baselineFDs = try warmedUpDescriptors(s)
        let traffic = CheckedTrafficLoop(port: s.webPort)

        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for i in 0..<1000 {
            guard let fd = statusSocketRawConnect(s.socket) else { throw TestFailure("idle status client \(i): cannot connect (errno \(errno))") }
            idle.append(fd)
        }
        if let took = honestClient(s, within: 5, "after 1,000 idle status-socket clients") {
            print("show info after 1,000 idle status clients: \(took) s")
        }
        let held = procOpenDescriptors(pid)
        XCTAssertLessThanOrEqual(held - baselineFDs, 512 + 4, "descriptors held for 1,000 idle clients: \(held) (baseline \(baselineFDs))")
        // The oldest idle clients were closed to make room; the newest are still served.
        let newest = idle.removeLast()
        XCTAssertEqual(send(newest, "show info\n", 10, Int32(MSG_NOSIGNAL)), 10)
        let (answer, _) = readUntilPeerCloses(newest, timeout: 1)
        XCTAssertTrue(String(decoding: answer, as: UTF8.self).contains("pid: \(pid)\n"), "the newest idle client is still served")
        close(newest)
        let evicted = idle.prefix(100).filter { readUntilPeerCloses($0, timeout: 0.01).closed }.count
        XCTAssertEqual(evicted, 100, "the 100 oldest idle clients were closed to admit newer ones")
        for fd in idle { close(fd) }
        idle = []

        var idleTCP: [TCPSocket] = []
        defer { for socket in idleTCP { socket.close() } }
        for i in 0..<1000 {
            do {
                idleTCP.append(try TCPSocket.connect(host: "127.0.0.1", port: s.httpPort, timeout: 5, ioTimeout: 5))
            } catch {
                throw TestFailure("idle HTTP connection \(i): \(error)\n\(s.daemon.diagnostics)")
            }
        }
        let started = monotonicNow()
        let metrics = try ControlHTTP.get(port: s.httpPort, "/metrics", timeout: 5)
        XCTAssertEqual(metrics.status, 200, "GET /metrics after 1,000 idle HTTP connections: \(metrics.statusLine)")
        XCTAssertLessThan(monotonicNow() - started, 5)
        let heldHTTP = procOpenDescriptors(pid)
        XCTAssertLessThanOrEqual(heldHTTP - baselineFDs, 512 + 4, "descriptors held for 1,000 idle HTTP connections: \(heldHTTP)")
        _ = honestClient(s, within: 5, "after 1,000 idle HTTP connections")
        for socket in idleTCP { socket.close() }
        idleTCP = []

        checkTraffic(traffic, s)
        XCTAssertTrue(waitUntil(timeout: 5) { procOpenDescriptors(pid) <= baselineFDs },
                      "fulcrumd has \(procOpenDescriptors(pid)) descriptors open, \(baselineFDs) before the idle clients: \(procDescriptorTargets(pid))")
    }

    /// A client that pipelines far more commands than it reads (50,000 × show metrics) and
    /// keeps the connection open: the daemon holds a bounded reply, answers others, and its
    /// control thread does not spin while the client sits there.
    func testClientThatNeverReadsDoesNotSpinTheControlThread() throws {
        let s = try start()
        let pid = s.daemon.pid
        let baselineFDs = try warmedUpDescriptors(s)
        let baselineRSS = try procResidentKiB(pid)
        let traffic = CheckedTrafficLoop(port: s.webPort)

        guard let fd = statusSocketRawConnect(s.socket) else { throw TestFailure("cannot connect to \(s.socket)") }
        var closed = false
        defer { if !closed { close(fd) } }
        Sock.setNonBlocking(fd, true)
        let burst = Array(String(repeating: "show metrics\n", count: 50_000).utf8)
        var sent = 0
        let deadline = monotonicNow() + 3
        while sent < burst.count && monotonicNow() < deadline {
            let n = burst.withUnsafeBytes { send(fd, $0.baseAddress! + sent, burst.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n } else if errno == EAGAIN { sleepSeconds(0.01) } else { break }
        }
        XCTAssertGreaterThan(sent, 128 * 1024, "the client got more than 128 KiB of commands in")
        sleepSeconds(0.5)

        let before = try procThreadTicks(pid, named: "fulcrum-control")
        sleepSeconds(2)
        let spent = try procThreadTicks(pid, named: "fulcrum-control") - before
        let hz = Int(sysconf(Int32(_SC_CLK_TCK)))
        XCTAssertLessThan(spent, hz * 2 / 5,
                          "fulcrum-control used \(spent) ticks (\(hz)/s) in 2 s while a client that does not read sat on its socket")
        _ = honestClient(s, within: 3, "while a client does not read its replies")
        let rss = try procResidentKiB(pid)
        XCTAssertLessThan(rss - baselineRSS, 30 * 1024, "RSS grew from \(baselineRSS) KiB to \(rss) KiB")

        close(fd)
        closed = true
        checkTraffic(traffic, s)
        XCTAssertTrue(waitUntil(timeout: 5) { procOpenDescriptors(pid) <= baselineFDs },
                      "fulcrumd has \(procOpenDescriptors(pid)) descriptors open, \(baselineFDs) before: \(procDescriptorTargets(pid))")
    }
}
