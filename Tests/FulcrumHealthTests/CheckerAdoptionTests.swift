import FulcrumAddress
import FulcrumConfig
@testable import FulcrumHealth
import FulcrumPools
import FulcrumStatus
import FulcrumSystem
import Glibc
import Logging
import XCTest

/// A reload builds a new checker adopting the stopped old one: members whose checks test the
/// same thing keep verdict, progress, status and board entry from the first instant (no
/// UNKNOWN gap), the rest start over, and nothing of the old checker stays open.
final class CheckerAdoptionTests: XCTestCase {
    private let ok = CheckResult(.l4ok, "connected")
    private let refused = CheckResult(.l4con, "connection refused")

    /// Against real sockets: a member ONLINE (and one ERROR) before the reload is so right
    /// after it; a member checked elsewhere now, and a new one, start from UNKNOWN.
    func testUnchangedMembersKeepTheirStatusChangedAndNewOnesStartOver() throws {
        let a = try CheckedPort(), bOld = try CheckedPort(), bNew = try CheckedPort(), d = try CheckedPort()
        let closed = try closedPort()
        let drainAll = { for port in [a, bOld, bNew, d] { port.drain() } }
        var oldPool = Pool(name: "web", members: [loopbackMember("a", port: a.port), loopbackMember("b", port: bOld.port),
                                                  loopbackMember("c", port: closed)])
        oldPool.healthMonitor = HealthMonitor(type: .tcp, delayMs: 50, timeoutMs: 1000, maxRetries: 1, maxRetriesDown: 1)
        let oldRuntime = PoolRuntime(pool: oldPool)
        let old = try HealthChecker(config: checkerConfig([oldPool]), health: [oldRuntime.health], logger: quietLogger) {}
        try old.start()
        let judged = waitUntil(seconds: 10, tick: drainAll) {
            old.board.statuses()[0]!.map(\.verdict) == [.up, .up, .down]
        }
        old.stop()
        XCTAssertTrue(judged, "old checker never judged its members: \(old.board.statuses()[0]!)")
        let now = WallClock.unixSeconds()
        let before = old.board.statuses(now: now)[0]!

        var newPool = oldPool
        newPool.members = [loopbackMember("a", port: a.port), loopbackMember("b", port: bNew.port),
                           loopbackMember("c", port: closed), loopbackMember("d", port: d.port)]
        let runtime = PoolRuntime(pool: newPool, adopting: oldRuntime)
        let log = CollectedLog()
        let logger = Logger(label: "test") { _ in CollectingHandler(log: log) }
        let new = try HealthChecker(config: checkerConfig([newPool]), health: [runtime.health], logger: logger,
                                    adopting: old) {}

        // Straight after construction: the new checker has run no check yet.
        let after = new.board.statuses(now: now)[0]!
        XCTAssertEqual(after[0], before[0], "a keeps its whole board entry")
        XCTAssertEqual(after[0].verdict, .up)
        XCTAssertEqual(after[2], before[2], "c keeps its ERROR, failure count and down spell")
        for m in [1, 3] {
            XCTAssertEqual(after[m].verdict, .unknown, "member \(m)")
            XCTAssertNil(after[m].lastCheck, "member \(m) starts over")
        }
        XCTAssertEqual(new.memberStatuses[0], [.online, .unknown, .error, .unknown])
        XCTAssertEqual(new.poolStatuses[0], .degraded)
        XCTAssertEqual((0..<4).map(runtime.health.isUp), [true, true, false, true], "flags match the verdicts")
        XCTAssertEqual(new.targets[0].tracker, old.targets[0].tracker)
        XCTAssertEqual(log.all.filter { $0.contains("health monitor web") },
                       ["info health monitor web: 2 members kept their status, 2 start over"],
                       "one summary line, nothing per member")

        try new.start()
        let rejudged = waitUntil(seconds: 10, tick: drainAll) {
            new.board.statuses()[0]!.map(\.verdict) == [.up, .up, .down, .up]
        }
        let end = new.board.statuses()[0]!
        new.stop()
        XCTAssertTrue(rejudged, "changed and new members were not judged: \(end)")
        XCTAssertEqual(end[0].lastChange, before[0].lastChange, "a never left ONLINE")
        XCTAssertEqual(end[0].downTransitions, 0)
        XCTAssertEqual(end[2].downTransitions, 1, "c's down spell goes on; not a new one")
        let changes = log.all.filter { $0.contains("member web/") }
        XCTAssertEqual(changes.count, 2, "only b and d changed status: \(changes)")
        XCTAssertTrue(changes.allSatisfy { $0.contains("is ONLINE (was UNKNOWN)") }, "\(changes)")
    }

