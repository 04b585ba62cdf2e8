// What the state machine asks for, done: adverts out, VIPs on and off, announcements,
// the notify command, the published status.

import CFulcrumLinux
import FulcrumAddress
import FulcrumNetlink
import FulcrumStatus
import FulcrumSystem
import FulcrumVRRP
import Glibc
import Logging

extension HANode {
    /// Announcements after becoming master, in ms from then: neighbours that missed the first
    /// (a switch port still learning) get more; then one a minute keeps caches fresh.
    static let announceSchedule: [Int64] = [0, 500, 1000, 2000]
    static let announceRefreshMs: Int64 = 60_000

    func apply(_ output: VRRPOutput) {
        for action in output.actions {
            switch action {
            case let .sendAdvert(priority):
                sendAdvert(priority: priority)
            case let .becomeMaster(reason):
                logTransition(to: .master, reason)
                addVIPs()
                let nowMs = cfl_monotonic_ms()
                announceAt = HANode.announceSchedule.map { nowMs + $0 }
                notify("MASTER")
            case let .becomeBackup(reason):
                logTransition(to: .backup, reason)
                announceAt = []
                removeVIPs()
                notify("BACKUP")
            case let .becomeInitialize(reason):
                logTransition(to: .initialize, reason)
                announceAt = []
                removeVIPs()
                notify("INIT")
            case let .reannounce(reason):
                // A rival master that keeps advertising asks for this on every advert: once a
                // second is enough for neighbours to follow us, and one log line per burst.
                let nowMs = cfl_monotonic_ms()
                guard nowMs - lastReannounceMs >= 1000 else { continue }
                lastReannounceMs = nowMs
                logger.notice("ha: re-announcing the virtual IPs: \(reason)")
                announceAt.insert(nowMs, at: 0)
            }
        }
    }

    private func logTransition(to state: VRRPState, _ reason: VRRPReason) {
        let from = loggedState
        loggedState = state
        logger.notice("ha: \(from) -> \(state): \(reason)", metadata: [
            "interface": "\(settings.interface)", "vrid": "\(settings.virtualRouterID)",
            "priority": "\(router.effectivePriority)",
        ])
    }

    private func sendAdvert(priority: UInt8) {
        let advert = router.configuration.advert(priority: priority)
        for destination in destinations {
            do {
                _ = try socket.send(advert.encode(source: primary, destination: destination), to: destination)
            } catch {
                logger.warning("ha: advert to \(destination) failed: \(error)")
            }
        }
    }

    func addVIPs() {
        for vip in vips {
            do {
                try addresses.add(vip)
            } catch {
                logger.error("ha: cannot add \(vip): \(error)")
            }
        }
    }

    func removeVIPs() {
        for vip in vips {
            do {
                try addresses.remove(vip)
            } catch {
                logger.error("ha: cannot remove \(vip): \(error)")
            }
        }
    }

    func announceIfDue() {
        guard let next = announceAt.first, cfl_monotonic_ms() >= next else { return }
        announceAt.removeFirst()
        if announceAt.isEmpty { announceAt = [next + HANode.announceRefreshMs] }
        guard router.state == .master else {
            announceAt = []
            return
        }
        for vip in vips {
            do {
                try addresses.announce(vip)
            } catch {
                logger.warning("ha: cannot announce \(vip): \(error)")
            }
        }
    }

    /// `notify STATE PRIORITY`, not waited for: a slow script never holds the state machine.
    private func notify(_ state: String) {
        guard let path = settings.notify else { return }
        let args = [path, state, "\(router.effectivePriority)"]
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // fulcrumd blocks nearly every signal and ignores SIGPIPE (ProcessSignals.blockAll), and
        // whoever started it may have ignored more (nohup: SIGHUP); a child inherits masks and
        // ignores across exec, and a script whose SIGTERM or SIGPIPE does nothing cannot be
        // stopped or end its pipelines. It starts with an empty mask and every signal at its
        // default action instead (SIGKILL and SIGSTOP, which cannot be set, are skipped).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let rc = posix_spawn(&pid, path, nil, &attributes, &argv, environ)
        if rc != 0 {
            logger.warning("ha: notify \(path) \(state): cannot run it: \(String(cString: strerror(rc)))")
        } else {
            children.append(pid)
        }
    }

    func reapChildren() {
        children.removeAll { pid in
            var status: Int32 = 0
            return waitpid(pid, &status, WNOHANG) != 0
        }
    }

    func publish() {
        let s = router.status
        let state: HAStatus.State
        switch s.state {
        case .initialize: state = .initialize
        case .backup: state = .backup
        case .master: state = .master
        }
        var status = HAStatus(interface: settings.interface, virtualRouterID: settings.virtualRouterID, state: state,
                              configuredPriority: settings.priority, effectivePriority: Int(s.effectivePriority),
                              advertIntervalMs: settings.advertIntervalMs, preempt: settings.preempt,
                              unicastPeers: settings.unicastPeers.map { "\($0)" },
                              virtualIPs: settings.virtualIPs.map(\.description))
        status.masterAddress = s.state == .master ? "\(primary)" : s.masterAddress.map { "\($0)" }
        status.trackedPoolsDown = trackedDown
        status.advertsSent = s.counters.advertsSent
        status.advertsReceived = s.counters.advertsReceived
        status.discards = discards
        status.transitions = s.counters.becameMaster + s.counters.becameBackup + s.counters.becameInitialize
        status.becameMasterCount = s.counters.becameMaster
        if let last = s.lastTransition {
            // The transition's monotonic time, as wall-clock seconds.
            let ageMs = cfl_monotonic_ms() - last.at.nanoseconds / 1_000_000
            status.lastTransitionAt = (WallClock.unixMilliseconds() - ageMs) / 1000
            status.lastTransitionReason = "\(last.reason)"
        }
        publishStatus(status)
    }
}
