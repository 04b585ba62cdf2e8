import FulcrumAddress

/// One virtual router's RFC 5798 §6.4 state machine (Initialize, Backup, Master) as a value.
///
/// It is driven by events — `start`, `received`, `timerExpired`, `setEffectivePriority`,
/// `shutdown` — each given the caller's monotonic `now`, and answers with the actions to take
/// and the instant at which `timerExpired` is due next. It reads no clock and opens no socket,
/// so two of them can be run against each other over a simulated link in a unit test.
///
/// The caller decodes packets (`VRRPAdvert.decode`), counts discards, filters unicast peers,
/// and calls `timerExpired` when `nextDeadline` has passed. If an advert and an expired
/// deadline are both pending, handing over the advert first is the safe order: it proves the
/// master alive and spares a needless takeover.
public struct VRRPRouter: Sendable {
    public let configuration: VRRPRouterConfiguration
    /// The priority this node advertises and compares with: the configured one lowered by the
    /// daemon while tracked pools are down. Always 1...254.
    public internal(set) var effectivePriority: UInt8
    /// Master_Adver_Interval: our own interval until a master's advert teaches us its own.
    public internal(set) var masterAdvertInterval: VRRPAdvertInterval
    public internal(set) var masterAddress: IPAddress?
    public internal(set) var masterPriority: UInt8?
    public internal(set) var lastTransition: VRRPTransition?
    public internal(set) var counters = VRRPCounters()
    /// Where in §6.4 we are, with that state's timer. Changed only through `enter`.
    var phase: Phase = .initialize

    public init(configuration: VRRPRouterConfiguration) {
        self.configuration = configuration
        self.effectivePriority = configuration.priority
        self.masterAdvertInterval = configuration.advertInterval
    }

    public var state: VRRPState {
        switch phase {
        case .initialize: return .initialize
        case .backup: return .backup
        case .master: return .master
        }
    }

    /// When `timerExpired` is due: the Master_Down_Timer in Backup, the Adver_Timer in Master.
    public var nextDeadline: VRRPInstant? {
        switch phase {
        case .initialize: return nil
        case let .backup(backup): return backup.masterDownAt
        case let .master(advertDue): return advertDue
        }
    }

    /// Skew_Time from our effective priority and the master's interval.
    public var skewTime: VRRPDuration {
        VRRPTiming.skewTime(priority: effectivePriority, masterAdvertInterval: masterAdvertInterval)
    }

    /// Master_Down_Interval from our effective priority and the master's interval.
    public var masterDownInterval: VRRPDuration {
        VRRPTiming.masterDownInterval(priority: effectivePriority, masterAdvertInterval: masterAdvertInterval)
    }

    public var status: VRRPStatus {
        VRRPStatus(
            state: state, virtualRouterID: configuration.virtualRouterID,
            configuredPriority: configuration.priority, effectivePriority: effectivePriority,
            masterAddress: masterAddress, masterPriority: masterPriority,
            masterAdvertInterval: masterAdvertInterval, skewTime: skewTime, masterDownInterval: masterDownInterval,
            lastTransition: lastTransition, counters: counters
        )
    }

    // MARK: Events

    /// Startup (§6.4.1). Priority 255 (owner) is never configured, so every node goes to
    /// Backup and waits Master_Down_Interval for a master before claiming the addresses.
    public mutating func start(now: VRRPInstant) -> VRRPOutput {
        guard case .initialize = phase else { return output([]) }
        masterAdvertInterval = configuration.advertInterval
        masterAddress = nil
        masterPriority = nil
        let backup = Backup(masterDownAt: now + masterDownInterval, cause: .nothingHeardSince(now))
        let actions = [enter(.backup(backup), at: now, reason: .started)]
        return output(actions)
    }

    /// A decoded, valid advert from `source` (the IP source address).
    public mutating func received(_ advert: VRRPAdvert, from source: IPAddress, now: VRRPInstant) -> VRRPOutput {
        guard advert.virtualRouterID == configuration.virtualRouterID,
              VRRPFamily(of: source) == configuration.family,
              // Our own advert looped back: not another router, and comparing it with
              // ourselves would mean nothing.
              source != configuration.primaryAddress
        else { return output([]) }
        switch phase {
        case .initialize:
            return output([])
        case let .backup(backup):
            countReceived(advert)
            let actions = backupReceived(advert, from: source, backup: backup, now: now)
            return output(actions)
        case .master:
            countReceived(advert)
            let actions = masterReceived(advert, from: source, now: now)
            return output(actions)
        }
    }

