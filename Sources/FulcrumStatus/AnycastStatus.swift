/// The anycast announcer's state as `show anycast`, `/status.json`, the page and `/metrics`
/// show it. Plain values filled by the daemon from its anycast thread; nil in
/// `StatusSnapshot.anycast` when the configuration has no `[anycast]` section.
public struct AnycastStatus: Sendable, Equatable {
    /// One virtual IP: on the interface (so BIRD exports it) or not, and why.
    public struct VIP: Sendable, Equatable {
        /// "192.0.2.10", "2001:db8::10" (always one address: /32 or /128).
        public var address: String
        /// On the interface now, so routers send it traffic.
        public var announced: Bool
        /// Whether announce_when holds right now (announced may lag it by hold_down).
        public var conditionHolds: Bool
        /// Why it is in its state now: "pool web: 2 of 3 members up", "withdrawn by operator",
        /// "shutting down", "no listener on this address".
        public var reason: String
        /// A change hold_down is waiting out: "withdraw in 1.4 s (hold_down 3000 ms)"; nil when
        /// nothing is pending.
        public var pending: String?
        /// Unix seconds of the last announce or withdraw (start when there was none).
        public var since: Int64
        /// Announces plus withdrawals since start.
        public var transitions: Int
        /// `anycast withdraw` holds it off until `anycast announce`.
        public var withdrawnByOperator: Bool
        /// The pools of the listeners on this address (or on the wildcard of its family).
        public var pools: [String]

        public init(address: String, announced: Bool, conditionHolds: Bool, reason: String, pending: String? = nil,
                    since: Int64, transitions: Int = 0, withdrawnByOperator: Bool = false, pools: [String] = []) {
            self.address = address
            self.announced = announced
            self.conditionHolds = conditionHolds
            self.reason = reason
            self.pending = pending
            self.since = since
            self.transitions = transitions
            self.withdrawnByOperator = withdrawnByOperator
            self.pools = pools
        }
    }

    public var interface: String
    /// What the interface is: "dummy" or "bridge" when Fulcrum created it, "existing" when it
    /// was there already.
    public var interfaceKind: String
    /// "any_member_up", "all_pools_up" or "always".
    public var announceWhen: String
    public var holdDownMs: Int
    public var withdrawGraceMs: Int
    /// In config order.
    public var vips: [VIP]

    public init(interface: String, interfaceKind: String, announceWhen: String, holdDownMs: Int,
                withdrawGraceMs: Int, vips: [VIP]) {
        self.interface = interface
        self.interfaceKind = interfaceKind
        self.announceWhen = announceWhen
        self.holdDownMs = holdDownMs
        self.withdrawGraceMs = withdrawGraceMs
        self.vips = vips
    }
}

/// What an operator may ask of the anycast announcer through the admin socket.
public enum AnycastSteer: String, Sendable, Equatable, CaseIterable {
    /// Take the VIP(s) off the interface now (no hold_down) and keep them off: a node drain.
    case withdraw
    /// Undo `withdraw`: the VIP(s) follow announce_when again (announced at once if it has held
    /// for hold_down already).
    case announce
}

/// The admin socket's way into the anycast thread: a request for one VIP (nil = every VIP),
/// answered with one line per VIP asked about (where it is now, where it was), or an error naming what is wrong
/// ("no anycast VIP 10.0.0.9; configured: 10.0.0.100").
public typealias AnycastSteering = @Sendable (_ steer: AnycastSteer, _ vip: String?) -> Result<[String], AnycastSteerError>

public struct AnycastSteerError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
