// Support for the integration tests: they run real `fulcrumd` processes against real sockets on
// 127.0.0.1 / ::1 only. Everything here is blocking and thread based, with a timeout on every
// wait, so a hung daemon makes a test fail rather than hang.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The daemon process

/// A running fulcrumd (or a one-shot invocation of it), with stdout and stderr captured by
/// background threads.
final class FulcrumProcess {
    struct ExitStatus: Equatable, CustomStringConvertible {
        var code: Int32
        var signaled: Bool
        var isSuccess: Bool { !signaled && code == 0 }
        var description: String { signaled ? "killed by signal \(code)" : "exit status \(code)" }
    }

    let arguments: [String]
    private let process = Process()
    private let errPipe = Pipe()
    private let outPipe = Pipe()
    private let cond = NSCondition()
    private var errBytes: [UInt8] = []
    private var outBytes: [UInt8] = []
    private var errEOF = false
    private var outEOF = false
    private var exit: ExitStatus?
    private(set) var exitTime: Double?
    let startTime: Double

    /// `launcher`: a command fulcrumd runs under, e.g. ["/usr/sbin/ip", "netns", "exec", NS]
    /// (it must exec fulcrumd, so the process is fulcrumd itself).
    init(arguments: [String], launcher: [String] = []) throws {
        self.arguments = arguments
        let binary = try Paths.fulcrumBinary()
        if let first = launcher.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = Array(launcher.dropFirst()) + [binary] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
        }
        process.standardError = errPipe
        process.standardOutput = outPipe
        process.standardInput = FileHandle.nullDevice
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        startTime = monotonicNow()
        let cond = self.cond
        process.terminationHandler = { [weak self] p in
            let status = ExitStatus(code: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal)
            cond.lock()
            self?.exit = status
            self?.exitTime = monotonicNow()
            cond.broadcast()
            cond.unlock()
        }
        try process.run()
        startReader(errPipe.fileHandleForReading.fileDescriptor, isStderr: true)
        startReader(outPipe.fileHandleForReading.fileDescriptor, isStderr: false)
    }

    private func startReader(_ fd: Int32, isStderr: Bool) {
        startThread(name: "fulcrum-it-\(isStderr ? "stderr" : "stdout")") { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                cond.lock()
                if n > 0 {
                    if isStderr { errBytes += buffer[0..<n] } else { outBytes += buffer[0..<n] }
                } else {
                    if isStderr { errEOF = true } else { outEOF = true }
                }
                cond.broadcast()
                cond.unlock()
                if n <= 0 { break }
            }
        }
    }

    var pid: Int32 { process.processIdentifier }

    var stderrText: String {
        cond.lock()
        defer { cond.unlock() }
        return String(decoding: errBytes, as: UTF8.self)
    }

    var stdoutText: String {
        cond.lock()
        defer { cond.unlock() }
        return String(decoding: outBytes, as: UTF8.self)
    }

    var logLines: [LogLine] {
        stderrText.split(separator: "\n").compactMap { LogLine(String($0)) }
    }

    var exitStatus: ExitStatus? {
        cond.lock()
        defer { cond.unlock() }
        return exit
    }

    var hasExited: Bool { exitStatus != nil }

    /// The last `maxLines` lines of stderr, for failure messages.
    func stderrTail(_ maxLines: Int = 200) -> String {
        let lines = stderrText.split(separator: "\n", omittingEmptySubsequences: false)
        let tail = lines.suffix(maxLines).joined(separator: "\n")
        return lines.count > maxLines ? "[… \(lines.count - maxLines) earlier lines]\n" + tail : tail
    }

    var diagnostics: String {
        "fulcrumd \(arguments.joined(separator: " ")) (\(exitStatus.map { "\($0)" } ?? "running"))\n--- stderr ---\n\(stderrTail())\n--- end stderr ---"
    }

    /// Waits for a log line matching `predicate`; nil on timeout or if the process exits first.
    func waitForLog(timeout: Double, where predicate: (LogLine) -> Bool) -> LogLine? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while true {
            let lines = String(decoding: errBytes, as: UTF8.self).split(separator: "\n").compactMap { LogLine(String($0)) }
            if let hit = lines.first(where: predicate) { return hit }
            if errEOF { return nil }
            if !cond.wait(until: deadline) {
                let lines = String(decoding: errBytes, as: UTF8.self).split(separator: "\n").compactMap { LogLine(String($0)) }
                return lines.first(where: predicate)
            }
        }
    }

    /// Waits (≤ timeout) for the `fulcrumd ready` line; throws with the captured stderr if the
    /// process exits first or the line does not come.
    func waitReady(timeout: Double = 30) throws {
        if waitForLog(timeout: timeout, where: { $0.message == "fulcrumd ready" }) != nil { return }
        throw TestFailure("fulcrumd did not log 'fulcrumd ready' within \(timeout) s\n\(diagnostics)")
    }

    func sendSignal(_ signal: Int32) {
        guard !hasExited else { return }
        kill(pid, signal)
    }

    /// Waits for the process to exit, then (briefly) for stderr to reach EOF so the last lines
    /// are captured. Nil if it is still running after `timeout`.
    @discardableResult
    func waitExit(timeout: Double) -> ExitStatus? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while exit == nil {
            if !cond.wait(until: deadline) { break }
        }
        guard let status = exit else { return nil }
        let eofDeadline = Date(timeIntervalSinceNow: 2)
        while !(errEOF && outEOF) {
            if !cond.wait(until: eofDeadline) { break }
        }
        return status
    }

    /// SIGTERM, then SIGKILL if it does not exit; used in tearDown so nothing leaks.
    func stop() {
        guard !hasExited else { return }
        sendSignal(SIGTERM)
        if waitExit(timeout: 5) == nil {
            sendSignal(SIGKILL)
            waitExit(timeout: 5)
        }
    }

    /// `listener stats` metadata for listener `name` (logged at exit).
    func listenerStats(_ name: String) -> LogLine? {
        logLines.last { $0.message == "listener stats" && $0.metadata["listener"] == name }
    }

    /// `member stats` metadata for POOL/MEMBER (logged at exit).
    func memberStats(pool: String, member: String) -> LogLine? {
        logLines.last { $0.message == "member stats" && $0.metadata["pool"] == pool && $0.metadata["member"] == member }
    }

    /// Runs fulcrumd to completion (e.g. --check-config, --version).
    static func run(_ arguments: [String], timeout: Double = 30) throws
        -> (status: ExitStatus, stdout: String, stderr: String)
    {
        let p = try FulcrumProcess(arguments: arguments)
        guard let status = p.waitExit(timeout: timeout) else {
            p.sendSignal(SIGKILL)
            p.waitExit(timeout: 5)
            throw TestFailure("fulcrumd \(arguments.joined(separator: " ")) did not exit within \(timeout) s\n\(p.diagnostics)")
        }
        return (status, p.stdoutText, p.stderrText)
    }
}

