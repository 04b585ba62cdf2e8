// Member choice and member failure: weighted round robin shares, refused members skipped,
// connect timeouts, and what a client sees when no member can be reached.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class BalancingTests: FulcrumTestCase {
    /// Weights 1/2/3, 600 sequential connections: shares 100/200/300 within ±2.
    func testWeightedRoundRobinShares() throws {
        let servers = try (0..<3).map { _ in try makeServer(mode: .echo) }
        let weights = [1, 2, 3]
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: servers.enumerated().map {
                MemberSpec(name: "w\(weights[$0.offset])", port: $0.element.port, weight: weights[$0.offset])
            })]))

        let total = 600
        for i in 0..<total {
            do {
                let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, ioTimeout: 5)
                try socket.exchange("x")
                socket.close()
            } catch {
                throw TestFailure("connection \(i) of \(total) failed: \(error)\n\(daemon.diagnostics)")
            }
        }
        let settled = waitUntil(timeout: 10) { servers.map(\.acceptedCount).reduce(0, +) >= total }
        let counts = servers.map(\.acceptedCount)
        XCTAssertTrue(settled, "members saw \(counts.reduce(0, +)) of \(total) connections")
        XCTAssertEqual(counts.reduce(0, +), total, "member connections in total: \(counts)")
        let sumWeights = weights.reduce(0, +)
        for (i, count) in counts.enumerated() {
            let expected = total * weights[i] / sumWeights
            XCTAssertLessThanOrEqual(abs(count - expected), 2,
                "member with weight \(weights[i]) got \(count) connections, expected \(expected) ± 2 (all: \(counts))")
        }
    }

    /// A member on a closed port is skipped: 50 connections all succeed via the live member,
    /// and the dead member's connect_failures is counted.
    func testRefusedMemberIsSkipped() throws {
        let dead = try ClosedPort()
        keep(dead)
        let live = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port, timeoutMemberConnect: 2000)],
            pools: [PoolSpec(retries: 3, members: [
                MemberSpec(name: "dead", port: dead.port),
                MemberSpec(name: "live", port: live.port),
            ])]))

        for i in 0..<50 {
            do {
                let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, ioTimeout: 5)
                try socket.exchange("hello \(i)\n")
                socket.close()
            } catch {
                throw TestFailure("connection \(i) failed although a live member exists: \(error)\n\(daemon.diagnostics)")
            }
        }
        XCTAssertTrue(waitUntil(timeout: 5) { live.acceptedCount >= 50 })
        XCTAssertEqual(live.acceptedCount, 50, "all connections reach the live member")
        _ = live.waitFinished(count: 50, timeout: 5)

        try terminate(daemon)
        let failures = try stat(daemon.memberStats(pool: "web", member: "dead"), "connect_failures", "member stats web/dead", daemon)
        XCTAssertGreaterThan(failures, 0, "connect_failures of the dead member")
        let deadConnections = try stat(daemon.memberStats(pool: "web", member: "dead"), "connections", "member stats web/dead", daemon)
        XCTAssertEqual(deadConnections, 0, "connections of the dead member")
        let liveConnections = try stat(daemon.memberStats(pool: "web", member: "live"), "connections", "member stats web/live", daemon)
        XCTAssertEqual(liveConnections, 50, "connections of the live member")
    }

    /// A member that never answers SYN, timeout_member_connect = 500, retries = 0: the client
    /// is closed between ~0.4 s and 5 s after connecting.
    func testMemberConnectTimeoutClosesClient() throws {
        let hole = try BlackholeListener()
        keep(hole)
        guard hole.connectHangs(timeout: 1.0) else {
            throw TestFailure("""
                cannot build a non-answering member on this kernel: a direct connect to a listener \
                with backlog 0 and a full accept queue did not time out (SYNs were not dropped)
                """)
        }
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port, timeoutMemberConnect: 500)],
            pools: [PoolSpec(retries: 0, members: [MemberSpec(name: "hole", port: hole.port)])]))

        let socket = try connect(port: port, ioTimeout: 10)
        let start = monotonicNow()
        let outcome = socket.awaitClose(timeout: 10)
        let elapsed = monotonicNow() - start
        XCTAssertTrue(outcome.isClosed, "client should be closed after the member connect timeout, got \(outcome)\n\(daemon.diagnostics)")
        XCTAssertGreaterThanOrEqual(elapsed, 0.4, "closed too early for a 500 ms connect timeout (\(elapsed) s)")
        XCTAssertLessThanOrEqual(elapsed, 5.0, "closed too late for a 500 ms connect timeout (\(elapsed) s)")
    }

    /// Both members on closed ports, retries 3: the client is closed within 2 s.
    func testAllMembersDownClosesClientPromptly() throws {
        let deadA = try ClosedPort()
        let deadB = try ClosedPort()
        keep(deadA)
        keep(deadB)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port, timeoutMemberConnect: 5000)],
            pools: [PoolSpec(retries: 3, members: [
                MemberSpec(name: "a", port: deadA.port),
                MemberSpec(name: "b", port: deadB.port),
            ])]))

        let socket = try connect(port: port, ioTimeout: 10)
        let start = monotonicNow()
        let outcome = socket.awaitClose(timeout: 2.0)
        let elapsed = monotonicNow() - start
        XCTAssertTrue(outcome.isClosed, "client should be closed within 2 s when no member answers, got \(outcome) after \(elapsed) s\n\(daemon.diagnostics)")
        socket.close()

        try terminate(daemon)
        let failuresA = try stat(daemon.memberStats(pool: "web", member: "a"), "connect_failures", "member stats web/a", daemon)
        let failuresB = try stat(daemon.memberStats(pool: "web", member: "b"), "connect_failures", "member stats web/b", daemon)
        XCTAssertGreaterThanOrEqual(failuresA, 1, "a refused connect to member a is counted (next member is tried on failure)")
        XCTAssertGreaterThanOrEqual(failuresB, 1, "a refused connect to member b is counted (next member is tried on failure)")
    }
}
