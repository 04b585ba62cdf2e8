import FulcrumAddress

/// Whether a backup takes over from a live master of lower priority (RFC 5798 Preempt_Mode).
public enum VRRPPreemption: Hashable, Sendable {
    /// A live master keeps the role whatever its priority; only its death moves the addresses.
    case disabled
    /// A higher-priority backup takes over. With a delay, it first tolerates the lower master
    /// for that long (counted from the first lower-priority advert it sees), so a node that
    /// just came back — health checks not yet settled — does not grab the addresses at once.
    case enabled(delay: VRRPDuration)

    /// Preempt as the RFC does, with no delay.
    public static let immediate = VRRPPreemption.enabled(delay: .zero)
}

/// What is wrong with a router configuration. The config module reports these with file and
/// line; they are here too so the state machine cannot be built in a state the RFC forbids.
public enum VRRPConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// VRID 0 is not a virtual router id.
    case virtualRouterIDZero
    /// Priority must be 1...254: 0 means "stopping" on the wire, 255 claims to own the
    /// addresses, which Fulcrum never does.
    case priorityOutOfRange(UInt8)
    /// No virtual address of the primary address's family, so no advert could list one.
    case noVirtualAddress(VRRPFamily)
    /// More virtual addresses of the family than the advert's count byte holds.
    case tooManyVirtualAddresses(Int)
    /// A negative preempt delay.
    case negativePreemptDelay

    public var description: String {
        switch self {
        case .virtualRouterIDZero:
            return "virtual router id must be 1..255"
        case let .priorityOutOfRange(priority):
            return "priority \(priority) is not in 1..254 (255 = address owner is not supported)"
        case let .noVirtualAddress(family):
            return "no \(family) virtual address to advertise"
        case let .tooManyVirtualAddresses(count):
            return "\(count) virtual addresses; an advert holds at most 255"
        case .negativePreemptDelay:
            return "preempt delay must not be negative"
        }
    }
}

/// One virtual router as configured on this node.
public struct VRRPRouterConfiguration: Hashable, Sendable {
    public let virtualRouterID: UInt8
    /// Configured priority, 1...254; the effective priority starts here.
    public let priority: UInt8
    /// How often this node advertises when master.
    public let advertInterval: VRRPAdvertInterval
    public let preemption: VRRPPreemption
    /// This node's own address on the interface: the adverts' source and the RFC's tie-break.
    public let primaryAddress: IPAddress
    /// The addresses that move. Those of the primary address's family go into the adverts;
    /// any of the other family are carried by the daemon alongside (RFC 5798 would run a
    /// second virtual router for them) and are not advertised.
    public let virtualAddresses: [IPAddress]

    public init(
        virtualRouterID: UInt8,
        priority: UInt8,
        advertInterval: VRRPAdvertInterval = .rfcDefault,
        preemption: VRRPPreemption = .immediate,
        primaryAddress: IPAddress,
        virtualAddresses: [IPAddress]
    ) throws(VRRPConfigurationError) {
        guard virtualRouterID != 0 else { throw .virtualRouterIDZero }
        guard priority >= 1, priority <= 254 else { throw .priorityOutOfRange(priority) }
        if case let .enabled(delay) = preemption, delay < .zero { throw .negativePreemptDelay }
        let family = VRRPFamily(of: primaryAddress)
        let advertised = virtualAddresses.filter { VRRPFamily(of: $0) == family }
        guard !advertised.isEmpty else { throw .noVirtualAddress(family) }
        guard advertised.count <= 255 else { throw .tooManyVirtualAddresses(advertised.count) }
        self.virtualRouterID = virtualRouterID
        self.priority = priority
        self.advertInterval = advertInterval
        self.preemption = preemption
        self.primaryAddress = primaryAddress
        self.virtualAddresses = virtualAddresses
    }

    public var family: VRRPFamily { VRRPFamily(of: primaryAddress) }

    /// The addresses the adverts list.
    public var advertisedAddresses: [IPAddress] {
        virtualAddresses.filter { VRRPFamily(of: $0) == family }
    }

    /// Whether a received advert lists exactly our advertised addresses (in any order).
    /// RFC 5798 §7.1 asks receivers to check and log a mismatch — two nodes configured with
    /// different VIPs for one VRID — without discarding the advert; the daemon counts it.
    public func advertisesSameAddresses(as advert: VRRPAdvert) -> Bool {
        Set(advert.addresses) == Set(advertisedAddresses) && advert.addresses.count == advertisedAddresses.count
    }

    /// The advert to send for a `sendAdvert(priority:)` action; encode it with
    /// `encode(source: primaryAddress, destination: <group or peer>)`.
    public func advert(priority: UInt8) -> VRRPAdvert {
        VRRPAdvert(virtualRouterID: virtualRouterID, priority: priority, maxAdvertInterval: advertInterval,
                   addresses: advertisedAddresses)
    }
}
