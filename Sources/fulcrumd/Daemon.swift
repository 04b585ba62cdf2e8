import FulcrumConfig
import FulcrumControl
import FulcrumForwarding
import FulcrumHA
import FulcrumHealth
import FulcrumNetlink
import FulcrumStatus
import FulcrumSystem
import Glibc
import Logging

/// The process around the engine: start, wait for a signal, drain within the grace period,
/// report counters, exit.
struct Daemon {
    let config: Config
    let files: [String]
    let configDirectory: String
    let logger: Logger

    /// The signals this thread takes synchronously with sigtimedwait, blocked before anything
    /// else runs (a SIGHUP while the configuration loads must not kill the process); threads
    /// inherit the mask, so none lands on a data-plane thread. A peer closing mid-splice must
    /// give EPIPE, not kill the process.
    static func blockSignals() -> sigset_t {
        signal(SIGPIPE, SIG_IGN)
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        return signals
    }

    /// Runs until SIGTERM/SIGINT; returns the exit status.
    func run(signals: sigset_t) -> Int32 {

        logger.info("fulcrumd starting", metadata: [
            "version": "\(fulcrumVersion)", "workers": "\(config.workers)", "files": "\(files.count)",
        ])
        let engine: Engine
        do {
            engine = try Engine(config: config, logger: logger)
        } catch {
            logger.error("startup failed: \(error)")
            return 1
        }
        let checker: HealthChecker
        do {
            checker = try HealthChecker(config: config, health: engine.plan.pools.map(\.health), logger: logger) {
                [engine] in engine.memberWentDown()
            }
        } catch {
            logger.error("startup failed: \(error)")
            return 1
        }
        let ha: HANode?
        do {
            ha = try config.ha.map { settings in
                try HANode(settings: settings, addresses: LinuxVirtualAddresses(), logger: logger) { [engine] in
                    Daemon.poolsDown(settings.trackPools, in: engine.plan)
                }
            }
        } catch {
            logger.error("startup failed: \(error)")
            return 1
        }
        let started = WallClock.unixSeconds()
        let reader = StatusReader(config: config, engine: engine, board: checker.board, version: fulcrumVersion,
                                  configDirectory: configDirectory, configFiles: files, startedAt: started,
                                  configLoadedAt: started,
                                  ha: ha.map { node -> @Sendable () -> HAStatus? in { node.status() } })
        let notifier = SystemdNotifier()
        let reloader = Reloader(engine: engine, config: config, files: files, checker: checker, reader: reader,
                                configDirectory: configDirectory, notifier: notifier, logger: logger)
        let control: ControlServer
        do {
            control = try ControlServer(reader: reader, logger: logger) { reloader.reload($0) }
        } catch {
            logger.error("startup failed: \(error)")
            return 1
        }
        // Everything that needs root is open now (listeners, status sockets, the VRRP socket)
        // and no thread has started: capability sets are per thread, so the threads started
        // below inherit the reduced ones.
        let runningAs: String
        do {
            runningAs = try PrivilegeDrop.apply(config, logger: logger)
        } catch {
            logger.error("startup failed: \(error)")
            return 1
        }
        reloader.runningAs = runningAs
        do {
            try engine.start()
            try checker.start()
            try control.start()
            // Last: the node may become master at once, and then it serves at once.
            try ha?.start()
        } catch {
            logger.error("startup failed: \(error)")
            engine.stop()
            checker.stop()
            control.stop()
            return 1
        }
        let plan = engine.plan
        for listener in plan.listeners {
            logger.info("listener up", metadata: [
                "listener": "\(listener.name)", "address": "\(listener.endpoint)",
                "pool": "\(plan.pools[listener.pool].name)",
                "members": "\(plan.pools[listener.pool].members.count)",
            ])
        }
        for listener in plan.udpListeners {
            logger.info("listener up", metadata: [
                "listener": "\(listener.name)", "address": "\(listener.endpoint)", "protocol": "UDP",
                "pool": "\(plan.pools[listener.pool].name)",
                "members": "\(plan.pools[listener.pool].members.count)",
            ])
        }
        logger.info("fulcrumd ready")
        reloader.notified(notifier.ready(status: reloader.readyStatus()))

        while true {
            let received = sigwait(signals, timeoutMs: -1)
            if received == SIGHUP {
                // Applied on the control thread, like the status socket's `reload`.
                control.requestReload()
                continue
            }
            logger.info("shutting down: no longer accepting, open connections may finish", metadata: [
                "signal": "\(received == SIGINT ? "SIGINT" : "SIGTERM")",
                "grace_ms": "\(reloader.config.shutdownGraceMs)",
            ])
            break
        }
        let grace = reloader.config.shutdownGraceMs
        reloader.notified(notifier.stopping())
        // The VIPs go first (priority 0 lets the backup take over after Skew_Time), so new
        // clients reach the other node while connections here drain.
        ha?.stop()
        engine.beginDrain()
        if !waitForDrain(engine, signals: signals, graceMs: grace) {
            logger.notice("grace period over: closing remaining connections", metadata: ["open": "\(engine.openConnections())"])
            engine.stop()
            _ = engine.wait(timeout: 10)
        }
        control.stop()
        reloader.checker.stop()
        var final = reader.snapshot()
        control.applySamples(to: &final)
        report(final)
        logger.info("fulcrumd stopped")
        return 0
    }

