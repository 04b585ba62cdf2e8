import FulcrumAnycast
import XCTest

final class AnnouncementGateTests: XCTestCase {
    func testStartsWithdrawnAndAnnouncesAfterHoldDown() {
        var gate = AnnouncementGate(holdDownMs: 1000, condition: true, nowMs: 0)
        XCTAssertFalse(gate.announced)
        XCTAssertNil(gate.observe(true, forcedOff: false, nowMs: 999))
        XCTAssertEqual(gate.pending(forcedOff: false, nowMs: 999)?.change, .announce)
        XCTAssertEqual(gate.pending(forcedOff: false, nowMs: 999)?.remainingMs, 1)
        XCTAssertEqual(gate.observe(true, forcedOff: false, nowMs: 1000), .announce)
        XCTAssertTrue(gate.announced)
        XCTAssertNil(gate.pending(forcedOff: false, nowMs: 1000))
        XCTAssertNil(gate.observe(true, forcedOff: false, nowMs: 5000))
    }

    func testWithdrawsOnlyAfterTheConditionHasBeenFalseForHoldDown() {
        var gate = AnnouncementGate(holdDownMs: 1000, condition: true, nowMs: 0)
        _ = gate.observe(true, forcedOff: false, nowMs: 1000)
        XCTAssertNil(gate.observe(false, forcedOff: false, nowMs: 2000))
        XCTAssertNil(gate.observe(false, forcedOff: false, nowMs: 2999))
        XCTAssertEqual(gate.observe(false, forcedOff: false, nowMs: 3000), .withdraw)
        XCTAssertFalse(gate.announced)
    }

    /// A member that fails every other check: the condition never keeps a value for hold_down.
    func testAFlappingConditionNeverMovesTheAnnouncement() {
        var gate = AnnouncementGate(holdDownMs: 1000, condition: true, nowMs: 0)
        _ = gate.observe(true, forcedOff: false, nowMs: 1000)
        var now: Int64 = 1000
        for i in 0..<200 {
            now += 300
            XCTAssertNil(gate.observe(i % 2 == 0, forcedOff: false, nowMs: now), "turn \(i)")
        }
        XCTAssertTrue(gate.announced)
    }

    func testZeroHoldDownFollowsAtOnce() {
        var gate = AnnouncementGate(holdDownMs: 0, condition: false, nowMs: 0)
        XCTAssertEqual(gate.observe(true, forcedOff: false, nowMs: 1), .announce)
        XCTAssertEqual(gate.observe(false, forcedOff: false, nowMs: 2), .withdraw)
    }

    func testForcedOffWithdrawsAtOnceAndReleasingAnnouncesAtOnceWhenHealthy() {
        var gate = AnnouncementGate(holdDownMs: 1000, condition: true, nowMs: 0)
        _ = gate.observe(true, forcedOff: false, nowMs: 1000)
        XCTAssertEqual(gate.observe(true, forcedOff: true, nowMs: 1500), .withdraw)
        XCTAssertNil(gate.observe(true, forcedOff: true, nowMs: 9000))
        XCTAssertNil(gate.pending(forcedOff: true, nowMs: 9000))
        // The condition has held since 0: no hold_down to wait out.
        XCTAssertEqual(gate.observe(true, forcedOff: false, nowMs: 9001), .announce)
    }

    func testReleasingWhileUnhealthyWaits() {
        var gate = AnnouncementGate(holdDownMs: 1000, condition: true, nowMs: 0)
        _ = gate.observe(true, forcedOff: false, nowMs: 1000)
        _ = gate.observe(true, forcedOff: true, nowMs: 1100)
        _ = gate.observe(false, forcedOff: true, nowMs: 1200)
        XCTAssertNil(gate.observe(false, forcedOff: false, nowMs: 5000))
        XCTAssertNil(gate.observe(true, forcedOff: false, nowMs: 5100))
        XCTAssertEqual(gate.observe(true, forcedOff: false, nowMs: 6100), .announce)
    }
}
