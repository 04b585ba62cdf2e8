import Atomics
import CFulcrumLinux
import CFulcrumTLS
import DequeModule
import FulcrumConfig
import FulcrumPools
import FulcrumStatus
import FulcrumSystem
import Glibc
import HeapModule
import Logging

/// Runs every pool's health monitor on one thread of its own, never on a worker: one epoll
/// loop, non-blocking sockets, a heap of deadlines. Each member has at most one check in
/// flight; checks start spread over the first delay (random offset) and keep that spread;
/// at most `maxInFlight` run at once, the rest wait their turn in order.
///
/// Verdicts go straight to the pool's MemberHealth flags, which the workers read at each new
/// connection or datagram; `memberWentDown` lets the engine close connections for pools that
/// ask for it. Every status change is logged once with its cause and the check's latency.
public final class HealthChecker: @unchecked Sendable {
    let targets: [HealthTarget]
    let plans: [MonitorPlan]
    /// Per config pool: its flags (shared with the workers) and the statuses of all members.
    let health: [MemberHealth]
    var memberStatuses: [[OperatingStatus]]
    var poolStatuses: [OperatingStatus]
    let poolNames: [String]
    let memberNames: [[String]]
    /// The config's pools, kept for the next reload to compare against (HealthChecker+Adopt).
    let pools: [Pool]
    let memberWentDown: @Sendable () -> Void
    var logger: Logger
    let maxInFlight: Int

    /// The checker's epoll, wake eventfd and thread.
    let loop: EventLoop
    var poll: EventPoll { loop.poll }
    /// What the control thread reads: every member's latest check and verdict.
    public let board: HealthBoard
    var deadlines: Heap<HealthDeadline>
    /// Targets whose check is due while maxInFlight checks run, oldest first.
    var waiting: Deque<Int32>
    var inFlight = 0
    /// Jitter needs no cryptographic randomness, and SystemRandomNumberGenerator costs a
    /// getrandom(2) call per draw: seeded once, then a few arithmetic operations.
    var random = SplitMix64(seed: UInt64(truncatingIfNeeded: monotonicNs()) ^ UInt64(UInt32(bitPattern: getpid())) << 32)
    var localFailureLogMs = Int64.min / 2
    var localFailuresSinceLog = 0
    var latenessLogMs = Int64.min / 2

    public static let defaultMaxInFlight = 256

    /// `health[p]` must be the flags the workers use for config pool p.
    ///
    /// A reload passes the checker it replaces as `old`, after `old.stop()`: members whose
    /// checks test the same thing keep their verdict, rise/fall progress, status and board
    /// entry, and `health` is set to match (HealthChecker+Adopt). `old` is not kept.
    public init(config: Config, health: [MemberHealth], logger: Logger, maxInFlight: Int = HealthChecker.defaultMaxInFlight,
                adopting old: HealthChecker? = nil, memberWentDown: @escaping @Sendable () -> Void) throws {
        precondition(health.count == config.pools.count)
        self.health = health
        self.logger = logger
        self.maxInFlight = max(maxInFlight, 1)
        self.memberWentDown = memberWentDown
        poolNames = config.pools.map(\.name)
        memberNames = config.pools.map { $0.members.map(\.name) }
        pools = config.pools
        var plans: [MonitorPlan] = []
        var targets: [HealthTarget] = []
        var statuses: [[OperatingStatus]] = []
        for (p, pool) in config.pools.enumerated() {
            let monitor = pool.healthMonitor
            statuses.append(pool.members.map {
                memberStatus(adminStateUp: $0.adminStateUp, weight: $0.weight, monitored: monitor != nil, verdict: .unknown)
            })
            guard let monitor else { continue }
            let plan = try MonitorPlan(pool: p, poolName: pool.name, monitor: monitor,
                                       shutdownSessions: pool.onMemberDown == .shutdownSessions)
            plans.append(plan)
            for (m, member) in pool.members.enumerated() where member.adminStateUp {
                targets.append(HealthTarget(index: Int32(targets.count), plan: plan, member: m, config: member))
            }
        }
        self.plans = plans
        self.targets = targets
        memberStatuses = statuses
        poolStatuses = statuses.map(poolStatus)
        deadlines = Heap(minimumCapacity: targets.count * 2 + 16)
        waiting = Deque(minimumCapacity: targets.count)
        board = HealthBoard(monitored: config.pools.map { $0.healthMonitor != nil },
                            members: config.pools.map(\.members.count))
        loop = try EventLoop(name: "fulcrum-health", capacity: 128, wakeData: UInt64.max)
        if let old { adopt(old) }
    }

    /// Starts the checker thread (no thread when no pool has a monitor).
    public func start() throws(SystemError) {
        guard !targets.isEmpty else { return }
        // A monitor a reload kept was described when it first started; the reload said how
        // many of its members kept their status.
        for plan in plans where !plan.kept {
            let m = plan.monitor
            let count = targets.filter { $0.plan === plan }.count
            logger.info("health monitor \(plan.poolName): \(m.type.rawValue) every \(secondsText(milliseconds: m.delayMs)) s, timeout \(secondsText(milliseconds: m.timeoutMs)) s, up after \(m.maxRetries), down after \(m.maxRetriesDown), \(count) members",
                        metadata: ["pool": "\(plan.poolName)"])
        }
        try loop.start { [self] in run() }
    }

