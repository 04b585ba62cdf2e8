import FulcrumConfig

/// Octavia's operating statuses, plus UNKNOWN for a monitored member not yet judged.
public enum OperatingStatus: String, Sendable, Equatable {
    case online = "ONLINE"
    case draining = "DRAINING"
    case offline = "OFFLINE"
    case degraded = "DEGRADED"
    case error = "ERROR"
    case noMonitor = "NO_MONITOR"
    case unknown = "UNKNOWN"
}

/// One member's health verdict from its stream of check results: `rise` consecutive successes
/// make it up, `fall` consecutive failures make it down (max_retries / max_retries_down).
/// A member not yet judged keeps its traffic, as HAProxy's servers do at start, so a restart of
/// the balancer is not an outage of `rise` × delay; a dead one is out after `fall` failures.
public struct HealthTracker: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case unknown, up, down
    }

    public let rise: Int
    public let fall: Int
    public private(set) var verdict: Verdict = .unknown
    public private(set) var successes = 0
    public private(set) var failures = 0

    public init(rise: Int, fall: Int) {
        precondition(rise >= 1 && fall >= 1)
        self.rise = rise
        self.fall = fall
    }

    /// Records one result; returns the new verdict when this result changed it.
    public mutating func record(passed: Bool) -> Verdict? {
        if passed {
            failures = 0
            successes = min(successes + 1, rise)
            if verdict != .up && successes >= rise {
                verdict = .up
                return .up
            }
        } else {
            successes = 0
            failures = min(failures + 1, fall)
            if verdict != .down && failures >= fall {
                verdict = .down
                return .down
            }
        }
        return nil
    }

    /// May the member take new connections/sessions.
    public var available: Bool { verdict != .down }
}

/// Operating status of a member: what it is configured to be, then what its checks say.
public func memberStatus(adminStateUp: Bool, weight: Int, monitored: Bool,
                         verdict: HealthTracker.Verdict) -> OperatingStatus {
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
