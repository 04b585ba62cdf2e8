import FulcrumAddress

/// [anycast]: active-active scale-out. Every node carries the same VIPs and puts each on an
/// interface of its own while its condition holds; BIRD exports that interface's addresses
/// into BGP (`protocol direct`), and the routers spread flows over the nodes with ECMP.
/// Absent = off. Cannot be combined with [ha]: both decide who owns a VIP.
public struct AnycastSettings: Sendable, Equatable {
    /// When a VIP is announced.
    public enum AnnounceWhen: String, Sendable, Equatable, CaseIterable {
        /// At least one member is up in some pool of the VIP's listeners.
        case anyMemberUp = "any_member_up"
        /// Every pool of the VIP's listeners has at least one member up.
        case allPoolsUp = "all_pools_up"
        /// Whenever fulcrumd runs (not withdrawn by the operator, not shutting down).
        case always
    }

    /// Created by fulcrumd when missing: a dummy interface, or a bridge with no ports where
    /// the kernel has no dummy driver (it may show NO-CARRIER, but addresses, local routes and
    /// BIRD's `protocol direct` without `check link` work on it the same).
    public var interface: String
    /// One address each (/32, /128).
    public var virtualIPs: [IPAddress]
    public var announceWhen: AnnounceWhen
    /// A VIP is withdrawn only after its condition has been false this long, and announced
    /// only after it has been true this long: health that changes faster than this (a member
    /// failing every other check of a short delay) does not make the route flap.
    public var holdDownMs: Int
    /// On SIGTERM: withdraw first, then keep accepting this long while routers converge,
    /// then drain as usual (shutdown_grace).
    public var withdrawGraceMs: Int

    public init(interface: String = AnycastSettings.defaultInterface, virtualIPs: [IPAddress],
                announceWhen: AnnounceWhen = .anyMemberUp, holdDownMs: Int = AnycastSettings.defaultHoldDownMs,
                withdrawGraceMs: Int = AnycastSettings.defaultWithdrawGraceMs) {
        self.interface = interface
        self.virtualIPs = virtualIPs
        self.announceWhen = announceWhen
        self.holdDownMs = holdDownMs
        self.withdrawGraceMs = withdrawGraceMs
    }

    public static let defaultInterface = "fulcrum0"
    /// 2 s: a pool that is down stops drawing flows within 2 s of its monitor saying so (plus
    /// BGP's withdrawal, well under a second), while a verdict that flips back within that
    /// time leaves the route alone.
    public static let defaultHoldDownMs = 2_000
    /// 3 s: BGP withdrawals reach a router and its FIB in well under a second (BIRD to BIRD:
    /// 0.1-0.3 s measured in AnycastTests); the rest is margin for a fabric of several hops.
    public static let defaultWithdrawGraceMs = 3_000
    /// With shutdown_grace (at most an hour) it must fit systemd's TimeoutStopSec=3720.
    public static let maxWithdrawGraceMs = 60_000

    /// The pools a VIP's announcement follows: those of the listeners bound to the VIP itself
    /// or to the wildcard address of its family, sorted and without repeats.
    public static func pools(of vip: IPAddress, in listeners: [Listener]) -> [String] {
        let names = listeners.filter { $0.address == vip || $0.address == (vip.isIPv4 ? IPAddress.v4(0) : .v6(0, 0)) }
            .map(\.defaultPool)
        return Array(Set(names)).sorted()
    }
}
