// SOURCE_IP through real connections: each source address maps to one member, across workers
// and across a restart with the members written in another order.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SourceHashingTests: FulcrumTestCase {
    /// Connects once from `source` and returns the index of the member that took it.
    private func memberFor(source: String, port: UInt16, members: [TestServer]) throws -> Int {
        let before = members.map(\.acceptedCount)
        let client = try connect(port: port, source: source, ioTimeout: 5)
        try client.exchange("hello from \(source)")
        client.close()
        let after = members.map(\.acceptedCount)
        let changed = (0..<members.count).filter { after[$0] != before[$0] }
        guard changed.count == 1 else { throw TestFailure("\(source): members that accepted: \(changed)") }
        return changed[0]
    }

    func testSourceIPMapsEachSourceToOneMemberStableAcrossRestarts() throws {
        let members = try (0..<3).map { _ in try makeServer(mode: .echo) }
        let port = try freePort()
        func config(order: [Int]) -> DaemonConfig {
            DaemonConfig(workers: 2, listeners: [ListenerSpec(port: port)],
                         pools: [PoolSpec(algorithm: "SOURCE_IP",
                                          members: order.enumerated().map { MemberSpec(name: "m\($0.offset)", port: members[$0.element].port) })])
        }
        var mapping: [String: Int] = [:]
        var daemon = try startFulcrum(config(order: [0, 1, 2]))
        for i in 10..<30 {
            let source = "127.0.0.\(i)"
            let first = try memberFor(source: source, port: port, members: members)
            for _ in 0..<3 {
                XCTAssertEqual(try memberFor(source: source, port: port, members: members), first, "\(source) moved")
            }
            mapping[source] = first
        }
        XCTAssertGreaterThanOrEqual(Set(mapping.values).count, 2, "20 sources on one member: \(mapping)")
        try terminate(daemon)

        // Same members written in another order under other names: same choices.
        daemon = try startFulcrum(config(order: [2, 0, 1]))
        for (source, member) in mapping {
            XCTAssertEqual(try memberFor(source: source, port: port, members: members), member, "\(source) after restart")
        }
        try terminate(daemon)
    }

    func testPersistenceKeepsRoundRobinClientsOnOneMember() throws {
        let members = try (0..<3).map { _ in try makeServer(mode: .echo) }
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 2, listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: members.enumerated().map { MemberSpec(name: "m\($0.offset)", port: $0.element.port) },
                             extra: ["session_persistence = { type = \"SOURCE_IP\", persistence_timeout = 30, persistence_granularity = \"255.255.255.0\" }"])]))
        let first = try memberFor(source: "127.0.0.5", port: port, members: members)
        for _ in 0..<9 {
            XCTAssertEqual(try memberFor(source: "127.0.0.5", port: port, members: members), first, "round robin would move it")
        }
        XCTAssertEqual(try memberFor(source: "127.0.0.77", port: port, members: members), first, "same /24")
        try terminate(daemon)
    }
}
