import Atomics
import CAllocationCounter
import FulcrumAddress
import FulcrumConfig
import FulcrumPools
import Foundation
import XCTest

final class AlgorithmTests: XCTestCase {
    private func member(_ name: String, _ last: UInt32, weight: Int = 1, backup: Bool = false) -> Member {
        Member(name: name, address: .v4(0x0A00_0000 | last), port: 8080, weight: weight, backup: backup)
    }

    private func client(_ last: UInt32, port: UInt16 = 40000) -> Endpoint {
        Endpoint(address: .v4(0xC000_0200 | last), port: port)
    }

    func testLeastConnectionsAvoidsTheLoadedMember() {
        let pool = Pool(name: "p", lbAlgorithm: .leastConnections, members: [member("a", 1), member("b", 2), member("c", 3)])
        var s = PoolSelector(pool: pool)
        s.openCounts[0].store(5, ordering: .relaxed)  // a holds 5 long connections
        var counts = [0, 0, 0]
        for i in 0..<10 {
            let m = Int(s.pick(client: client(UInt32(i)))!)
            counts[m] += 1
            s.openCounts[m].wrappingIncrement(ordering: .relaxed)  // the new connection stays open
        }
        XCTAssertEqual(counts[0], 0, "the loaded member got new connections: \(counts)")
        XCTAssertEqual(counts[1], 5)
        XCTAssertEqual(counts[2], 5)
    }

    func testLeastConnectionsIsWeightedAndBreaksTiesRoundRobin() {
        let pool = Pool(name: "p", lbAlgorithm: .leastConnections, members: [member("a", 1, weight: 2), member("b", 2)])
        var s = PoolSelector(pool: pool)
        var counts = [0, 0]
        for i in 0..<300 {
            let m = Int(s.pick(client: client(UInt32(i % 200)))!)
            counts[m] += 1
            s.openCounts[m].wrappingIncrement(ordering: .relaxed)
        }
        XCTAssertEqual(counts, [200, 100], "open/weight balanced 2:1")
        // With nobody open, ties rotate instead of always picking the first member.
        let idle = PoolSelector(pool: Pool(name: "q", lbAlgorithm: .leastConnections, members: [member("a", 1), member("b", 2)]))
        var t = idle
        let picks = (0..<4).map { _ in t.pick(client: client(1))! }
        XCTAssertEqual(Set(picks), [0, 1])
    }

    func testSourceIPMapsEachSourceToOneMemberAndSpreads() {
        let pool = Pool(name: "p", lbAlgorithm: .sourceIP, members: (1...4).map { member("m\($0)", UInt32($0)) })
        var s = PoolSelector(pool: pool)
        var t = PoolSelector(pool: pool, workerIndex: 1, workerCount: 2)
        var perMember = [Int](repeating: 0, count: 4)
        for source in 0..<400 {
            let first = s.pick(client: client(UInt32(source), port: 1000))!
            for port in [2000, 3000, 65000] as [UInt16] {
                XCTAssertEqual(s.pick(client: client(UInt32(source), port: port)), first)
                XCTAssertEqual(t.pick(client: client(UInt32(source), port: port)), first, "another worker must agree")
            }
            perMember[Int(first)] += 1
        }
        XCTAssertTrue(perMember.allSatisfy { $0 > 60 }, "400 sources over 4 members: \(perMember)")
    }

    func testSourceIPPortSpreadsOneSourceOverMembers() {
        let pool = Pool(name: "p", lbAlgorithm: .sourceIPPort, members: (1...3).map { member("m\($0)", UInt32($0)) })
        var s = PoolSelector(pool: pool)
        var perMember = [0, 0, 0]
        for port in 1000..<1600 {
            let m = s.pick(client: client(7, port: UInt16(port)))!
            XCTAssertEqual(s.pick(client: client(7, port: UInt16(port))), m)
            perMember[Int(m)] += 1
        }
        XCTAssertTrue(perMember.allSatisfy { $0 > 150 }, "\(perMember)")
    }

    func testSourceIPIgnoresMemberOrderInTheConfig() {
        let members = (1...5).map { member("m\($0)", UInt32($0)) }
        var a = PoolSelector(pool: Pool(name: "p", lbAlgorithm: .sourceIP, members: members))
        var b = PoolSelector(pool: Pool(name: "p", lbAlgorithm: .sourceIP, members: members.reversed()))
        for source in 0..<300 {
            let x = members[Int(a.pick(client: client(UInt32(source)))!)].address
            let y = members.reversed()[Int(b.pick(client: client(UInt32(source)))!)].address
            XCTAssertEqual(x, y)
        }
    }

