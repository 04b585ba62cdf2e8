import CFulcrumLinux
import FulcrumAddress
import FulcrumAnycast
import FulcrumBuildInfo
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

    /// Runs until SIGTERM/SIGINT; returns the exit status. `signals`: the set main blocked
    /// before anything else ran (ProcessSignals.blockAll); this thread takes them.
    func run(signals: SignalSet) -> Int32 {

        logger.info("fulcrumd starting", metadata: [
            "version": "\(fulcrumVersion)", "commit": "\(BuildInfo.commit)", "workers": "\(config.workers)", "files": "\(files.count)",
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
        let anycast: AnycastNode?
        do {
            anycast = try config.anycast.map { settings in
                try AnycastNode(settings: settings, addresses: LinuxVirtualAddresses(), logger: logger)
            }
        } catch {
            logger.error("startup failed: \(error)")
            return 1
        }
        let started = WallClock.unixSeconds()
        let reader = StatusReader(config: config, engine: engine, board: checker.board, version: fulcrumVersion,
                                  configDirectory: configDirectory, configFiles: files, startedAt: started,
                                  configLoadedAt: started,
                                  ha: ha.map { node -> @Sendable () -> HAStatus? in { node.status() } },
                                  anycast: anycast.map { node -> @Sendable () -> AnycastStatus? in { node.status() } },
                                  steerAnycast: anycast.map { node -> AnycastSteering in { node.steer($0, vip: $1) } })
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
            try anycast?.start { [reader] vips in Daemon.poolHealth(of: vips, reader: reader) }
        } catch {
            logger.error("startup failed: \(error)")
            engine.stop()
            checker.stop()
            control.stop()
            anycast?.stop()
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

        // A SIGHUP that came while the configuration loaded is still pending (blocked, not
        // lost) and is taken here first: the files may have changed after they were read, and
        // `kill -HUP` means "apply what is on disk now", so it reloads once. That is what
        // `systemctl reload` during start does too: systemd holds the reload until READY=1.
        var ignored = IgnoredSignals(logger: logger)
        var waitMs = -1
        while true {
            guard let received = signals.wait(timeoutMs: waitMs) else {
                waitMs = ignored.flush(nowMs: cfl_monotonic_ms())
                continue
            }
            if received.signal == SIGHUP {
                // Applied on the control thread, like the status socket's `reload`.
                control.requestReload()
                continue
            }
            if received.signal == SIGTERM || received.signal == SIGINT {
                if anycast == nil {
                    logger.info("shutting down: no longer accepting, open connections may finish", metadata: [
                        "signal": "\(received.name)", "grace_ms": "\(reloader.config.shutdownGraceMs)",
                    ])
                } else {
                    logger.info("shutting down: anycast VIPs are withdrawn first, then open connections may finish", metadata: [
                        "signal": "\(received.name)", "grace_ms": "\(reloader.config.shutdownGraceMs)",
                    ])
                }
                break
            }
            takeOther(received, &ignored)
            waitMs = ignored.flush(nowMs: cfl_monotonic_ms())
        }
        let grace = reloader.config.shutdownGraceMs
        reloader.notified(notifier.stopping())
        // The VIPs go first (priority 0 lets the backup take over after Skew_Time), so new
        // clients reach the other node while connections here drain.
        ha?.stop()
        if let anycast, let settings = reloader.config.anycast {
            // Withdrawn first, still accepting: routers keep sending new flows here until the
            // withdrawal reaches them, and those must not be refused.
            if anycast.withdrawForShutdown() > 0 && settings.withdrawGraceMs > 0 {
                logger.info("anycast: VIPs withdrawn; still accepting while routers converge", metadata: [
                    "withdraw_grace_ms": "\(settings.withdrawGraceMs)",
                ])
                waitWithdrawGrace(settings.withdrawGraceMs, signals: signals, ignored: &ignored)
            }
            logger.info("no longer accepting, open connections may finish", metadata: ["grace_ms": "\(grace)"])
        }
        engine.beginDrain()
        if !waitForDrain(engine, signals: signals, graceMs: grace, ignored: &ignored) {
            logger.notice("grace period over: closing remaining connections", metadata: ["open": "\(engine.openConnections())"])
            engine.stop()
            // Workers end their loop turn within milliseconds of stop(); one still running after
            // 10 s is stuck, and the report below would read counts it may still change.
            if !engine.wait(timeout: 10) {
                logger.warning("workers still running 10 s after stop: the exit report may be incomplete")
            }
        }
        control.stop()
        reloader.checker.stop()
        anycast?.stop()
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

    /// Each anycast VIP's pools and how many of their members take new traffic, from the status
    /// snapshot (so the rule is the one `show members` shows): ONLINE and NO_MONITOR count;
    /// UNKNOWN does not, so a node that just started announces only after a first good check.
    static func poolHealth(of vips: [IPAddress], reader: StatusReader) -> [[AnycastCondition.PoolHealth]] {
        let snapshot = reader.snapshot()
        let listeners = reader.config.listeners
        return vips.map { vip in
            AnycastSettings.pools(of: vip, in: listeners).map { name in
                let members = snapshot.pool(named: name)?.members ?? []
                let up = members.filter { $0.status == .online || $0.status == .noMonitor }.count
                return AnycastCondition.PoolHealth(name: name, up: up, total: members.count)
            }
        }
    }

    /// withdraw_grace after the anycast withdrawal: still accepting. A second SIGTERM/SIGINT
    /// ends it early (the drain that follows is cut short by the next one).
    private func waitWithdrawGrace(_ graceMs: Int, signals: SignalSet, ignored: inout IgnoredSignals) {
        let end = cfl_monotonic_ms() + Int64(graceMs)
        while true {
            let left = end - cfl_monotonic_ms()
            if left <= 0 { return }
            guard let received = signals.wait(timeoutMs: Int(min(left, 100))) else {
                _ = ignored.flush(nowMs: cfl_monotonic_ms())
                continue
            }
            if received.signal == SIGTERM || received.signal == SIGINT {
                logger.notice("second signal: not waiting for withdraw_grace", metadata: ["signal": "\(received.name)"])
                return
            }
            takeOther(received, &ignored)
        }
    }

    /// Waits up to shutdown_grace for workers to finish. A second SIGTERM/SIGINT cuts it short.
    /// Other signals are still taken (and logged) meanwhile.
    private func waitForDrain(_ engine: Engine, signals: SignalSet, graceMs: Int,
                              ignored: inout IgnoredSignals) -> Bool {
        var remaining = graceMs
        while remaining > 0 {
            let slice = min(remaining, 100)
            if engine.wait(timeout: Double(slice) / 1000) { return true }
            remaining -= slice
            while let received = signals.wait(timeoutMs: 0) {
                if received.signal == SIGTERM || received.signal == SIGINT {
                    logger.notice("second signal: not waiting for the grace period", metadata: [
                        "signal": "\(received.name)",
                    ])
                    return engine.wait(timeout: 0)
                }
                // SIGHUP too: a reload while draining would reopen the listeners; the drain wins.
                takeOther(received, &ignored)
            }
            _ = ignored.flush(nowMs: cfl_monotonic_ms())
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

    /// Any signal but TERM, INT and HUP: SIGCHLD is an HA notify script ending (reaped by
    /// the HA thread), anything else is logged and ignored.
    private func takeOther(_ received: SignalSet.Received, _ ignored: inout IgnoredSignals) {
        if received.signal == SIGCHLD { return }
        ignored.record(received, nowMs: cfl_monotonic_ms())
    }
}
