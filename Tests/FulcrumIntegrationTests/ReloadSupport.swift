// Support for the live-reload tests: triggering a reload (status socket, SIGHUP, fulcrumctl)
// and reading its outcome, background TCP/UDP traffic that tallies every refused, reset or
// corrupted connection and every lost UDP reply, and a NOTIFY_SOCKET listener that records
// what fulcrumd tells systemd.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Reload outcomes

/// One reply to `reload` (status socket or fulcrumctl): either `reloaded in N ms: SUMMARY`
/// followed by one line per change, or nothing but `error: ` lines, the first of them
/// `error: reload refused, nothing changed: N problems`.
struct ReloadReply: CustomStringConvertible {
    let text: String
    /// Round trip of the request, in seconds (0 when not measured).
    let seconds: Double

    var lines: [String] { statusReplyLines(text) }

    var succeeded: Bool { lines.first?.hasPrefix("reloaded in ") ?? false }

    var refused: Bool {
        guard let first = lines.first else { return false }
        return first.hasPrefix("error: reload refused, nothing changed: ") && lines.allSatisfy { $0.hasPrefix("error: ") }
    }

    /// The N of `error: reload refused, nothing changed: N problems`.
    var problemCount: Int? {
        guard refused, let first = lines.first else { return nil }
        let rest = first.dropFirst("error: reload refused, nothing changed: ".count)
        return Int(rest.prefix { $0.isNumber })
    }

    /// The `error: <problem>` lines after the first, without their prefix.
    var problems: [String] { refused ? lines.dropFirst().map { String($0.dropFirst("error: ".count)) } : [] }

    /// The N of `reloaded in N ms`.
    var reportedMilliseconds: Int? {
        guard succeeded, let first = lines.first else { return nil }
        return Int(first.dropFirst("reloaded in ".count).prefix { $0.isNumber })
    }

    /// What follows `reloaded in N ms: ` on the first line.
    var summary: String? {
        guard succeeded, let first = lines.first, let colon = first.range(of: " ms: ") else { return nil }
        return String(first[colon.upperBound...])
    }

    /// The change lines (every line after the first) of a successful reload.
    var changes: [String] { succeeded ? Array(lines.dropFirst()) : [] }

    /// Whether some change line starts with `prefix` (e.g. "member removed: web/b").
    func hasChange(_ prefix: String) -> Bool { changes.contains { $0.hasPrefix(prefix) } }

    var description: String { text.isEmpty ? "(empty reply)" : text }
}

/// The daemon's `configuration reloaded in …` / `configuration reload refused: …` lines, in order.
func reloadLogLines(_ daemon: FulcrumProcess) -> [LogLine] {
    daemon.logLines.filter { $0.raw.contains("configuration reloaded in ") || $0.raw.contains("configuration reload refused") }
}

extension LogLine {
    var isReloadSuccess: Bool { raw.contains("configuration reloaded in ") }
    var isReloadRefusal: Bool { raw.contains("configuration reload refused: ") }
}

/// Sends `reload` on an open status-socket connection, timing the round trip.
func socketReload(_ control: StatusSocketClient) throws -> ReloadReply {
    let start = monotonicNow()
    let text = try control.command("reload")
    return ReloadReply(text: text, seconds: monotonicNow() - start)
}

/// SIGHUP, then waits for the next reload log line; returns it and the time from the signal
/// until the test saw it. Throws when none comes (today's fulcrumd logs and ignores SIGHUP).
func sighupReload(_ daemon: FulcrumProcess, timeout: Double = 10) throws -> (line: LogLine, seconds: Double) {
    let before = reloadLogLines(daemon).count
    let start = monotonicNow()
    daemon.sendSignal(SIGHUP)
    var found: LogLine?
    _ = waitUntil(timeout: timeout, interval: 0.002) {
        let lines = reloadLogLines(daemon)
        if lines.count > before { found = lines[before] }
        return found != nil || daemon.hasExited
    }
    guard let found else {
        if daemon.hasExited { throw TestFailure("fulcrumd exited after SIGHUP, before logging the reload\n\(daemon.diagnostics)") }
        throw TestFailure("no 'configuration reloaded in …' or 'configuration reload refused: …' log line within \(timeout) s of SIGHUP\n\(daemon.diagnostics)")
    }
    return (found, monotonicNow() - start)
}

/// `fulcrumctl reload --socket PATH`: exit code and output.
func fulcrumctlReload(socket: String) throws -> (code: Int32, stdout: String, stderr: String) {
    try Fulcrumctl.run(["reload", "--socket", socket])
}

