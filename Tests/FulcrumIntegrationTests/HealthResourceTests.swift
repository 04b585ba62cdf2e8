// A health checker that cannot open sockets (out of descriptors) must not blame the members:
// statuses stay as they are, the cause is logged once per member, and checks resume by
// themselves when descriptors are back.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class HealthResourceTests: FulcrumTestCase {
    func testOutOfDescriptorsLeavesStatusesAloneAndChecksResume() throws {
        let a = try makeServer(mode: .echo)
        let b = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: a.port), MemberSpec(name: "b", port: b.port)],
                             extra: ["[pool.web.healthmonitor]", "type = \"TCP\"", "delay = 0.2", "timeout = 0.1",
                                     "max_retries = 1", "max_retries_down = 1"])]))
        _ = try daemon.waitForTransition(pool: "web", member: "a", after: 0, to: "ONLINE", timeout: 5)
        _ = try daemon.waitForTransition(pool: "web", member: "b", after: 0, to: "ONLINE", timeout: 5)

        // No free descriptor number below the limit: every socket() the checker tries fails.
        let taken = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd").compactMap { Int($0) })
        var limit = 0
        while taken.contains(limit) { limit += 1 }
        try setNoFile(daemon.pid, limit)

        let logged = daemon.waitForLog(timeout: 3) { $0.message.contains("health check could not run") }
        XCTAssertNotNil(logged, "no log line about the local failure\n\(daemon.diagnostics)")
        XCTAssertTrue(logged?.message.contains("EMFILE") ?? false, logged?.raw ?? "")
        // Many checks' worth of time (delay 0.2, one failure would be enough to go down).
        let before = try cpuTicks(daemon.pid)
        sleepSeconds(1.5)
        let used = try cpuTicks(daemon.pid) - before
        XCTAssertLessThan(used, sysconf(Int32(_SC_CLK_TCK)) / 4, "the checker spun while out of descriptors")
        for member in ["a", "b"] {
            XCTAssertEqual(daemon.transitions(pool: "web", member: member).count, 1,
                           "member \(member) changed status because the checker had no descriptors\n\(daemon.diagnostics)")
        }
        let lines = daemon.logLines.filter { $0.message.contains("health check could not run") }
        XCTAssertEqual(lines.count, 1, "one line per 10 s for the whole checker, not one per check:\n\(lines.map(\.raw).joined(separator: "\n"))")

        // Descriptors back: checks run again, so a member that really dies is noticed.
        try setNoFile(daemon.pid, 4096)
        b.stop()
        let down = try daemon.waitForTransition(pool: "web", member: "b", after: 1, to: "ERROR", timeout: 5)
        XCTAssertEqual(down.line.metadata["check"], "L4CON")
        // Several delays, so a's last check is one that ran with descriptors back.
        sleepSeconds(0.6)
        try terminate(daemon)
        // The exit report gives each member's final status and last check.
        let report = Dictionary(uniqueKeysWithValues: daemon.logLines.filter { $0.message == "member health" }
            .map { ($0.metadata["member"] ?? "?", $0) })
        XCTAssertEqual(report["a"]?.metadata["status"], "ONLINE", daemon.diagnostics)
        XCTAssertEqual(report["a"]?.metadata["last_check"], "L4OK")
        XCTAssertEqual(report["b"]?.metadata["status"], "ERROR")
        XCTAssertEqual(report["b"]?.metadata["last_check"], "L4CON")
    }

    /// A CA bundle that is readable but holds no certificate passes --check-config (which
    /// only checks that it can be read) and stops the daemon at start, naming the pool and
    /// OpenSSL's reason, before it reports ready.
    func testUnusableCABundleStopsStartupWithItsCause() throws {
        let member = try makeServer(mode: .echo)
        let notPEM = FileManager.default.temporaryDirectory.appendingPathComponent("fulcrum-it-notpem-\(UUID().uuidString)")
        try "not a certificate\n".write(to: notPEM, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: notPEM) }
        let dir = try makeConfigDir(DaemonConfig(
            listeners: [ListenerSpec(port: try freePort())],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: member.port)],
                             extra: ["[pool.web.healthmonitor]", "type = \"HTTPS\"", "delay = 1", "timeout = 0.5",
                                     "tls_verify = true", "tls_ca_file = \"\(notPEM.path)\""])]))
        let daemon = try launchFulcrum(configDir: dir)
        guard let status = daemon.waitExit(timeout: 10) else {
            throw TestFailure("fulcrumd kept running with an unusable CA bundle\n\(daemon.diagnostics)")
        }
        XCTAssertFalse(status.signaled, "\(status)\n\(daemon.diagnostics)")
        XCTAssertEqual(status.code, 1, daemon.diagnostics)
        XCTAssertTrue(daemon.stderrText.contains("pool web: cannot set up TLS for HTTPS checks"), daemon.diagnostics)
        XCTAssertFalse(daemon.logLines.contains { $0.message == "fulcrumd ready" }, daemon.diagnostics)
    }

    /// A draining member (weight 0) whose checks pass stays DRAINING without a line saying
    /// it changed; members of a pool without a monitor, and members taken out by
    /// admin_state_up = false, are reported as such on exit.
    func testDrainingMemberHasNoFalseTransition() throws {
        let a = try makeServer(mode: .echo)
        // Members of one pool need their own endpoints (Octavia's rule, enforced by the config).
        let b = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: a.port), MemberSpec(name: "w0", port: b.port, weight: 0)],
                             extra: ["[pool.web.healthmonitor]", "type = \"TCP\"", "delay = 0.1", "timeout = 0.05",
                                     "max_retries = 1", "max_retries_down = 1"])]))
        _ = try daemon.waitForTransition(pool: "web", member: "a", after: 0, to: "ONLINE", timeout: 5)
        sleepSeconds(0.5)
        XCTAssertEqual(daemon.transitions(pool: "web", member: "w0").map(\.raw), [], "DRAINING (was DRAINING) is not a change")
        try terminate(daemon)
        let report = daemon.logLines.first { $0.message == "member health" && $0.metadata["member"] == "w0" }
        XCTAssertEqual(report?.metadata["status"], "DRAINING", daemon.diagnostics)
        XCTAssertEqual(report?.metadata["last_check"], "L4OK")
    }

    /// Members of a pool without a monitor, and members taken out by admin_state_up = false,
    /// are reported as such on exit.
    func testUnmonitoredAndOfflineMembersAreReported() throws {
        let a = try makeServer(mode: .echo)
        // Members of one pool need their own endpoints (Octavia's rule, enforced by the config).
        let b = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: a.port),
                                       MemberSpec(name: "off", port: b.port, adminStateUp: false)])]))
        try terminate(daemon)
        let report = Dictionary(uniqueKeysWithValues: daemon.logLines.filter { $0.message == "member health" }
            .map { ($0.metadata["member"] ?? "?", $0) })
        XCTAssertEqual(report["a"]?.metadata["status"], "NO_MONITOR", daemon.diagnostics)
        XCTAssertEqual(report["off"]?.metadata["status"], "OFFLINE")
        XCTAssertEqual(report["a"]?.metadata["last_check"], "none")
    }

    private func setNoFile(_ pid: Int32, _ limit: Int) throws {
        let prlimit = Process()
        prlimit.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        // The soft limit only: raising a hard limit again needs CAP_SYS_RESOURCE.
        prlimit.arguments = ["--pid", "\(pid)", "--nofile=\(limit):"]
        try prlimit.run()
        prlimit.waitUntilExit()
        guard prlimit.terminationStatus == 0 else { throw TestFailure("prlimit --nofile=\(limit) failed") }
    }
}
