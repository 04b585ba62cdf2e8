import CAllocationCounter
import XCTest

/// The allocation tests prove "nothing allocated" with a counter; this proves the counter counts,
/// in a plain build (it replaces malloc) and under ASan (scripts/sanitize: it counts through ASan's
/// malloc hook), so a zero there is never a counter that saw nothing. Under TSan it fails by
/// design (the counter reports -1 there: TSan's hook misses Swift's allocations).
final class AllocationCounterTests: XCTestCase {
    func testTheCounterSeesAnAllocationOnATrackedThreadAndNoneOnOthers() {
        cac_reset()
        cac_track_current_thread()
        let count = 1000 + Int.random(in: 0..<10)
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        buffer.initialize(repeating: 7, count: count)
        cac_untrack_current_thread()
        let tracked = cac_allocations()
        XCTAssertGreaterThanOrEqual(tracked, 1, "a heap allocation on a tracked thread was not counted")
        buffer.deallocate()
        let untracked = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        untracked.deallocate()
        XCTAssertEqual(cac_allocations(), tracked, "an allocation on an untracked thread was counted")
    }
}
