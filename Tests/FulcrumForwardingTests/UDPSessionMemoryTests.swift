import FulcrumAddress
import FulcrumConfig
@testable import FulcrumForwarding
import FulcrumSystem
import Foundation
import Logging
import XCTest

/// udp_max_sessions sized the session table at start: 1M sessions and 2 workers took 450 MB,
/// 10M took 2.2 GB and 8 s. A worker with 10M allowed (no descriptor cap) must start small.
final class UDPSessionMemoryTests: XCTestCase {
    private func residentKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else {
            throw XCTSkip("no VmRSS in /proc/self/status")
        }
        return kib
    }

    func testTenMillionSessionsAllowedStartsSmall() throws {
        let listenFD = try Datagram.makeListener(Endpoint(address: .v4(0x7F00_0001), port: 0))
        var config = Config(
            workers: 1, shutdownGraceMs: 0, pipeSize: 65536, statusSocket: "/tmp/unused.sock",
            listeners: [Listener(name: "u", transport: .udp, address: .v4(0x7F00_0001), port: 9, defaultPool: "p")],
            pools: [Pool(name: "p", members: [Member(name: "m", address: .v4(0x7F00_0001), port: 9)])])
        config.udpMaxSessions = 10_000_000
        let plan = ForwardingPlan(config: config, openFiles: Int.max)
        XCTAssertEqual(plan.udpMaxSessions, 10_000_000, "no descriptor cap with an unlimited RLIMIT_NOFILE")
        let before = try residentKiB()
        let worker = try Worker(index: 0, workerCount: 1, plan: plan, listenFDs: [], udpListenFDs: [listenFD],
                                logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let grown = try residentKiB() - before
        worker.teardown()
        XCTAssertLessThan(grown, 16 * 1024, "a worker allowing 10M UDP sessions took \(grown) KiB at start")
    }
}
