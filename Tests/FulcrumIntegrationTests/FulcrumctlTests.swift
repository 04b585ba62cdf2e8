// fulcrumctl against a real fulcrumd through --socket PATH: every subcommand, its exit status,
// output without escape codes when piped, and each change seen in `show stat` afterwards;
// a refusal exits 1 with the daemon's error, an unreachable socket exits 2.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class FulcrumctlTests: FulcrumTestCase {
    private struct Setup {
        let daemon: FulcrumProcess
        let dir: ConfigDir
        let socket: String
        let webPort: UInt16
        let alpha: TestServer
        let bravo: TestServer
    }

    /// Pool web (alpha, bravo) behind listener web, pool api (charlie) behind listener api.
    private func start() throws -> Setup {
        let alpha = try makeServer(), bravo = try makeServer(), charlie = try makeServer()
        let webPort = try freePort(), apiPort = try freePort()
        let dir = try makeConfigDir(DaemonConfig(
            listeners: [ListenerSpec(name: "web", port: webPort), ListenerSpec(name: "api", port: apiPort, defaultPool: "api")],
            pools: [
                PoolSpec(members: [MemberSpec(name: "alpha", port: alpha.port, weight: 2),
                                   MemberSpec(name: "bravo", port: bravo.port, weight: 5)]),
                PoolSpec(name: "api", members: [MemberSpec(name: "charlie", port: charlie.port)]),
            ]))
        let daemon = try startFulcrum(configDir: dir)
        return Setup(daemon: daemon, dir: dir, socket: dir.statusSocket, webPort: webPort, alpha: alpha, bravo: bravo)
    }

    /// Runs `fulcrumctl ARGS --socket PATH`; checks the exit status and that nothing carries
    /// an escape code (stdout is a pipe).
    @discardableResult
    private func ctl(_ s: Setup, _ args: [String], exit expected: Int32 = 0,
                     file: StaticString = #filePath, line: UInt = #line) throws -> (stdout: String, stderr: String) {
        let r = try Fulcrumctl.run(args + ["--socket", s.socket])
        XCTAssertEqual(r.code, expected, "fulcrumctl \(args.joined(separator: " ")) exit status; stderr: \(r.stderr)\nstdout: \(r.stdout.prefix(500))",
                       file: file, line: line)
        XCTAssertFalse(r.stdout.contains("\u{1B}") || r.stderr.contains("\u{1B}"),
                       "fulcrumctl \(args.joined(separator: " ")) wrote escape codes to a pipe: \(r.stdout.debugDescription)",
                       file: file, line: line)
        return (r.stdout, r.stderr)
    }

    private func stat(_ s: Setup) throws -> StatRows {
        try StatRows(try StatusSocketClient(path: s.socket).command("show stat"))
    }

    /// Lines of a table whose first cells (after leading blanks) are `cells`.
    private func tableRow(_ text: String, _ cells: [String]) -> [String]? {
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            if words.count >= cells.count && Array(words.prefix(cells.count)) == cells { return words }
        }
        return nil
    }

    func testReadingSubcommands() throws {
        let s = try start()
        for i in 0..<4 {
            let socket = try connect(port: s.webPort, ioTimeout: 5)
            try socket.exchange("through web \(i)\n")
            socket.close()
        }
        XCTAssertTrue(waitUntil(timeout: 3) { (try? self.stat(s).int("web/FRONTEND", "stot")) == 4 })

        let status = try ctl(s, ["status"]).stdout
        for name in ["web", "api", "web/alpha", "web/bravo", "api/charlie"] {
            XCTAssertTrue(status.split(separator: "\n").contains { $0.split(separator: " ").contains(Substring(name)) },
                          "status lists \(name):\n\(status)")
        }
        XCTAssertTrue(status.contains("POOL/MEMBER") && status.contains("LISTENER"), "status has both tables:\n\(status)")
        if let row = tableRow(status, ["web/alpha"]) {
            XCTAssertTrue(row.contains("ready") && row.contains("2"), "status row of alpha: \(row)")
        } else {
            XCTFail("status has a row for web/alpha:\n\(status)")
        }
        if let row = tableRow(status, ["web", "TCP"]) {
            XCTAssertTrue(row.contains("4"), "listener web shows its 4 connections: \(row)")
        } else {
            XCTFail("status has a row for listener web:\n\(status)")
        }

        let members = try ctl(s, ["members"]).stdout
        XCTAssertNotNil(tableRow(members, ["web", "alpha"]), "members lists web alpha:\n\(members)")
        XCTAssertNotNil(tableRow(members, ["web", "bravo"]), "members lists web bravo:\n\(members)")
        XCTAssertNotNil(tableRow(members, ["api", "charlie"]), "members lists api charlie:\n\(members)")
        XCTAssertEqual(tableRow(members, ["web", "bravo"])?.contains("5"), true, "bravo's weight 5:\n\(members)")
        let apiMembers = try ctl(s, ["members", "api"]).stdout
        XCTAssertNotNil(tableRow(apiMembers, ["api", "charlie"]), "members api lists charlie:\n\(apiMembers)")
        XCTAssertFalse(apiMembers.contains("alpha") || apiMembers.contains("bravo"), "members api lists only api:\n\(apiMembers)")

        let csv = try ctl(s, ["stat"]).stdout
        let rows = try StatRows(csv)
        XCTAssertEqual(try rows.int("web/FRONTEND", "stot"), 4, "stat: web's connections")
        XCTAssertEqual(rows.text("web/bravo", "weight"), "5")
        XCTAssertEqual(rows.rows.count, 7, "stat rows: 2 FRONTEND, 3 members, 2 BACKEND: \(rows.rows.keys.sorted())")

        let json = try ctl(s, ["stat", "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertEqual((object?["pools"] as? [Any])?.count, 2, "stat --json pools: \(json.prefix(300))")
        XCTAssertEqual((object?["listeners"] as? [Any])?.count, 2, "stat --json listeners")

        let info = try ctl(s, ["info"]).stdout
        XCTAssertTrue(info.contains("pid: \(s.daemon.pid)\n"), "info names the daemon's pid:\n\(info)")
        XCTAssertTrue(info.contains("total_connections: 4\n"), "info:\n\(info)")

        let metrics = try ctl(s, ["metrics"]).stdout
        if let problems = try PrometheusCheck.problems(metrics, require: ["fulcrum_member_weight"]) {
            XCTFail("fulcrumctl metrics is not valid Prometheus text: \(problems)")
        }
        XCTAssertEqual(try MetricSamples(metrics).value("fulcrum_listener_connections_total", ["listener": "web"]), 4)

        let ha = try ctl(s, ["ha"]).stdout
        XCTAssertTrue(ha.hasPrefix("ha: "), "ha: \(ha)")
        // No [anycast]: a reply, not a refusal, for the plain command and its `show` spelling.
        XCTAssertEqual(try ctl(s, ["anycast"]).stdout, "anycast: disabled (no [anycast] section in the configuration)\n")
        XCTAssertEqual(try ctl(s, ["anycast", "show"]).stdout, "anycast: disabled (no [anycast] section in the configuration)\n")

        let started = monotonicNow()
        let top = try ctl(s, ["top", "--iterations", "2", "--interval", "0.5"]).stdout
        let took = monotonicNow() - started
        let frames = top.components(separatedBy: "LISTENER / MEMBER").count - 1
        XCTAssertEqual(frames, 2, "top --iterations 2 printed \(frames) frames:\n\(top)")
        XCTAssertEqual(top.split(separator: "\n").filter { $0.hasPrefix("fulcrum ") || $0.hasPrefix("fulcrum\t") || $0.hasPrefix("fulcrum  ") }.count, 2,
                       "two header lines:\n\(top)")
        XCTAssertTrue(top.contains("web/alpha") && top.contains("api/charlie"), "top lists the members:\n\(top)")
        XCTAssertGreaterThanOrEqual(took, 0.45, "two frames 0.5 s apart")

        // Other ways to find the socket: --config-dir and $FULCRUM_SOCKET.
        let viaDir = try Fulcrumctl.run(["info", "--config-dir", s.dir.path])
        XCTAssertEqual(viaDir.code, 0, "info --config-dir: \(viaDir.stderr)")
        XCTAssertTrue(viaDir.stdout.contains("pid: \(s.daemon.pid)\n"))
        let viaEnv = try Fulcrumctl.run(["info"], environment: ["FULCRUM_SOCKET": s.socket])
        XCTAssertEqual(viaEnv.code, 0, "info with FULCRUM_SOCKET: \(viaEnv.stderr)")
        XCTAssertTrue(viaEnv.stdout.contains("pid: \(s.daemon.pid)\n"))
    }

    func testChangingSubcommandsShowInStat() throws {
        let s = try start()
        func admin(_ member: String) throws -> String? { try stat(s).text("web/\(member)", "admin_state") }

        try ctl(s, ["drain", "web/alpha"])
        XCTAssertEqual(try admin("alpha"), "drain")
        XCTAssertEqual(try admin("bravo"), "ready")
        try ctl(s, ["maint", "web/bravo"])
        XCTAssertEqual(try admin("bravo"), "maint")
        XCTAssertEqual(try stat(s).text("web/bravo", "status"), "MAINT")
        try ctl(s, ["ready", "web/alpha"])
        XCTAssertEqual(try admin("alpha"), "ready")
        let out = try ctl(s, ["weight", "web/alpha", "17"]).stdout
        XCTAssertTrue(out.contains("weight 17"), "weight's reply: \(out)")
        XCTAssertEqual(try stat(s).int("web/alpha", "weight"), 17)
        try ctl(s, ["weight", "web/alpha", "0"])
        XCTAssertEqual(try stat(s).int("web/alpha", "weight"), 0)
        try ctl(s, ["weight", "web/alpha", "256"])
        XCTAssertEqual(try stat(s).int("web/alpha", "weight"), 256)
        let members = try ctl(s, ["members", "web"]).stdout
        XCTAssertEqual(tableRow(members, ["web", "bravo"])?.contains("maint"), true, "members shows bravo in maint:\n\(members)")

        // bravo is in maint: connections go to alpha. Hold two, then shutdown-sessions closes them.
        let held = try (0..<2).map { i -> TCPSocket in
            let socket = try connect(port: s.webPort, ioTimeout: 5)
            try socket.exchange("held \(i)\n")
            return socket
        }
        XCTAssertEqual(s.alpha.acceptedCount, 2, "both held connections are on alpha")
        XCTAssertTrue(waitUntil(timeout: 3) { (try? self.stat(s).int("web/alpha", "scur")) == 2 }, "alpha has 2 open")
        try ctl(s, ["shutdown-sessions", "web/alpha"])
        for (i, socket) in held.enumerated() {
            XCTAssertTrue(socket.awaitClose(timeout: 3).isClosed, "held connection \(i) closed by shutdown-sessions")
        }
        XCTAssertTrue(waitUntil(timeout: 3) { (try? self.stat(s).int("web/alpha", "scur")) == 0 },
                      "alpha's open connections after shutdown-sessions: \((try? stat(s).int("web/alpha", "scur")) ?? -1)")
        // New connections still work after shutdown-sessions.
        let again = try connect(port: s.webPort, ioTimeout: 5)
        try again.exchange("after\n")
    }

    func testRefusalsExitOneAndUnreachableSocketExitsTwo() throws {
        let s = try start()
        for args in [["weight", "web/alpha", "999"], ["drain", "web/nosuch"], ["maint", "nosuch/alpha"],
                     ["members", "nosuch"], ["shutdown-sessions", "web/nosuch"],
                     ["anycast", "withdraw"], ["anycast", "announce", "192.0.2.10"], ["anycast", "withdraw", "192.0.2.300"]] {
            let r = try ctl(s, args, exit: 1)
            XCTAssertTrue(r.stderr.hasPrefix("error: "), "fulcrumctl \(args): the daemon's error on stderr: \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one error line: \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "fulcrumctl \(args): nothing on stdout")
        }
        XCTAssertTrue(try ctl(s, ["weight", "web/alpha", "999"], exit: 1).stderr.contains("999"))
        XCTAssertTrue(try ctl(s, ["drain", "web/nosuch"], exit: 1).stderr.contains("nosuch"))
        XCTAssertEqual(try ctl(s, ["anycast", "withdraw"], exit: 1).stderr, "error: anycast is not configured\n")
        XCTAssertTrue(try ctl(s, ["anycast", "withdraw", "192.0.2.300"], exit: 1).stderr.contains("VIP \"192.0.2.300\""))
        let rows = try stat(s)
        XCTAssertEqual(rows.text("web/alpha", "weight"), "2", "the refusals changed nothing")
        XCTAssertEqual(rows.text("web/alpha", "admin_state"), "ready", "the refusals changed nothing")

        let missing = s.dir.filePath("nosuch/status.sock")
        for args in [["info"], ["status"], ["drain", "web/alpha"], ["top", "--iterations", "1"]] {
            let r = try Fulcrumctl.run(args + ["--socket", missing])
            XCTAssertEqual(r.code, 2, "fulcrumctl \(args) on a missing socket; stderr: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(missing), "the path in stderr: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("ENOENT"), "ENOENT in stderr: \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "nothing on stdout")
        }
        // A path that exists but is no socket.
        let notSocket = s.dir.filePath("fulcrum.toml")
        let r = try Fulcrumctl.run(["info", "--socket", notSocket])
        XCTAssertEqual(r.code, 2, "a regular file as socket: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains(notSocket), "the path in stderr: \(r.stderr)")
        XCTAssertFalse(s.daemon.hasExited)

        // top loses its daemon mid-run: exit 2, and it says why.
        let topResult = Locked<(code: Int32, stdout: String, stderr: String)?>(nil)
        let topDone = DispatchSemaphore(value: 0)
        startThread(name: "fulcrum-it-top") {
            let r = try? Fulcrumctl.run(["top", "--iterations", "100", "--interval", "0.2", "--socket", s.socket])
            topResult.withLock { $0 = r }
            topDone.signal()
        }
        sleepSeconds(0.7)
        try terminate(s.daemon)
        XCTAssertEqual(topDone.wait(timeout: .now() + 10), .success, "top ends once the daemon is gone")
        let top = topResult.current
        XCTAssertEqual(top?.code, 2, "top after the daemon stopped: \(top?.stderr ?? "no result")")
        XCTAssertTrue(top?.stderr.contains(s.socket) ?? false, "top names the socket: \(top?.stderr ?? "")")
        XCTAssertTrue(top?.stdout.contains("LISTENER / MEMBER") ?? false, "top drew frames before: \(top?.stdout.prefix(300) ?? "")")
    }
}
