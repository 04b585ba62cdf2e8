import FulcrumAddress
import FulcrumVRRP
import XCTest

/// Every RFC 5798 §6.4 transition and timer rule, one router at a time.
final class RouterTransitionTests: XCTestCase {
    private let masterDown100 = VRRPTiming.masterDownInterval(priority: 100, masterAdvertInterval: interval(10))
    private let skew100 = VRRPTiming.skewTime(priority: 100, masterAdvertInterval: interval(10))

    // MARK: Initialize

    func testStartGoesToBackupAndWaitsMasterDownInterval() {
        var router = VRRPRouter(configuration: configuration(priority: 100))
        XCTAssertEqual(router.state, .initialize)
        XCTAssertNil(router.nextDeadline)
        let output = router.start(now: ms(1000))
        XCTAssertEqual(output.actions, [.becomeBackup(.started)])
        XCTAssertEqual(router.state, .backup)
        XCTAssertEqual(output.nextDeadline, ms(1000) + masterDown100)
        XCTAssertEqual(router.nextDeadline, output.nextDeadline)
        XCTAssertEqual(router.lastTransition, VRRPTransition(from: .initialize, to: .backup, at: ms(1000), reason: .started))
        XCTAssertNil(router.masterAddress)
    }

    func testStartTwiceDoesNothing() {
        var router = backupRouter()
        XCTAssertEqual(router.start(now: ms(5)).actions, [])
        XCTAssertEqual(router.nextDeadline, ms(0) + masterDown100)
    }

    func testInitializeIgnoresAdvertsAndTimers() {
        var router = VRRPRouter(configuration: configuration(priority: 100))
        XCTAssertEqual(router.received(advert(priority: 200), from: nodeA, now: ms(1)), VRRPOutput(actions: [], nextDeadline: nil))
        XCTAssertEqual(router.timerExpired(now: ms(10_000)), VRRPOutput(actions: [], nextDeadline: nil))
        XCTAssertEqual(router.shutdown(now: ms(2)).actions, [])
        XCTAssertEqual(router.counters.advertsReceived, 0)
    }

    // MARK: Backup

    func testBackupBecomesMasterWhenNoAdvertArrives() {
        var router = backupRouter()
        let deadline = router.nextDeadline!
        XCTAssertEqual(router.timerExpired(now: deadline - .milliseconds(1)).actions, [], "early wakeup changes nothing")
        let output = router.timerExpired(now: deadline)
        XCTAssertEqual(output.actions, [.sendAdvert(priority: 100), .becomeMaster(.masterDown(master: nil, silentFor: masterDown100))])
        XCTAssertEqual(router.state, .master)
        XCTAssertEqual(output.nextDeadline, deadline + .milliseconds(100), "Adver_Timer = Advertisement_Interval")
        XCTAssertEqual(router.masterAddress, nodeB)
        XCTAssertEqual(router.masterPriority, 100)
    }

    func testBackupAcceptsHigherPriorityAndResetsMasterDownTimer() {
        var router = backupRouter()
        let output = router.received(advert(priority: 200), from: nodeA, now: ms(250))
        XCTAssertEqual(output.actions, [])
        XCTAssertEqual(output.nextDeadline, ms(250) + masterDown100)
        XCTAssertEqual(router.masterAddress, nodeA)
        XCTAssertEqual(router.masterPriority, 200)
        // Silent since 250 ms: the reason names the master and how long it has been quiet.
        let takeover = router.timerExpired(now: output.nextDeadline!)
        XCTAssertEqual(takeover.actions, [.sendAdvert(priority: 100), .becomeMaster(.masterDown(master: nodeA, silentFor: masterDown100))])
    }

    /// §6.4.2: Master_Adver_Interval is learned from the master's advert, and the
    /// Master_Down_Interval recomputed from it (not from our own configured interval).
    func testBackupLearnsTheMastersInterval() {
        var router = backupRouter(centiseconds: 10)
        let output = router.received(advert(priority: 200, centiseconds: 50), from: nodeA, now: ms(100))
        XCTAssertEqual(router.masterAdvertInterval, interval(50))
        let expected = VRRPTiming.masterDownInterval(priority: 100, masterAdvertInterval: interval(50))
        XCTAssertEqual(expected.nanoseconds, 1_500_000_000 + 156 * 500_000_000 / 256)
        XCTAssertEqual(output.nextDeadline, ms(100) + expected)
        XCTAssertEqual(router.status.masterDownInterval, expected)
        XCTAssertEqual(router.status.skewTime, VRRPTiming.skewTime(priority: 100, masterAdvertInterval: interval(50)))
    }