/// Median and 99th percentile (nearest rank) of `values`.
func medianAndP99(_ values: [Double]) -> (median: Double, p99: Double) {
    guard !values.isEmpty else { return (.nan, .nan) }
    let sorted = values.sorted()
    func rank(_ p: Double) -> Double { sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))] }
    return (rank(0.5), rank(0.99))
}

/// A TCP connection attempt's outcome for the tests that must see zero refused connections.
func connectRefused(port: UInt16) -> Bool {
    do {
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 2, ioTimeout: 2)
        socket.close()
        return false
    } catch let error as SocketError {
        return error.isRefused
    } catch {
        return false
    }
}

// MARK: - Background traffic

/// Clients that keep going until `stop()`, tallying everything that goes wrong:
/// - `tcpThreads` threads each open connection after connection to `tcpPort`, stream 1–12
///   chunks of 16 KiB of seeded pseudo-random bytes through an echo member, compare every byte
///   that comes back, half-close and expect a clean EOF;
/// - `longLived` threads each keep ONE connection to `longLivedPort` open for the whole run,
///   echoing 32 KiB chunks through it;
/// - `udpClients` threads send datagrams to `udpPort` (a pool of `.tagged` UDP members) one at a
///   time and wait up to 1 s for the reply (`NAME|payload`); a missing reply is a loss. Even
///   threads keep one socket (one session) for the whole run and must always get the same
///   member; odd threads open a new socket every 25 requests.
final class ReloadTraffic {
    struct Tally {
        /// Short connections opened (to `tcpPort`); the long-lived ones are counted apart.
        var tcpConnections = 0
        var longLivedConnections = 0
        var tcpBytesChecked = 0
        var refused = 0
        var reset = 0
        var closedEarly = 0
        var corruptedBytes = 0
        var otherTCPErrors = 0
        var longLivedRounds = 0
        var udpRequests = 0
        var udpReplies = 0
        var udpLost = 0
        var udpWrongPayload = 0
        var udpLateReplies = 0
        var udpMemberSwitches = 0
        var udpMembersSeen: Set<String> = []
        var problems: [String] = []

        mutating func note(_ problem: String) {
            if problems.count < 30 { problems.append(problem) }
        }

        var tcpFailures: Int { refused + reset + closedEarly + corruptedBytes + otherTCPErrors }

        var description: String {
            """
            TCP: \(tcpConnections) short connections, \(tcpBytesChecked) bytes echoed and compared, \(longLivedRounds) rounds on \(longLivedConnections) long-lived connections; \
            refused \(refused), reset \(reset), closed early \(closedEarly), corrupted bytes \(corruptedBytes), other errors \(otherTCPErrors). \
            UDP: \(udpRequests) requests, \(udpReplies) replies, lost \(udpLost), wrong payload \(udpWrongPayload), late \(udpLateReplies), \
            member switches within a session \(udpMemberSwitches), members seen \(udpMembersSeen.sorted())
            """
        }
    }

    private let tally = Locked(Tally())
    private let stopping = Locked(false)
    private let group = DispatchGroup()
    private let tcpPort: UInt16?
    private let tcpThreads: Int
    private let longLivedPort: UInt16?
    private let longLived: Int
    private let udpPort: UInt16?
    private let udpClients: Int

    init(tcpPort: UInt16? = nil, tcpThreads: Int = 0, longLivedPort: UInt16? = nil, longLived: Int = 0,
         udpPort: UInt16? = nil, udpClients: Int = 0) {
        self.tcpPort = tcpPort
        self.tcpThreads = tcpThreads
        self.longLivedPort = longLivedPort
        self.longLived = longLived
        self.udpPort = udpPort
        self.udpClients = udpClients
    }

    var current: Tally { tally.current }

    private var isStopping: Bool { stopping.current }

    func start() {
        if let tcpPort {
            for t in 0..<tcpThreads { spawn("fulcrum-it-reload-tcp-\(t)") { self.shortConnections(port: tcpPort, thread: t) } }
        }
        if let longLivedPort {
            for t in 0..<longLived { spawn("fulcrum-it-reload-long-\(t)") { self.longLivedConnection(port: longLivedPort, thread: t) } }
        }
        if let udpPort {
            for t in 0..<udpClients { spawn("fulcrum-it-reload-udp-\(t)") { self.udpClient(port: udpPort, thread: t) } }
        }
    }

