// Runtime member changes through the status socket: drain, maint and weight take effect for
// new connections at once, leave open connections streaming, and every algorithm honours them.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class RuntimeChangeTests: FulcrumTestCase {
    /// Two echo members a and b behind one listener; returns the daemon, its socket client, the
    /// listener port and the members.
    private func start(algorithm: String, weights: [Int] = [1, 1]) throws
        -> (daemon: FulcrumProcess, control: StatusSocketClient, port: UInt16, a: TestServer, b: TestServer)
    {
        let a = try makeServer(mode: .echo)
        let b = try makeServer(mode: .echo)
        let port = try freePort()
        let config = DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(algorithm: algorithm, members: [
                MemberSpec(name: "a", port: a.port, weight: weights[0]),
                MemberSpec(name: "b", port: b.port, weight: weights[1]),
            ])])
        let dir = try makeConfigDir(config)
        let daemon = try startFulcrum(configDir: dir)
        return (daemon, try StatusSocketClient(path: dir.statusSocket), port, a, b)
    }

    /// Connection `i` comes from its own loopback source address, so SOURCE_IP spreads them.
    private func source(_ i: Int) -> String { "127.0.\(1 + i / 250).\(1 + i % 250)" }

    private func connectEcho(_ port: UInt16, _ i: Int, hold: Bool = false) throws -> TCPSocket {
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, source: source(i), ioTimeout: 5)
        try socket.exchange("hello \(i)\n")
        if hold { keep(socket) } else { socket.close() }
        return socket
    }

    private func expectOK(_ control: StatusSocketClient, _ command: String, _ daemon: FulcrumProcess) throws {
        let reply = try control.command(command)
        XCTAssertFalse(reply.hasPrefix("error:"), "\(command) → \(reply)\n\(daemon.diagnostics)")
    }

    /// drain: no new connection reaches the member from the moment the reply is read (the
    /// test waits 100 ms, the contract's bound), while connections already on it keep
    /// streaming; ready brings it back. For every algorithm, and the same for maint.
    func testDrainAndMaintStopNewConnectionsAndKeepOpenOnesForEveryAlgorithm() throws {
        for algorithm in ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"] {
            for state in ["drain", "maint"] {
                let (daemon, control, port, a, b) = try start(algorithm: algorithm)
                // Open connections until one sits on each member (SOURCE_IP needs a few sources).
                var open: [TCPSocket] = []
                var i = 0
                while (a.acceptedCount == 0 || b.acceptedCount == 0) && i < 200 {
                    open.append(try connectEcho(port, i, hold: true))
                    i += 1
                }
                XCTAssertTrue(a.acceptedCount > 0 && b.acceptedCount > 0, "\(algorithm): both members got a connection")
                try expectOK(control, "set member web/a state \(state)", daemon)
                usleep(100_000)
                let before = a.acceptedCount
                for j in 0..<60 { _ = try connectEcho(port, 1000 + j) }
                XCTAssertEqual(a.acceptedCount, before, "\(algorithm) \(state): new connections reached the \(state) member")
                // Connections already open, on both members, still carry data both ways.
                for (k, socket) in open.enumerated() {
                    XCTAssertNoThrow(try socket.exchange("still streaming \(k)\n"), "\(algorithm) \(state): open connection \(k)")
                }
                let stat = try StatRows(control.command("show stat"))
                XCTAssertEqual(stat.text("web/a", "admin_state"), state)
                XCTAssertEqual(stat.text("web/a", "status"), state == "drain" ? "DRAIN" : "MAINT")
                try expectOK(control, "set member web/a state ready", daemon)
                let back = a.acceptedCount
                for j in 0..<60 { _ = try connectEcho(port, 2000 + j) }
                XCTAssertGreaterThan(a.acceptedCount, back, "\(algorithm): ready brings new connections back to a")
                for socket in open { socket.close() }
                try terminate(daemon)
            }
        }
    }

    /// Weight 1 → 3 on a: round robin sends it three of every four new connections; least
    /// connections keeps three times the open connections on it; SOURCE_IP's Maglev table
    /// gives it about three quarters of the sources.
    func testWeightChangeShowsInTheDistributionForEveryAlgorithm() throws {
        for algorithm in ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"] {
            let (daemon, control, port, a, b) = try start(algorithm: algorithm)
            try expectOK(control, "set member web/a weight 3", daemon)
            let baseA = a.acceptedCount, baseB = b.acceptedCount
            let total = 400
            var held: [TCPSocket] = []
            for i in 0..<total {
                // Least connections weighs open connections: hold them all.
                held.append(try connectEcho(port, i, hold: algorithm == "LEAST_CONNECTIONS"))
            }
            XCTAssertTrue(waitUntil(timeout: 5) { a.acceptedCount + b.acceptedCount - baseA - baseB >= total })
            let onA = a.acceptedCount - baseA
            let share = Double(onA) / Double(total)
            let tolerance = algorithm == "SOURCE_IP" ? 0.08 : 0.02
            XCTAssertEqual(share, 0.75, accuracy: tolerance, "\(algorithm): a (weight 3) got \(onA) of \(total)")
            let stat = try StatRows(control.command("show stat"))
            XCTAssertEqual(try stat.int("web/a", "weight"), 3)
            for socket in held { socket.close() }
            try terminate(daemon)
        }
    }

    /// A change lasts: still in force after several seconds of traffic and health-free running,
    /// and `shutdown sessions` closes the member's open connections while others stay.
    func testChangesPersistAndShutdownSessionsClosesOnlyThatMembersConnections() throws {
        let (daemon, control, port, a, b) = try start(algorithm: "ROUND_ROBIN")
        var open: [TCPSocket] = []
        for i in 0..<6 { open.append(try connectEcho(port, i, hold: true)) }
        XCTAssertEqual(a.acceptedCount, 3)
        XCTAssertEqual(b.acceptedCount, 3)
        try expectOK(control, "set member web/a state maint", daemon)
        sleep(3)
        for j in 0..<20 { _ = try connectEcho(port, 100 + j) }
        XCTAssertEqual(a.acceptedCount, 3, "maint still in force after 3 s")
        let reply = try control.command("shutdown sessions member web/a")
        XCTAssertTrue(reply.contains("web/a"), reply)
        // a's three connections end (EOF or reset); b's keep echoing.
        var closed = 0, alive = 0
        for socket in open {
            do {
                try socket.exchange("after shutdown\n")
                alive += 1
            } catch {
                closed += 1
            }
        }
        XCTAssertEqual(closed, 3, "connections on a closed by shutdown sessions")
        XCTAssertEqual(alive, 3, "connections on b untouched")
        let stat = try StatRows(control.command("show stat"))
        XCTAssertEqual(stat.text("web/a", "admin_state"), "maint")
        XCTAssertEqual(try stat.int("web/a", "scur"), 0)
        for socket in open { socket.close() }
        try terminate(daemon)
    }
}