    func testBackupAcceptsEqualPriorityWithPreempt() {
        var router = backupRouter(priority: 100, address: nodeB)
        // Equal priority, even from a lower address: a backup never preempts an equal master.
        let output = router.received(advert(priority: 100), from: nodeA, now: ms(100))
        XCTAssertEqual(output.nextDeadline, ms(100) + masterDown100)
    }

    func testBackupDiscardsLowerPriorityWhenPreempting() {
        var router = backupRouter(priority: 200, address: nodeA)
        let deadline = router.nextDeadline!
        for at in stride(from: Int64(50), to: 300, by: 100) {
            let output = router.received(advert(priority: 100), from: nodeB, now: ms(at))
            XCTAssertEqual(output.nextDeadline, deadline, "lower advert at \(at) ms must not reset the timer")
        }
        XCTAssertEqual(router.masterAddress, nodeB, "the lower master is still who holds the addresses")
        let takeover = router.timerExpired(now: deadline)
        XCTAssertEqual(takeover.actions, [.sendAdvert(priority: 200),
                                          .becomeMaster(.preempting(master: nodeB, theirPriority: 100, ourPriority: 200))])
        XCTAssertEqual(router.lastTransition?.reason.description, "preempting 198.18.0.12 (priority 100 < 200)")
    }

    func testBackupWithoutPreemptFollowsLowerPriority() {
        var router = backupRouter(priority: 200, address: nodeA, preemption: .disabled)
        for at in stride(from: Int64(50), to: 5000, by: 100) {
            let output = router.received(advert(priority: 100), from: nodeB, now: ms(at))
            XCTAssertEqual(output.actions, [])
            XCTAssertEqual(output.nextDeadline, ms(at) + VRRPTiming.masterDownInterval(priority: 200, masterAdvertInterval: interval(10)))
        }
        XCTAssertEqual(router.state, .backup)
    }

    func testBackupTakesOverAfterSkewTimeOnPriorityZero() {
        var router = backupRouter()
        _ = router.received(advert(priority: 200), from: nodeA, now: ms(100))
        let output = router.received(advert(priority: 0), from: nodeA, now: ms(150))
        XCTAssertEqual(output.actions, [])
        XCTAssertEqual(output.nextDeadline, ms(150) + skew100)
        XCTAssertEqual(router.counters.priorityZeroReceived, 1)
        let takeover = router.timerExpired(now: ms(150) + skew100)
        XCTAssertEqual(takeover.actions, [.sendAdvert(priority: 100), .becomeMaster(.masterShutDown(master: nodeA))])
        XCTAssertEqual(router.lastTransition?.reason.description, "master 198.18.0.11 shut down (priority 0)")
    }

    /// Priority 0 takes effect whether or not we preempt.
    func testPriorityZeroHonouredWithoutPreempt() {
        var router = backupRouter(preemption: .disabled)
        let output = router.received(advert(priority: 0), from: nodeA, now: ms(10))
        XCTAssertEqual(output.nextDeadline, ms(10) + skew100)
    }

    /// 255 is the address owner's priority; we never configure it but follow a router that does.
    func testBackupFollowsAnAddressOwner() {
        var router = backupRouter(priority: 254)
        let output = router.received(advert(priority: 255), from: nodeA, now: ms(10))
        XCTAssertEqual(output.nextDeadline, ms(10) + VRRPTiming.masterDownInterval(priority: 254, masterAdvertInterval: interval(10)))
        XCTAssertEqual(router.masterPriority, 255)
    }

    func testBackupShutdownGoesToInitializeWithoutAdvert() {
        var router = backupRouter()
        let output = router.shutdown(now: ms(10))
        XCTAssertEqual(output, VRRPOutput(actions: [.becomeInitialize(.shutdown)], nextDeadline: nil))
        XCTAssertEqual(router.state, .initialize)
        XCTAssertEqual(router.counters.advertsSent, 0)
    }

    // MARK: Master

    func testMasterAdvertisesEveryInterval() {
        var (router, since) = masterRouter()
        var now = since
        for _ in 0..<5 {
            now = now + .milliseconds(100)
            XCTAssertEqual(router.nextDeadline, now)
            XCTAssertEqual(router.timerExpired(now: now - .milliseconds(1)).actions, [])
            let output = router.timerExpired(now: now)
            XCTAssertEqual(output.actions, [.sendAdvert(priority: 100)])
        }
        XCTAssertEqual(router.counters.advertsSent, 6)
    }

