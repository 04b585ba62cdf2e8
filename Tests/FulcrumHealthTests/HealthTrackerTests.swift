import FulcrumConfig
@testable import FulcrumHealth
import FulcrumStatus
import HeapModule
import XCTest

final class HealthTrackerTests: XCTestCase {
    func testUnknownMemberGoesDownAfterFallFailuresAndKeepsTrafficUntilThen() {
        var t = HealthTracker(rise: 2, fall: 3)
        XCTAssertEqual(t.verdict, .unknown)
        XCTAssertTrue(t.available)
        XCTAssertNil(t.record(passed: false))
        XCTAssertNil(t.record(passed: false))
        XCTAssertTrue(t.available)
        XCTAssertEqual(t.record(passed: false), .down)
        XCTAssertFalse(t.available)
        XCTAssertNil(t.record(passed: false), "already down: no second transition")
    }

    func testRiseNeedsConsecutiveSuccesses() {
        var t = HealthTracker(rise: 3, fall: 1)
        XCTAssertEqual(t.record(passed: false), .down)
        XCTAssertNil(t.record(passed: true))
        XCTAssertNil(t.record(passed: true))
        XCTAssertNil(t.record(passed: false), "a failure resets the run of successes")
        XCTAssertNil(t.record(passed: true))
        XCTAssertNil(t.record(passed: true))
        XCTAssertFalse(t.available)
        XCTAssertEqual(t.record(passed: true), .up)
        XCTAssertTrue(t.available)
    }

    func testFlappingWithinTheThresholdsChangesNothing() {
        var t = HealthTracker(rise: 2, fall: 2)
        XCTAssertNil(t.record(passed: true))
        XCTAssertEqual(t.record(passed: true), .up)
        for _ in 0..<50 {
            XCTAssertNil(t.record(passed: false))
            XCTAssertNil(t.record(passed: true))
        }
        XCTAssertEqual(t.verdict, .up)
    }

    func testRandomisedAgainstAModel() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let rise = Int.random(in: 1...4, using: &generator), fall = Int.random(in: 1...4, using: &generator)
            var t = HealthTracker(rise: rise, fall: fall)
            var history: [Bool] = []
            var expected = HealthTracker.Verdict.unknown
            for _ in 0..<60 {
                let passed = Bool.random(using: &generator)
                history.append(passed)
                // The model: the verdict is set by the last run of `rise` passes or `fall` failures.
                let runs = history.reversed().prefix { $0 == passed }.count
                let old = expected
                if passed && runs >= rise { expected = .up }
                if !passed && runs >= fall { expected = .down }
                let change = t.record(passed: passed)
                XCTAssertEqual(t.verdict, expected)
                XCTAssertEqual(change, old == expected ? nil : expected)
            }
        }
    }

    func testMemberStatus() {
        XCTAssertEqual(memberStatus(adminStateUp: false, weight: 1, monitored: true, verdict: .up), .offline)
        XCTAssertEqual(memberStatus(adminStateUp: true, weight: 1, monitored: false, verdict: .unknown), .noMonitor)
        XCTAssertEqual(memberStatus(adminStateUp: true, weight: 0, monitored: false, verdict: .unknown), .draining)
        XCTAssertEqual(memberStatus(adminStateUp: true, weight: 0, monitored: true, verdict: .up), .draining)
        XCTAssertEqual(memberStatus(adminStateUp: true, weight: 0, monitored: true, verdict: .down), .error)
        XCTAssertEqual(memberStatus(adminStateUp: true, weight: 3, monitored: true, verdict: .up), .online)
        XCTAssertEqual(memberStatus(adminStateUp: true, weight: 3, monitored: true, verdict: .down), .error)
        XCTAssertEqual(memberStatus(adminStateUp: true, weight: 3, monitored: true, verdict: .unknown), .unknown)
    }

    func testPoolStatus() {
        XCTAssertEqual(poolStatus([.online, .online]), .online)
        XCTAssertEqual(poolStatus([.online, .error]), .degraded)
        XCTAssertEqual(poolStatus([.online, .offline]), .online)
        XCTAssertEqual(poolStatus([.error, .error]), .error)
        XCTAssertEqual(poolStatus([.error, .offline, .draining]), .error)
        XCTAssertEqual(poolStatus([.noMonitor]), .online)
        XCTAssertEqual(poolStatus([.unknown, .error]), .degraded)
    }

    func testCheckResultText() {
        XCTAssertEqual(CheckResult(.l4con, "connection refused").description, "L4CON connection refused")
        XCTAssertEqual(CheckResult(.l7sts, "503").description, "L7STS 503")
        XCTAssertTrue(CheckResult(.l7ok, "200").passed)
        XCTAssertFalse(CheckResult(.l7sts, "503").passed)
        XCTAssertFalse(CheckResult(.sockerr).passed)
    }
}

final class HealthDeadlineTests: XCTestCase {
    /// The checker's timers come out of swift-collections' Heap in time order, ties broken
    /// without losing any.
    func testPopsInTimeOrder() {
        var deadlines = Heap<HealthDeadline>(minimumCapacity: 8)
        var generator = SystemRandomNumberGenerator()
        var times: [Int64] = []
        for i in 0..<500 {
            let t = Int64.random(in: 0..<100, using: &generator)
            times.append(t)
            deadlines.insert(.init(atMs: t, target: Int32(i), serial: 0, kind: i % 2 == 0 ? .start : .timeout))
        }
        var popped: [Int64] = []
        var targets = Set<Int32>()
        while let e = deadlines.popMin() {
            popped.append(e.atMs)
            targets.insert(e.target)
        }
        XCTAssertEqual(popped, times.sorted())
        XCTAssertEqual(targets.count, 500)
        XCTAssertTrue(deadlines.isEmpty)
    }

    func testOrderIsTotal() {
        let a = HealthDeadline(atMs: 5, target: 1, serial: 0, kind: .start)
        let b = HealthDeadline(atMs: 5, target: 1, serial: 0, kind: .timeout)
        XCTAssertTrue(a < b)
        XCTAssertFalse(b < a)
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(HealthDeadline(atMs: 4, target: 9, serial: 9, kind: .timeout) < a)
    }
}
