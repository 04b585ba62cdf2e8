import FulcrumAddress

/// The router's internal state: which §6.4 state, its timer, and what the timer running out
/// would mean.
extension VRRPRouter {
    enum Phase: Sendable {
        case initialize
        case backup(Backup)
        /// The Adver_Timer: when the next periodic advert is due.
        case master(advertDue: VRRPInstant)
    }

    struct Backup: Sendable {
        /// The Master_Down_Timer.
        var masterDownAt: VRRPInstant
        /// What the timer running out would mean, for the transition's reason.
        var cause: MasterDownCause
        /// With a preempt delay: when we first saw a master we outrank (nil: not waiting).
        var lowerMasterSeenSince: VRRPInstant?
    }

    enum MasterDownCause: Sendable {
        case nothingHeardSince(VRRPInstant)
        case masterHeard(IPAddress, at: VRRPInstant)
        case masterShutDown(IPAddress)
        case outranking(IPAddress, theirPriority: UInt8)

        func reason(now: VRRPInstant, ourPriority: UInt8) -> VRRPReason {
            switch self {
            case let .nothingHeardSince(start):
                return .masterDown(master: nil, silentFor: now - start)
            case let .masterHeard(master, heardAt):
                return .masterDown(master: master, silentFor: now - heardAt)
            case let .masterShutDown(master):
                return .masterShutDown(master: master)
            case let .outranking(master, theirPriority):
                return .preempting(master: master, theirPriority: theirPriority, ourPriority: ourPriority)
            }
        }
    }
}
