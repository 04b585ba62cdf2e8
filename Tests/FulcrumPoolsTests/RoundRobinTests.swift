import FulcrumAddress
import FulcrumConfig
import FulcrumPools
import XCTest

final class RoundRobinTests: XCTestCase {
    func testSmoothInterleavingForFiveOneOne() {
        // nginx's documented order for weights 5/1/1: a a b a c a a.
        XCTAssertEqual(SmoothWeightedRoundRobin.cycle(weights: [5, 1, 1]), [0, 0, 1, 0, 2, 0, 0])
    }

    func testThreeToOneInterleaves() {
        let cycle = SmoothWeightedRoundRobin.cycle(weights: [3, 1])
        XCTAssertEqual(cycle, [0, 0, 1, 0])
    }

    func testSharesMatchWeightsAndZeroWeightNeverPicked() {
        var rr = SmoothWeightedRoundRobin(weights: [1, 2, 3, 0])
        var counts = [0, 0, 0, 0]
        for _ in 0..<6000 { counts[Int(rr.next()!)] += 1 }
        XCTAssertEqual(counts, [1000, 2000, 3000, 0])
    }

    func testExclusionSkipsTriedMembersAndReportsExhaustion() {
        var rr = SmoothWeightedRoundRobin(weights: [1, 1, 1])
        var tried = MemberSet()
        tried.insert(0)
        tried.insert(2)
        for _ in 0..<5 { XCTAssertEqual(rr.next(excluding: tried), 1) }
        tried.insert(1)
        XCTAssertNil(rr.next(excluding: tried))
    }

    func testEmptyWhenNoWeight() {
        var rr = SmoothWeightedRoundRobin(weights: [0, 0])
        XCTAssertNil(rr.next())
    }

    private func pool(_ members: [Member]) -> Pool {
        Pool(name: "p", members: members)
    }

    private func member(_ name: String, weight: Int = 1, backup: Bool = false, up: Bool = true) -> Member {
        Member(name: name, address: IPAddress("127.0.0.1")!, port: 1, weight: weight, backup: backup, adminStateUp: up)
    }

    func testSelectorSkipsAdminDownAndDrainingMembers() {
        var s = PoolSelector(pool: pool([member("a", up: false), member("b", weight: 0), member("c")]))
        for _ in 0..<10 { XCTAssertEqual(s.pick(), 2) }
    }

    func testBackupOnlyWhenNoPrimaryAvailable() {
        var s = PoolSelector(pool: pool([member("a"), member("b", backup: true)]))
        for _ in 0..<10 { XCTAssertEqual(s.pick(), 0) }
        var tried = MemberSet()
        tried.insert(0)
        XCTAssertEqual(s.pick(excluding: tried), 1, "after the primary failed, the backup is tried")
        var onlyBackup = PoolSelector(pool: pool([member("a", up: false), member("b", backup: true)]))
        XCTAssertEqual(onlyBackup.pick(), 1)
        var none = PoolSelector(pool: pool([member("a", up: false)]))
        XCTAssertNil(none.pick())
    }

    func testStaggeredWorkersKeepShares() {
        let p = pool([member("a", weight: 1), member("b", weight: 2), member("c", weight: 3)])
        var counts = [0, 0, 0]
        for w in 0..<2 {
            var s = PoolSelector(pool: p, workerIndex: w, workerCount: 2)
            for _ in 0..<599 { counts[Int(s.pick()!)] += 1 }
        }
        XCTAssertEqual(counts.reduce(0, +), 1198)
        XCTAssertEqual(Double(counts[0]), 1198.0 / 6, accuracy: 2)
        XCTAssertEqual(Double(counts[2]), 1198.0 / 2, accuracy: 2)
    }
}