    /// Stops every client (each finishes the exchange it is in) and returns the tally.
    func stop(timeout: Double = 30) -> Tally {
        stopping.withLock { $0 = true }
        if group.wait(timeout: .now() + timeout) != .success {
            tally.withLock { $0.note("traffic threads did not finish within \(timeout) s of stop()") }
        }
        return tally.current
    }

    private func spawn(_ name: String, _ body: @escaping () -> Void) {
        group.enter()
        startThread(name: name) { [group] in
            body()
            group.leave()
        }
    }

    /// Files a TCP error under refused / reset / closed early / other.
    private func record(_ error: Error, _ context: String) {
        tally.withLock { t in
            if let e = error as? SocketError {
                if e.isRefused { t.refused += 1 } else if e.code == ECONNRESET || e.code == EPIPE { t.reset += 1 } else { t.otherTCPErrors += 1 }
            } else if "\(error)".hasPrefix("EOF after") {
                t.closedEarly += 1
            } else {
                t.otherTCPErrors += 1
            }
            t.note("\(context): \(error)")
        }
    }

    /// Sends `chunk`, reads the same number of bytes back and counts differing bytes.
    private static func echoChunk(_ socket: TCPSocket, _ chunk: UnsafeRawBufferPointer) throws -> Int {
        try socket.send(chunk)
        let back = try socket.recvExactly(chunk.count)
        var differing = 0
        for i in 0..<chunk.count where back[i] != chunk[i] { differing += 1 }
        return differing
    }

    private func shortConnections(port: UInt16, thread: Int) {
        var n = 0
        let chunk = 16 * 1024
        while !isStopping {
            n += 1
            let seed = UInt64(thread) << 40 | UInt64(n)
            let chunks = 1 + Int(seed % 12)
            let context = "TCP thread \(thread) connection \(n)"
            let socket: TCPSocket
            do {
                socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 5, ioTimeout: 10)
            } catch {
                record(error, context + " (connect)")
                continue
            }
            tally.withLock { $0.tcpConnections += 1 }
            defer { socket.close() }
            do {
                let stream = PayloadStream(seed: seed, total: chunks * chunk, chunkSize: chunk)
                var differing = 0
                while let piece = stream.nextChunk() { differing += try Self.echoChunk(socket, piece) }
                socket.shutdownWrite()
                let end = socket.awaitClose(timeout: 10)
                tally.withLock { t in
                    t.tcpBytesChecked += chunks * chunk
                    t.corruptedBytes += differing
                    if differing > 0 { t.note("\(context): \(differing) of \(chunks * chunk) bytes came back different") }
                    switch end {
                    case .eof: break
                    case .reset: t.reset += 1; t.note("\(context): reset instead of EOF after the echo")
                    default: t.otherTCPErrors += 1; t.note("\(context): after the echo and half-close: \(end)")
                    }
                }
            } catch {
                record(error, context)
            }
        }
    }

    private func longLivedConnection(port: UInt16, thread: Int) {
        let context = "long-lived connection \(thread)"
        let socket: TCPSocket
        do {
            socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 5, ioTimeout: 10)
        } catch {
            record(error, context + " (connect)")
            return
        }
        tally.withLock { $0.longLivedConnections += 1 }
        defer { socket.close() }
        let chunk = 32 * 1024
        let stream = PayloadStream(seed: 0xF00D_0000 | UInt64(thread), total: Int.max / 2, chunkSize: chunk)
        var round = 0
        while !isStopping {
            round += 1
            do {
                guard let piece = stream.nextChunk() else { break }
                let differing = try Self.echoChunk(socket, piece)
                tally.withLock { t in
                    t.longLivedRounds += 1
                    t.tcpBytesChecked += chunk
                    t.corruptedBytes += differing
                    if differing > 0 { t.note("\(context) round \(round): \(differing) bytes came back different") }
                }
            } catch {
                record(error, "\(context) round \(round)")
                return
            }
            usleep(2_000)
        }
        socket.shutdownWrite()
        let end = socket.awaitClose(timeout: 10)
        if end != .eof {
            tally.withLock { t in
                if end == .reset { t.reset += 1 } else { t.otherTCPErrors += 1 }
                t.note("\(context): after half-close: \(end)")
            }
        }
    }

    private func udpClient(port: UInt16, thread: Int) {
        let keepsSession = thread % 2 == 0
        var client: UDPClient?
        var member: String?
        var sequence = 0
        defer { client?.stop() }
        while !isStopping {
            if client == nil || (!keepsSession && sequence % 25 == 0) {
                client?.stop()
                member = nil
                do {
                    client = try UDPClient(to: "127.0.0.1", port: port, receiveTimeout: 1.0)
                } catch {
                    tally.withLock { $0.note("UDP client \(thread): \(error)") }
                    return
                }
            }
            guard let socket = client else { return }
            sequence += 1
            let payload = udpPayload(client: 1000 + thread, sequence: sequence, size: 32 + (sequence * 37) % 480)
            do {
                try socket.send(payload)
                tally.withLock { $0.udpRequests += 1 }
                var answered = false
                while !answered, let reply = try socket.receive() {
                    guard let bar = reply.firstIndex(of: UInt8(ascii: "|")) else {
                        tally.withLock { t in t.udpWrongPayload += 1; t.note("UDP client \(thread) #\(sequence): reply without a member tag") }
                        continue
                    }
                    let name = String(decoding: reply[..<bar], as: UTF8.self)
                    let body = Array(reply[(bar + 1)...])
                    if body == payload {
                        answered = true
                        tally.withLock { t in
                            t.udpReplies += 1
                            t.udpMembersSeen.insert(name)
                            if keepsSession, let member, member != name {
                                t.udpMemberSwitches += 1
                                t.note("UDP client \(thread) #\(sequence): session moved from \(member) to \(name)")
                            }
                        }
                        if member == nil { member = name }
                    } else if body.count >= 8, Array(body.prefix(4)) == Array(payload.prefix(4)) {
                        // An earlier request of ours, answered after its timeout.
                        tally.withLock { $0.udpLateReplies += 1 }
                    } else {
                        tally.withLock { t in t.udpWrongPayload += 1; t.note("UDP client \(thread) #\(sequence): a reply that is not ours") }
                    }
                }
                if !answered {
                    tally.withLock { t in t.udpLost += 1; t.note("UDP client \(thread) #\(sequence): no reply within 1 s") }
                }
            } catch {
                tally.withLock { t in t.udpLost += 1; t.note("UDP client \(thread) #\(sequence): \(error)") }
            }
            usleep(500)
        }
    }
}