    /// track_pools: the tracked pools whose members are all down by their health monitor.
    static func poolsDown(_ names: [String], in plan: ForwardingPlan) -> [String] {
        names.filter { name in
            guard let pool = plan.pools.first(where: { $0.name == name }), !pool.members.isEmpty else { return false }
            return !(0..<pool.members.count).contains { pool.health.isUp($0) }
        }
    }

    /// Waits up to shutdown_grace for workers to finish. A second SIGTERM/SIGINT cuts it short.
    private func waitForDrain(_ engine: Engine, signals: sigset_t, graceMs: Int) -> Bool {
        var remaining = graceMs
        while remaining > 0 {
            let slice = min(remaining, 100)
            if engine.wait(timeout: Double(slice) / 1000) { return true }
            remaining -= slice
            let s = sigwait(signals, timeoutMs: 0)
            if s == SIGTERM || s == SIGINT {
                logger.notice("second signal: not waiting for the grace period")
                return engine.wait(timeout: 0)
            }
        }
        return engine.wait(timeout: 0)
    }

    /// The exit report: the same snapshot the status socket shows, one line per object.
    private func report(_ snapshot: StatusSnapshot) {
        for l in snapshot.listeners {
            switch l.transport {
            case .tcp:
                let c = l.tcp
                logger.info("listener stats", metadata: [
                    "listener": "\(l.name)", "accepted": "\(c.accepted)",
                    "refused_limit": "\(c.refusedLimit)", "denied_cidr": "\(c.deniedCIDR)",
                    "no_member": "\(c.noMember)", "connect_failed": "\(c.connectFailed)",
                    "idle_timeouts": "\(c.idleTimeouts)", "bytes_in": "\(c.bytesIn)", "bytes_out": "\(c.bytesOut)",
                ])
            case .udp:
                let c = l.udp
                logger.info("udp listener stats", metadata: [
                    "listener": "\(l.name)", "datagrams_in": "\(c.datagramsIn)", "bytes_in": "\(c.bytesIn)",
                    "datagrams_out": "\(c.datagramsOut)", "bytes_out": "\(c.bytesOut)",
                    "sessions_created": "\(c.sessionsCreated)", "sessions_expired": "\(c.sessionsExpired)",
                    "sessions_evicted": "\(c.sessionsEvicted)", "truncated": "\(c.truncated)",
                    "denied_cidr": "\(c.denied)", "dropped": "\(c.dropped)",
                ])
            }
        }
        // A pool's members get the lines of the transports whose listeners use the pool.
        for pool in snapshot.pools {
            for member in pool.members {
                if pool.transports.contains(.tcp) {
                    let c = member.tcp
                    logger.info("member stats", metadata: [
                        "pool": "\(pool.name)", "member": "\(member.name)", "connections": "\(c.connections)",
                        "connect_failures": "\(c.connectFailures)", "connect_timeouts": "\(c.connectTimeouts)",
                        "bytes_to_member": "\(c.bytesToMember)", "bytes_from_member": "\(c.bytesFromMember)",
                        "shut_down_on_member_down": "\(c.shutDownOnDown)",
                    ])
                }
                if pool.transports.contains(.udp) {
                    let u = member.udp
                    logger.info("udp member stats", metadata: [
                        "pool": "\(pool.name)", "member": "\(member.name)", "sessions": "\(u.sessions)",
                        "datagrams_to_member": "\(u.datagramsTo)", "bytes_to_member": "\(u.bytesTo)",
                        "datagrams_from_member": "\(u.datagramsFrom)", "bytes_from_member": "\(u.bytesFrom)",
                        "refused": "\(u.refused)",
                    ])
                }
                logger.info("member health", metadata: [
                    "pool": "\(pool.name)", "member": "\(member.name)", "status": "\(member.status.rawValue)",
                    "last_check": "\(member.health?.lastCheck ?? "none")",
                ])
            }
        }
    }

    /// sigtimedwait on the blocked set; -1 = wait forever. Returns the signal or 0 on timeout.
    private func sigwait(_ set: sigset_t, timeoutMs: Int) -> Int32 {
        var set = set
        while true {
            let s: Int32
            if timeoutMs < 0 {
                s = sigwaitinfo(&set, nil)
            } else {
                var ts = timespec(tv_sec: timeoutMs / 1000, tv_nsec: (timeoutMs % 1000) * 1_000_000)
                s = sigtimedwait(&set, nil, &ts)
            }
            if s > 0 { return s }
            if errno == EAGAIN { return 0 }
            if errno != EINTR { return 0 }
        }
    }
}
