import FulcrumAddress
import FulcrumAnycast
import FulcrumConfig
import FulcrumNetlink
import FulcrumStatus
import FulcrumSystem
import Foundation
import Logging
import Synchronization
import XCTest

/// The anycast thread against the fake room: what it asks the kernel for, and when.
final class AnycastNodeTests: XCTestCase {
    private let vip = IPAddress("192.0.2.10")!
    private let vip6 = IPAddress("2001:db8::10")!
    private var onInterface: InterfaceAddress { InterfaceAddress(interface: "fulcrum0", address: vip, prefixLength: 32)! }

    /// Pools the test sets: "web" with `up` of 2 members up and `unknown` without a verdict.
    private final class Health: Sendable {
        let up = Mutex(2)
        let unknown = Mutex(0)
        func pools(_ vips: [IPAddress]) -> [[AnycastCondition.PoolHealth]] {
            let up = self.up.withLock { $0 }
            let unknown = self.unknown.withLock { $0 }
            return vips.map { _ in [AnycastCondition.PoolHealth(name: "web", up: up, unknown: unknown, total: 2)] }
        }
    }

    private func makeNode(_ room: FakeVirtualAddresses, holdDownMs: Int = 200,
                          vips: [IPAddress]? = nil) throws -> AnycastNode {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try AnycastNode(settings: AnycastSettings(virtualIPs: vips ?? [vip], holdDownMs: holdDownMs),
                               addresses: room, logger: logger)
    }

    private func waitFor(_ what: String, timeout: Double = 3, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() && Date() < deadline { usleep(5_000) }
        XCTAssertTrue(condition(), what)
    }

    func testCreatesTheInterfaceRemovesLeftoversAndAddsLocalRoutes() throws {
        let room = FakeVirtualAddresses(interfaces: ["eth0"])
        room.setInterface("fulcrum0", present: true)
        try room.add(onInterface)  // left by a run that was killed
        room.forgetCalls()
        let node = try makeNode(room, vips: [vip, vip6])
        XCTAssertEqual(room.calls.map(\.description), [
            "ensure interface fulcrum0", "list fulcrum0", "remove 192.0.2.10/32 on fulcrum0",
            "add local route 192.0.2.10", "add local route 2001:db8::10",
        ])
        XCTAssertEqual(room.currentAddresses, [])
        XCTAssertEqual(room.localRoutes, [vip, vip6])
        XCTAssertEqual(node.status().interfaceKind, "existing")
        XCTAssertEqual(node.status().vips.map(\.announced), [false, false])
    }

    func testAnnouncesAfterHoldDownWithdrawsWhenPoolsGoDownAndStopRemovesEverything() throws {
        let room = FakeVirtualAddresses(interfaces: ["eth0"])
        let node = try makeNode(room)
        XCTAssertEqual(node.status().interfaceKind, "dummy")
        let health = Health()
        let started = Date()
        try node.start { health.pools($0) }
        waitFor("announced") { room.currentAddresses == [onInterface] }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.2, "before hold_down")
        var status = node.status().vips[0]
        XCTAssertTrue(status.announced)
        XCTAssertTrue(status.conditionHolds)
        XCTAssertEqual(status.reason, "pool web: 2 of 2 members up")
        XCTAssertEqual(status.transitions, 1)
        XCTAssertEqual(status.pools, ["web"])

        health.up.withLock { $0 = 0 }
        waitFor("pending withdraw shown") { node.status().vips[0].pending?.hasPrefix("withdraw in") ?? false }
        XCTAssertEqual(room.currentAddresses, [onInterface], "hold_down not over yet")
        waitFor("withdrawn") { room.currentAddresses.isEmpty }
        status = node.status().vips[0]
        XCTAssertFalse(status.announced)
        XCTAssertEqual(status.reason, "pool web: 0 of 2 members up")
        XCTAssertEqual(status.transitions, 2)

