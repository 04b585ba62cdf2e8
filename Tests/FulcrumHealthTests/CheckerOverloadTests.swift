import FulcrumAddress
import FulcrumConfig
@testable import FulcrumHealth
import FulcrumPools
import Foundation
import Logging
import XCTest

/// Collects log lines, so a test can see what the checker said.
final class CollectedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

struct CollectingHandler: LogHandler {
    let log: CollectedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    func log(event: LogEvent) {
        log.append("\(event.level) \(event.message)")
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

/// A checker asked for far more checks than it may run at once: its queue must stay bounded
/// (it grew by one entry per due check before), and it must say that checks run late.
final class CheckerOverloadTests: XCTestCase {
    func testOverloadedCheckerKeepsItsQueueBoundedAndSaysSo() throws {
        // A UDP responder that answers at once: each check is a short round trip (not finished
        // inside send, as a closed port's ICMP error can be on loopback), so one slot runs
        // thousands a second while 400 members at delay 0.01 want 40,000 — the queue never
        // empties, which is when it used to grow without bound.
        let (responder, port) = loopbackSocket(Int32(SOCK_DGRAM.rawValue))
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(responder, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let stop = StopFlag()
        let echo = Thread {
            var buffer = [UInt8](repeating: 0, count: 2048)
            var peer = sockaddr_storage()
            while true {
                if stop.isSet { return }
                var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(responder, &buffer, buffer.count, 0, $0, &peerLength) }
                }
                guard n >= 0 else { continue }
                _ = withUnsafePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(responder, buffer, n, 0, $0, peerLength) }
                }
            }
        }
        echo.start()
        defer {
            stop.set()
            Thread.sleep(forTimeInterval: 0.2)
            close(responder)
        }

        var monitor = HealthMonitor(type: .udpConnect, delayMs: 10, timeoutMs: 5, maxRetries: 1, maxRetriesDown: 10)
        monitor.udpSend = Array("ping".utf8)
        var pool = Pool(name: "p", members: (0..<400).map {
            Member(name: "m\($0)", address: IPAddress("127.0.0.1")!, port: port)
        })
        pool.healthMonitor = monitor
        let config = Config(workers: 1, shutdownGraceMs: 0, pipeSize: 65536, statusSocket: "/run/x.sock",
                            listeners: [Listener(name: "l", address: IPAddress("127.0.0.1")!, port: 1, defaultPool: "p")],
                            pools: [pool])
        let collected = CollectedLog()
        let logger = Logger(label: "test") { _ in CollectingHandler(log: collected) }
        let checker = try HealthChecker(config: config, health: [MemberHealth(count: 400)], logger: logger,
                                        maxInFlight: 1) {}
        try checker.start()
        Thread.sleep(forTimeInterval: 2.0)
        checker.stop()

        // A queue that kept consumed entries would hold one per due check: thousands by now.
        let checks = checker.targets.reduce(0) { $0 + Int($1.serial) }
        XCTAssertGreaterThan(checks, 4000, "the single slot should have run thousands of checks (\(checks))")
        XCTAssertLessThanOrEqual(checker.waiting.count, 400,
                                 "a target waits at most once: \(checker.waiting.count) entries after \(checks) checks")
        XCTAssertTrue(collected.all.contains { $0.contains("health checks are running late") },
                      "no warning that checks run late:\n\(collected.all.joined(separator: "\n"))")
        XCTAssertEqual(collected.all.filter { $0.contains("running late") }.count, 1, "said once, not per check")
    }
}
