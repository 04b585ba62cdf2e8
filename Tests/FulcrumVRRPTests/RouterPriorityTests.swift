import FulcrumAddress
import FulcrumVRRP
import XCTest

/// Preempt delay and the effective priority the daemon lowers while tracked pools are down.
final class RouterPriorityTests: XCTestCase {
    private let masterDown200 = VRRPTiming.masterDownInterval(priority: 200, masterAdvertInterval: interval(10))

    /// With a delay, a higher-priority backup follows the lower master for that long after
    /// first hearing it, then stops resetting its timer and preempts one Master_Down_Interval
    /// after the last advert it still took.
    func testPreemptDelayPostponesTakeover() {
        var router = backupRouter(priority: 200, address: nodeA, preemption: .enabled(delay: .milliseconds(1000)))
        var now = ms(50)
        var lastAccepted = now
        while now < ms(1050) {
            let output = router.received(advert(priority: 100), from: nodeB, now: now)
            XCTAssertEqual(output.nextDeadline, now + masterDown200, "within the delay at \(now)")
            lastAccepted = now
            now = now + .milliseconds(100)
        }
        // Delay over (first heard at 50 ms, so it ends at 1050 ms): adverts are ignored now.
        while router.state == .backup {
            if let deadline = router.nextDeadline, deadline <= now {
                _ = router.timerExpired(now: deadline)
                break
            }
            let output = router.received(advert(priority: 100), from: nodeB, now: now)
            XCTAssertEqual(output.nextDeadline, lastAccepted + masterDown200, "no reset at \(now)")
            now = now + .milliseconds(100)
        }
        XCTAssertEqual(router.state, .master)
        XCTAssertEqual(router.lastTransition?.at, lastAccepted + masterDown200)
        XCTAssertEqual(router.lastTransition?.reason, .preempting(master: nodeB, theirPriority: 100, ourPriority: 200))
    }

    /// An advert we do not outrank stops the delay clock: it starts over from the next lower one.
    func testPreemptDelayRestartsAfterAnEqualOrHigherMaster() {
        var router = backupRouter(priority: 200, address: nodeA, preemption: .enabled(delay: .milliseconds(500)))
        _ = router.received(advert(priority: 100), from: nodeB, now: ms(0))
        _ = router.received(advert(priority: 250), from: nodeC, now: ms(400))
        // At 600 ms the first delay would have run out; the clock restarted at 600 instead.
        XCTAssertEqual(router.received(advert(priority: 100), from: nodeB, now: ms(600)).nextDeadline, ms(600) + masterDown200)
        XCTAssertEqual(router.received(advert(priority: 100), from: nodeB, now: ms(1000)).nextDeadline, ms(1000) + masterDown200)
        XCTAssertEqual(router.received(advert(priority: 100), from: nodeB, now: ms(1100)).nextDeadline, ms(1000) + masterDown200,
                       "500 ms after 600 ms the lower master is no longer followed")
    }

    func testPreemptDelayDoesNotDelayAMasterDownTakeover() {
        var router = backupRouter(priority: 200, address: nodeA, preemption: .enabled(delay: .milliseconds(60_000)))
        _ = router.received(advert(priority: 100), from: nodeB, now: ms(10))
        let output = router.timerExpired(now: ms(10) + masterDown200)
        XCTAssertEqual(output.actions.last, .becomeMaster(.masterDown(master: nodeB, silentFor: masterDown200)))
    }

    func testEffectivePriorityIsClampedToTheAdvertisableRange() {
        var router = backupRouter(priority: 100)
        _ = router.setEffectivePriority(-40, now: ms(1))
        XCTAssertEqual(router.effectivePriority, 1, "0 would announce a shutdown")
        _ = router.setEffectivePriority(0, now: ms(2))
        XCTAssertEqual(router.effectivePriority, 1)
        _ = router.setEffectivePriority(300, now: ms(3))
        XCTAssertEqual(router.effectivePriority, 254, "255 would claim address ownership")
        _ = router.setEffectivePriority(100, now: ms(4))
        XCTAssertEqual(router.effectivePriority, 100)
        XCTAssertEqual(router.status.configuredPriority, 100)
    }

