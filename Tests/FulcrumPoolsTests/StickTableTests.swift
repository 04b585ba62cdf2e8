import CAllocationCounter
import Dispatch
import FulcrumAddress
import FulcrumPools
import XCTest

/// The persistence table: carried over a reload for members that remain (same key, same last
/// seen), locked per lookup without allocating, consistent under concurrent workers.
final class StickTableTests: XCTestCase {
    private func client(_ n: UInt32) -> IPAddress { .v4(0xC000_0000 | n) }

    func testAdoptionKeepsClientsOfRemainingMembersUnderTheirNewIndex() {
        let old = StickTable(capacity: 1024, timeoutSeconds: 60, granularity: .max)
        for n in 0..<300 as Range<UInt32> { old.record(client(n), member: Int32(n % 3), now: 1000) }
        // Member 0 is now 1, member 1 is gone, member 2 is now 0.
        let new = StickTable(adopting: old, timeoutSeconds: 60, granularity: .max, memberMap: [1, -1, 0])
        for n in 0..<300 as Range<UInt32> {
            let expected: Int32? = [1, nil, 0][Int(n % 3)]
            XCTAssertEqual(new.lookup(client(n), now: 2000), expected, "client \(n)")
            XCTAssertEqual(old.lookup(client(n), now: 2000), Int32(n % 3), "the old table is left as it was")
        }
        // A dropped client is free to be stuck again.
        new.record(client(1), member: 2, now: 3000)
        XCTAssertEqual(new.lookup(client(1), now: 3001), 2)
    }

    func testAdoptionKeepsTheLastSeenTimeUnderTheNewTimeout() {
        let old = StickTable(capacity: 64, timeoutSeconds: 10, granularity: .max)
        old.record(client(1), member: 0, now: 1000)  // last seen at 1000
        XCTAssertEqual(old.lookup(client(1), now: 4000), 0)  // seen again at 4000: expires 14,000
        func adopted(timeout: Int) -> StickTable {
            StickTable(adopting: old, timeoutSeconds: timeout, granularity: .max, memberMap: [0])
        }
        XCTAssertEqual(adopted(timeout: 10).lookup(client(1), now: 13_999), 0)
        XCTAssertNil(adopted(timeout: 10).lookup(client(1), now: 14_000), "same timeout, same expiry")
        XCTAssertEqual(adopted(timeout: 20).lookup(client(1), now: 23_999), 0, "a longer timeout counts from the last sight")
        XCTAssertNil(adopted(timeout: 20).lookup(client(1), now: 24_000))
        XCTAssertNil(adopted(timeout: 2).lookup(client(1), now: 6_000), "a shorter one too")
    }

    func testAdoptionKeepsKeysMaskedByAnUnchangedGranularityAndDropsAllWhenItChanges() {
        let old = StickTable(capacity: 64, timeoutSeconds: 60, granularity: 0xFFFF_FF00)
        old.record(.v4(0x0A00_0105), member: 1, now: 0)
        old.record(.v6(1, 2), member: 0, now: 0)
        let same = StickTable(adopting: old, timeoutSeconds: 60, granularity: 0xFFFF_FF00, memberMap: [0, 1])
        XCTAssertEqual(same.lookup(.v4(0x0A00_01FE), now: 1), 1, "another client of the same /24")
        XCTAssertEqual(same.lookup(.v6(1, 2), now: 1), 0)
        let regrouped = StickTable(adopting: old, timeoutSeconds: 60, granularity: .max, memberMap: [0, 1])
        XCTAssertNil(regrouped.lookup(.v4(0x0A00_0105), now: 1))
        XCTAssertNil(regrouped.lookup(.v6(1, 2), now: 1))
    }

    func testAMemberMapShorterThanTheOldPoolDropsTheRest() {
        let old = StickTable(capacity: 64, timeoutSeconds: 60, granularity: .max)
        old.record(client(1), member: 0, now: 0)
        old.record(client(2), member: 5, now: 0)
        let new = StickTable(adopting: old, timeoutSeconds: 60, granularity: .max, memberMap: [0])
        XCTAssertEqual(new.lookup(client(1), now: 1), 0)
        XCTAssertNil(new.lookup(client(2), now: 1))
    }

    func testLookupAndRecordAllocateNothing() {
        let old = StickTable(capacity: 4096, timeoutSeconds: 60, granularity: .max)
        for n in 0..<1000 as Range<UInt32> { old.record(client(n), member: 0, now: 0) }
        let table = StickTable(adopting: old, timeoutSeconds: 60, granularity: .max, memberMap: [2])
        // Each path once first: the runtime allocates generic metadata on first use.
        _ = table.lookup(client(0), now: 0)
        table.record(client(9999), member: 1, now: 0)
        table.forget(member: 3)
        defer { cac_untrack_current_thread() }
        cac_track_current_thread()
        cac_reset()
        var sum = 0
        for i in 0..<100_000 {
            let c = client(UInt32(i % 2000))
            if let m = table.lookup(c, now: Int64(i)) { sum &+= Int(m) } else { table.record(c, member: 1, now: Int64(i)) }
        }
        table.forget(member: 1)
        let allocations = cac_allocations()
        cac_untrack_current_thread()
        XCTAssertEqual(allocations, 0, "checksum \(sum)")
        XCTAssertGreaterThan(sum, 0)
    }

    /// Workers share a pool's table: each thread's clients stay stuck to what it recorded.
    func testConcurrentWorkersSeeTheirOwnRecords() {
        let table = StickTable(capacity: 1 << 16, timeoutSeconds: 60, granularity: .max)
        let threads = 4
        let mismatches = (0..<threads).map { _ in UnsafeMutablePointer<Int>.allocate(capacity: 1) }
        defer { mismatches.forEach { $0.deallocate() } }
        let slots = mismatches.map { UInt(bitPattern: $0) }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let counter = UnsafeMutablePointer<Int>(bitPattern: slots[t])!
            counter.pointee = 0
            for round in 0..<20_000 {
                let c: IPAddress = .v4(UInt32(t) << 24 | UInt32(round % 500))
                if round < 500 {
                    table.record(c, member: Int32(t), now: 0)
                } else if table.lookup(c, now: Int64(round)) != Int32(t) {
                    counter.pointee += 1
                }
            }
        }
        XCTAssertEqual(mismatches.map(\.pointee), Array(repeating: 0, count: threads))
    }
}