    func testMasterYieldsToHigherPriority() {
        var (router, since) = masterRouter(priority: 100, address: nodeB)
        let now = since + .milliseconds(30)
        let output = router.received(advert(priority: 200, centiseconds: 20), from: nodeA, now: now)
        XCTAssertEqual(output.actions, [.becomeBackup(.higherPriority(from: nodeA, priority: 200, ourPriority: 100)),
                                        .sendAdvert(priority: 100)])
        // The advert after stepping down is ours, not the RFC's: it tells the winner that
        // neighbours may have followed us, so it re-announces (see the split-brain simulation).
        XCTAssertEqual(router.state, .backup)
        XCTAssertEqual(router.masterAdvertInterval, interval(20), "interval learned on stepping down")
        XCTAssertEqual(output.nextDeadline, now + VRRPTiming.masterDownInterval(priority: 100, masterAdvertInterval: interval(20)))
        XCTAssertEqual(router.masterAddress, nodeA)
        XCTAssertEqual(router.lastTransition?.reason.description, "higher priority 200 from 198.18.0.11 (ours 100)")
    }

    func testMasterYieldsToAnAddressOwner() {
        var (router, since) = masterRouter(priority: 254)
        let output = router.received(advert(priority: 255), from: nodeA, now: since + .milliseconds(1))
        XCTAssertEqual(output.actions, [.becomeBackup(.higherPriority(from: nodeA, priority: 255, ourPriority: 254)),
                                        .sendAdvert(priority: 254)])
    }

    /// Tie-break, one way: equal priority from a higher primary address wins.
    func testMasterYieldsToEqualPriorityFromHigherAddress() {
        var (router, since) = masterRouter(priority: 100, address: nodeA)  // .11
        let output = router.received(advert(priority: 100), from: nodeB, now: since + .milliseconds(1))  // .12
        XCTAssertEqual(output.actions, [.becomeBackup(.equalPriorityHigherAddress(from: nodeB, priority: 100)),
                                        .sendAdvert(priority: 100)])
        XCTAssertEqual(router.lastTransition?.reason.description, "equal priority 100 from higher address 198.18.0.12")
    }

    /// Tie-break, other way: equal priority from a lower address loses; we stay master and
    /// assert ourselves at once.
    func testMasterKeepsRoleAgainstEqualPriorityFromLowerAddress() {
        var (router, since) = masterRouter(priority: 100, address: nodeB)  // .12
        let now = since + .milliseconds(1)
        let output = router.received(advert(priority: 100), from: nodeA, now: now)  // .11
        XCTAssertEqual(output.actions, [.sendAdvert(priority: 100),
                                        .reannounce(.lowerPriorityMaster(from: nodeA, priority: 100, ourPriority: 100))])
        XCTAssertEqual(router.state, .master)
        XCTAssertEqual(output.nextDeadline, now + .milliseconds(100), "Adver_Timer restarted by the advert just sent")
    }

    func testTieBreakComparesIPv6AddressesAsUnsignedIntegers() {
        var router = VRRPRouter(configuration: configuration(priority: 100, address: ip("fe80::8000:0:0:1")))
        _ = router.start(now: ms(0))
        _ = router.timerExpired(now: router.nextDeadline!)
        let v6Advert = VRRPAdvert(virtualRouterID: 42, priority: 100, maxAdvertInterval: interval(10), addresses: [ip("fd00:198:18::100")])
        // Lower: differs only in the low 64 bits, which must compare unsigned.
        XCTAssertEqual(router.received(v6Advert, from: ip("fe80::7fff:ffff:ffff:ffff"), now: ms(500)).actions.count, 2)
        XCTAssertEqual(router.state, .master)
        XCTAssertEqual(router.received(v6Advert, from: ip("fe80::8000:0:0:2"), now: ms(501)).actions,
                       [.becomeBackup(.equalPriorityHigherAddress(from: ip("fe80::8000:0:0:2"), priority: 100)),
                        .sendAdvert(priority: 100)])
    }

    func testMasterAnswersLowerPriorityAndReannounces() {
        var (router, since) = masterRouter(priority: 200, address: nodeA)
        let output = router.received(advert(priority: 100), from: nodeB, now: since + .milliseconds(40))
        XCTAssertEqual(output.actions, [.sendAdvert(priority: 200),
                                        .reannounce(.lowerPriorityMaster(from: nodeB, priority: 100, ourPriority: 200))])
        XCTAssertEqual(router.state, .master)
    }

