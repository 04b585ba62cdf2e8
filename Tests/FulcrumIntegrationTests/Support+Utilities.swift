// Support for the integration tests: they run real `fulcrumd` processes against real sockets on
// 127.0.0.1 / ::1 only. Everything here is blocking and thread based, with a timeout on every
// wait, so a hung daemon makes a test fail rather than hang.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Errors, time, small utilities

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Seconds on the monotonic clock.
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func sleepSeconds(_ seconds: Double) {
    if seconds > 0 { usleep(useconds_t(seconds * 1_000_000)) }
}

/// A value behind a lock, for results written by worker threads.
final class Locked<Value> {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var current: Value { withLock { $0 } }
}

/// Carries a value across threads where the test code itself does the synchronisation.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Starts a real thread (not a dispatch worker: blocking sockets must not starve a pool).
func startThread(name: String = "fulcrum-it", _ body: @escaping () -> Void) {
    let work = UncheckedSendable(body)
    let thread = Thread { work.value() }
    thread.name = name
    thread.stackSize = 1 << 20
    thread.start()
}

/// How much longer than a plain build the time budgets of whole client runs may take.
/// scripts/sanitize sets FULCRUM_TEST_TIME_SCALE: sanitizers slow the test process and fulcrumd
/// alike (measured: testMixedSizeMessagesIntegrity 8 s plain, 162 s under TSan here and over
/// 240 s on a CI machine, where its 120 s budget per half ran out with nothing wrong).
let testTimeScale: Double = {
    guard let text = ProcessInfo.processInfo.environment["FULCRUM_TEST_TIME_SCALE"] else { return 1 }
    guard let value = Double(text), value >= 1 else {
        fatalError("FULCRUM_TEST_TIME_SCALE=\(text): expected a number of at least 1")
    }
    return value
}()

/// Runs `body` on `count` threads concurrently; returns false if they did not all finish in time
/// (`timeout` seconds, times `testTimeScale`).
func runConcurrently(_ count: Int, timeout: Double, _ body: @escaping (Int) -> Void) -> Bool {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        startThread(name: "fulcrum-it-\(index)") {
            body(index)
            group.leave()
        }
    }
    return group.wait(timeout: .now() + timeout * testTimeScale) == .success
}

extension SHA256Digest {
    var hex: String { self.map { String(format: "%02x", $0) }.joined() }
}

func errnoDescription(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
@discardableResult
func waitUntil(timeout: Double, interval: Double = 0.02, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNow() + timeout
    while true {
        if condition() { return true }
        if monotonicNow() >= deadline { return false }
        sleepSeconds(interval)
    }
}

// MARK: - Paths

enum Paths {
    /// The package root: the nearest directory above this file holding Package.swift.
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url
            }
            url = url.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    }()

    /// `FULCRUM_BIN` if set, else `<package root>/.build/debug/fulcrumd`.
    static func fulcrumBinary() throws -> String {
        let path: String
        if let fromEnv = ProcessInfo.processInfo.environment["FULCRUM_BIN"], !fromEnv.isEmpty {
            path = fromEnv
        } else {
            path = packageRoot.appendingPathComponent(".build/debug/fulcrumd").path
        }
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("""
                fulcrumd binary not found or not executable at \(path): run swift build first \
                (or set FULCRUM_BIN to the binary to test)
                """)
        }
        return path
    }
}

/// utime + stime of a process, in clock ticks: how tests tell a paused daemon from a spinning one.
func cpuTicks(_ pid: Int32) throws -> Int {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    guard let close = stat.lastIndex(of: ")") else { throw TestFailure("unreadable /proc/\(pid)/stat") }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let utime = Int(fields[11]), let stime = Int(fields[12]) else {
        throw TestFailure("unexpected /proc/\(pid)/stat: \(stat)")
    }
    return utime + stime
}
