extension OperatingStatus {
    /// Whether a member with this status takes new traffic: the same rule `poolStatus` uses
    /// (ONLINE, NO_MONITOR, and UNKNOWN before a first verdict).
    public var isServing: Bool { self == .online || self == .noMonitor || self == .unknown }
}