    func testBackupPriorityChangeSendsNothing() {
        var router = backupRouter(priority: 100)
        let deadline = router.nextDeadline
        XCTAssertEqual(router.setEffectivePriority(40, now: ms(5)), VRRPOutput(actions: [], nextDeadline: deadline))
        XCTAssertEqual(router.skewTime, VRRPTiming.skewTime(priority: 40, masterAdvertInterval: interval(10)),
                       "Skew_Time follows the effective priority")
    }

    func testMasterAdvertisesANewPriorityAtOnce() {
        var (router, since) = masterRouter(priority: 200, address: nodeA)
        let now = since + .milliseconds(30)
        let output = router.setEffectivePriority(140, now: now)
        XCTAssertEqual(output, VRRPOutput(actions: [.sendAdvert(priority: 140)], nextDeadline: now + .milliseconds(100)))
        XCTAssertEqual(router.state, .master, "a master never steps down by itself")
        XCTAssertEqual(router.setEffectivePriority(140, now: now).actions, [], "no change, no advert")
        XCTAssertEqual(router.timerExpired(now: now + .milliseconds(100)).actions, [.sendAdvert(priority: 140)])
    }

    /// The tracked pool goes down on the master: its effective priority drops below the
    /// backup's, the backup stops following it and takes over after Master_Down_Interval,
    /// and the old master yields to the first advert of the new one.
    func testEffectivePriorityDropHandsOverToTheBackup() {
        var master = masterRouter(priority: 200, address: nodeA).0
        var backup = backupRouter(priority: 100, address: nodeB)
        var now = ms(400)
        _ = backup.received(advert(priority: 200), from: nodeA, now: now)
        let dropOutput = master.setEffectivePriority(200 - 150, now: now)
        XCTAssertEqual(dropOutput.actions, [.sendAdvert(priority: 50)])
        let lastAccepted = now
        now = now + .milliseconds(1)
        XCTAssertEqual(backup.received(advert(priority: 50), from: nodeA, now: now).nextDeadline,
                       lastAccepted + VRRPTiming.masterDownInterval(priority: 100, masterAdvertInterval: interval(10)))
        let takeover = backup.timerExpired(now: backup.nextDeadline!)
        XCTAssertEqual(takeover.actions, [.sendAdvert(priority: 100),
                                          .becomeMaster(.preempting(master: nodeA, theirPriority: 50, ourPriority: 100))])
        let stepDown = master.received(advert(priority: 100), from: nodeB, now: backup.nextDeadline!)
        XCTAssertEqual(stepDown.actions, [.becomeBackup(.higherPriority(from: nodeB, priority: 100, ourPriority: 50)),
                                          .sendAdvert(priority: 50)])
    }

    /// And the way back: the pool recovers, our priority rises above the new master's, and we
    /// preempt it.
    func testEffectivePriorityRiseOnBackupPreempts() {
        var router = backupRouter(priority: 200, address: nodeA)
        _ = router.setEffectivePriority(50, now: ms(0))
        _ = router.received(advert(priority: 100), from: nodeB, now: ms(10))
        XCTAssertEqual(router.nextDeadline, ms(10) + VRRPTiming.masterDownInterval(priority: 50, masterAdvertInterval: interval(10)))
        _ = router.setEffectivePriority(200, now: ms(50))
        let deadline = router.nextDeadline!
        XCTAssertEqual(router.received(advert(priority: 100), from: nodeB, now: ms(110)).nextDeadline, deadline, "now ignored")
        XCTAssertEqual(router.timerExpired(now: deadline).actions.last,
                       .becomeMaster(.preempting(master: nodeB, theirPriority: 100, ourPriority: 200)))
    }
}
