import FulcrumAddress

/// What an advert does in each state (RFC 5798 §6.4.2 and §6.4.3).
extension VRRPRouter {
    /// §6.4.2, Backup receiving an advert.
    mutating func backupReceived(_ advert: VRRPAdvert, from source: IPAddress, backup: Backup, now: VRRPInstant) -> [VRRPAction] {
        var backup = backup
        masterAddress = source
        masterPriority = advert.priority
        if advert.priority == VRRPAdvert.shutdownPriority {
            // The master is leaving: wait only Skew_Time, so the highest-priority backup
            // (shortest skew) answers first.
            backup.masterDownAt = now + skewTime
            backup.cause = .masterShutDown(source)
        } else if accepts(advert, backup: &backup, now: now) {
            masterAdvertInterval = advert.maxAdvertInterval
            backup.masterDownAt = now + masterDownInterval
            backup.cause = .masterHeard(source, at: now)
        } else {
            // Preempting: ignore the lower master's advert and let the timer run out.
            backup.cause = .outranking(source, theirPriority: advert.priority)
        }
        phase = .backup(backup)
        return []
    }

    /// Whether a backup takes a (non-zero priority) advert as proof of a master it will follow:
    /// always without preemption or from an equal or higher priority; from a lower priority
    /// only while a preempt delay is still running. Starts or clears the delay as it goes.
    func accepts(_ advert: VRRPAdvert, backup: inout Backup, now: VRRPInstant) -> Bool {
        guard case let .enabled(delay) = configuration.preemption else { return true }
        if advert.priority >= effectivePriority {
            backup.lowerMasterSeenSince = nil
            return true
        }
        guard delay > .zero else { return false }
        let since = backup.lowerMasterSeenSince ?? now
        backup.lowerMasterSeenSince = since
        return now < since + delay
    }

    /// §6.4.3, Master receiving an advert.
    mutating func masterReceived(_ advert: VRRPAdvert, from source: IPAddress, now: VRRPInstant) -> [VRRPAction] {
        if advert.priority == VRRPAdvert.shutdownPriority {
            // Another master is leaving; make sure everyone hears that we are here.
            phase = .master(advertDue: now + configuration.advertInterval.duration)
            return [advertise(priority: effectivePriority)]
        }
        let reason: VRRPReason
        if advert.priority > effectivePriority {
            reason = .higherPriority(from: source, priority: advert.priority, ourPriority: effectivePriority)
        } else if advert.priority == effectivePriority,
                  VRRPAddressBytes.isHigher(source, than: configuration.primaryAddress) {
            reason = .equalPriorityHigherAddress(from: source, priority: advert.priority)
        } else {
            // We win (split brain, or a rival that has not heard us yet). The RFC only says to
            // discard this; advertising and re-announcing at once — as keepalived does — makes
            // the rival yield now and the neighbours that followed it come back to us.
            phase = .master(advertDue: now + configuration.advertInterval.duration)
            return [
                advertise(priority: effectivePriority),
                .reannounce(.lowerPriorityMaster(from: source, priority: advert.priority, ourPriority: effectivePriority)),
            ]
        }
        masterAdvertInterval = advert.maxAdvertInterval
        masterAddress = source
        masterPriority = advert.priority
        let backup = Backup(masterDownAt: now + masterDownInterval, cause: .masterHeard(source, at: now))
        // Beyond the RFC, one last advert as we step down. When a partition heals, the winner
        // may never hear the loser otherwise (the loser yields to the winner's first advert),
        // and would not know that neighbours followed the loser's gratuitous ARPs; this advert
        // reaches it as a lower-priority master's, and it re-announces. Sent after the
        // addresses are released, so the winner's announcement is the last word.
        return [enter(.backup(backup), at: now, reason: reason), advertise(priority: effectivePriority)]
    }
}
