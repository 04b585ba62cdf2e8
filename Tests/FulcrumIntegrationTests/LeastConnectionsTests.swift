// LEAST_CONNECTIONS through real connections: the counts are shared by both workers and go
// down when connections close.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class LeastConnectionsTests: FulcrumTestCase {
    /// Opens a held connection and returns it with the index of the member that took it.
    private func hold(port: UInt16, members: [TestServer]) throws -> (TCPSocket, Int) {
        let before = members.map(\.acceptedCount)
        let client = try connect(port: port, ioTimeout: 5)
        try client.exchange("held")
        let after = members.map(\.acceptedCount)
        let changed = (0..<members.count).filter { after[$0] != before[$0] }
        guard changed.count == 1 else { throw TestFailure("members that accepted: \(changed)") }
        return (client, changed[0])
    }

    func testNewConnectionsGoToTheLeastLoadedMember() throws {
        let members = try (0..<2).map { _ in try makeServer(mode: .echo) }
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 2, listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(algorithm: "LEAST_CONNECTIONS",
                             members: members.enumerated().map { MemberSpec(name: "m\($0.offset)", port: $0.element.port) })]))
        var held: [(TCPSocket, Int)] = []
        for _ in 0..<6 { held.append(try hold(port: port, members: members)) }
        let perMember = (0..<2).map { m in held.filter { $0.1 == m }.count }
        XCTAssertEqual(perMember, [3, 3], "6 held connections over 2 equal members, whichever worker took them")

        // Close member 0's connections: the next three all go there.
        for (socket, m) in held where m == 0 { socket.close() }
        guard members[0].waitFinished(count: 3, timeout: 5) != nil else {
            throw TestFailure("closed connections did not end at the member\n\(daemon.diagnostics)")
        }
        sleepSeconds(0.2)
        var next: [Int] = []
        for _ in 0..<3 {
            let (socket, m) = try hold(port: port, members: members)
            next.append(m)
            held.append((socket, m))
        }
        XCTAssertEqual(next, [0, 0, 0], "member 0 had no open connections, member 1 had 3")
        try terminate(daemon)
    }
}