        health.up.withLock { $0 = 1 }
        waitFor("announced again") { room.currentAddresses == [onInterface] }
        node.stop()
        XCTAssertEqual(room.currentAddresses, [])
        XCTAssertEqual(room.localRoutes, [])
    }

    /// Members that lose their verdict (a reload changed their monitor, on every node at once)
    /// leave the announcement as it is; at start, they keep the VIP off until one is up.
    func testMembersWithoutAVerdictChangeNothing() throws {
        let room = FakeVirtualAddresses()
        let node = try makeNode(room, holdDownMs: 100)
        let health = Health()
        health.up.withLock { $0 = 0 }
        health.unknown.withLock { $0 = 2 }
        try node.start { health.pools($0) }
        defer { node.stop() }
        usleep(400_000)
        XCTAssertEqual(room.currentAddresses, [], "not announced before a verdict")
        XCTAssertEqual(node.status().vips[0].reason, "pool web: 0 of 2 members up, 2 not checked yet")
        health.up.withLock { $0 = 2 }
        health.unknown.withLock { $0 = 0 }
        waitFor("announced once up") { room.currentAddresses == [onInterface] }

        health.up.withLock { $0 = 0 }
        health.unknown.withLock { $0 = 2 }
        usleep(500_000)
        XCTAssertEqual(room.currentAddresses, [onInterface], "still announced while verdicts are pending")
        XCTAssertTrue(node.status().vips[0].conditionHolds)
        health.unknown.withLock { $0 = 0 }
        waitFor("withdrawn once they are known to be down") { room.currentAddresses.isEmpty }
    }

    func testOperatorWithdrawAndAnnounce() throws {
        let room = FakeVirtualAddresses()
        let node = try makeNode(room, holdDownMs: 100)
        let health = Health()
        try node.start { health.pools($0) }
        defer { node.stop() }
        waitFor("announced") { !room.currentAddresses.isEmpty }

        let withdrawn = node.steer(.withdraw, vip: nil)
        XCTAssertEqual(try withdrawn.get(), ["anycast 192.0.2.10: not announced (was announced): withdrawn by operator"])
        XCTAssertEqual(room.currentAddresses, [], "withdrawn before the reply")
        XCTAssertTrue(node.status().vips[0].withdrawnByOperator)
        usleep(300_000)
        XCTAssertEqual(room.currentAddresses, [], "stays withdrawn though healthy")

        let announced = node.steer(.announce, vip: "192.0.2.10")
        XCTAssertEqual(try announced.get(), ["anycast 192.0.2.10: announced (was not announced): pool web: 2 of 2 members up"])
        XCTAssertEqual(room.currentAddresses, [onInterface])
        XCTAssertFalse(node.status().vips[0].withdrawnByOperator)

        XCTAssertEqual(node.steer(.withdraw, vip: "192.0.2.99"),
                       .failure(AnycastSteerError("no anycast VIP 192.0.2.99; configured: 192.0.2.10")))
        XCTAssertEqual(node.steer(.withdraw, vip: "not-an-address"),
                       .failure(AnycastSteerError("no anycast VIP not-an-address; configured: 192.0.2.10")))
        XCTAssertEqual(room.currentAddresses, [onInterface], "a refused request changes nothing")
    }

    func testShutdownWithdrawsAtOnce() throws {
        let room = FakeVirtualAddresses()
        let node = try makeNode(room, holdDownMs: 100)
        let health = Health()
        try node.start { health.pools($0) }
        waitFor("announced") { !room.currentAddresses.isEmpty }
        XCTAssertEqual(node.withdrawForShutdown(), 1)
        XCTAssertEqual(room.currentAddresses, [])
        XCTAssertEqual(node.status().vips[0].reason, "shutting down")
        XCTAssertEqual(room.localRoutes, [vip], "still accepting until the drain ends")
        node.stop()
        XCTAssertEqual(room.localRoutes, [])
    }

    /// A refused add is retried every turn (and logged once), so the VIP is announced as soon
    /// as the kernel lets it.
    func testARefusedChangeIsRetried() throws {
        let room = FakeVirtualAddresses()
        let node = try makeNode(room, holdDownMs: 0)
        room.setFailure(.noReply, for: .add)
        let health = Health()
        try node.start { health.pools($0) }
        defer { node.stop() }
        waitFor("tried") { room.calls.filter { if case .refresh = $0 { return true } else { return false } }.count >= 2 }
        XCTAssertFalse(node.status().vips[0].announced)
        room.setFailure(nil, for: .add)
        waitFor("announced once allowed") { node.status().vips[0].announced }
        XCTAssertEqual(room.currentAddresses, [onInterface])
    }

    /// An announced VIP carries a lifetime and is refreshed every second; one taken off behind
    /// the thread's back is put back at the next refresh.
    func testAnnouncedVIPsAreRefreshedWithALifetime() throws {
        let room = FakeVirtualAddresses()
        let node = try makeNode(room, holdDownMs: 0)
        let health = Health()
        try node.start { health.pools($0) }
        defer { node.stop() }
        waitFor("announced") { !room.currentAddresses.isEmpty }
        try room.remove(onInterface)
        waitFor("put back by a refresh", timeout: 3) { room.currentAddresses == [onInterface] }
        let refreshes = room.calls.filter { $0 == .refresh(onInterface, lifetimeSeconds: 4) }.count
        XCTAssertGreaterThanOrEqual(refreshes, 2, "\(room.calls)")
        XCTAssertEqual(node.status().vips[0].transitions, 1, "a refresh is not a transition")
    }

    /// A reload's settings: a removed VIP is withdrawn at once and loses its local route; an
    /// added one gets a local route and waits out hold_down; a kept one stays announced (no
    /// transition) and keeps an operator's withdrawal; the new hold_down and order show.
    func testReconfigureAddsAndRemovesVIPsAndKeepsTheRest() throws {
        let room = FakeVirtualAddresses()
        let third = IPAddress("192.0.2.12")!
        let node = try makeNode(room, holdDownMs: 100, vips: [vip, vip6])
        let health = Health()
        try node.start { health.pools($0) }
        defer { node.stop() }
        let on6 = InterfaceAddress(interface: "fulcrum0", address: vip6, prefixLength: 128)!
        let onThird = InterfaceAddress(interface: "fulcrum0", address: third, prefixLength: 32)!
        waitFor("both announced") { Set(room.currentAddresses) == [onInterface, on6] }
        _ = node.steer(.withdraw, vip: "2001:db8::10")
        XCTAssertEqual(room.currentAddresses, [onInterface])

        let reconfigured = Date()
        node.reconfigure(AnycastSettings(virtualIPs: [third, vip6], holdDownMs: 400))
        XCTAssertEqual(room.currentAddresses, [], "the removed VIP is withdrawn without hold_down")
        XCTAssertEqual(Set(room.localRoutes), [vip6, third])
        var status = node.status()
        XCTAssertEqual(status.vips.map(\.address), ["192.0.2.12", "2001:db8::10"])
        XCTAssertEqual(status.holdDownMs, 400)
        XCTAssertTrue(status.vips[1].withdrawnByOperator, "the operator's withdrawal outlives the reload")
        XCTAssertEqual(status.vips[1].transitions, 2)
        XCTAssertFalse(status.vips[0].announced)
        XCTAssertEqual(status.vips[0].pending?.hasPrefix("announce in"), true, "\(status.vips[0])")

        waitFor("the new VIP announced after hold_down") { room.currentAddresses == [onThird] }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(reconfigured), 0.35, "before the new hold_down")
        XCTAssertEqual(node.steer(.withdraw, vip: "192.0.2.10"),
                       .failure(AnycastSteerError("no anycast VIP 192.0.2.10; configured: 192.0.2.12, 2001:db8::10")))
        _ = node.steer(.announce, vip: "2001:db8::10")
        XCTAssertEqual(Set(room.currentAddresses), [onThird, on6])
        status = node.status()
        XCTAssertEqual(status.vips.map(\.transitions), [1, 3])
    }

    func testAStartFailureNamesTheInterface() {
        let room = FakeVirtualAddresses()
        room.setFailure(.refused(SystemError(code: EPERM, call: "RTM_NEWLINK"), kernelMessage: nil), for: .createInterface)
        XCTAssertThrowsError(try makeNode(room)) { error in
            XCTAssertEqual("\(error)", "anycast interface fulcrum0: create interface fulcrum0: "
                + "RTM_NEWLINK: EPERM (Operation not permitted); needs CAP_NET_ADMIN")
        }
    }
}
