import FulcrumAddress
import FulcrumConfig
import FulcrumPools
import FulcrumStatus
import XCTest

/// A reload builds each pool's runtime anew, adopting the old one by member name: operator
/// overrides and health flags survive for members whose config is unchanged, everything else
/// starts from the config, and open counts start at zero for the workers to fill.
final class RuntimeAdoptionTests: XCTestCase {
    private func member(_ name: String, _ last: UInt32, weight: Int = 1, port: UInt16 = 8080) -> Member {
        Member(name: name, address: .v4(0x0A00_0000 | last), port: port, weight: weight)
    }

    private func monitored(_ members: [Member], delayMs: Int = 5000) -> Pool {
        var pool = Pool(name: "p", members: members)
        pool.healthMonitor = HealthMonitor(type: .tcp, delayMs: delayMs)
        return pool
    }

    func testOverridesCarryOverByNameOnlyForUnchangedMembers() throws {
        let old = PoolRuntime(pool: monitored([member("a", 1), member("b", 2), member("c", 3), member("d", 4)]))
        try old.set(member: 0, weight: 7)
        old.set(member: 0, adminState: .drain)
        old.set(member: 1, adminState: .maint)
        try old.set(member: 2, weight: 9)
        // "0new" sorts first, so every kept member moves one index down: carried by name.
        let pool = monitored([member("0new", 9), member("a", 1), member("b", 2, weight: 3), member("d", 4)])
        let new = PoolRuntime(pool: pool, adopting: old)
        XCTAssertEqual(new.state.weights, [1, 7, 3, 1], "a keeps its runtime weight; b's config changed: config weight")
        XCTAssertEqual(new.state.adminStates, [.ready, .drain, .ready, .ready], "b's maint ends with its config change")
        XCTAssertEqual(new.state.effectiveWeights, [1, 0, 3, 1], "the drain is in force in what selectors read")
        var selector = PoolSelector(pool: pool, runtime: new)
        for _ in 0..<100 { XCTAssertNotEqual(selector.pick(), 1, "a drained member stays drained") }
        XCTAssertEqual(old.state.weights, [7, 1, 9, 1], "the old runtime is left as it was")
    }

    func testHealthFlagsCarryOnlyWithAnUnchangedMonitorAndCheckEndpoint() throws {
        let oldPool = monitored([member("a", 1), member("b", 2), member("c", 3)])
        let old = PoolRuntime(pool: oldPool)
        for m in 0..<3 { old.health.set(member: m, up: false) }
        try old.set(member: 0, weight: 9)
        var disabled = member("c", 3)
        disabled.adminStateUp = false
        let same = PoolRuntime(pool: monitored([member("a", 1), member("b", 2, port: 9090), disabled, member("d", 4)]),
                               adopting: old)
        XCTAssertFalse(same.health.isUp(0), "unchanged member, unchanged monitor: still down")
        XCTAssertEqual(same.state.weights[0], 9)
        XCTAssertTrue(same.health.isUp(1), "another check endpoint: up, as a new member")
        XCTAssertTrue(same.health.isUp(2), "no longer checked: up, as the checker would leave it")
        XCTAssertTrue(same.health.isUp(3), "new member: up")
        XCTAssertFalse(same.health === old.health, "a new flag set for the new member list")
        XCTAssertEqual(same.health.count, 4)

        // Only what the checks test matters: a new weight keeps the verdict (and the checker
        // keeps it too, so the flag never flips up and back down).
        let reweighted = PoolRuntime(pool: monitored([member("a", 1, weight: 5)]), adopting: old)
        XCTAssertFalse(reweighted.health.isUp(0))
        XCTAssertEqual(reweighted.state.weights, [5], "but its runtime weight gives way to the config's")

        let otherMonitor = PoolRuntime(pool: monitored(oldPool.members, delayMs: 1000), adopting: old)
        XCTAssertTrue((0..<3).allSatisfy(otherMonitor.health.isUp), "a changed monitor starts over")
        var shutdown = oldPool
        shutdown.onMemberDown = .shutdownSessions
        XCTAssertTrue((0..<3).allSatisfy(PoolRuntime(pool: shutdown, adopting: old).health.isUp),
                      "so does a changed on_member_down, as in the checker")
    }

    func testOpenCountsStartAtZero() {
        let pool = Pool(name: "p", lbAlgorithm: .leastConnections, members: [member("a", 1), member("b", 2)])
        let old = PoolRuntime(pool: pool)
        old.openCounts[0].wrappingIncrement(by: 5, ordering: .relaxed)
        let new = PoolRuntime(pool: pool, adopting: old)
        XCTAssertFalse(new.openCounts === old.openCounts)
        XCTAssertEqual(new.openCounts[0].load(ordering: .relaxed), 0, "workers re-add their own connections")
        XCTAssertEqual(old.openCounts[0].load(ordering: .relaxed), 5)
    }

    func testWithoutAnOldRuntimeEverythingComesFromTheConfig() {
        let pool = Pool(name: "p", members: [member("a", 1, weight: 4), member("b", 2)])
        let new = PoolRuntime(pool: pool, adopting: nil)
        XCTAssertEqual(new.state.weights, [4, 1])
        XCTAssertEqual(new.state.adminStates, [.ready, .ready])
        XCTAssertTrue(new.health.isUp(0) && new.health.isUp(1))
    }

    func testMemberIndexByName() {
        let runtime = PoolRuntime(pool: Pool(name: "p", members: [member("a", 1), member("b", 2), member("c", 3)]))
        XCTAssertEqual(runtime.memberIndex(named: "a"), 0)
        XCTAssertEqual(runtime.memberIndex(named: "c"), 2)
        XCTAssertNil(runtime.memberIndex(named: "z"))
        XCTAssertNil(PoolRuntime(pool: Pool(name: "e", members: [])).memberIndex(named: "a"))
    }
}
