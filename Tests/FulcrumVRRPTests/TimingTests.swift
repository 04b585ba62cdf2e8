import FulcrumVRRP
import XCTest

final class TimingTests: XCTestCase {
    /// Skew_Time = (256 - priority) × interval / 256 and Master_Down_Interval = 3 × interval +
    /// Skew_Time, worked by hand in nanoseconds (1 cs = 10,000,000 ns):
    /// e.g. priority 100 at 10 cs: 156 × 100,000,000 / 256 = 60,937,500 ns.
    func testSkewAndMasterDownIntervalTable() {
        let table: [(centiseconds: Int, priority: UInt8, skew: Int64, masterDown: Int64)] = [
            (10, 1, 99_609_375, 399_609_375),
            (10, 100, 60_937_500, 360_937_500),
            (10, 254, 781_250, 300_781_250),
            (100, 1, 996_093_750, 3_996_093_750),
            (100, 100, 609_375_000, 3_609_375_000),
            (100, 254, 7_812_500, 3_007_812_500),
            (1000, 1, 9_960_937_500, 39_960_937_500),
            (1000, 100, 6_093_750_000, 36_093_750_000),
            (1000, 254, 78_125_000, 30_078_125_000),
        ]
        for row in table {
            let advertInterval = interval(row.centiseconds)
            XCTAssertEqual(VRRPTiming.skewTime(priority: row.priority, masterAdvertInterval: advertInterval).nanoseconds,
                           row.skew, "skew at \(row.centiseconds) cs, priority \(row.priority)")
            XCTAssertEqual(VRRPTiming.masterDownInterval(priority: row.priority, masterAdvertInterval: advertInterval).nanoseconds,
                           row.masterDown, "master down at \(row.centiseconds) cs, priority \(row.priority)")
        }
    }

    /// The point of the skew: a higher priority answers strictly sooner, even at the shortest
    /// interval, where whole-centisecond arithmetic would give several priorities the same skew.
    func testHigherPriorityAlwaysHasShorterSkew() {
        for centiseconds in [1, 10, 100] {
            for priority in UInt8(1)...253 {
                XCTAssertGreaterThan(
                    VRRPTiming.skewTime(priority: priority, masterAdvertInterval: interval(centiseconds)),
                    VRRPTiming.skewTime(priority: priority + 1, masterAdvertInterval: interval(centiseconds)))
            }
        }
    }

    func testDurationText() {
        XCTAssertEqual(VRRPDuration.milliseconds(350).description, "350 ms")
        XCTAssertEqual(VRRPDuration(nanoseconds: 360_937_500).description, "361 ms")
        XCTAssertEqual(VRRPDuration(nanoseconds: 781_250).description, "0.781 ms")
        XCTAssertEqual(VRRPDuration(nanoseconds: 2_187_500).description, "2.188 ms")
        XCTAssertEqual(VRRPDuration(nanoseconds: 1_500_000).description, "1.5 ms")
        XCTAssertEqual(VRRPDuration.zero.description, "0 ms")
        XCTAssertEqual(VRRPDuration.milliseconds(-5).description, "-5 ms")
        XCTAssertEqual(VRRPDuration.centiseconds(10), .milliseconds(100))
        XCTAssertEqual(VRRPDuration.microseconds(1500).nanoseconds, 1_500_000)
        XCTAssertEqual(ms(10) - ms(4), .milliseconds(6))
        XCTAssertEqual(ms(10) + .milliseconds(5), ms(15))
    }
}