    /// Ends the thread and closes every check socket.
    public func stop() {
        loop.requestStop()
        _ = loop.join()
    }

    // MARK: the loop

    func run() {
        let now = nowMs()
        for target in targets {
            let delay = Int64(max(target.plan.monitor.delayMs, 1))
            let due: Int64
            if let carried = target.carriedDueMs {
                // Carried over a reload: the member keeps its cadence, and a check the old
                // checker had in flight or waiting (due in the past) runs again at once.
                due = min(max(carried, now), now + delay)
                target.carriedDueMs = nil
            } else {
                // Spread the first checks over one delay so 1,000 members do not fire together.
                due = now + Int64.random(in: 0..<delay, using: &random)
            }
            target.dueMs = due
            deadlines.insert(.init(atMs: due, target: target.index, serial: target.serial, kind: .start))
        }
        while !loop.stopRequested {
            var timeout: Int32 = 1000
            if let next = deadlines.min {
                timeout = Int32(clamping: max(0, min(next.atMs - nowMs(), 1000)))
            }
            let ready: Int
            do {
                ready = try poll.wait(timeoutMs: timeout)
            } catch {
                logger.critical("health checker event loop failed", metadata: ["error": "\(error)"])
                break
            }
            for i in 0..<ready {
                let data = poll.data(at: i)
                if data == loop.wakeData {
                    loop.consumeWake()
                    continue
                }
                let target = targets[Int(data & 0xFFFF_FFFF)]
                guard target.phase != .idle, target.serial == UInt32(truncatingIfNeeded: data >> 32) else { continue }
                advance(target, events: poll.events(at: i))
            }
            fireDue()
            startWaiting()
        }
        for target in targets where target.phase != .idle { closeCheck(target) }
    }

    private func fireDue() {
        let now = nowMs()
        while let next = deadlines.min, next.atMs <= now {
            _ = deadlines.popMin()
            let target = targets[Int(next.target)]
            guard next.serial == target.serial else { continue }
            switch next.kind {
            case .start:
                guard target.phase == .idle else { continue }
                // Those already waiting go first; a check that finishes at once (refused on
                // loopback) makes room for the next without recursion.
                if inFlight < maxInFlight && waiting.isEmpty {
                    noteLateness(target)
                    begin(target)
                } else {
                    waiting.append(target.index)
                }
            case .timeout:
                guard target.phase != .idle else { continue }
                switch target.plan.monitor.type {
                case .ping, .udpConnect: timedOutDatagram(target)
                case .tcp, .http, .https, .tlsHello: timedOutStream(target)
                }
            }
        }
    }

    /// Starts one check: opens its socket and registers its deadline.
    func begin(_ target: HealthTarget) {
        target.serial &+= 1
        target.startedNs = monotonicNs()
        target.sent = 0
        target.received = 0
        target.drained = 0
        target.verdict = nil
        target.tlsFailure = nil
        inFlight += 1
        deadlines.insert(.init(atMs: nowMs() + Int64(target.plan.monitor.timeoutMs), target: target.index,
                               serial: target.serial, kind: .timeout))
        switch target.plan.monitor.type {
        case .ping: beginPing(target)
        case .udpConnect: beginDatagram(target)
        case .tcp, .http, .https, .tlsHello: beginStream(target)
        }
    }

    func advance(_ target: HealthTarget, events: UInt32) {
        switch target.plan.monitor.type {
        case .ping: advancePing(target)
        case .udpConnect: advanceDatagram(target)
        case .tcp, .http, .https, .tlsHello: advanceStream(target, events: events)
        }
    }

    func eventData(_ target: HealthTarget) -> UInt64 {
        UInt64(target.serial) << 32 | UInt64(UInt32(target.index))
    }

    func watch(_ target: HealthTarget, events: UInt32) -> Bool {
        do {
            try poll.add(target.fd, events: events, data: eventData(target))
            return true
        } catch {
            finish(target, CheckResult(.sockerr, "\(error)"))
            return false
        }
    }

    /// The check's verdict: closes its socket, feeds the tracker, publishes a change, and
    /// schedules the next check one delay after this one started.
    func finish(_ target: HealthTarget, _ outcome: CheckResult) {
        var result = outcome
        result.latencyMs = Double(monotonicNs() &- target.startedNs) / 1_000_000
        closeCheck(target)
        inFlight -= 1
        target.lastResult = result
        // A local failure (out of descriptors) says nothing about the member.
        var changed: HealthTracker.Verdict?
        if result.code == .sockerr {
            localFailure(target, result.detail)
        } else if let verdict = target.tracker.record(passed: result.passed) {
            changed = verdict
            publish(target, verdict: verdict, result: result)
        }
        board.record(pool: target.plan.pool, member: target.member, result: result,
                     verdict: changed.map(HealthVerdict.init), at: WallClock.unixSeconds())
        let delay = Int64(target.plan.monitor.delayMs)
        // ±5% jitter keeps checks that drifted together from staying together.
        let jitter = Int64.random(in: -(delay / 20)...(delay / 20), using: &random)
        let startedMs = Int64(target.startedNs / 1_000_000)
        let due = max(startedMs + delay + jitter, nowMs())
        target.dueMs = due
        deadlines.insert(.init(atMs: due, target: target.index, serial: target.serial, kind: .start))
    }

