// Following the daemon's status-change log lines, and the base class of the health tests,
// which owns every server and child process they start.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

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
