// Who gets in: connection_limit and allowed_cidrs.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class AdmissionTests: FulcrumTestCase {
    /// connection_limit = 2: two held connections work, a third is closed at once without
    /// reaching the member; after one closes, a new one works. refused_limit is counted.
    func testConnectionLimit() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port, connectionLimit: 2)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))

        let first = try connect(port: port, ioTimeout: 5)
        try first.exchange("first")
        let second = try connect(port: port, ioTimeout: 5)
        try second.exchange("second")
        XCTAssertEqual(member.acceptedCount, 2)

        let third = try connect(port: port, ioTimeout: 5)
        let outcome = third.awaitClose(timeout: 2.0)
        XCTAssertTrue(outcome.isClosed, "third connection over connection_limit = 2 should be closed at once, got \(outcome)")
        sleepSeconds(0.3)
        XCTAssertEqual(member.acceptedCount, 2, "the connection over the limit must not reach the member")
        third.close()

        // Held connections still work.
        try first.exchange("first again")
        try second.exchange("second again")

        // Free one slot; wait until the member has seen that connection end.
        first.close()
        guard member.waitFinished(count: 1, timeout: 5) != nil else {
            throw TestFailure("closing a client did not end its member connection within 5 s\n\(daemon.diagnostics)")
        }
        sleepSeconds(0.3)
        let fourth = try connect(port: port, ioTimeout: 5)
        do {
            try fourth.exchange("fourth")
        } catch {
            throw TestFailure("a new connection after one of two closed should work: \(error)\n\(daemon.diagnostics)")
        }
        XCTAssertEqual(member.acceptedCount, 3)
        try second.exchange("second still")
        fourth.close()
        second.close()
        _ = member.waitFinished(count: 3, timeout: 5)

        try terminate(daemon)
        let stats = daemon.listenerStats("web")
        XCTAssertGreaterThanOrEqual(try stat(stats, "refused_limit", "listener stats web", daemon), 1, "refused_limit")
        XCTAssertGreaterThanOrEqual(try stat(stats, "accepted", "listener stats web", daemon), 4, "accepted counts refused sockets too")
    }

    /// allowed_cidrs = ["127.0.0.2/32"]: from 127.0.0.2 works; from 127.0.0.3 closed at once.
    func testAllowedCIDRs() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port, allowedCIDRs: ["127.0.0.2/32"])],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))

        let allowed = try connect(port: port, source: "127.0.0.2", ioTimeout: 5)
        do {
            try allowed.exchange("from 127.0.0.2")
        } catch {
            throw TestFailure("client from allowed 127.0.0.2 should be proxied: \(error)\n\(daemon.diagnostics)")
        }
        XCTAssertEqual(member.acceptedCount, 1)

        let denied = try connect(port: port, source: "127.0.0.3", ioTimeout: 5)
        let outcome = denied.awaitClose(timeout: 2.0)
        XCTAssertTrue(outcome.isClosed, "client from 127.0.0.3 should be closed at once, got \(outcome)")
        sleepSeconds(0.3)
        XCTAssertEqual(member.acceptedCount, 1, "a denied client must not reach the member")
        denied.close()

        try allowed.exchange("still here")
        allowed.close()
        _ = member.waitFinished(count: 1, timeout: 5)

        try terminate(daemon)
        let stats = daemon.listenerStats("web")
        XCTAssertGreaterThanOrEqual(try stat(stats, "denied_cidr", "listener stats web", daemon), 1, "denied_cidr")
    }
}
