import Foundation
import XCTest

/// PING monitors, for real: fulcrumd runs inside a network namespace the test made, where the
/// member's address lives on one end of a veth pair (both ends inside; this kernel may lack the
/// dummy driver). Taking the address away (black-holed, then
/// unroutable) must take the member to ERROR; putting it back must bring it ONLINE. Root only.
final class PingMonitorTests: FulcrumTestCase {
    private let delay = 0.3, timeout = 0.2
    private let rise = 2, fall = 2
    private let slack = 2.5

    func testMemberFollowsItsAddressAwayAndBack() throws {
        try requireRoot("the PING monitor test (network namespace)")
        let ns = try NetworkNamespace(prefix: "fx-ping")
        defer { ns.remove() }
        try ns.run("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        try ns.run("link", "set", "v0", "up")
        try ns.run("link", "set", "v1", "up")
        try ns.run("addr", "add", "10.213.0.2/24", "dev", "v0")

        let port = try freePort()
        let config = DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(port: port, defaultPool: "web")],
            pools: [PoolSpec(name: "web", members: [
                MemberSpec(name: "far", address: "10.213.0.2", port: 80),
                MemberSpec(name: "near", address: "127.0.0.1", port: 80),
            ], extra: [
                "[pool.web.healthmonitor]", "type = \"PING\"", "delay = \(delay)", "timeout = \(timeout)",
                "max_retries = \(rise)", "max_retries_down = \(fall)",
            ])])
        let dir = try makeConfigDir(config)
        let daemon = try launchFulcrum(configDir: dir, launcher: ns.launcher)
        try daemon.waitReady(timeout: 30)

        // Both answer: ONLINE after `rise` replies (the first check starts within one delay).
        let upBound = delay * Double(rise + 1) + timeout + slack
        let far = try daemon.waitForTransition(pool: "web", member: "far", after: 0, to: "ONLINE", timeout: upBound)
        XCTAssertEqual(far.line.metadata["check"], "L3OK")
        _ = try daemon.waitForTransition(pool: "web", member: "near", after: 0, to: "ONLINE", timeout: upBound)

        // Black-holed: echo requests leave by v0, arrive on v1, which has no address: no answer.
        try ns.run("addr", "del", "10.213.0.2/24", "dev", "v0")
        try ns.run("route", "add", "10.213.0.0/24", "dev", "v0")
        let downBound = delay * Double(fall) + timeout + slack
        let down = try daemon.waitForTransition(pool: "web", member: "far", after: 1, to: "ERROR", timeout: downBound)
        XCTAssertEqual(down.line.metadata["check"], "L3TOUT", down.line.raw)
        XCTAssertNotNil(daemon.waitForLog(timeout: 2) { $0.message.hasPrefix("pool web is DEGRADED (was ONLINE)") },
                        "pool status not logged\n\(daemon.diagnostics)")

        // Back: ONLINE again after `rise` replies.
        try ns.run("route", "del", "10.213.0.0/24", "dev", "v0")
        try ns.run("addr", "add", "10.213.0.2/24", "dev", "v0")
        let back = try daemon.waitForTransition(pool: "web", member: "far", after: 2, to: "ONLINE",
                                                timeout: delay * Double(rise) + timeout + slack)
        XCTAssertEqual(back.line.metadata["check"], "L3OK")
        XCTAssertNotNil(daemon.waitForLog(timeout: 2) { $0.message.hasPrefix("pool web is ONLINE (was DEGRADED)") },
                        "pool recovery not logged\n\(daemon.diagnostics)")

        // No route at all: the send fails at once, reported as unreachable.
        try ns.run("addr", "del", "10.213.0.2/24", "dev", "v0")
        let unroutable = try daemon.waitForTransition(pool: "web", member: "far", after: 3, to: "ERROR", timeout: downBound)
        XCTAssertEqual(unroutable.line.metadata["check"], "L3UNR", unroutable.line.raw)
        XCTAssertTrue(unroutable.line.message.contains("unreachable"), unroutable.line.raw)

        // The loopback member never changed: exactly one transition (UNKNOWN -> ONLINE).
        XCTAssertEqual(daemon.transitions(pool: "web", member: "near").count, 1, daemon.diagnostics)
        try terminate(daemon)
    }
}
