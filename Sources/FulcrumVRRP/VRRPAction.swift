import FulcrumAddress

/// The three states of RFC 5798 §6.4. Raw values are the names operators know from keepalived.
public enum VRRPState: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case initialize = "INIT"
    case backup = "BACKUP"
    case master = "MASTER"

    public var description: String { rawValue }
}

/// Why something happened, kept as data (tests compare it, the status socket shows it) and
/// rendered as the log line's text by `description`.
public enum VRRPReason: Hashable, Sendable, CustomStringConvertible {
    /// Initialize → Backup on start: every node listens first, so a restarting node never
    /// steals the addresses before hearing whether a master exists.
    case started
    /// Backup → Master: the Master_Down_Timer ran out. `master` is the last one heard (nil if
    /// none since start); `silentFor` is how long it has been quiet.
    case masterDown(master: IPAddress?, silentFor: VRRPDuration)
    /// Backup → Master: a live master of lower priority was out-waited (preemption).
    case preempting(master: IPAddress, theirPriority: UInt8, ourPriority: UInt8)
    /// Backup → Master: the master sent priority 0 and we waited only Skew_Time.
    case masterShutDown(master: IPAddress)
    /// Master → Backup: an advert with higher priority.
    case higherPriority(from: IPAddress, priority: UInt8, ourPriority: UInt8)
    /// Master → Backup: an advert with our priority from a higher primary address.
    case equalPriorityHigherAddress(from: IPAddress, priority: UInt8)
    /// Still master after another master's advert that loses to us (split brain healing):
    /// we advertise and re-announce at once so it and the neighbours follow us.
    case lowerPriorityMaster(from: IPAddress, priority: UInt8, ourPriority: UInt8)
    /// → Initialize: told to stop.
    case shutdown

    public var description: String {
        switch self {
        case .started:
            return "started; listening for a master"
        case let .masterDown(master?, silentFor):
            return "no advert from \(master) for \(silentFor) (master down)"
        case let .masterDown(nil, silentFor):
            return "no advert for \(silentFor) since start (master down)"
        case let .preempting(master, theirs, ours):
            return "preempting \(master) (priority \(theirs) < \(ours))"
        case let .masterShutDown(master):
            return "master \(master) shut down (priority 0)"
        case let .higherPriority(from, priority, ours):
            return "higher priority \(priority) from \(from) (ours \(ours))"
        case let .equalPriorityHigherAddress(from, priority):
            return "equal priority \(priority) from higher address \(from)"
        case let .lowerPriorityMaster(from, priority, ours):
            return "\(from) also advertises as master with lower priority \(priority) (ours \(ours)); re-announcing"
        case .shutdown:
            return "shut down"
        }
    }
}

/// What the caller must do, in order.
public enum VRRPAction: Hashable, Sendable {
    /// Send one advert with this priority (`configuration.advert(priority:)`, encoded from the
    /// primary address to the group or each unicast peer).
    case sendAdvert(priority: UInt8)
    /// Take the virtual addresses and announce them (gratuitous ARP / unsolicited NA).
    case becomeMaster(VRRPReason)
    /// Release the virtual addresses. A master stepping down follows this with one advert of
    /// its own priority, so the winner learns a rival had announced itself (split brain) and
    /// re-announces.
    case becomeBackup(VRRPReason)
    /// Stopped: release the addresses (after the priority-0 advert that precedes this).
    case becomeInitialize(VRRPReason)
    /// Still master: announce the addresses again so neighbours that followed a rival master
    /// point back at us.
    case reannounce(VRRPReason)
}

/// The result of one event: actions to carry out in order, and when to call `timerExpired`
/// next (nil: no timer runs, in Initialize).
public struct VRRPOutput: Hashable, Sendable {
    public var actions: [VRRPAction]
    public var nextDeadline: VRRPInstant?

    public init(actions: [VRRPAction], nextDeadline: VRRPInstant?) {
        self.actions = actions
        self.nextDeadline = nextDeadline
    }
}