// MARK: - Base test case

/// Owns everything a test starts (processes, servers, sockets, directories) and tears it
/// down afterwards; on failure it adds the daemons' stderr to the failure output.
class FulcrumTestCase: XCTestCase {
    private let resources = Locked<(
        processes: [FulcrumProcess], servers: [TestServer], sockets: [TCPSocket],
        dirs: [ConfigDir], others: [AnyObject]
    )>(([], [], [], [], []))

    override func setUp() {
        super.setUp()
        signal(SIGPIPE, SIG_IGN)
    }

    override func tearDown() {
        let r = resources.withLock { r -> (processes: [FulcrumProcess], servers: [TestServer], sockets: [TCPSocket], dirs: [ConfigDir], others: [AnyObject]) in
            let copy = r
            r = ([], [], [], [], [])
            return copy
        }
        for socket in r.sockets { socket.close() }
        for process in r.processes { process.stop() }
        for server in r.servers { server.stop() }
        for dir in r.dirs { dir.remove() }
        if let run = testRun, run.totalFailureCount > 0 {
            for process in r.processes {
                XCTFail("captured output of a fulcrumd started by this test:\n\(process.diagnostics)")
            }
        }
        super.tearDown()
    }

    /// Keeps `object` alive until tearDown (for ClosedPort, BlackholeListener, …).
    func keep(_ object: AnyObject) { resources.withLock { $0.others.append(object) } }

    func makeServer(host: String = "127.0.0.1", mode: TestServer.Mode = .echo) throws -> TestServer {
        let server = try TestServer(host: host, mode: mode)
        resources.withLock { $0.servers.append(server) }
        return server
    }

    func makeConfigDir() throws -> ConfigDir {
        let dir = try ConfigDir()
        resources.withLock { $0.dirs.append(dir) }
        return dir
    }

    func makeConfigDir(_ config: DaemonConfig) throws -> ConfigDir {
        let dir = try makeConfigDir()
        try config.write(to: dir)
        return dir
    }

    /// Launches fulcrumd on `dir` without waiting for readiness.
    func launchFulcrum(configDir dir: ConfigDir, logLevel: String = "info", launcher: [String] = []) throws -> FulcrumProcess {
        let process = try FulcrumProcess(arguments: ["--config-dir", dir.path, "--log-level", logLevel], launcher: launcher)
        resources.withLock { $0.processes.append(process) }
        return process
    }

    /// Writes `config`, launches fulcrumd and waits for `fulcrumd ready`.
    func startFulcrum(_ config: DaemonConfig, logLevel: String = "info") throws -> FulcrumProcess {
        let dir = try makeConfigDir(config)
        return try startFulcrum(configDir: dir, logLevel: logLevel)
    }

    func startFulcrum(configDir dir: ConfigDir, logLevel: String = "info") throws -> FulcrumProcess {
        let process = try launchFulcrum(configDir: dir, logLevel: logLevel)
        try process.waitReady(timeout: 30)
        return process
    }

    /// Connects a client (tracked, closed in tearDown).
    func connect(
        host: String = "127.0.0.1", port: UInt16, timeout: Double = 5, source: String? = nil, ioTimeout: Double = 30
    ) throws -> TCPSocket {
        let socket = try TCPSocket.connect(host: host, port: port, timeout: timeout, source: source, ioTimeout: ioTimeout)
        resources.withLock { $0.sockets.append(socket) }
        return socket
    }

    /// SIGTERM and wait for a clean exit (status 0), returning the process for its stats.
    func terminate(_ process: FulcrumProcess, timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line) throws {
        process.sendSignal(SIGTERM)
        guard let status = process.waitExit(timeout: timeout) else {
            throw TestFailure("fulcrumd did not exit within \(timeout) s of SIGTERM\n\(process.diagnostics)")
        }
        XCTAssertEqual(status, .init(code: 0, signaled: false), "fulcrumd exit after SIGTERM\n\(process.diagnostics)", file: file, line: line)
    }

    /// A named stat from a stats line, failing clearly when the line or key is missing.
    func stat(_ line: LogLine?, _ key: String, _ what: String, _ process: FulcrumProcess) throws -> Int {
        guard let line else { throw TestFailure("no \(what) line logged at exit\n\(process.diagnostics)") }
        guard let value = line.int(key) else {
            throw TestFailure("\(what) line has no integer \(key)=: \(line.raw)\n\(process.diagnostics)")
        }
        return value
    }
}