    /// Without a thread: results fed to a checker that never started, as its thread would.
    func testProgressCarriesAndAChangedMonitorOrPoolStartsOver() throws {
        var disabled = loopbackMember("d", port: 4)
        disabled.adminStateUp = false
        var pool = Pool(name: "web", members: [loopbackMember("a", port: 1), loopbackMember("b", port: 2),
                                               loopbackMember("c", port: 3), disabled])
        pool.healthMonitor = HealthMonitor(type: .tcp, delayMs: 5000, timeoutMs: 1000, maxRetries: 3, maxRetriesDown: 2)
        let oldHealth = MemberHealth(count: 4)
        let old = try HealthChecker(config: checkerConfig([pool]), health: [oldHealth], logger: quietLogger) {}
        func feed(_ checker: HealthChecker, _ target: Int, _ results: [CheckResult]) {
            for result in results { checker.finish(checker.targets[target], result) }
        }
        feed(old, 0, [ok, ok])            // a: two of three successes, still UNKNOWN
        feed(old, 1, [ok, ok, ok])        // b: ONLINE
        feed(old, 2, [refused, refused])  // c: ERROR
        XCTAssertFalse(oldHealth.isUp(2))

        // Same monitor; a new weight changes a's status (DRAINING), not its checks.
        var reweighted = pool
        reweighted.members[0].weight = 0
        let flags = MemberHealth(count: 4)
        let new = try HealthChecker(config: checkerConfig([reweighted]), health: [flags], logger: quietLogger,
                                    adopting: old) {}
        XCTAssertEqual(new.targets.map(\.tracker), old.targets.map(\.tracker))
        XCTAssertEqual(new.memberStatuses[0], [.draining, .online, .error, .offline])
        XCTAssertEqual((0..<4).map(flags.isUp), [true, true, false, true], "fresh flags set from the carried verdicts")
        let t = WallClock.unixSeconds()
        XCTAssertEqual(new.board.statuses(now: t)[0]!, old.board.statuses(now: t)[0]!)
        feed(new, 0, [ok])
        XCTAssertEqual(new.targets[0].tracker.verdict, .up, "the third success makes a up: its progress was kept")
        XCTAssertEqual(new.board.statuses()[0]![0].verdict, .up)

        var slower = pool
        slower.healthMonitor!.delayMs = 10_000
        var shutdown = pool
        shutdown.onMemberDown = .shutdownSessions
        var renamed = pool
        renamed.name = "api"
        for (label, changed) in [("monitor", slower), ("on_member_down", shutdown), ("pool name", renamed)] {
            let flags = MemberHealth(count: 4)
            flags.set(member: 2, up: false)  // as a previous generation may have left it
            let fresh = try HealthChecker(config: checkerConfig([changed]), health: [flags], logger: quietLogger,
                                          adopting: old) {}
            XCTAssertEqual(fresh.targets.map(\.tracker), Array(repeating: HealthTracker(rise: 3, fall: 2), count: 3), label)
            XCTAssertEqual(fresh.memberStatuses[0], [.unknown, .unknown, .unknown, .offline], label)
            XCTAssertTrue((0..<4).allSatisfy(flags.isUp), "\(label): every flag up, as for a new pool")
            XCTAssertTrue(fresh.board.statuses()[0]!.allSatisfy { $0.verdict == .unknown && $0.lastCheck == nil }, label)
        }
    }

