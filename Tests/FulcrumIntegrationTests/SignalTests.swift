// Stray signals: fulcrumd blocks every signal it can at the top of main and takes them on one
// thread, so a signal whose default action is to end the process (SIGUSR1, SIGALRM, …) is
// logged with its sender and ignored, and a SIGHUP while the configuration loads waits for the
// daemon to be ready (then reloads) instead of exiting with status 129. Also --version.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SignalTests: FulcrumTestCase {
    /// Signals whose default action ends the process (SIGQUIT, SIGXCPU and SIGXFSZ with a core),
    /// none of which fulcrumd acts on. Stop signals are left out: without the fix they would
    /// freeze the daemon rather than kill it, and the test would only fail on its timeout.
    private static let stray: [(Int32, String)] = [
        (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2"), (SIGALRM, "SIGALRM"), (SIGVTALRM, "SIGVTALRM"),
        (SIGPROF, "SIGPROF"), (SIGPWR, "SIGPWR"), (SIGIO, "SIGIO"), (SIGSTKFLT, "SIGSTKFLT"),
        (SIGQUIT, "SIGQUIT"), (SIGXCPU, "SIGXCPU"), (SIGXFSZ, "SIGXFSZ"), (SIGWINCH, "SIGWINCH"),
        (SIGURG, "SIGURG"), (__libc_current_sigrtmin() + 2, "SIGRTMIN+2"),
    ]

    /// A 20 MiB echo through fulcrumd while every stray signal is sent to it, over and over: the
    /// transfer completes byte-exact, the daemon is still running, each signal has its
    /// "ignoring signal … from pid P uid U" line naming this process, and SIGTERM still drains.
    func testStraySignalsDuringTransferAreLoggedAndIgnored() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))
        let socket = try connect(port: port, timeout: 10, ioTimeout: 60)
        let size = 20 << 20
        let result = Locked<Result<(sent: SHA256Digest, received: SHA256Digest, receivedCount: Int), Error>?>(nil)
        startThread(name: "fulcrum-it-transfer") {
            let r = Result { try echoRoundTrip(socket, seed: 15, size: size, timeout: 120) }
            result.withLock { $0 = r }
        }
        // At least three rounds, then on until the transfer ends, 5 ms apart: signals land
        // while bytes are moving, not only before or after.
        var rounds = 0
        let deadline = monotonicNow() + 120
        repeat {
            for (signal, _) in Self.stray {
                daemon.sendSignal(signal)
                sleepSeconds(0.005)
            }
            rounds += 1
        } while (rounds < 3 || result.current == nil) && monotonicNow() < deadline

        switch result.current {
        case let .success(r)?:
            XCTAssertEqual(r.receivedCount, size, "bytes echoed back through fulcrumd")
            XCTAssertEqual(r.received, r.sent, "SHA-256 of the echo differs from what was sent")
        case let .failure(error)?:
            XCTFail("the transfer failed while stray signals were sent (\(rounds) rounds): \(error)\n\(daemon.diagnostics)")
        case nil:
            XCTFail("the transfer did not finish within 120 s\n\(daemon.diagnostics)")
        }
        XCTAssertNil(daemon.exitStatus, "fulcrumd must survive stray signals\n\(daemon.diagnostics)")
        let me = getpid(), uid = getuid()
        for (_, name) in Self.stray {
            let expected = "ignoring signal \(name) from pid \(me) uid \(uid)"
            let line = daemon.waitForLog(timeout: 5) { $0.message == expected }
            XCTAssertNotNil(line, "no '\(expected)' line\n\(daemon.diagnostics)")
        }
        try terminate(daemon)
    }

    /// 100 SIGUSR1 within about half a second give one or two lines, and the rest are counted
    /// in an "ignored signal SIGUSR1 N more times" line once the second is over.
    func testStraySignalLineIsRateLimited() throws {
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: try freePort())],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: try freePort())])]))
        for _ in 0..<100 {
            daemon.sendSignal(SIGUSR1)
            sleepSeconds(0.005)
        }
        let summary = daemon.waitForLog(timeout: 5) { $0.message.hasPrefix("ignored signal SIGUSR1 ") }
        XCTAssertNotNil(summary, "no 'ignored signal SIGUSR1 N more times' line\n\(daemon.diagnostics)")
        let lines = daemon.logLines.filter { $0.message.hasPrefix("ignoring signal SIGUSR1 ") }
        XCTAssertGreaterThanOrEqual(lines.count, 1, "the first SIGUSR1 is logged\n\(daemon.diagnostics)")
        XCTAssertLessThanOrEqual(lines.count, 2, "one line per second at most\n\(daemon.diagnostics)")
        if let summary {
            let count = summary.message.split(separator: " ").dropFirst(3).first.flatMap { Int($0) }
            XCTAssertNotNil(count, "the summary counts the signals it did not log: \(summary.raw)")
            XCTAssertGreaterThan(count ?? 0, 0, "the summary counts the signals it did not log: \(summary.raw)")
        }
        XCTAssertNil(daemon.exitStatus, "fulcrumd must survive 100 SIGUSR1\n\(daemon.diagnostics)")
        try terminate(daemon)
    }

    /// SIGHUP and SIGUSR1 while a large configuration is still being read: fulcrumd becomes
    /// ready, then applies the SIGHUP as a reload (the files may have changed after they were
    /// read) and logs the SIGUSR1. Before, SIGUSR1 killed it here, and a SIGHUP before the
    /// signals were blocked exited with status 129.
    func testSignalsWhileConfigurationLoadsWaitUntilReady() throws {
        let dir = try makeConfigDir(try Self.largeConfig())
        let daemon = try launchFulcrum(configDir: dir)
        try Self.waitBlocked(daemon.pid, [SIGHUP, SIGUSR1], what: "fulcrumd", diagnostics: { daemon.diagnostics })
        let loading = !daemon.stderrText.contains("fulcrumd starting")
        daemon.sendSignal(SIGHUP)
        daemon.sendSignal(SIGUSR1)
        XCTAssertTrue(loading, "the signals must arrive while the configuration loads: make largeConfig larger\n\(daemon.diagnostics)")
        try daemon.waitReady(timeout: 60)
        let reloaded = daemon.waitForLog(timeout: 30) { $0.message.hasPrefix("configuration reloaded") }
        XCTAssertNotNil(reloaded, "the SIGHUP sent while loading is applied once ready\n\(daemon.diagnostics)")
        let me = getpid()
        let ignored = daemon.waitForLog(timeout: 5) { $0.message.hasPrefix("ignoring signal SIGUSR1 from pid \(me) ") }
        XCTAssertNotNil(ignored, "the SIGUSR1 sent while loading is logged once ready\n\(daemon.diagnostics)")
        XCTAssertNil(daemon.exitStatus, "fulcrumd must survive signals sent while it loads\n\(daemon.diagnostics)")
        try terminate(daemon, timeout: 60)
    }

    /// `--check-config` on a large configuration with SIGHUP and SIGUSR1 sent while it reads:
    /// it still reports (status 0, "configuration OK"). It used to block nothing and die (129).
    func testCheckConfigSurvivesSIGHUP() throws {
        let dir = try makeConfigDir(try Self.largeConfig())
        let process = try FulcrumProcess(arguments: ["--check-config", "--config-dir", dir.path])
        defer { process.stop() }
        try Self.waitBlocked(process.pid, [SIGHUP, SIGUSR1], what: "fulcrumd --check-config",
                             diagnostics: { process.diagnostics })
        process.sendSignal(SIGHUP)
        process.sendSignal(SIGUSR1)
        guard let status = process.waitExit(timeout: 60) else {
            XCTFail("fulcrumd --check-config did not exit within 60 s\n\(process.diagnostics)")
            return
        }
        XCTAssertEqual(status, .init(code: 0, signaled: false), "--check-config after SIGHUP\n\(process.diagnostics)")
        XCTAssertTrue(process.stdoutText.hasPrefix("configuration OK"),
                      "stdout: \(process.stdoutText.debugDescription)\n\(process.diagnostics)")
    }

    /// `--version` of both binaries: "fulcrumd 0.1.0 (git 1a2b3c4…)" naming the commit checked
    /// out when they were built (this checkout's HEAD), or "(unknown commit)" outside git.
    func testVersionNamesTheCommit() throws {
        let root = Paths.packageRoot.path
        let head = try? runCommand(["/usr/bin/git", "-C", root, "rev-parse", "HEAD"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // When HEAD moved after the build (a commit, then `swift test --skip-build`), the binary
        // rightly names the older commit; then it must at least be a commit of this repository.
        let reflog = try? runCommand(["/usr/bin/git", "-C", root, "rev-parse", "--git-path", "logs/HEAD"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        func modified(_ path: String) -> Date? {
            (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        }
        let daemon = try FulcrumProcess.run(["--version"], timeout: 15)
        XCTAssertEqual(daemon.status, .init(code: 0, signaled: false), "fulcrumd --version\n\(daemon.stderr)")
        let ctl = try Fulcrumctl.run(["--version"])
        XCTAssertEqual(ctl.code, 0, "fulcrumctl --version\n\(ctl.stderr)")
        for (binary, output, path) in [("fulcrumd", daemon.stdout, try Paths.fulcrumBinary()),
                                       ("fulcrumctl", ctl.stdout, try Fulcrumctl.binary())] {
            let line = output.trimmingCharacters(in: .whitespacesAndNewlines)
            let pattern = #"^[0-9]+\.[0-9]+\.[0-9]+ \((git [0-9a-f]{12}|unknown commit)\)$"#
            XCTAssertNotNil(line.range(of: pattern, options: .regularExpression),
                            "\(binary) --version: \(line.debugDescription) does not match \(pattern)")
            guard let head, head.count == 40 else { continue }
            let named = line.split(separator: " ").last.map { String($0.dropLast()) } ?? ""
            if let reflog, let moved = modified(reflog.hasPrefix("/") ? reflog : root + "/" + reflog),
               let built = modified(path), built < moved {
                XCTAssertNoThrow(try runCommand(["/usr/bin/git", "-C", root, "cat-file", "-e", named + "^{commit}"]),
                                 "\(binary) --version names \(named), not a commit of this checkout: \(line)")
            } else {
                XCTAssertEqual(named, String(head.prefix(12)),
                               "\(binary) --version names HEAD (\(head)) of the checkout it was built from: \(line)")
            }
        }
    }

    /// The script the BuildCommit plugin runs: a tree without git says nothing (shown as
    /// "unknown commit"), a `.fulcrum-commit` (build-deb.sh's copy) wins, and only hex digits
    /// reach the generated Swift literal.
    func testBuildCommitScript() throws {
        let script = Paths.packageRoot.appendingPathComponent("scripts/lib/build-commit.sh").path
        let dir = try makeConfigDir()
        let out = dir.filePath("out/BuildCommit.swift")
        func generated() throws -> String {
            _ = try runCommand(["/bin/sh", script, dir.path, out])
            return try String(contentsOfFile: out, encoding: .utf8)
        }
        var text = try generated()
        XCTAssertTrue(text.hasSuffix("let buildCommit = \"\"\n"), "outside git: \(text)")
        try dir.write(".fulcrum-commit", "0123456789abcdef0123456789abcdef01234567\n")
        text = try generated()
        XCTAssertTrue(text.hasSuffix("let buildCommit = \"0123456789ab\"\n"), "from .fulcrum-commit: \(text)")
        try dir.write(".fulcrum-commit", "12\"; print() //\n")
        text = try generated()
        XCTAssertTrue(text.hasSuffix("let buildCommit = \"12\"\n"), "only hex digits pass: \(text)")
    }

    // MARK: helpers

    /// 4,000 pools of 5 members and one listener: `--check-config` on it took 0.5 to 1.8 s on
    /// the 2-core CI machine (shared with other builds), far longer than the 1 ms poll below
    /// needs to land a signal while the loader reads.
    static func largeConfig() throws -> DaemonConfig {
        var pools = [PoolSpec(members: [MemberSpec(name: "m1", port: try freePort())])]
        for p in 0..<4000 {
            pools.append(PoolSpec(name: "p\(p)", members: (0..<5).map {
                MemberSpec(name: "m\($0)", address: "127.0.\(p / 250).\(p % 250 + 1)", port: UInt16(20000 + $0))
            }))
        }
        return DaemonConfig(listeners: [ListenerSpec(port: try freePort())], pools: pools)
    }

    /// Waits until every signal in `signals` is in the main thread's blocked mask (SigBlk in
    /// /proc/PID/status): signals sent earlier would hit the process before main ran, when no
    /// program can have blocked them yet.
    static func waitBlocked(_ pid: Int32, _ signals: [Int32], what: String, diagnostics: () -> String) throws {
        var last = ""
        let blocked = waitUntil(timeout: 20, interval: 0.001) {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
                  let mask = UInt64(line.dropFirst("SigBlk:".count).trimmingCharacters(in: .whitespaces), radix: 16)
            else { return false }
            last = String(line)
            return signals.allSatisfy { mask & (UInt64(1) << UInt64($0 - 1)) != 0 }
        }
        if !blocked {
            throw TestFailure("\(what) never blocked signals \(signals) (last \(last.isEmpty ? "SigBlk: unreadable" : last))\n\(diagnostics())")
        }
    }
}