    /// The deadline in `nextDeadline` has passed. Calls before it are ignored (an early or
    /// spurious wakeup changes nothing).
    public mutating func timerExpired(now: VRRPInstant) -> VRRPOutput {
        switch phase {
        case .initialize:
            return output([])
        case let .backup(backup):
            guard now >= backup.masterDownAt else { return output([]) }
            // §6.4.2: Master_Down_Timer fired — advertise first, so the old master (if it is
            // merely slow) steps down as early as possible, then take the addresses.
            let reason = backup.cause.reason(now: now, ourPriority: effectivePriority)
            masterAddress = configuration.primaryAddress
            masterPriority = effectivePriority
            let actions = [
                advertise(priority: effectivePriority),
                enter(.master(advertDue: now + configuration.advertInterval.duration), at: now, reason: reason),
            ]
            return output(actions)
        case let .master(advertDue):
            guard now >= advertDue else { return output([]) }
            phase = .master(advertDue: now + configuration.advertInterval.duration)
            let actions = [advertise(priority: effectivePriority)]
            return output(actions)
        }
    }

    /// Sets the effective priority (clamped to 1...254: 0 would announce a shutdown and 255
    /// ownership). A master advertises the new value at once rather than at its next tick, so
    /// a backup that now outranks it starts preempting one interval sooner. The master does
    /// not step down by itself: as the RFC has it, the backup preempts by ignoring the lower
    /// adverts and taking over after Master_Down_Interval, and the old master yields to its
    /// first higher advert — so there is never a moment with no master.
    public mutating func setEffectivePriority(_ priority: Int, now: VRRPInstant) -> VRRPOutput {
        let clamped = UInt8(min(254, max(1, priority)))
        guard clamped != effectivePriority else { return output([]) }
        effectivePriority = clamped
        guard case .master = phase else { return output([]) }
        masterPriority = clamped
        phase = .master(advertDue: now + configuration.advertInterval.duration)
        let actions = [advertise(priority: clamped)]
        return output(actions)
    }

    /// Stop (§6.4.2, §6.4.3). A master sends priority 0 first, so its backup takes over after
    /// Skew_Time instead of Master_Down_Interval, then releases the addresses.
    public mutating func shutdown(now: VRRPInstant) -> VRRPOutput {
        var actions: [VRRPAction] = []
        switch phase {
        case .initialize:
            return output([])
        case .master:
            actions.append(advertise(priority: VRRPAdvert.shutdownPriority))
        case .backup:
            break
        }
        masterAddress = nil
        masterPriority = nil
        actions.append(enter(.initialize, at: now, reason: .shutdown))
        return output(actions)
    }

    // MARK: Bookkeeping

    mutating func advertise(priority: UInt8) -> VRRPAction {
        counters.advertsSent += 1
        if priority == VRRPAdvert.shutdownPriority { counters.priorityZeroSent += 1 }
        return .sendAdvert(priority: priority)
    }

    private mutating func countReceived(_ advert: VRRPAdvert) {
        counters.advertsReceived += 1
        if advert.priority == VRRPAdvert.shutdownPriority { counters.priorityZeroReceived += 1 }
    }

    /// The one place the state changes: records the transition and returns its action.
    mutating func enter(_ next: Phase, at now: VRRPInstant, reason: VRRPReason) -> VRRPAction {
        let previous = state
        phase = next
        lastTransition = VRRPTransition(from: previous, to: state, at: now, reason: reason)
        switch state {
        case .initialize:
            counters.becameInitialize += 1
            return .becomeInitialize(reason)
        case .backup:
            counters.becameBackup += 1
            return .becomeBackup(reason)
        case .master:
            counters.becameMaster += 1
            return .becomeMaster(reason)
        }
    }

    /// Pairs the actions with the deadline as it stands now. Callers compute the actions into
    /// a local first: in `output(mutatingCall())` Swift would copy `self` — and so read the
    /// deadline — before the argument's mutation.
    private func output(_ actions: [VRRPAction]) -> VRRPOutput {
        VRRPOutput(actions: actions, nextDeadline: nextDeadline)
    }
}
