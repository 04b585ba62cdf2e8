/// hold_down for one VIP: the announcement follows the condition only once the condition has
/// kept its value for hold_down, so health that flips faster than that never moves the route.
/// An operator's withdraw and shutdown bypass it (they take effect at once). Pure: the time is
/// passed in (monotonic milliseconds).
public struct AnnouncementGate: Sendable, Equatable {
    public enum Change: Sendable, Equatable {
        case announce, withdraw
    }

    public private(set) var announced = false
    public private(set) var condition: Bool
    /// When the condition took its current value.
    public private(set) var conditionSince: Int64
    /// A reload may change it; a wait under way is then measured against the new value.
    public var holdDownMs: Int

    /// Starts withdrawn, with the condition as first seen at `nowMs`: a node that just started
    /// announces only after hold_down of health, like one that recovered.
    public init(holdDownMs: Int, condition: Bool, nowMs: Int64) {
        self.holdDownMs = holdDownMs
        self.condition = condition
        conditionSince = nowMs
    }

    /// Takes the condition as seen now; `forcedOff` (withdrawn by the operator, shutting down)
    /// overrides it. Returns the change to make, if any.
    public mutating func observe(_ holds: Bool, forcedOff: Bool, nowMs: Int64) -> Change? {
        if holds != condition {
            condition = holds
            conditionSince = nowMs
        }
        if forcedOff {
            guard announced else { return nil }
            announced = false
            return .withdraw
        }
        guard condition != announced, nowMs - conditionSince >= Int64(holdDownMs) else { return nil }
        announced = condition
        return announced ? .announce : .withdraw
    }

    /// The change hold_down is waiting out and the milliseconds left, or nil.
    public func pending(forcedOff: Bool, nowMs: Int64) -> (change: Change, remainingMs: Int64)? {
        guard !forcedOff, condition != announced else { return nil }
        return (announced ? .withdraw : .announce, max(0, Int64(holdDownMs) - (nowMs - conditionSince)))
    }
}
