import FulcrumAddress
import FulcrumVRRP
import XCTest

/// Two (and three) routers against each other over a simulated link: the behaviour the netns
/// tests will check on real interfaces, here in simulated time and without root.
final class TwoRouterSimulationTests: XCTestCase {
    private let a = 0  // 198.18.0.11, priority 200
    private let b = 1  // 198.18.0.12, priority 100
    private let masterDownB = VRRPTiming.masterDownInterval(priority: 100, masterAdvertInterval: interval(10))
    private let skewB = VRRPTiming.skewTime(priority: 100, masterAdvertInterval: interval(10))
    private let masterDownA = VRRPTiming.masterDownInterval(priority: 200, masterAdvertInterval: interval(10))

    private func pair(preemptA: VRRPPreemption = .immediate, priorityB: UInt8 = 100) -> SimulatedLink {
        SimulatedLink([configuration(priority: 200, address: nodeA, preemption: preemptA),
                       configuration(priority: priorityB, address: nodeB)])
    }

    /// Both start (B a little later): exactly one master, the higher priority, and from the
    /// moment it exists never two holders.
    func testBothStartExactlyOneMaster() {
        var link = pair()
        link.start(a)
        link.run(for: .milliseconds(5))
        link.start(b)
        link.run(for: .milliseconds(3000))
        XCTAssertEqual(link.masters, [a])
        XCTAssertEqual(link.holders, [a])
        XCTAssertEqual(link.overlaps, [])
        XCTAssertEqual(link.nodes[b].router.masterAddress, nodeA)
        XCTAssertEqual(link.becameMaster(a, after: ms(0)), ms(0) + masterDownA, "A waited one Master_Down_Interval")
        XCTAssertNil(link.becameMaster(b, after: ms(0)))
        XCTAssertEqual(link.decodeFailures, [])
        XCTAssertGreaterThan(link.nodes[b].router.counters.advertsReceived, 20)
    }

