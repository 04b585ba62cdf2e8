import FulcrumAddress
import FulcrumConfig
@testable import FulcrumHealth
import FulcrumPools
import Foundation
import Logging
import XCTest

/// TCP checks close with RST (SO_LINGER 0), as HAProxy's do: thousands of checks would
/// otherwise leave as many TIME_WAIT sockets on the checker's host.
final class CheckerCloseTests: XCTestCase {
    func testTCPChecksLeaveNoTimeWait() throws {
        // A member that reads each connection to its end and then closes: a check that closed
        // with FIN would leave its socket in TIME_WAIT here; one that closed with RST, nothing.
        let (listener, port) = loopbackSocket(Int32(SOCK_STREAM.rawValue))
        XCTAssertEqual(listen(listener, 128), 0)
        // An earlier test's connections to a port the kernel hands out again may still wait.
        let before = try timeWaitSockets(port: port)
        let accepted = Thread {
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }  // the listener was shut down
                var byte: UInt8 = 0
                while read(fd, &byte, 1) > 0 {}
                close(fd)
            }
        }
        accepted.start()
        defer {
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
        }

        var pool = Pool(name: "p", members: (0..<5).map {
            Member(name: "m\($0)", address: IPAddress("127.0.0.1")!, port: port)
        })
        pool.healthMonitor = HealthMonitor(type: .tcp, delayMs: 20, timeoutMs: 1000, maxRetries: 1, maxRetriesDown: 3)
        let config = Config(workers: 1, shutdownGraceMs: 0, pipeSize: 65536, statusSocket: "/run/x.sock",
                            listeners: [Listener(name: "l", address: IPAddress("127.0.0.1")!, port: 1, defaultPool: "p")],
                            pools: [pool])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let checker = try HealthChecker(config: config, health: [MemberHealth(count: 5)], logger: logger) {}
        try checker.start()
        Thread.sleep(forTimeInterval: 1.0)
        checker.stop()
        Thread.sleep(forTimeInterval: 0.1)  // the member's reads see the last resets

        let checks = checker.targets.reduce(0) { $0 + Int($1.serial) }
        XCTAssertGreaterThan(checks, 50, "too few checks ran to show anything (\(checks))")
        let waiting = try timeWaitSockets(port: port)
        XCTAssertLessThanOrEqual(waiting, before,
                                 "\(waiting - before) new TIME_WAIT sockets on port \(port) after \(checks) checks")
    }

    /// IPv4 TCP sockets in TIME_WAIT (state 06 in /proc/net/tcp) with `port` at either end.
    private func timeWaitSockets(port: UInt16) throws -> Int {
        // Read to the end: /proc files have size 0, which whole-file readers may believe.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/net/tcp"))
        defer { try? handle.close() }
        let table = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        XCTAssertTrue(table.hasPrefix("  sl"), "unexpected /proc/net/tcp: \(table.prefix(80))")
        let hexPort = String(format: "%04X", port)
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] == "06" else { return false }
            return fields[1].hasSuffix(":" + hexPort) || fields[2].hasSuffix(":" + hexPort)
        }.count
    }
}
