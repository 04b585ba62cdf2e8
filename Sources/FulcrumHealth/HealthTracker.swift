import FulcrumStatus
import FulcrumConfig

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

extension HealthVerdict {
    public init(_ verdict: HealthTracker.Verdict) {
        switch verdict {
        case .unknown: self = .unknown
        case .up: self = .up
        case .down: self = .down
        }
    }
}
