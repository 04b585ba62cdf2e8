import FulcrumAddress

/// Running totals since the router was built. Discards are counted by the caller, which sees
/// them before the state machine does.
public struct VRRPCounters: Hashable, Sendable {
    public var advertsSent = 0
    public var advertsReceived = 0
    public var priorityZeroSent = 0
    public var priorityZeroReceived = 0
    public var becameMaster = 0
    public var becameBackup = 0
    public var becameInitialize = 0

    public init() {}
}

/// A state change, for "last transition" in the status output.
public struct VRRPTransition: Hashable, Sendable, CustomStringConvertible {
    public var from: VRRPState
    public var to: VRRPState
    public var at: VRRPInstant
    public var reason: VRRPReason

    public init(from: VRRPState, to: VRRPState, at: VRRPInstant, reason: VRRPReason) {
        self.from = from
        self.to = to
        self.at = at
        self.reason = reason
    }

    public var description: String { "\(from) -> \(to): \(reason)" }
}

/// Everything `show ha` reports about the virtual router, as one value the control thread
/// can copy.
public struct VRRPStatus: Hashable, Sendable {
    public var state: VRRPState
    public var virtualRouterID: UInt8
    public var configuredPriority: UInt8
    public var effectivePriority: UInt8
    /// Our own primary address when master; the last advertiser heard when backup (nil until
    /// one is heard, and in Initialize).
    public var masterAddress: IPAddress?
    /// The priority the master last advertised (ours when master).
    public var masterPriority: UInt8?
    /// The interval the backup times the master with: learned from its adverts (§6.4.2).
    public var masterAdvertInterval: VRRPAdvertInterval
    public var skewTime: VRRPDuration
    public var masterDownInterval: VRRPDuration
    public var lastTransition: VRRPTransition?
    public var counters: VRRPCounters
}
