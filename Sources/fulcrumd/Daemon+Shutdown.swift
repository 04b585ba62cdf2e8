import CFulcrumLinux
import FulcrumAddress
import FulcrumAnycast
import FulcrumConfig
import FulcrumControl
import FulcrumForwarding
import FulcrumHA
import FulcrumStatus
import FulcrumSystem
import Glibc

/// SIGTERM/SIGINT to the end of the drain, and what the anycast thread reads of the pools.
extension Daemon {
    /// The VIPs go first, so new clients reach other nodes while connections here drain: [ha]
    /// says priority 0 (the backup takes over after Skew_Time); [anycast] withdraws its routes
    /// and keeps accepting for withdraw_grace, since routers send new flows here until the
    /// withdrawal reaches them. Then the listeners close and open connections get
    /// shutdown_grace. A second SIGTERM/SIGINT at any point closes everything at once.
    func drain(_ engine: Engine, ha: HANode?, anycast: AnycastNode?, graceMs: Int, withdrawGraceMs: Int,
               signals: SignalSet, ignored: inout IgnoredSignals) {
        ha?.stop()
        var cutShort = false
        if let anycast {
            if anycast.withdrawForShutdown() > 0 && withdrawGraceMs > 0 {
                logger.info("anycast: VIPs withdrawn; still accepting while routers converge", metadata: [
                    "withdraw_grace_ms": "\(withdrawGraceMs)",
                ])
                cutShort = !waitWithdrawGrace(withdrawGraceMs, signals: signals, ignored: &ignored)
            }
            if !cutShort {
                logger.info("no longer accepting, open connections may finish", metadata: ["grace_ms": "\(graceMs)"])
            }
        }
        engine.beginDrain()
        if cutShort || !waitForDrain(engine, signals: signals, graceMs: graceMs, ignored: &ignored) {
            logger.notice(cutShort ? "closing open connections" : "grace period over: closing remaining connections",
                          metadata: ["open": "\(engine.openConnections())"])
            engine.stop()
            // Workers end their loop turn within milliseconds of stop(); one still running after
            // 10 s is stuck, and the report would read counts it may still change.
            if !engine.wait(timeout: 10) {
                logger.warning("workers still running 10 s after stop: the exit report may be incomplete")
            }
        }
    }

    /// Each anycast VIP's pools and how many of their members take new traffic (ONLINE,
    /// NO_MONITOR) or have no verdict yet (UNKNOWN), by the rule `show members` shows, read
    /// without summing counters.
    static func poolHealth(of vips: [IPAddress], reader: StatusReader) -> [[AnycastCondition.PoolHealth]] {
        let (listeners, pools) = reader.poolMemberStatuses()
        return vips.map { vip in
            AnycastSettings.pools(of: vip, in: listeners).map { name in
                let members = pools[name] ?? []
                return AnycastCondition.PoolHealth(
                    name: name, up: members.filter { $0 == .online || $0 == .noMonitor }.count,
                    unknown: members.filter { $0 == .unknown }.count, total: members.count)
            }
        }
    }

    /// withdraw_grace after the anycast withdrawal: still accepting. False when a second
    /// SIGTERM/SIGINT cut it short.
    private func waitWithdrawGrace(_ graceMs: Int, signals: SignalSet, ignored: inout IgnoredSignals) -> Bool {
        let end = cfl_monotonic_ms() + Int64(graceMs)
        while true {
            let left = end - cfl_monotonic_ms()
            if left <= 0 { return true }
            guard let received = signals.wait(timeoutMs: Int(min(left, 100))) else {
                _ = ignored.flush(nowMs: cfl_monotonic_ms())
                continue
            }
            if received.signal == SIGTERM || received.signal == SIGINT {
                logger.notice("second signal: not waiting for withdraw_grace", metadata: ["signal": "\(received.name)"])
                return false
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
}
