import FulcrumAnycast
import FulcrumConfig
import XCTest

final class AnycastConditionTests: XCTestCase {
    private let web = AnycastCondition.PoolHealth(name: "web", up: 2, total: 3)
    private let api = AnycastCondition.PoolHealth(name: "api", up: 0, total: 2)
    /// Members with no verdict yet (just started, or their monitor changed on a reload).
    private let fresh = AnycastCondition.PoolHealth(name: "fresh", up: 0, unknown: 2, total: 2)

    private func assertVerdict(_ when: AnycastSettings.AnnounceWhen, _ pools: [AnycastCondition.PoolHealth],
                               _ holds: Bool?, _ reason: String, line: UInt = #line) {
        let verdict = AnycastCondition.evaluate(when, pools: pools)
        XCTAssertEqual(verdict.holds, holds, line: line)
        XCTAssertEqual(verdict.reason, reason, line: line)
    }

    func testAnyMemberUp() {
        assertVerdict(.anyMemberUp, [web], true, "pool web: 2 of 3 members up")
        assertVerdict(.anyMemberUp, [api], false, "pool api: 0 of 2 members up")
        assertVerdict(.anyMemberUp, [api, web], true, "members up in pools api 0/2, web 2/3")
    }

    func testAllPoolsUp() {
        assertVerdict(.allPoolsUp, [web], true, "pool web: 2 of 3 members up")
        assertVerdict(.allPoolsUp, [api, web], false, "members up in pools api 0/2, web 2/3")
        let one = AnycastCondition.PoolHealth(name: "one", up: 1, total: 1)
        assertVerdict(.allPoolsUp, [one, web], true, "members up in pools one 1/1, web 2/3")
    }

    func testNoListenerIsNeverAnnouncedButAlwaysIs() {
        assertVerdict(.anyMemberUp, [], false, "no listener on this address")
        assertVerdict(.allPoolsUp, [], false, "no listener on this address")
        assertVerdict(.always, [], true, "announce_when = always")
        assertVerdict(.always, [api], true, "announce_when = always")
    }

    func testAnEmptyPoolIsDown() {
        assertVerdict(.anyMemberUp, [AnycastCondition.PoolHealth(name: "new", up: 0, total: 0)], false,
                      "pool new: 0 of 0 members up")
    }

    /// Members without a verdict make the answer unknown unless another pool already decides it.
    func testMembersWithoutAVerdictLeaveItUndecided() {
        assertVerdict(.anyMemberUp, [fresh], nil, "pool fresh: 0 of 2 members up, 2 not checked yet")
        assertVerdict(.anyMemberUp, [fresh, api], nil, "members up in pools fresh 0/2, api 0/2, 2 not checked yet")
        assertVerdict(.anyMemberUp, [fresh, web], true, "members up in pools fresh 0/2, web 2/3, 2 not checked yet")
        assertVerdict(.allPoolsUp, [fresh, web], nil, "members up in pools fresh 0/2, web 2/3, 2 not checked yet")
        assertVerdict(.allPoolsUp, [fresh, api], false, "members up in pools fresh 0/2, api 0/2, 2 not checked yet")
        // One member up decides, whatever the others still wait for.
        let mixed = AnycastCondition.PoolHealth(name: "mixed", up: 1, unknown: 2, total: 3)
        assertVerdict(.allPoolsUp, [mixed], true, "pool mixed: 1 of 3 members up, 2 not checked yet")
    }
}