    /// §6.4.3: a master hearing priority 0 (another master leaving) advertises at once.
    func testMasterAnswersPriorityZeroWithAnAdvert() {
        var (router, since) = masterRouter(priority: 100)
        let now = since + .milliseconds(20)
        let output = router.received(advert(priority: 0), from: nodeA, now: now)
        XCTAssertEqual(output.actions, [.sendAdvert(priority: 100)])
        XCTAssertEqual(output.nextDeadline, now + .milliseconds(100))
        XCTAssertEqual(router.state, .master)
    }

    func testMasterShutdownSendsPriorityZeroThenReleases() {
        var (router, since) = masterRouter()
        let output = router.shutdown(now: since + .milliseconds(10))
        XCTAssertEqual(output, VRRPOutput(actions: [.sendAdvert(priority: 0), .becomeInitialize(.shutdown)], nextDeadline: nil))
        XCTAssertEqual(router.state, .initialize)
        XCTAssertEqual(router.counters.priorityZeroSent, 1)
        XCTAssertNil(router.masterAddress)
        XCTAssertEqual(router.lastTransition?.to, .initialize)
        XCTAssertEqual(router.shutdown(now: since + .milliseconds(20)).actions, [], "second shutdown is a no-op")
    }

    func testRestartAfterShutdownStartsOverInBackup() {
        var router = backupRouter(centiseconds: 10)
        _ = router.received(advert(priority: 200, centiseconds: 50), from: nodeA, now: ms(10))
        _ = router.shutdown(now: ms(20))
        let output = router.start(now: ms(30))
        XCTAssertEqual(output.actions, [.becomeBackup(.started)])
        XCTAssertEqual(router.masterAdvertInterval, interval(10), "a learned interval does not survive a restart")
        XCTAssertEqual(output.nextDeadline, ms(30) + masterDown100)
    }

    // MARK: What is ignored

    func testOwnLoopedBackAdvertIsIgnored() {
        var (router, since) = masterRouter(priority: 100, address: nodeB)
        XCTAssertEqual(router.received(advert(priority: 100), from: nodeB, now: since + .milliseconds(1)).actions, [])
        XCTAssertEqual(router.counters.advertsReceived, 0)
    }

    func testOtherVRIDAndOtherFamilyAreIgnored() {
        var router = backupRouter()
        let deadline = router.nextDeadline
        XCTAssertEqual(router.received(advert(priority: 200, vrid: 43), from: nodeA, now: ms(10)).nextDeadline, deadline)
        XCTAssertEqual(router.received(advert(priority: 200), from: ip("fe80::1"), now: ms(10)).nextDeadline, deadline)
        XCTAssertEqual(router.counters.advertsReceived, 0)
    }

    // MARK: Status

    func testStatusSnapshot() {
        var router = backupRouter(priority: 100)
        _ = router.received(advert(priority: 200), from: nodeA, now: ms(10))
        _ = router.received(advert(priority: 0), from: nodeA, now: ms(20))
        _ = router.timerExpired(now: router.nextDeadline!)
        _ = router.setEffectivePriority(60, now: ms(100))
        let status = router.status
        XCTAssertEqual(status.state, .master)
        XCTAssertEqual(status.virtualRouterID, 42)
        XCTAssertEqual(status.configuredPriority, 100)
        XCTAssertEqual(status.effectivePriority, 60)
        XCTAssertEqual(status.masterAddress, nodeB)
        XCTAssertEqual(status.masterPriority, 60)
        XCTAssertEqual(status.masterAdvertInterval, interval(10))
        XCTAssertEqual(status.lastTransition?.description, "BACKUP -> MASTER: master 198.18.0.11 shut down (priority 0)")
        XCTAssertEqual(status.lastTransition?.at, ms(20) + skew100)
        var counters = VRRPCounters()
        counters.advertsSent = 2
        counters.advertsReceived = 2
        counters.priorityZeroReceived = 1
        counters.becameBackup = 1
        counters.becameMaster = 1
        XCTAssertEqual(status.counters, counters)
    }