    /// Kill the master: the backup is master within its Master_Down_Interval of the last advert
    /// (plus the link's latency) — not sooner than three intervals, not later.
    func testKilledMasterIsReplacedWithinMasterDownInterval() throws {
        var link = pair()
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(2000))
        let killedAt = link.now
        link.kill(a)
        link.run(for: .milliseconds(2000))
        XCTAssertEqual(link.masters, [b])
        let takeover = try XCTUnwrap(link.becameMaster(b, after: killedAt))
        XCTAssertLessThanOrEqual(takeover - killedAt, masterDownB + link.latency)
        XCTAssertGreaterThan(takeover - killedAt, VRRPDuration.milliseconds(200))
        guard case let .becomeMaster(reason) = link.transitions.last(where: { $0.node == b })?.action,
              case let .masterDown(master, silentFor) = reason else { return XCTFail("no master-down transition") }
        XCTAssertEqual(master, nodeA)
        XCTAssertEqual(silentFor, masterDownB)
    }

    /// SIGTERM on the master: priority 0, and the backup is master after Skew_Time.
    func testStoppedMasterIsReplacedAfterSkewTime() throws {
        var link = pair()
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(1000))
        let stoppedAt = link.now
        link.stop(a)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [b])
        let takeover = try XCTUnwrap(link.becameMaster(b, after: stoppedAt))
        XCTAssertEqual(takeover - stoppedAt, link.latency + skewB)
        XCTAssertEqual(link.nodes[b].router.lastTransition?.reason, .masterShutDown(master: nodeA))
        XCTAssertEqual(link.overlaps, [])
    }

    /// The old master comes back with preemption: it takes the role back, and the two hold
    /// the addresses together only for the one latency its first advert takes to arrive.
    func testRestoredMasterPreemptsBack() throws {
        var link = pair()
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(1000))
        link.kill(a)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [b])
        let restartedAt = link.now
        link.start(a)
        link.run(for: .milliseconds(2000))
        XCTAssertEqual(link.masters, [a])
        XCTAssertEqual(link.holders, [a])
        let preempted = try XCTUnwrap(link.becameMaster(a, after: restartedAt))
        XCTAssertEqual(preempted - restartedAt, masterDownA, "A ignored B's lower adverts and waited its own interval")
        XCTAssertEqual(link.nodes[a].router.lastTransition?.reason, .preempting(master: nodeB, theirPriority: 100, ourPriority: 200))
        XCTAssertEqual(link.nodes[b].router.lastTransition?.reason, .higherPriority(from: nodeA, priority: 200, ourPriority: 100))
        XCTAssertEqual(link.overlaps.filter { $0 >= restartedAt }, [preempted],
                       "both held the addresses only until A's first advert reached B, one latency later")
    }

    /// Without preemption the restored node stays backup behind the lower master.
    func testRestoredMasterWithoutPreemptStaysBackup() {
        var link = pair(preemptA: .disabled)
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(1000))
        link.kill(a)
        link.run(for: .milliseconds(1000))
        link.start(a)
        link.run(for: .milliseconds(5000))
        XCTAssertEqual(link.masters, [b])
        XCTAssertEqual(link.nodes[a].router.state, .backup)
    }

    /// With a preempt delay the restored node waits that long before taking over.
    func testRestoredMasterWithPreemptDelayWaits() throws {
        var link = pair(preemptA: .enabled(delay: .milliseconds(2000)))
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(1000))
        link.kill(a)
        link.run(for: .milliseconds(1000))
        let restartedAt = link.now
        link.start(a)
        link.run(for: .milliseconds(1900))
        XCTAssertEqual(link.masters, [b], "still inside the delay")
        link.run(for: .milliseconds(2000))
        XCTAssertEqual(link.masters, [a])
        let preempted = try XCTUnwrap(link.becameMaster(a, after: restartedAt))
        XCTAssertGreaterThanOrEqual(preempted - restartedAt, .milliseconds(2000))
        XCTAssertLessThanOrEqual(preempted - restartedAt, .milliseconds(2000) + masterDownA + .milliseconds(100))
    }

    /// Partition: each side hears nothing and both become master. Heal: the RFC's rule leaves
    /// one — the higher priority — and the winner re-announced the addresses.
    func testPartitionMakesTwoMastersAndHealingLeavesOne() throws {
        var link = pair()
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(1000))
        let cutAt = link.now
        link.partition(true)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [a, b], "split brain while partitioned")
        XCTAssertNotNil(link.becameMaster(b, after: cutAt))
        let healedAt = link.now
        link.partition(false)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [a])
        XCTAssertEqual(link.holders, [a])
        XCTAssertGreaterThan(link.nodes[a].reannouncements, 0, "the winner re-announced")
        let lastOverlap = try XCTUnwrap(link.overlaps.last)
        XCTAssertLessThanOrEqual(lastOverlap - healedAt, .milliseconds(100) + link.latency, "converged within one advert")
    }

    /// Whichever master's advert crosses the healed link first, the client ends up pointing at
    /// the winner: either the winner hears the loser and re-announces, or the loser yields to
    /// the winner's advert and its step-down advert makes the winner re-announce.
    func testAfterHealingTheNeighbourFollowsTheWinnerWhateverThePhase() {
        for offset in stride(from: Int64(0), to: 100, by: 7) {
            var link = pair()
            link.start(a)
            link.run(for: .milliseconds(offset))
            link.start(b)
            link.run(for: .milliseconds(1000))
            link.partition(true)
            link.run(for: .milliseconds(1000))
            XCTAssertEqual(link.neighbourEntry, b, "B announced last during the partition (offset \(offset) ms)")
            link.partition(false)
            link.run(for: .milliseconds(1000))
            XCTAssertEqual(link.masters, [a], "offset \(offset) ms")
            XCTAssertEqual(link.neighbourEntry, a, "offset \(offset) ms")
        }
    }

    /// The same with equal priorities: the higher primary address wins, whichever side it is.
    func testPartitionWithEqualPrioritiesConvergesOnHigherAddress() {
        for (firstAddress, secondAddress) in [(nodeA, nodeB), (nodeB, nodeA)] {
            var link = SimulatedLink([configuration(priority: 150, address: firstAddress),
                                      configuration(priority: 150, address: secondAddress)])
            link.start(0)
            link.start(1)
            link.run(for: .milliseconds(1000))
            XCTAssertEqual(link.masters.count, 1)
            link.partition(true)
            link.run(for: .milliseconds(1000))
            XCTAssertEqual(link.masters.count, 2)
            link.partition(false)
            link.run(for: .milliseconds(1000))
            XCTAssertEqual(link.masters.map { link.nodes[$0].router.configuration.primaryAddress }, [nodeB], "\(firstAddress) first")
            XCTAssertEqual(link.neighbourEntry.map { link.nodes[$0].router.configuration.primaryAddress }, nodeB)
        }
    }

    /// A one-way cut (A hears B, B does not hear A) makes B master; A, hearing a lower master,
    /// advertises at once — which B never hears — so both stay master until the cut heals.
    func testOneWayCutThenHeal() {
        var link = pair()
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(1000))
        link.blocked[a][b] = true
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [a, b])
        link.blocked[a][b] = false
        link.run(for: .milliseconds(500))
        XCTAssertEqual(link.masters, [a])
    }

    /// Tracked pools down on the master: B takes over; pools back: A preempts back.
    func testTrackedPoolDownMovesTheRoleAndBack() throws {
        var link = pair()
        link.start(a)
        link.start(b)
        link.run(for: .milliseconds(1000))
        let droppedAt = link.now
        link.setEffectivePriority(a, 200 - 150)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [b])
        let takeover = try XCTUnwrap(link.becameMaster(b, after: droppedAt))
        XCTAssertLessThanOrEqual(takeover - droppedAt, masterDownB + link.latency)
        XCTAssertEqual(link.nodes[a].router.state, .backup)
        let restoredAt = link.now
        link.setEffectivePriority(a, 200)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [a])
        let back = try XCTUnwrap(link.becameMaster(a, after: restoredAt))
        // A's running Master_Down_Timer was set while its priority was 50, so it runs out on
        // that (longer) interval; the new priority counts from the next advert on.
        let masterDownAt50 = VRRPTiming.masterDownInterval(priority: 50, masterAdvertInterval: interval(10))
        XCTAssertLessThanOrEqual(back - restoredAt, masterDownAt50 + link.latency)
        XCTAssertEqual(link.overlaps.filter { $0 >= droppedAt }, [takeover, back],
                       "two holders only for the latency of each takeover's first advert")
    }

    /// Lossy link: with 30% of adverts lost for a while, whatever happens, once the loss stops
    /// the pair settles on exactly one master — the higher priority.
    func testLossyLinkSettlesOnOneMaster() {
        for seed in 0..<20 {
            var link = pair()
            link.lossRate = 0.3 + Double(seed) / 100
            link.start(a)
            link.start(b)
            link.run(for: .milliseconds(20_000))
            link.lossRate = 0
            link.run(for: .milliseconds(1000))
            XCTAssertEqual(link.masters, [a], "seed \(seed)")
        }
    }

    /// Three routers: the best of the two backups answers the master's death first (its skew
    /// is shorter), and the other follows it.
    func testThreeRoutersBestBackupTakesOver() throws {
        var link = SimulatedLink([configuration(priority: 200, address: nodeA),
                                  configuration(priority: 100, address: nodeB),
                                  configuration(priority: 150, address: nodeC)])
        for node in 0..<3 { link.start(node) }
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [0])
        link.stop(0)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [2])
        XCTAssertNil(link.becameMaster(1, after: ms(1000)))
        link.kill(2)
        link.run(for: .milliseconds(1000))
        XCTAssertEqual(link.masters, [1])
    }
}
