// The binary's command line: --version, --check-config on good, bad and missing directories,
// drop-in overrides taking effect on traffic, and a clear failure when a port is taken.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ConfigAndStartupTests: FulcrumTestCase {
    func testVersionExitsZero() throws {
        let result = try FulcrumProcess.run(["--version"], timeout: 15)
        XCTAssertEqual(result.status, .init(code: 0, signaled: false), "--version\nstderr: \(result.stderr)")
        XCTAssertFalse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "--version prints a version on stdout")
    }

    func testCheckConfigAcceptsGoodConfig() throws {
        let dir = try makeConfigDir(DaemonConfig(
            listeners: [ListenerSpec(port: try freePort())],
            pools: [PoolSpec(retries: 3, members: [
                MemberSpec(name: "m1", port: 19001, weight: 1),
                MemberSpec(name: "m2", port: 19002, weight: 2),
            ])]))
        let written = try String(contentsOfFile: dir.filePath("conf.d/50-web.toml"), encoding: .utf8)
        let result = try FulcrumProcess.run(["--check-config", "--config-dir", dir.path], timeout: 15)
        XCTAssertEqual(result.status, .init(code: 0, signaled: false),
            "--check-config on a good config\nstdout: \(result.stdout)\nstderr: \(result.stderr)\nconfig:\n\(written)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "one line on stdout, got: \(result.stdout.debugDescription)")
        XCTAssertTrue(lines.first?.hasPrefix("configuration OK") == true, "stdout should start with 'configuration OK', got: \(result.stdout.debugDescription)")
    }

    func testCheckConfigReportsOutOfRangePort() throws {
        let dir = try makeConfigDir()
        try dir.write("fulcrum.toml", "workers = 2\n")
        try dir.write("conf.d/50-web.toml", """
            [listener.web]
            protocol = "TCP"
            address = "127.0.0.1"
            protocol_port = 70000
            default_pool = "web"

            [pool.web]
            lb_algorithm = "ROUND_ROBIN"

            [pool.web.members.m1]
            address = "127.0.0.1"
            protocol_port = 19001

            """)
        let result = try FulcrumProcess.run(["--check-config", "--config-dir", dir.path], timeout: 15)
        XCTAssertEqual(result.status, .init(code: 1, signaled: false), "--check-config on a bad config\nstdout: \(result.stdout)\nstderr: \(result.stderr)")
        XCTAssertFalse(result.stdout.contains("configuration OK"), "a bad config must not be reported OK: \(result.stdout)")
        let problems = result.stderr
        XCTAssertTrue(problems.contains("conf.d/50-web.toml"), "the problem names the file: \(problems)")
        XCTAssertTrue(problems.contains("listener.web.protocol_port"), "the problem names the key path: \(problems)")
        XCTAssertTrue(problems.contains("70000"), "the problem names the bad value: \(problems)")
        let line = problems.split(separator: "\n").first { $0.contains("listener.web.protocol_port") }
        if let line {
            XCTAssertTrue(line.contains("50-web.toml"), "file and key on the same line: \(line)")
        }
    }

    func testCheckConfigMissingDirectory() throws {
        let missing = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-it-missing-\(UUID().uuidString)").path
        let result = try FulcrumProcess.run(["--check-config", "--config-dir", missing], timeout: 15)
        XCTAssertFalse(result.status.isSuccess, "--check-config on a missing directory should fail, got \(result.status)")
        XCTAssertFalse(result.status.signaled, "should exit with an error, not crash: \(result.status)\nstderr: \(result.stderr)")
        XCTAssertTrue((result.stderr + result.stdout).contains(missing), "the message names the directory: \(result.stderr)")
    }

    /// conf.d/90-x.toml sets admin_state_up = false on m1; traffic then never reaches m1.
    func testDropInOverrideDisablesMember() throws {
        let m1 = try makeServer(mode: .echo)
        let m2 = try makeServer(mode: .echo)
        let port = try freePort()
        let dir = try makeConfigDir(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [
                MemberSpec(name: "m1", port: m1.port),
                MemberSpec(name: "m2", port: m2.port),
            ])]))
        try dir.write("conf.d/90-x.toml", """
            [pool.web.members.m1]
            admin_state_up = false

            """)
        let check = try FulcrumProcess.run(["--check-config", "--config-dir", dir.path], timeout: 15)
        XCTAssertEqual(check.status, .init(code: 0, signaled: false), "--check-config with the drop-in\nstderr: \(check.stderr)")

        let daemon = try startFulcrum(configDir: dir)
        for i in 0..<30 {
            do {
                let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, ioTimeout: 5)
                try socket.exchange("c\(i)")
                socket.close()
            } catch {
                throw TestFailure("connection \(i) failed: \(error)\n\(daemon.diagnostics)")
            }
        }
        XCTAssertTrue(waitUntil(timeout: 5) { m2.acceptedCount >= 30 })
        XCTAssertEqual(m1.acceptedCount, 0, "m1 has admin_state_up = false from conf.d/90-x.toml and must get no traffic")
        XCTAssertEqual(m2.acceptedCount, 30, "all traffic lands on m2")
    }

    /// The listener's port is already bound: fulcrumd exits non-zero within 10 s, naming it.
    func testStartFailsWhenListenerPortIsTaken() throws {
        let occupier = try TCPListener(host: "127.0.0.1", port: 0, reuseAddress: false)
        keep(occupier)
        let member = try makeServer(mode: .echo)
        let dir = try makeConfigDir(DaemonConfig(
            listeners: [ListenerSpec(name: "frontdoor", port: occupier.port, defaultPool: "web")],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))
        let daemon = try launchFulcrum(configDir: dir)
        guard let status = daemon.waitExit(timeout: 10) else {
            throw TestFailure("fulcrumd kept running although its listener port \(occupier.port) is taken\n\(daemon.diagnostics)")
        }
        XCTAssertFalse(status.signaled, "should exit with an error, not crash: \(status)\n\(daemon.diagnostics)")
        XCTAssertNotEqual(status.code, 0, "exit status when a listener cannot bind\n\(daemon.diagnostics)")
        XCTAssertTrue(daemon.stderrText.contains("frontdoor"), "stderr names the listener 'frontdoor'\n\(daemon.diagnostics)")
        XCTAssertFalse(daemon.logLines.contains { $0.message == "fulcrumd ready" }, "must not report ready\n\(daemon.diagnostics)")
    }
}