    func testReasonTexts() {
        XCTAssertEqual(VRRPReason.masterDown(master: nodeA, silentFor: .milliseconds(350)).description,
                       "no advert from 198.18.0.11 for 350 ms (master down)")
        XCTAssertEqual(VRRPReason.masterDown(master: nil, silentFor: .milliseconds(361)).description,
                       "no advert for 361 ms since start (master down)")
        XCTAssertEqual(VRRPReason.higherPriority(from: nodeA, priority: 200, ourPriority: 100).description,
                       "higher priority 200 from 198.18.0.11 (ours 100)")
        XCTAssertEqual(VRRPReason.preempting(master: nodeB, theirPriority: 100, ourPriority: 200).description,
                       "preempting 198.18.0.12 (priority 100 < 200)")
        XCTAssertEqual(VRRPReason.masterShutDown(master: nodeA).description, "master 198.18.0.11 shut down (priority 0)")
        XCTAssertEqual(VRRPReason.lowerPriorityMaster(from: nodeB, priority: 100, ourPriority: 200).description,
                       "198.18.0.12 also advertises as master with lower priority 100 (ours 200); re-announcing")
        XCTAssertEqual(VRRPReason.started.description, "started; listening for a master")
        XCTAssertEqual(VRRPReason.shutdown.description, "shut down")
        XCTAssertEqual(VRRPState.master.description, "MASTER")
    }

    // MARK: Configuration

    func testConfigurationRefusesWhatTheRFCForbids() {
        func error(_ build: () throws(VRRPConfigurationError) -> VRRPRouterConfiguration) -> VRRPConfigurationError? {
            do {
                _ = try build()
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(error { () throws(VRRPConfigurationError) in
            try VRRPRouterConfiguration(virtualRouterID: 0, priority: 100, primaryAddress: nodeA, virtualAddresses: [vip])
        }, .virtualRouterIDZero)
        for priority: UInt8 in [0, 255] {
            XCTAssertEqual(error { () throws(VRRPConfigurationError) in
                try VRRPRouterConfiguration(virtualRouterID: 1, priority: priority, primaryAddress: nodeA, virtualAddresses: [vip])
            }, .priorityOutOfRange(priority))
        }
        XCTAssertEqual(error { () throws(VRRPConfigurationError) in
            try VRRPRouterConfiguration(virtualRouterID: 1, priority: 100, primaryAddress: nodeA, virtualAddresses: [ip("2001:db8::1")])
        }, .noVirtualAddress(.ipv4))
        XCTAssertEqual(error { () throws(VRRPConfigurationError) in
            try VRRPRouterConfiguration(virtualRouterID: 1, priority: 100, primaryAddress: nodeA,
                                        virtualAddresses: (0..<256).map { IPAddress.v4(0x0A00_0000 + UInt32($0)) })
        }, .tooManyVirtualAddresses(256))
        XCTAssertEqual(error { () throws(VRRPConfigurationError) in
            try VRRPRouterConfiguration(virtualRouterID: 1, priority: 100, preemption: .enabled(delay: .milliseconds(-1)),
                                        primaryAddress: nodeA, virtualAddresses: [vip])
        }, .negativePreemptDelay)
        XCTAssertEqual(VRRPConfigurationError.priorityOutOfRange(255).description,
                       "priority 255 is not in 1..254 (255 = address owner is not supported)")
    }

    func testAddressListComparison() throws {
        let configured = try VRRPRouterConfiguration(virtualRouterID: 9, priority: 10, primaryAddress: nodeA,
                                                     virtualAddresses: [vip, ip("198.18.0.101"), ip("2001:db8::1")])
        func listing(_ addresses: [String]) -> VRRPAdvert {
            VRRPAdvert(virtualRouterID: 9, priority: 50, maxAdvertInterval: interval(10), addresses: addresses.map { ip($0) })
        }
        XCTAssertTrue(configured.advertisesSameAddresses(as: listing(["198.18.0.101", "198.18.0.100"])), "order does not matter")
        XCTAssertFalse(configured.advertisesSameAddresses(as: listing(["198.18.0.100"])))
        XCTAssertFalse(configured.advertisesSameAddresses(as: listing(["198.18.0.100", "198.18.0.102"])))
        XCTAssertFalse(configured.advertisesSameAddresses(as: listing(["198.18.0.100", "198.18.0.101", "198.18.0.101"])))
        XCTAssertEqual(VRRPConfigurationError.noVirtualAddress(.ipv6).description, "no IPv6 virtual address to advertise")
    }

    func testConfigurationAdvertListsOnlyItsFamily() throws {
        let mixed = try VRRPRouterConfiguration(virtualRouterID: 9, priority: 10, advertInterval: interval(20),
                                                primaryAddress: nodeA, virtualAddresses: [vip, ip("2001:db8::1")])
        XCTAssertEqual(mixed.family, .ipv4)
        XCTAssertEqual(mixed.advert(priority: 10),
                       VRRPAdvert(virtualRouterID: 9, priority: 10, maxAdvertInterval: interval(20), addresses: [vip]))
    }
}
