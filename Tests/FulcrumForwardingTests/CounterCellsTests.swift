@testable import FulcrumForwarding
import FulcrumStatus
import XCTest

/// Counters are read while their worker writes them: a reader never sees a value go back or
/// one that was never written, and the sum after the writer stops is exact.
final class CounterCellsTests: XCTestCase {
    func testAReaderSeesMonotonicValuesWhileTheWriterCountsAndTheExactSumAtTheEnd() {
        let counters = WorkerCounters(listeners: 2, udpListeners: 1, members: 3)
        let rounds = 2_000_000
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for i in 0..<rounds {
                counters.listeners[1].accepted += 1
                counters.members[2].bytesToMember &+= 3
                if i % 2 == 0 { counters.udpMembers[0].datagramsTo += 1 }
            }
            done.signal()
        }
        var lastAccepted = 0, lastBytes = 0, reads = 0
        while done.wait(timeout: .now()) == .timedOut {
            let accepted = counters.listeners[1].values.accepted
            let bytes = counters.members[2].values.bytesToMember
            XCTAssertGreaterThanOrEqual(accepted, lastAccepted)
            XCTAssertGreaterThanOrEqual(bytes, lastBytes)
            XCTAssertEqual(bytes % 3, 0, "a value never written: \(bytes)")
            lastAccepted = accepted
            lastBytes = bytes
            reads += 1
        }
        XCTAssertGreaterThan(reads, 0)
        XCTAssertEqual(counters.listeners[1].accepted, rounds)
        XCTAssertEqual(counters.members[2].bytesToMember, 3 * rounds)
        XCTAssertEqual(counters.udpMembers[0].datagramsTo, rounds / 2)
        // Neighbouring cells are untouched: the arrays do not overlap.
        XCTAssertEqual(counters.listeners[0].values, ListenerCounters())
        XCTAssertEqual(counters.members[1].values, MemberCounters())
        XCTAssertEqual(counters.udpListeners[0].values, UDPListenerCounters())
        var expected = MemberCounters()
        expected.bytesToMember = 3 * rounds
        XCTAssertEqual(counters.members.values, [MemberCounters(), MemberCounters(), expected])
    }
}
