// Root-only support: network namespaces the tests make themselves (and remove), so a test can
// take an address away or black-hole it without touching anything outside.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Root tests skip when not root, unless FULCRUM_REQUIRE_ROOT_TESTS=1 (set by .ci/run), where
/// they must fail instead: a CI run that silently skipped them would prove nothing.
func requireRoot(_ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
    guard geteuid() != 0 else { return }
    if ProcessInfo.processInfo.environment["FULCRUM_REQUIRE_ROOT_TESTS"] == "1" {
        throw TestFailure("\(what) needs root, and FULCRUM_REQUIRE_ROOT_TESTS=1 requires it")
    }
    throw XCTSkip("\(what) needs root")
}

/// `ip` from iproute2.
func ipCommand() throws -> String {
    for path in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] where FileManager.default.isExecutableFile(atPath: path) {
        return path
    }
    throw TestFailure("iproute2's ip command not found (scripts/test installs iproute2)")
}

/// Runs a command to completion; throws with its output when it fails.
@discardableResult
func runCommand(_ argv: [String], timeout: Double = 20) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let deadline = Date(timeIntervalSinceNow: timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning {
        process.terminate()
        throw TestFailure("\(argv.joined(separator: " ")) did not finish within \(timeout) s")
    }
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw TestFailure("\(argv.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
    }
    return text
}

/// A network namespace with loopback up, removed by `remove()` (idempotent).
final class NetworkNamespace {
    let name: String
    let ip: String
    private var removed = false

    init(prefix: String) throws {
        ip = try ipCommand()
        name = "\(prefix)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try runCommand([ip, "netns", "add", name])
        do {
            try run("link", "set", "lo", "up")
        } catch {
            remove()
            throw error
        }
    }

    /// `ip -n NAME args…`
    @discardableResult
    func run(_ args: String...) throws -> String {
        try runCommand([ip, "-n", name] + args)
    }

    /// Prefix for a process that must run inside the namespace (it execs the program).
    var launcher: [String] { [ip, "netns", "exec", name] }

    func remove() {
        guard !removed else { return }
        removed = true
        _ = try? runCommand([ip, "netns", "del", name])
    }

    deinit { remove() }
}

/// Namespaces named PREFIX-…-PID-N whose creating test process is gone: a crashed earlier run
/// of a test world (HAWorld, AnycastWorld). The processes still inside (fulcrumd, keepalived,
/// BIRD) are killed by pid, then the namespace is removed.
func removeStaleNamespaces(prefix: String) {
    guard let ip = try? ipCommand(), let list = try? runCommand([ip, "netns", "list"]) else { return }
    for line in list.split(separator: "\n") {
        let name = String(line.split(separator: " ").first ?? "")
        guard name.hasPrefix("\(prefix)-") else { continue }
        let parts = name.split(separator: "-")
        guard parts.count >= 2, let pid = Int32(parts[parts.count - 2]), pid != getpid() else { continue }
        if kill(pid, 0) == 0 || errno != ESRCH { continue }
        if let pids = try? runCommand([ip, "netns", "pids", name]) {
            for p in pids.split(separator: "\n").compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) {
                kill(p, SIGKILL)
            }
        }
        _ = try? runCommand([ip, "netns", "del", name])
    }
}

extension FulcrumProcess {
    /// Health transitions logged so far for `pool/member` ("member web/a … is ERROR (was ONLINE): …").
    func transitions(pool: String, member: String) -> [LogLine] {
        logLines.filter { $0.message.hasPrefix("member \(pool)/\(member) ") && $0.message.contains(" (was ") }
    }

    /// Waits for the `(count+1)`-th transition of `pool/member`, which must be to `status`.
    /// Returns it and the seconds waited, or throws with the log.
    func waitForTransition(pool: String, member: String, after count: Int, to status: String,
                           timeout: Double) throws -> (line: LogLine, seconds: Double) {
        let start = monotonicNow()
        while monotonicNow() - start < timeout {
            let all = transitions(pool: pool, member: member)
            if all.count > count {
                let line = all[count]
                guard line.message.contains(" is \(status) (was ") else {
                    throw TestFailure("\(pool)/\(member): expected a change to \(status), got: \(line.raw)\n\(diagnostics)")
                }
                return (line, monotonicNow() - start)
            }
            usleep(20_000)
        }
        throw TestFailure("\(pool)/\(member): no change to \(status) within \(timeout) s\n\(diagnostics)")
    }
}
