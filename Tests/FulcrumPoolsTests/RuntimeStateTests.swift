import CAllocationCounter
import FulcrumAddress
import FulcrumConfig
import FulcrumPools
import FulcrumStatus
import XCTest

/// Weights and admin states set at run time: a PoolRuntime change is taken up by every selector
/// at its next pick, for every algorithm, and picking after the change allocates nothing.
final class RuntimeStateTests: XCTestCase {
    private func member(_ name: String, _ last: UInt32, weight: Int = 1, backup: Bool = false) -> Member {
        Member(name: name, address: .v4(0x0A00_0000 | last), port: 8080, weight: weight, backup: backup)
    }

    private func client(_ n: Int) -> Endpoint {
        Endpoint(address: .v4(0xC000_0000 | UInt32(n)), port: UInt16(truncatingIfNeeded: 1024 + n))
    }

    private func picks(_ s: inout PoolSelector, _ count: Int = 1200) -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for i in 0..<count {
            guard let m = s.pick(client: client(i)) else { continue }
            counts[Int(m), default: 0] += 1
        }
        return counts
    }

    func testDrainAndMaintTakeAMemberOutOfEveryAlgorithmAndReadyBringsItBack() {
        for algorithm in LBAlgorithm.allCases {
            for state in [AdminState.drain, .maint] {
                let pool = Pool(name: "p", lbAlgorithm: algorithm, members: [member("a", 1), member("b", 2), member("c", 3)])
                let runtime = PoolRuntime(pool: pool)
                var workers = (0..<2).map { PoolSelector(pool: pool, workerIndex: $0, workerCount: 2, runtime: runtime) }
                XCTAssertEqual(Set(picks(&workers[0]).keys), [0, 1, 2], "\(algorithm)")
                XCTAssertEqual(runtime.set(member: 1, adminState: state), .ready)
                for w in workers.indices {
                    let counts = picks(&workers[w])
                    XCTAssertNil(counts[1], "\(algorithm) \(state): worker \(w) picked b: \(counts)")
                    XCTAssertEqual(counts.values.reduce(0, +), 1200, "\(algorithm): every client still got a member")
                }
                XCTAssertEqual(runtime.state.adminStates, [.ready, state, .ready])
                XCTAssertEqual(runtime.set(member: 1, adminState: .ready), state)
                XCTAssertEqual(Set(picks(&workers[1]).keys), [0, 1, 2], "\(algorithm): b is back")
            }
        }
    }

    func testWeightChangeMovesTheShareForEveryAlgorithm() throws {
        for algorithm in [LBAlgorithm.roundRobin, .sourceIP, .sourceIPPort] {
            let pool = Pool(name: "p", lbAlgorithm: algorithm, members: [member("a", 1), member("b", 2)])
            let runtime = PoolRuntime(pool: pool)
            var s = PoolSelector(pool: pool, runtime: runtime)
            let before = picks(&s, 4000)
            XCTAssertEqual(Double(before[0] ?? 0) / 4000, 0.5, accuracy: 0.05, "\(algorithm) before: \(before)")
            XCTAssertEqual(try runtime.set(member: 0, weight: 3), 1)
            let after = picks(&s, 4000)
            XCTAssertEqual(Double(after[0] ?? 0) / 4000, 0.75, accuracy: 0.05, "\(algorithm) after weight 3: \(after)")
            XCTAssertEqual(runtime.state.weights, [3, 1])
        }
        // Least connections weighs open counts by weight: with a at 3, a holds three times b's.
        let pool = Pool(name: "p", lbAlgorithm: .leastConnections, members: [member("a", 1), member("b", 2)])
        let runtime = PoolRuntime(pool: pool)
        var s = PoolSelector(pool: pool, runtime: runtime)
        try runtime.set(member: 0, weight: 3)
        for _ in 0..<400 {
            let m = s.pick()!
            runtime.openCounts[Int(m)].wrappingIncrement(ordering: .relaxed)
        }
        XCTAssertEqual(runtime.openCounts[0].load(ordering: .relaxed), 300)
        XCTAssertEqual(runtime.openCounts[1].load(ordering: .relaxed), 100)
    }

    func testWeightZeroDrainsAndOutOfRangeIsRefused() {
        let pool = Pool(name: "p", members: [member("a", 1), member("b", 2)])
        let runtime = PoolRuntime(pool: pool)
        var s = PoolSelector(pool: pool, runtime: runtime)
        XCTAssertNoThrow(try runtime.set(member: 0, weight: 0))
        XCTAssertNil(picks(&s)[0])
        XCTAssertThrowsError(try runtime.set(member: 0, weight: 257)) { error in
            XCTAssertEqual(error as? PoolRuntime.ChangeError, .weightOutOfRange(257))
        }
        XCTAssertThrowsError(try runtime.set(member: 0, weight: -1))
        XCTAssertEqual(runtime.state.weights, [0, 1], "a refused change leaves the state as it was")
    }

    /// The generation moves only on a real change, so selectors do not rebuild for nothing.
    func testGenerationMovesOnlyOnChange() throws {
        let runtime = PoolRuntime(pool: Pool(name: "p", members: [member("a", 1)]))
        let g0 = runtime.generation
        runtime.set(member: 0, adminState: .ready)
        try runtime.set(member: 0, weight: 1)
        XCTAssertEqual(runtime.generation, g0)
        runtime.set(member: 0, adminState: .drain)
        XCTAssertEqual(runtime.generation, g0 + 1)
    }

    /// A backup takes traffic when every primary is drained, as when they are down.
    func testBackupServesWhenEveryPrimaryIsInMaint() {
        let pool = Pool(name: "p", members: [member("p1", 1), member("p2", 2), member("b", 3, backup: true)])
        let runtime = PoolRuntime(pool: pool)
        var s = PoolSelector(pool: pool, runtime: runtime)
        XCTAssertNil(picks(&s)[2])
        runtime.set(member: 0, adminState: .maint)
        runtime.set(member: 1, adminState: .drain)
        XCTAssertEqual(picks(&s), [2: 1200])
    }

    /// Taking up a change and picking after it allocate nothing on the worker: the new state was
    /// built by the thread that made the change.
    func testPickingAfterAChangeAllocatesNothing() {
        for algorithm in LBAlgorithm.allCases {
            let pool = Pool(name: "p", lbAlgorithm: algorithm, members: [member("a", 1), member("b", 2), member("c", 3)])
            let runtime = PoolRuntime(pool: pool)
            var s = PoolSelector(pool: pool, runtime: runtime)
            _ = s.pick(client: client(0))
            runtime.set(member: 1, adminState: .drain)
            cac_track_current_thread()
            cac_reset()
            _ = s.pick(client: client(1))  // takes the new state: a lock and reference copies
            var sum = 0
            for i in 0..<10_000 { sum &+= Int(s.pick(client: client(i)) ?? -1) }
            let allocations = cac_allocations()
            cac_untrack_current_thread()
            XCTAssertEqual(allocations, 0, "\(algorithm) allocated while picking (checksum \(sum))")
        }
    }
}