    func testHashedRetryMovesOnlyTheFailedClient() {
        let pool = Pool(name: "p", lbAlgorithm: .sourceIP, members: (1...3).map { member("m\($0)", UInt32($0)) })
        var s = PoolSelector(pool: pool)
        let c = client(42)
        let first = s.pick(client: c)!
        var tried = MemberSet()
        tried.insert(first)
        let second = s.pick(client: c, excluding: tried)!
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(s.pick(client: c), first, "without the failure the client still maps to its member")
    }

    func testBackupOnlyWhenNoPrimaryForEveryAlgorithm() {
        for algorithm in LBAlgorithm.allCases {
            let pool = Pool(name: "p", lbAlgorithm: algorithm, members: [member("a", 1), member("b", 2, backup: true)])
            var s = PoolSelector(pool: pool)
            for i in 0..<20 { XCTAssertEqual(s.pick(client: client(UInt32(i))), 0, "\(algorithm)") }
            var tried = MemberSet()
            tried.insert(0)
            XCTAssertEqual(s.pick(client: client(1), excluding: tried), 1, "\(algorithm): backup after the primary failed")
            var drained = PoolSelector(pool: Pool(name: "p", lbAlgorithm: algorithm,
                                                  members: [member("a", 1, weight: 0), member("b", 2)]))
            for i in 0..<20 { XCTAssertEqual(drained.pick(client: client(UInt32(i))), 1, "\(algorithm): weight 0 drains") }
        }
    }

    func testPersistenceSticksWithinTimeoutAndGranularity() {
        let pool = Pool(name: "p", lbAlgorithm: .roundRobin, members: (1...3).map { member("m\($0)", UInt32($0)) })
        let table = StickTable(timeoutSeconds: 2, granularity: 0xFFFF_FF00)
        var s = PoolSelector(pool: pool, stickTable: table)
        let first = s.pick(client: client(5), now: 1000)!
        for t in stride(from: 1100, to: 2900, by: 100) {
            XCTAssertEqual(s.pick(client: client(5, port: UInt16(t)), now: Int64(t)), first, "round robin would move it")
        }
        XCTAssertEqual(s.pick(client: client(77), now: 3000), first, "same /24 under granularity 255.255.255.0")
        // Idle past the timeout: forgotten, round robin takes over again.
        var seen: Set<Int32> = []
        for i in 0..<6 { seen.insert(s.pick(client: client(5), now: 10_000 + Int64(i) * 2_500)!) }
        XCTAssertGreaterThan(seen.count, 1, "an expired entry must not pin the client forever")
        // A stuck member that is excluded (failed) is replaced and the new choice sticks.
        let now: Int64 = 50_000
        let stuck = s.pick(client: client(9), now: now)!
        var tried = MemberSet()
        tried.insert(stuck)
        let replacement = s.pick(client: client(9), excluding: tried, now: now)!
        XCTAssertNotEqual(replacement, stuck)
        XCTAssertEqual(s.pick(client: client(9), now: now + 10), replacement)
        table.forget(member: replacement)
        _ = s.pick(client: client(9), now: now + 20)  // re-chosen, not an error
    }

    /// The pick microbenchmark (figures printed, not asserted) and the allocation check
    /// (asserted: choosing a member must never touch the heap).
    func testPickCostAndAllocations() {
        let members = (1...10).map { member("m\($0)", UInt32($0), weight: $0) }
        defer { cac_untrack_current_thread() }
        for algorithm in LBAlgorithm.allCases {
            var s = PoolSelector(pool: Pool(name: "p", lbAlgorithm: algorithm, members: members))
            var sum = 0
            for i in 0..<1000 { sum &+= Int(s.pick(client: client(UInt32(i)))!) }
            let n = 2_000_000
            cac_track_current_thread()
            cac_reset()
            let start = DispatchTime.now().uptimeNanoseconds
            for i in 0..<n {
                sum &+= Int(s.pick(client: Endpoint(address: .v4(UInt32(truncatingIfNeeded: i &* 2_654_435_761)), port: UInt16(truncatingIfNeeded: i)))!)
            }
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            let allocations = cac_allocations()
            print("pick \(algorithm.rawValue): \(String(format: "%.1f", Double(elapsed) / Double(n))) ns, \(allocations) allocations, checksum \(sum)")
            XCTAssertEqual(allocations, 0, "\(algorithm) allocated while picking")
            XCTAssertGreaterThan(sum, 0)
        }
    }
}
