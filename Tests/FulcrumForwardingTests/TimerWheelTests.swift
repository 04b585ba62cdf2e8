@testable import FulcrumForwarding
import XCTest

final class TimerWheelTests: XCTestCase {
    func testFiresAtOrAfterDeadlineNeverBefore() {
        var wheel = TimerWheel(capacity: 8, tickMs: 10, buckets: 16, now: 1000)
        wheel.arm(1, at: 1025)
        wheel.arm(2, at: 1050)
        var fired: [Int32] = []
        wheel.collectExpired(now: 1024, into: &fired)
        XCTAssertEqual(fired, [])
        wheel.collectExpired(now: 1025, into: &fired)
        XCTAssertEqual(fired, [1])
        wheel.collectExpired(now: 1049, into: &fired)
        XCTAssertEqual(fired, [1])
        wheel.collectExpired(now: 1060, into: &fired)
        XCTAssertEqual(fired, [1, 2])
        XCTAssertTrue(wheel.isEmpty)
    }

    func testCancelAndRearm() {
        var wheel = TimerWheel(capacity: 8, tickMs: 10, buckets: 16, now: 0)
        wheel.arm(3, at: 50)
        wheel.arm(4, at: 50)
        wheel.cancel(3)
        wheel.cancel(3)  // cancelling twice is harmless
        XCTAssertEqual(wheel.count, 1)
        wheel.arm(4, at: 500)  // re-arming moves it
        XCTAssertEqual(wheel.count, 1)
        var fired: [Int32] = []
        wheel.collectExpired(now: 100, into: &fired)
        XCTAssertEqual(fired, [])
        wheel.collectExpired(now: 500, into: &fired)
        XCTAssertEqual(fired, [4])
    }

    func testDeadlinesBeyondOneTurnWaitForTheirTurn() {
        // 16 buckets x 10 ms = 160 ms per turn; a 1 s deadline passes its bucket 6 times first.
        var wheel = TimerWheel(capacity: 4, tickMs: 10, buckets: 16, now: 0)
        wheel.arm(0, at: 1000)
        var fired: [Int32] = []
        var t: Int64 = 0
        while t < 1000 {
            wheel.collectExpired(now: t, into: &fired)
            XCTAssertEqual(fired, [], "fired early at \(t)")
            t += 7
        }
        wheel.collectExpired(now: 1003, into: &fired)
        XCTAssertEqual(fired, [0])
    }

    func testLongStallFiresEverythingDue() {
        var wheel = TimerWheel(capacity: 100, tickMs: 10, buckets: 16, now: 0)
        for i in 0..<100 { wheel.arm(Int32(i), at: Int64(i * 37)) }
        var fired: [Int32] = []
        wheel.collectExpired(now: 10_000, into: &fired)
        XCTAssertEqual(Set(fired), Set(0..<100))
    }

    func testPastDeadlineFiresOnNextCollect() {
        var wheel = TimerWheel(capacity: 2, tickMs: 10, buckets: 16, now: 500)
        var fired: [Int32] = []
        wheel.collectExpired(now: 500, into: &fired)
        wheel.arm(1, at: 100)
        wheel.collectExpired(now: 501, into: &fired)
        XCTAssertEqual(fired, [1])
    }

    func testGrowKeepsArmedTimers() {
        var wheel = TimerWheel(capacity: 2, tickMs: 10, buckets: 16, now: 0)
        wheel.arm(1, at: 30)
        wheel.grow(to: 10)
        wheel.arm(9, at: 40)
        var fired: [Int32] = []
        wheel.collectExpired(now: 45, into: &fired)
        XCTAssertEqual(Set(fired), [1, 9])
    }

    func testNextTickTimeoutIdleAndBusy() {
        var wheel = TimerWheel(capacity: 2, tickMs: 10, buckets: 16, now: 0)
        XCTAssertEqual(wheel.millisecondsToNextTick(now: 3), -1)
        wheel.arm(0, at: 1000)
        XCTAssertEqual(wheel.millisecondsToNextTick(now: 3), 7)
        XCTAssertEqual(wheel.millisecondsToNextTick(now: 10), 10)
    }

    /// Random arm/cancel/collect against a simple model: every timer fires exactly once, at or
    /// after its deadline and no later than one tick after it.
    func testRandomisedAgainstModel() {
        var rng = SystemRandomNumberGenerator()
        var wheel = TimerWheel(capacity: 64, tickMs: 10, buckets: 32, now: 0)
        var model: [Int32: Int64] = [:]
        var fired: [Int32] = []
        var now: Int64 = 0
        for _ in 0..<20_000 {
            let id = Int32.random(in: 0..<64, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                let deadline = now + Int64.random(in: 0..<2000, using: &rng)
                wheel.arm(id, at: deadline)
                model[id] = deadline
            case 1:
                wheel.cancel(id)
                model[id] = nil
            default:
                now += Int64.random(in: 0..<15, using: &rng)
                fired.removeAll()
                wheel.collectExpired(now: now, into: &fired)
                for f in fired {
                    let deadline = model.removeValue(forKey: f)
                    XCTAssertNotNil(deadline, "timer \(f) fired twice or after cancel")
                    if let deadline { XCTAssertLessThanOrEqual(deadline, now) }
                }
                for (id, deadline) in model {
                    XCTAssertGreaterThan(deadline, now - 10, "timer \(id) overdue")
                }
            }
        }
        XCTAssertEqual(wheel.count, model.count)
    }
}