    /// A check that could not run (no descriptors, no memory) says nothing about the member:
    /// its status stays. One line per 10 s for the whole checker, with how many were skipped,
    /// since near a descriptor limit every member hits it on every check.
    private func localFailure(_ target: HealthTarget, _ detail: String) {
        let now = nowMs()
        if now - localFailureLogMs >= 10_000 {
            let more = localFailuresSinceLog > 0 ? " (and \(localFailuresSinceLog) more since the last such line)" : ""
            logger.warning("member \(target.label): health check could not run: \(detail); status unchanged\(more)",
                           metadata: ["pool": "\(target.plan.poolName)", "member": "\(target.memberName)"])
            localFailureLogMs = now
            localFailuresSinceLog = 0
        } else {
            localFailuresSinceLog += 1
        }
    }

    /// A check started later than its due time by more than half its delay: more checks are
    /// due at once than maxInFlight allows (timeouts long against delays, many members not
    /// answering), or the checker thread gets too little CPU. Said once a minute, so the
    /// operator knows members are checked less often than configured.
    private func noteLateness(_ target: HealthTarget) {
        let late = nowMs() - target.dueMs
        guard late > Int64(target.plan.monitor.delayMs / 2), nowMs() - latenessLogMs >= 60_000 else { return }
        latenessLogMs = nowMs()
        logger.warning("health checks are running late (\(late) ms for \(target.label)): more checks are due than can run (at most \(maxInFlight) at once), or the checker is short of CPU; members are checked less often than their delay",
                       metadata: ["pool": "\(target.plan.poolName)", "waiting": "\(waiting.count)"])
    }

    private func startWaiting() {
        while inFlight < maxInFlight, let index = waiting.popFirst() {
            let target = targets[Int(index)]
            if target.phase == .idle {
                noteLateness(target)
                begin(target)
            }
        }
    }

    func closeCheck(_ target: HealthTarget) {
        if let ssl = target.ssl {
            SSL_free(ssl)
            target.ssl = nil
        }
        if target.fd >= 0 {
            // No EPOLL_CTL_DEL: closing the only descriptor of a socket takes it out of epoll.
            if target.plan.monitor.type != .ping && target.plan.monitor.type != .udpConnect {
                // Close with RST, as HAProxy's checks do: thousands of checks a second would
                // otherwise leave as many TIME_WAIT sockets here.
                try? Socket.setAbortOnClose(target.fd)
            }
            close(target.fd)
            target.fd = -1
        }
        target.phase = .idle
    }

    // MARK: verdicts

    private func publish(_ target: HealthTarget, verdict: HealthTracker.Verdict, result: CheckResult) {
        let pool = target.plan.pool
        let flags = health[pool]
        flags.set(member: target.member, up: verdict != .down)
        if verdict == .down && target.plan.shutdownSessions { memberWentDown() }
        let old = memberStatuses[pool][target.member]
        let new = memberStatus(adminStateUp: true, weight: target.weight, monitored: true, verdict: HealthVerdict(verdict))
        // A draining member judged healthy stays DRAINING: a verdict, not a change to report.
        guard new != old else { return }
        memberStatuses[pool][target.member] = new
        let metadata: Logger.Metadata = [
            "pool": "\(target.plan.poolName)", "member": "\(target.memberName)",
            "check": "\(result.code.rawValue)", "latency_ms": "\(formatLatency(result.latencyMs))",
        ]
        let line = "member \(target.label) is \(new.rawValue) (was \(old.rawValue)): \(result), check took \(formatLatency(result.latencyMs)) ms"
        if verdict == .down {
            logger.warning("\(line)", metadata: metadata)
        } else {
            logger.notice("\(line)", metadata: metadata)
        }
        let poolOld = poolStatuses[pool]
        let poolNew = poolStatus(memberStatuses[pool])
        guard poolNew != poolOld else { return }
        poolStatuses[pool] = poolNew
        let serving = memberStatuses[pool].filter { $0 == .online || $0 == .noMonitor || $0 == .unknown }.count
        let poolLine = "pool \(poolNames[pool]) is \(poolNew.rawValue) (was \(poolOld.rawValue)): \(serving) of \(memberStatuses[pool].count) members available"
        if poolNew == .error {
            logger.error("\(poolLine)", metadata: ["pool": "\(poolNames[pool])"])
        } else {
            logger.notice("\(poolLine)", metadata: ["pool": "\(poolNames[pool])"])
        }
    }
}

func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func nowMs() -> Int64 { Int64(monotonicNs() / 1_000_000) }

func formatLatency(_ ms: Double) -> String {
    let tenths = (ms * 10).rounded() / 10
    return String(tenths)
}

/// Steele, Lea and Flood's SplitMix64: fast, well spread, not for secrets.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
