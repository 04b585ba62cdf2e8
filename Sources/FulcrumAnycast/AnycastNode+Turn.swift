import CFulcrumLinux
import FulcrumAddress
import FulcrumConfig
import FulcrumNetlink
import FulcrumStatus
import FulcrumSystem

extension AnycastNode {
    func run() {
        let start = cfl_monotonic_ms()
        let first = evaluate()
        // Not known yet counts as not holding: a node that just started waits for a verdict.
        for index in states.indices {
            states[index].gate = AnnouncementGate(holdDownMs: settings.holdDownMs,
                                                  condition: first[index].holds ?? false, nowMs: start)
        }
        while !loop.stopRequested {
            let requests = currentRequests()
            if let new = requests.reconfiguration { apply(new) }
            turn(requests)
            markApplied(requests.number)
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
    private func turn(_ requests: Requests) {
        let nowMs = cfl_monotonic_ms()
        let verdicts = evaluate()
        var entries: [AnycastStatus.VIP] = []
        for index in states.indices {
            let (verdict, why) = verdicts[index]
            // Not known yet: the condition stays what it was.
            let holds = verdict ?? states[index].gate.condition
            let off = requests.forcedOff(states[index].address)
            _ = states[index].gate.observe(holds, forcedOff: off != nil, nowMs: nowMs)
            let gate = states[index].gate
            if gate.announced != states[index].onInterface {
                let reason = gate.announced ? why : off?.reason ?? "\(why) (held \(settings.holdDownMs) ms)"
                put(index, on: gate.announced, reason: reason)
            }
            let pending = gate.pending(forcedOff: off != nil, nowMs: nowMs).map { change, left in
                "\(change == .announce ? "announce" : "withdraw") in \(Self.seconds(left)) (hold_down \(settings.holdDownMs) ms)"
            }
            let state = states[index]
            entries.append(AnycastStatus.VIP(
                address: "\(state.address)", announced: state.onInterface, conditionHolds: holds,
                reason: off?.reason ?? why, pending: pending, since: state.since, transitions: state.transitions,
                withdrawnByOperator: off == .operatorRequest, pools: state.pools))
        }
        publish(entries)
        // After the changes: a VIP this turn withdrew is not renewed first.
        if nowMs - lastRefreshMs >= AnycastNode.refreshMs {
            lastRefreshMs = nowMs
            refreshAnnounced()
        }
    }

    /// A reload's settings: VIPs in the new order, the removed ones withdrawn without
    /// hold_down and their local routes gone, the new ones starting withdrawn with a local
    /// route, the kept ones as they were under the new hold_down.
    private func apply(_ new: AnycastSettings) {
        let nowMs = cfl_monotonic_ms()
        for index in states.indices where !new.virtualIPs.contains(states[index].address) {
            let address = states[index].address
            let wasAnnounced = states[index].onInterface
            // One line either way: put() logs the withdrawal, or its failure.
            if wasAnnounced {
                put(index, on: false, reason: "removed from [anycast] virtual_ips by a reload")
            } else {
                logger.notice("anycast: \(address) removed from [anycast] virtual_ips by a reload",
                              metadata: ["vip": "\(address)"])
            }
            if states[index].onInterface {
                // Not renewed from here on: the kernel drops it when its lifetime runs out.
                logger.error("anycast: \(address) stays on \(interface) until its lifetime (\(AnycastNode.addressLifetimeSeconds) s) runs out",
                             metadata: ["vip": "\(address)"])
            }
            removeLocalRoute(address)
        }
        let kept = Dictionary(uniqueKeysWithValues: states.map { ($0.address, $0) })
        states = new.virtualIPs.map { address in
            if var state = kept[address] {
                state.gate.holdDownMs = new.holdDownMs
                return state
            }
            let vip = AnycastNode.interfaceAddress(address, on: interface)
            do {
                try addresses.addLocalRoute(address)
            } catch {
                // Announcing still works (the address on the interface is local too); only a
                // withdrawn VIP's open connections lose their way in.
                logger.error("anycast: cannot add the local route for \(address): \(error)", metadata: ["vip": "\(address)"])
            }
            logger.notice("anycast: \(address) added to [anycast] virtual_ips by a reload; announced once its condition has held for hold_down (\(new.holdDownMs) ms)",
                          metadata: ["vip": "\(address)"])
            return VIPState(vip: vip, gate: AnnouncementGate(holdDownMs: new.holdDownMs, condition: false, nowMs: nowMs),
                            since: WallClock.unixSeconds())
        }
        settings = new
    }

    /// Renews the lifetime of every announced VIP; one that vanished from the interface (taken
    /// off by hand, or expired while this thread was stalled) is put back.
    private func refreshAnnounced() {
        // Only what should stay announced: a VIP whose withdrawal the kernel refused must not
        // have its lifetime renewed, or a dying node would keep it.
        for index in states.indices where states[index].onInterface && states[index].gate.announced {
            do {
                try addresses.addOrRefresh(states[index].vip, lifetimeSeconds: AnycastNode.addressLifetimeSeconds)
                states[index].lastFailure = nil
            } catch {
                failed(index, "cannot refresh \(states[index].address): \(error)")
            }
        }
    }

    /// Puts the VIP on the interface (announce) or takes it off (withdraw); logs the change with
    /// its reason, or the failure (tried again next turn).
    func put(_ index: Int, on: Bool, reason: String) {
        let vip = states[index].vip
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
        states[index].onInterface = on
        states[index].transitions += 1
        states[index].since = WallClock.unixSeconds()
        states[index].lastFailure = nil
        logger.notice("anycast \(verb) \(vip.address): \(reason)", metadata: [
            "vip": "\(vip.address)", "interface": "\(vip.interface)", "reason": "\(reason)",
        ])
    }

    /// Tried again next turn; logged when the failure is new.
    private func failed(_ index: Int, _ message: String) {
        guard states[index].lastFailure != message else { return }
        states[index].lastFailure = message
        logger.error("anycast: \(message); trying again every \(AnycastNode.turnMs) ms",
                     metadata: ["vip": "\(states[index].address)"])
    }

    private func evaluate() -> [(holds: Bool?, reason: String)] {
        let health = poolHealth(states.map(\.address))
        for index in states.indices { states[index].pools = health[index].map(\.name) }
        return health.map { AnycastCondition.evaluate(settings.announceWhen, pools: $0) }
    }

    static func seconds(_ ms: Int64) -> String {
        "\(ms / 1000).\(ms % 1000 / 100) s"
    }
}
