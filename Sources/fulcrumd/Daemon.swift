import CFulcrumLinux
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
                                anycast: anycast, configDirectory: configDirectory, notifier: notifier, logger: logger)
        let control: ControlServer
        do {
            control = try ControlServer(reader: reader, logger: logger) { reloader.reload($0) }
        } catch {
            logger.error("startup failed: \(error)")
            anycast?.stop()  // its local routes would say this host owns addresses it does not serve
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
            anycast?.stop()
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
                let what = anycast == nil ? "no longer accepting," : "anycast VIPs are withdrawn first, then"
                logger.info("shutting down: \(what) open connections may finish", metadata: [
                    "signal": "\(received.name)", "grace_ms": "\(reloader.config.shutdownGraceMs)",
                ])
                break
            }
            takeOther(received, &ignored)
            waitMs = ignored.flush(nowMs: cfl_monotonic_ms())
        }
        reloader.notified(notifier.stopping())
        drain(engine, ha: ha, anycast: anycast, graceMs: reloader.config.shutdownGraceMs,
              withdrawGraceMs: reloader.config.anycast?.withdrawGraceMs ?? 0, signals: signals, ignored: &ignored)
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
    func takeOther(_ received: SignalSet.Received, _ ignored: inout IgnoredSignals) {
        if received.signal == SIGCHLD { return }
        ignored.record(received, nowMs: cfl_monotonic_ms())
    }
}
