/// Octavia's operating status of a member or pool, as the status outputs show it.
public enum OperatingStatus: String, Sendable, Equatable, CaseIterable {
    case online = "ONLINE"
    case draining = "DRAINING"
    case offline = "OFFLINE"
    case degraded = "DEGRADED"
    case error = "ERROR"
    case noMonitor = "NO_MONITOR"
    case unknown = "UNKNOWN"
}

/// A health monitor's current judgement of one member.
public enum HealthVerdict: String, Sendable, Equatable {
    case unknown, up, down
}

/// What an operator set for a member at run time (the status socket's `set member ... state`).
/// ready: takes traffic as configured; drain: no new connections or sessions, open ones go on
/// (HAProxy's DRAIN, Octavia's weight 0); maint: out of the pool, open ones go on unless
/// `shutdown sessions` closes them (HAProxy's MAINT, Octavia's admin_state_up = false).
public enum AdminState: String, Sendable, Equatable, CaseIterable {
    case ready, drain, maint
}

/// Operating status of a member: what it is configured (or set) to be, then what its checks say.
public func memberStatus(adminStateUp: Bool, weight: Int, monitored: Bool,
                         verdict: HealthVerdict) -> OperatingStatus {
    if !adminStateUp { return .offline }
    if monitored && verdict == .down { return .error }
    if weight == 0 { return .draining }
    if !monitored { return .noMonitor }
    return verdict == .up ? .online : .unknown
}

/// Operating status of a pool from its members' statuses: ERROR when no member can take
/// traffic, DEGRADED when some enabled member is in ERROR, else ONLINE.
public func poolStatus(_ members: [OperatingStatus]) -> OperatingStatus {
    let serving = members.contains { $0 == .online || $0 == .noMonitor || $0 == .unknown }
    if !serving { return .error }
    return members.contains(.error) ? .degraded : .online
}
