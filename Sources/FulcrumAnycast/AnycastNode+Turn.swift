import CFulcrumLinux
import FulcrumNetlink
import FulcrumStatus
import FulcrumSystem

extension AnycastNode {
    func run() {
        let start = cfl_monotonic_ms()
        let first = evaluate()
        // Not known yet counts as not holding: a node that just started waits for a verdict.
        gates = first.map { AnnouncementGate(holdDownMs: settings.holdDownMs, condition: $0.holds ?? false, nowMs: start) }
        while !loop.stopRequested {
            let (request, forced) = currentRequests()
            turn(forced: forced)
            markApplied(request)
            do {
                let ready = try loop.poll.wait(timeoutMs: Int32(AnycastNode.turnMs))
                for i in 0..<ready where loop.poll.data(at: i) == loop.wakeData { loop.consumeWake() }
            } catch {
                logger.critical("anycast event loop failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// One look at every VIP: condition, hold_down, then the interface brought in line.
    private func turn(forced: [ForcedOff?]) {
        let nowMs = cfl_monotonic_ms()
        let verdicts = evaluate()
        var entries: [AnycastStatus.VIP] = []
        for index in vips.indices {
            let (verdict, why) = verdicts[index]
            // Not known yet: the condition stays what it was.
            let holds = verdict ?? gates[index].condition
            let off = forced[index]
            _ = gates[index].observe(holds, forcedOff: off != nil, nowMs: nowMs)
            if gates[index].announced != onInterface[index] {
                let reason = gates[index].announced ? why : off?.reason ?? "\(why) (held \(settings.holdDownMs) ms)"
                put(index, on: gates[index].announced, reason: reason)
            }
            let pending = gates[index].pending(forcedOff: off != nil, nowMs: nowMs).map { change, left in
                "\(change == .announce ? "announce" : "withdraw") in \(Self.seconds(left)) (hold_down \(settings.holdDownMs) ms)"
            }
            entries.append(AnycastStatus.VIP(
                address: "\(vips[index].address)", announced: onInterface[index], conditionHolds: holds,
                reason: off?.reason ?? why, pending: pending, since: since[index], transitions: transitions[index],
                withdrawnByOperator: off == .operatorRequest, pools: lastPools[index]))
        }
        publish(entries)
        // After the changes: a VIP this turn withdrew is not renewed first.
        if nowMs - lastRefreshMs >= AnycastNode.refreshMs {
            lastRefreshMs = nowMs
            refreshAnnounced()
        }
    }

    /// Renews the lifetime of every announced VIP; one that vanished from the interface (taken
    /// off by hand, or expired while this thread was stalled) is put back.
    private func refreshAnnounced() {
        // Only what should stay announced: a VIP whose withdrawal the kernel refused must not
        // have its lifetime renewed, or a dying node would keep it.
        for index in vips.indices where onInterface[index] && gates[index].announced {
            do {
                try addresses.addOrRefresh(vips[index], lifetimeSeconds: AnycastNode.addressLifetimeSeconds)
                lastFailure[index] = nil
            } catch {
                failed(index, "cannot refresh \(vips[index].address): \(error)")
            }
        }
    }

    /// Puts the VIP on the interface (announce) or takes it off (withdraw); logs the change with
    /// its reason, or the failure (tried again next turn).
    func put(_ index: Int, on: Bool, reason: String) {
        let vip = vips[index]
        let verb = on ? "announce" : "withdraw"
        do {
            if on {
                try addresses.addOrRefresh(vip, lifetimeSeconds: AnycastNode.addressLifetimeSeconds)
            } else {
                try addresses.remove(vip)
            }
        } catch {
            failed(index, "cannot \(verb) \(vip.address): \(error)")
            return
        }
        changed(index, to: on)
        logger.notice("anycast \(verb) \(vip.address): \(reason)", metadata: [
            "vip": "\(vip.address)", "interface": "\(vip.interface)", "reason": "\(reason)",
        ])
    }

    private func changed(_ index: Int, to announced: Bool) {
        onInterface[index] = announced
        transitions[index] += 1
        since[index] = WallClock.unixSeconds()
        lastFailure[index] = nil
    }

    /// Tried again next turn; logged when the failure is new.
    private func failed(_ index: Int, _ message: String) {
        guard lastFailure[index] != message else { return }
        lastFailure[index] = message
        logger.error("anycast: \(message); trying again every \(AnycastNode.turnMs) ms",
                     metadata: ["vip": "\(vips[index].address)"])
    }

    private func evaluate() -> [(holds: Bool?, reason: String)] {
        let health = poolHealth(vips.map(\.address))
        lastPools = health.map { $0.map(\.name) }
        return health.map { AnycastCondition.evaluate(settings.announceWhen, pools: $0) }
    }

    static func seconds(_ ms: Int64) -> String {
        "\(ms / 1000).\(ms % 1000 / 100) s"
    }
}
