import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Least privilege outside systemd, for real: fulcrumd started as root with
/// `[process] user = "nobody"`, group "nogroup" (both exist on Debian) binds a port below 1024,
/// then runs as nobody with exactly the capabilities its configuration needs, as
/// /proc/PID/status shows them; forwarding, the status socket and reloads still work. Started
/// as nobody without CAP_NET_BIND_SERVICE, it refuses to start and says what is missing. Root only.
final class PrivilegeTests: FulcrumTestCase {
    private static let bindService: UInt64 = 1 << 10
    private static let netRaw: UInt64 = 1 << 13

    private var asNobody: [String] { ["user = \"nobody\"", "group = \"nogroup\""] }

    func testRootDropsToNobodyKeepingOnlyBindService() throws {
        try requireRoot("the privilege drop test")
        let (uid, gid) = try nobody()
        let server = try makeServer()
        let port = try freeLowPort()
        let dir = try readableConfigDir(DaemonConfig(
            workers: 1, listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: server.port)])], process: asNobody))
        let daemon = try startFulcrum(configDir: dir)

        let line = try XCTUnwrap(daemon.logLines.first { $0.message == "privileges" }, daemon.diagnostics)
        XCTAssertEqual(line.metadata["user"], "nobody")
        XCTAssertEqual(line.metadata["group"], "nogroup")
        XCTAssertEqual(line.metadata["capabilities"], "cap_net_bind_service")

        let status = try procStatus(daemon.pid)
        XCTAssertEqual(status["Uid"], "\(uid)\t\(uid)\t\(uid)\t\(uid)")
        XCTAssertEqual(status["Gid"], "\(gid)\t\(gid)\t\(gid)\t\(gid)")
        XCTAssertEqual(status["Groups"]?.trimmingCharacters(in: .whitespaces), "\(gid)")
        XCTAssertEqual(try capabilityMask(status, "CapEff"), Self.bindService)
        XCTAssertEqual(try capabilityMask(status, "CapPrm"), Self.bindService)
        XCTAssertEqual(try capabilityMask(status, "CapBnd"), Self.bindService)
        XCTAssertEqual(try capabilityMask(status, "CapInh"), 0)
        XCTAssertEqual(try capabilityMask(status, "CapAmb"), 0)
        XCTAssertEqual(status["NoNewPrivs"], "1")
        // Every thread, not only the main one: capability sets are per thread.
        for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/task") {
            let threadStatus = try procStatus(daemon.pid, task: task)
            XCTAssertEqual(try capabilityMask(threadStatus, "CapEff"), Self.bindService, "thread \(task)")
            XCTAssertEqual(threadStatus["Uid"], "\(uid)\t\(uid)\t\(uid)\t\(uid)", "thread \(task)")
        }

        // Traffic forwards through the low port.
        let client = try connect(port: port)
        let result = try echoRoundTrip(client, seed: 7, size: 64 * 1024)
        XCTAssertEqual(result.sent, result.received)

        // The status socket still answers, and a reload (read as nobody) works.
        let control = try StatusSocketClient(path: dir.statusSocket)
        let info = try control.command("show info")
        XCTAssertTrue(info.contains("pid: \(daemon.pid)\n"), "show info: \(info)")
        XCTAssertTrue(try socketReload(control).succeeded)

        // A reload adding a listener on another low port: CAP_NET_BIND_SERVICE was kept for it.
        let second = try freeLowPort(excluding: [port])
        try dir.write("conf.d/60-second.toml", """
            [listener.second]
            address = "127.0.0.1"
            protocol_port = \(second)
            default_pool = "web"
            """)
        try makeReadable(dir)
        let added = try socketReload(control)
        XCTAssertTrue(added.succeeded, "\(added)")
        let viaSecond = try connect(port: second)
        let again = try echoRoundTrip(viaSecond, seed: 8, size: 16 * 1024)
        XCTAssertEqual(again.sent, again.received)

        // A file nobody cannot read: the refusal names it and the user that must read it.
        try dir.write("conf.d/70-secret.toml", "# only root may read this\n")
        XCTAssertEqual(chmod(dir.filePath("conf.d/70-secret.toml"), 0o600), 0)
        let refused = try socketReload(control)
        XCTAssertTrue(refused.refused, "\(refused)")
        XCTAssertTrue(refused.text.contains(dir.filePath("conf.d/70-secret.toml")), "\(refused)")
        XCTAssertTrue(refused.text.contains("fulcrumd runs as user \"nobody\""), "\(refused)")
        try terminate(daemon)
    }

    func testPingMonitorKeepsNetRaw() throws {
        try requireRoot("the privilege drop test")
        let server = try makeServer()
        let port = try freeLowPort()
        let dir = try readableConfigDir(DaemonConfig(
            workers: 1, listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: server.port)], extra: [
                "[pool.web.healthmonitor]", "type = \"PING\"", "delay = 0.5", "timeout = 0.2",
                "max_retries = 1", "max_retries_down = 1",
            ])], process: asNobody))
        let daemon = try startFulcrum(configDir: dir)
        let line = try XCTUnwrap(daemon.logLines.first { $0.message == "privileges" }, daemon.diagnostics)
        XCTAssertEqual(line.metadata["capabilities"], "cap_net_bind_service,cap_net_raw")
        let status = try procStatus(daemon.pid)
        XCTAssertEqual(try capabilityMask(status, "CapEff"), Self.bindService | Self.netRaw)
        XCTAssertEqual(try capabilityMask(status, "CapPrm"), Self.bindService | Self.netRaw)
        XCTAssertEqual(try capabilityMask(status, "CapBnd"), Self.bindService | Self.netRaw)
        // The echo request goes out as nobody: the member comes up on a reply.
        _ = try daemon.waitForTransition(pool: "web", member: "m1", after: 0, to: "ONLINE", timeout: 10)
        try terminate(daemon)
    }

    func testWithoutBindServiceALowPortIsAClearError() throws {
        try requireRoot("the privilege drop test (setpriv)")
        let setpriv = "/usr/bin/setpriv"
        guard FileManager.default.isExecutableFile(atPath: setpriv) else {
            throw TestFailure("setpriv (util-linux) not found at \(setpriv)")
        }
        let server = try makeServer()
        let port = try freeLowPort()
        let dir = try readableConfigDir(DaemonConfig(
            workers: 1, listeners: [ListenerSpec(name: "lowweb", port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: server.port)])], process: asNobody))
        let daemon = try launchFulcrum(configDir: dir, launcher: [
            setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
        ])
        let exit = try XCTUnwrap(daemon.waitExit(timeout: 20), "fulcrumd kept running without CAP_NET_BIND_SERVICE")
        XCTAssertFalse(exit.isSuccess, "\(exit)")
        let text = daemon.stderrText
        XCTAssertTrue(text.contains("listener lowweb 127.0.0.1:\(port): cannot listen: bind: EACCES"), text)
        XCTAssertTrue(text.contains("binding a port below 1024 needs CAP_NET_BIND_SERVICE"), text)
    }

    func testUnknownUserIsAStartupErrorAndACheckConfigProblem() throws {
        try requireRoot("the privilege drop test")
        let port = try freeLowPort()
        let dir = try readableConfigDir(DaemonConfig(
            workers: 1, listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: 9)])], process: ["user = \"fulcrum-no-such-user\""]))
        let check = try FulcrumProcess.run(["--config-dir", dir.path, "--check-config"])
        XCTAssertFalse(check.status.isSuccess)
        XCTAssertTrue(check.stderr.contains("fulcrum.toml:"), check.stderr)
        XCTAssertTrue(check.stderr.contains("process.user: no user \"fulcrum-no-such-user\" on this system"), check.stderr)
        let daemon = try launchFulcrum(configDir: dir)
        let exit = try XCTUnwrap(daemon.waitExit(timeout: 20), "fulcrumd started with an unknown user")
        XCTAssertFalse(exit.isSuccess)
        XCTAssertTrue(daemon.stderrText.contains("no user \"fulcrum-no-such-user\""), daemon.stderrText)
    }

    // MARK: - Support

    private func nobody() throws -> (uid_t, gid_t) {
        guard let user = getpwnam("nobody") else { throw TestFailure("no user nobody on this machine") }
        guard let group = getgrnam("nogroup") else { throw TestFailure("no group nogroup on this machine") }
        return (user.pointee.pw_uid, group.pointee.gr_gid)
    }

    /// The config directory as the Debian package ships /etc/fulcrum: 0755 directories and
    /// 0644 files, so the daemon can read it again after becoming nobody.
    private func readableConfigDir(_ config: DaemonConfig) throws -> ConfigDir {
        let dir = try makeConfigDir(config)
        try makeReadable(dir)
        return dir
    }

    /// A port below 1024 free on 127.0.0.1 (tried from 600 up: clear of the well-known ones).
    private func freeLowPort(excluding taken: [UInt16] = []) throws -> UInt16 {
        for port in UInt16(600)..<1024 where !taken.contains(port) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 { return port }
        }
        throw TestFailure("no free port in 600..1023 on 127.0.0.1")
    }
}

// MARK: - Shared with PrivilegeHATests

/// 0755 directories and 0644 files, as the Debian package ships /etc/fulcrum: what a daemon
/// that dropped root must still read on reload.
func makeReadable(_ dir: ConfigDir) throws {
    for path in [dir.path, dir.filePath("conf.d")] { XCTAssertEqual(chmod(path, 0o755), 0, path) }
    for name in try FileManager.default.contentsOfDirectory(atPath: dir.filePath("conf.d")) {
        XCTAssertEqual(chmod(dir.filePath("conf.d/\(name)"), 0o644), 0, name)
    }
    XCTAssertEqual(chmod(dir.filePath("fulcrum.toml"), 0o644), 0)
}

/// /proc/PID/status (or one thread's) as key → value.
func procStatus(_ pid: Int32, task: String? = nil) throws -> [String: String] {
    let path = task.map { "/proc/\(pid)/task/\($0)/status" } ?? "/proc/\(pid)/status"
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}

func capabilityMask(_ status: [String: String], _ key: String) throws -> UInt64 {
    guard let text = status[key], let value = UInt64(text, radix: 16) else {
        throw TestFailure("\(key) missing or not hex in /proc status: \(status[key] ?? "absent")")
    }
    return value
}
