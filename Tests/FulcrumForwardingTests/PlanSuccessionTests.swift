import FulcrumAddress
import FulcrumConfig
@testable import FulcrumForwarding
import XCTest

/// A reload's next plan says where every listener and member of the previous one went, by
/// identity: kept ones keep their shared state, removed ones are retired for shutdown_grace
/// and then dropped.
final class PlanSuccessionTests: XCTestCase {
    private func config(members: [String], listeners: [(String, UInt16)], weight: Int = 1, graceMs: Int = 1000) -> Config {
        let pool = Pool(name: "web", members: members.enumerated().map { i, name in
            Member(name: name, address: .v4(0x7F00_0001), port: UInt16(9000 + i), weight: weight)
        })
        let ls = listeners.map { Listener(name: $0.0, address: .v4(0x7F00_0001), port: $0.1, defaultPool: "web") }
        return Config(workers: 1, shutdownGraceMs: graceMs, pipeSize: 65536, statusSocket: "/tmp/x.sock",
                      listeners: ls, pools: [pool])
    }

    func testKeptListenersAndMembersMapByIdentity() throws {
        let first = ForwardingPlan(config: config(members: ["a", "b", "c"], listeners: [("x", 80), ("y", 81)]))
        let next = ForwardingPlan(config: config(members: ["b", "c", "d"], listeners: [("w", 79), ("y", 81)]),
                                  previous: first, nowMs: 5_000)
        let s = try XCTUnwrap(next.succession)
        XCTAssertEqual(next.generation, 2)
        // Listeners sort by name: x,y before; w,y after. y kept at index 1; x retired.
        XCTAssertEqual(s.listeners, [2, 1])
        XCTAssertEqual(next.retiredListeners.map(\.name), ["x"])
        XCTAssertEqual(next.retiredListeners[0].retiredUntilMs, 6_000)
        XCTAssertTrue(next.listeners[1].open === first.listeners[1].open, "a kept listener keeps its open count")
        XCTAssertEqual(s.tcpSocketsFrom, [-1, 1])
        // Members a,b,c → b,c,d: b and c move down one, a is retired after the config members.
        XCTAssertEqual(s.members, [3, 0, 1])
        XCTAssertEqual(next.retiredMembers.map(\.name), ["a"])
        XCTAssertEqual(next.member(at: 3).name, "a")
        XCTAssertEqual(next.memberIndex(pool: "web", member: "d"), 2)
        XCTAssertNil(next.memberIndex(pool: "web", member: "a"))
        XCTAssertFalse(next.pools[0].runtime === first.pools[0].runtime, "a changed pool gets a new runtime")
    }

    func testUnchangedPoolKeepsItsRuntime() throws {
        let first = ForwardingPlan(config: config(members: ["a"], listeners: [("x", 80)]))
        let next = ForwardingPlan(config: config(members: ["a"], listeners: [("x", 80), ("z", 90)]),
                                  previous: first, nowMs: 0)
        XCTAssertTrue(next.pools[0].runtime === first.pools[0].runtime)
        XCTAssertEqual(next.succession?.tcpSocketsFrom, [0, -1])
    }

    func testRetiredEntriesAreDroppedWhenTheirGraceIsOver() throws {
        let first = ForwardingPlan(config: config(members: ["a", "b"], listeners: [("x", 80), ("y", 81)]))
        let second = ForwardingPlan(config: config(members: ["b"], listeners: [("y", 81)]), previous: first, nowMs: 0)
        XCTAssertEqual(second.retiredListeners.count, 1)
        XCTAssertEqual(second.retiredMembers.count, 1)
        // Still within grace: carried with the same deadline.
        let third = ForwardingPlan(config: config(members: ["b"], listeners: [("y", 81)]), previous: second, nowMs: 500)
        XCTAssertEqual(third.retiredListeners.map(\.retiredUntilMs), [1_000])
        XCTAssertEqual(third.succession?.listeners, [0, 1])
        XCTAssertEqual(third.succession?.members, [0, 1])
        // Past it: gone.
        let fourth = ForwardingPlan(config: config(members: ["b"], listeners: [("y", 81)]), previous: third, nowMs: 1_000)
        XCTAssertTrue(fourth.retiredListeners.isEmpty)
        XCTAssertTrue(fourth.retiredMembers.isEmpty)
        XCTAssertEqual(fourth.succession?.listeners, [0, -1])
        XCTAssertEqual(fourth.succession?.members, [0, -1])
    }

    /// Alternating between two configs (a reload storm) keeps at most one retired copy of each
    /// identity: one that comes back is the same listener or member again.
    func testAlternatingConfigsDoNotPileUpRetiredEntries() throws {
        let small = config(members: ["a"], listeners: [("x", 80)])
        let large = config(members: ["a", "b"], listeners: [("x", 80), ("y", 81)])
        var plan = ForwardingPlan(config: small)
        let firstOpen = plan.listeners[0].open
        var yOpen: AnyObject?
        for i in 0..<100 {
            plan = ForwardingPlan(config: i % 2 == 0 ? large : small, previous: plan, nowMs: Int64(i))
            XCTAssertLessThanOrEqual(plan.retiredListeners.count, 1)
            XCTAssertLessThanOrEqual(plan.retiredMembers.count, 1)
            if i % 2 == 0 {
                if let yOpen { XCTAssertTrue(plan.listeners[1].open === yOpen, "y is the same listener again") }
                yOpen = plan.listeners[1].open
            }
        }
        XCTAssertTrue(plan.listeners[0].open === firstOpen)
    }

    func testAListenerMovedToAnotherPortIsRetiredAndRebound() throws {
        let first = ForwardingPlan(config: config(members: ["a"], listeners: [("x", 80)]))
        let next = ForwardingPlan(config: config(members: ["a"], listeners: [("x", 88)]), previous: first, nowMs: 0)
        XCTAssertEqual(next.succession?.listeners, [1])
        XCTAssertEqual(next.succession?.tcpSocketsFrom, [-1])
        XCTAssertFalse(next.listeners[0].open === first.listeners[0].open)
    }

    func testARenamedListenerOnTheSameAddressTakesItsSockets() throws {
        let first = ForwardingPlan(config: config(members: ["a"], listeners: [("x", 80)]))
        let next = ForwardingPlan(config: config(members: ["a"], listeners: [("renamed", 80)]), previous: first, nowMs: 0)
        XCTAssertEqual(next.succession?.tcpSocketsFrom, [0])
        XCTAssertEqual(next.retiredListeners.map(\.name), ["x"])
    }
}