// MARK: - systemd notification socket

/// An AF_UNIX datagram socket bound in its own temporary directory, as systemd's
/// NOTIFY_SOCKET; a thread records every datagram with the time it arrived.
final class NotifySocketListener {
    struct Message: CustomStringConvertible {
        let text: String
        let at: Double
        /// `KEY=VALUE` lines as a dictionary.
        var fields: [String: String] {
            var out: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                out[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            return out
        }
        var description: String { text.debugDescription }
    }

    let directory: URL
    let path: String
    private let fd: Int32
    private let cond = NSCondition()
    private var received: [Message] = []
    private var stopping = false
    private var done = false

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-it-notify-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("notify.sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket(AF_UNIX, SOCK_DGRAM)", errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw TestFailure("notify socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let err = errno
            Glibc.close(fd)
            throw SocketError("bind \(path)", err)
        }
        UDP.setReceiveTimeout(fd, 0.05)
        startThread(name: "fulcrum-it-notify") { [self] in serve() }
    }

    private func serve() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            cond.lock()
            let stop = stopping
            cond.unlock()
            if stop { break }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { continue }
            let message = Message(text: String(decoding: buffer[0..<n], as: UTF8.self), at: monotonicNow())
            cond.lock()
            received.append(message)
            cond.broadcast()
            cond.unlock()
        }
        cond.lock()
        done = true
        cond.broadcast()
        cond.unlock()
    }

    var messages: [Message] {
        cond.lock()
        defer { cond.unlock() }
        return received
    }

    /// Waits for a message at index ≥ `from` whose fields satisfy `predicate`; returns its index.
    func waitFor(from: Int = 0, timeout: Double, _ predicate: ([String: String]) -> Bool) -> Int? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while true {
            if from < received.count, let i = received[from...].firstIndex(where: { predicate($0.fields) }) { return i }
            if !cond.wait(until: deadline) {
                if from < received.count, let i = received[from...].firstIndex(where: { predicate($0.fields) }) { return i }
                return nil
            }
        }
    }

    func stop() {
        cond.lock()
        let first = !stopping
        stopping = true
        let deadline = Date(timeIntervalSinceNow: 2)
        while !done {
            if !cond.wait(until: deadline) { break }
        }
        cond.unlock()
        if first {
            Glibc.close(fd)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    deinit { stop() }
}

/// CLOCK_MONOTONIC in whole microseconds (what MONOTONIC_USEC= carries).
func monotonicMicroseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
}
