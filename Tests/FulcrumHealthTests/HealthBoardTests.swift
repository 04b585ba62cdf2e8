@testable import FulcrumHealth
import FulcrumStatus
import XCTest

/// What the control thread reads about health: last check, failures, verdict changes with
/// their time, and downtime that includes the spell still going on.
final class HealthBoardTests: XCTestCase {
    func testRecordsChecksVerdictsAndDowntime() {
        let board = HealthBoard(monitored: [true, false], members: [2, 3], startedAt: 1000)
        XCTAssertNil(board.statuses(now: 1000)[1], "a pool without a monitor has no health entries")
        XCTAssertEqual(board.statuses(now: 1000)[0]?[0], MemberHealthStatus(lastChange: 1000))

        board.record(pool: 0, member: 1, result: CheckResult(.l4ok, latencyMs: 1.5), verdict: .up, at: 1010)
        board.record(pool: 0, member: 1, result: CheckResult(.l4con, "connection refused", latencyMs: 0.2), verdict: nil, at: 1020)
        board.record(pool: 0, member: 1, result: CheckResult(.l4con, "connection refused"), verdict: .down, at: 1030)
        // A local failure is not the member's: not counted as a failed check.
        board.record(pool: 0, member: 1, result: CheckResult(.sockerr, "EMFILE"), verdict: nil, at: 1035)
        var s = board.statuses(now: 1050)[0]![1]
        XCTAssertEqual(s.verdict, .down)
        XCTAssertEqual(s.lastCheck, "SOCKERR")
        XCTAssertEqual(s.lastCheckDetail, "EMFILE")
        XCTAssertEqual(s.checksFailed, 2)
        XCTAssertEqual(s.downTransitions, 1)
        XCTAssertEqual(s.lastChange, 1030)
        XCTAssertEqual(s.downtimeSeconds, 20, "the current down spell counts")

        board.record(pool: 0, member: 1, result: CheckResult(.l4ok, latencyMs: 0.7), verdict: .up, at: 1060)
        s = board.statuses(now: 2000)[0]![1]
        XCTAssertEqual(s.verdict, .up)
        XCTAssertEqual(s.lastChange, 1060)
        XCTAssertEqual(s.downtimeSeconds, 30, "closed spells only")
        XCTAssertEqual(s.lastCheckDurationMs, 0.7)
        XCTAssertEqual(board.statuses(now: 2000)[0]![0], MemberHealthStatus(lastChange: 1000), "the other member untouched")
    }
}
