import FulcrumAnycast
import FulcrumConfig
import XCTest

final class AnycastConditionTests: XCTestCase {
    private let web = AnycastCondition.PoolHealth(name: "web", up: 2, total: 3)
    private let api = AnycastCondition.PoolHealth(name: "api", up: 0, total: 2)

    func testAnyMemberUp() {
        XCTAssertTrue(AnycastCondition.evaluate(.anyMemberUp, pools: [web]) == (true, "pool web: 2 of 3 members up"))
        XCTAssertTrue(AnycastCondition.evaluate(.anyMemberUp, pools: [api]) == (false, "pool api: 0 of 2 members up"))
        XCTAssertTrue(AnycastCondition.evaluate(.anyMemberUp, pools: [api, web]) == (true, "members up in pools api 0/2, web 2/3"))
    }

    func testAllPoolsUp() {
        XCTAssertTrue(AnycastCondition.evaluate(.allPoolsUp, pools: [web]).holds)
        XCTAssertFalse(AnycastCondition.evaluate(.allPoolsUp, pools: [api, web]).holds)
        let one = AnycastCondition.PoolHealth(name: "one", up: 1, total: 1)
        XCTAssertTrue(AnycastCondition.evaluate(.allPoolsUp, pools: [one, web]) == (true, "members up in pools one 1/1, web 2/3"))
    }

    func testNoListenerIsNeverAnnouncedButAlwaysIs() {
        XCTAssertTrue(AnycastCondition.evaluate(.anyMemberUp, pools: []) == (false, "no listener on this address"))
        XCTAssertTrue(AnycastCondition.evaluate(.allPoolsUp, pools: []) == (false, "no listener on this address"))
        XCTAssertTrue(AnycastCondition.evaluate(.always, pools: []) == (true, "announce_when = always"))
        XCTAssertTrue(AnycastCondition.evaluate(.always, pools: [api]).holds)
    }

    func testAnEmptyPoolIsDown() {
        let empty = AnycastCondition.PoolHealth(name: "new", up: 0, total: 0)
        XCTAssertTrue(AnycastCondition.evaluate(.anyMemberUp, pools: [empty]) == (false, "pool new: 0 of 0 members up"))
    }
}