    /// 200 stop/adopt/start cycles, alternating two configs, with checks in flight at each
    /// stop (s's hang until their timeout): every descriptor and thread of every old checker
    /// is gone at the end, and the member up throughout never left ONLINE.
    func testTwoHundredReloadsLeaveNoDescriptorOrThreadBehind() throws {
        let a = try CheckedPort(), z = try CheckedPort(), stalled = try CheckedPort(backlog: 0)
        let closed = try closedPort()
        var one = Pool(name: "web", members: [loopbackMember("a", port: a.port), loopbackMember("c", port: closed),
                                              loopbackMember("s", port: stalled.port)])
        one.healthMonitor = HealthMonitor(type: .tcp, delayMs: 20, timeoutMs: 500, maxRetries: 1, maxRetriesDown: 1)
        var two = one
        two.members.append(loopbackMember("z", port: z.port))
        let configs = [checkerConfig([one]), checkerConfig([two])]
        let drainAll = { a.drain(); z.drain() }
        let threadsBefore = threadCount(named: "fulcrum-health")
        let descriptorsBefore = openDescriptorCount()

        func cycle() throws -> (first: MemberHealthStatus, last: MemberHealthStatus) {
            var runtime = PoolRuntime(pool: one)
            var checker = try HealthChecker(config: configs[0], health: [runtime.health], logger: quietLogger) {}
            try checker.start()
            let judged = waitUntil(seconds: 10, tick: drainAll) {
                checker.board.statuses()[0]!.map(\.verdict).prefix(2) == [.up, .down]
            }
            XCTAssertTrue(judged)
            let first = checker.board.statuses()[0]![0]
            var random = SystemRandomNumberGenerator()
            for n in 1...200 {
                checker.stop()
                weak let previous = checker
                let config = configs[n % 2]
                runtime = PoolRuntime(pool: config.pools[0], adopting: runtime)
                checker = try HealthChecker(config: config, health: [runtime.health], logger: quietLogger,
                                            adopting: checker) {}
                XCTAssertEqual(checker.memberStatuses[0][0], .online, "reload \(n)")
                XCTAssertFalse(runtime.health.isUp(1), "reload \(n)")
                try checker.start()
                drainAll()
                usleep(UInt32.random(in: 0...3000, using: &random))
                // Only the live checker's thread: stop() joined the old one. A joined thread can
                // stay listed in /proc/self/task a moment after join returns (a CI run under TSan
                // saw two at once); one that never exits stays listed for good.
                XCTAssertTrue(waitUntil(seconds: 2) { threadCount(named: "fulcrum-health") <= threadsBefore + 1 },
                              "old checker threads pile up (reload \(n)): \(threadCount(named: "fulcrum-health") - threadsBefore) running")
                if n % 50 == 0 {
                    // Nothing keeps an adopted checker alive once its thread has gone.
                    XCTAssertTrue(waitUntil(seconds: 2) { previous == nil }, "reload \(n): the old checker is still alive")
                    // The live checker's epoll, eventfd and at most one check per member.
                    XCTAssertLessThanOrEqual(openDescriptorCount(), descriptorsBefore + 2 + 4, "reload \(n)")
                }
            }
            let last = checker.board.statuses()[0]![0]
            checker.stop()
            return (first, last)
        }
        let (first, last) = try cycle()
        XCTAssertEqual(last.verdict, .up)
        XCTAssertEqual(last.lastChange, first.lastChange, "a stayed ONLINE through 200 reloads")
        XCTAssertEqual(last.downTransitions, 0)
        // A stopped loop's thread returns just after stop() does, and drops the last reference
        // to its checker (closing its epoll and eventfd) as it goes.
        XCTAssertTrue(waitUntil(seconds: 5) { threadCount(named: "fulcrum-health") == threadsBefore },
                      "checker threads left: \(threadCount(named: "fulcrum-health")) (before: \(threadsBefore))")
        XCTAssertTrue(waitUntil(seconds: 5) { openDescriptorCount() == descriptorsBefore },
                      "descriptors: \(openDescriptorCount()) open, \(descriptorsBefore) before")
    }
}
