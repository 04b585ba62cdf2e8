/// A Linux capability fulcrumd may keep after dropping root. Only the three the daemon can use;
/// the numbers are the kernel's (linux/capability.h), the bits of /proc/PID/status CapEff.
public enum Capability: Int32, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case netBindService = 10
    case netAdmin = 12
    case netRaw = 13

    /// "CAP_NET_BIND_SERVICE", as error messages and systemd units spell it.
    public var description: String {
        switch self {
        case .netBindService: return "CAP_NET_BIND_SERVICE"
        case .netAdmin: return "CAP_NET_ADMIN"
        case .netRaw: return "CAP_NET_RAW"
        }
    }

    public static func < (lhs: Capability, rhs: Capability) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Which capabilities a configuration needs once its sockets are open, and why. Pure: the
/// effectful switch is FulcrumSystem.Privileges, wired in by fulcrumd.
///
/// - CAP_NET_BIND_SERVICE: always. A reload may add a listener on a port below 1024, and
///   listeners added by a reload are bound after the drop.
/// - CAP_NET_RAW: a PING monitor (raw ICMP socket where net.ipv4.ping_group_range does not let
///   the group open an ICMP datagram socket), or [ha] (gratuitous ARP / unsolicited neighbour
///   advertisements go out of an AF_PACKET socket opened on each takeover).
/// - CAP_NET_ADMIN: [ha] (VIPs added and removed through rtnetlink on every transition) and
///   [anycast] (its interface, local routes, VIPs on every announce and withdraw). Both need a
///   restart to change, so no reload can need it later.
///   Not kept for UDP listeners: their SO_RCVBUFFORCE is best effort and falls back to
///   SO_RCVBUF (capped by net.core.rmem_max), which is what a listener added by reload gets.
/// Everything else is dropped from every set, the bounding set included when root.
public struct PrivilegePlan: Sendable, Equatable {
    /// Each kept capability with the features that need it, for the start log and errors.
    public var needs: [Capability: [String]]

    public var capabilities: [Capability] { needs.keys.sorted() }

    public init(config: Config) {
        var needs: [Capability: [String]] = [.netBindService: ["listeners on ports below 1024 (now or after a reload)"]]
        let pingPools = config.pools.filter { $0.healthMonitor?.type == .ping }.map(\.name)
        if !pingPools.isEmpty {
            needs[.netRaw, default: []].append("PING health monitor (pool \(pingPools.joined(separator: ", ")))")
        }
        if config.ha != nil {
            needs[.netRaw, default: []].append("[ha] VRRP adverts and gratuitous ARP/NDP")
            needs[.netAdmin, default: []].append("[ha] virtual IPs via rtnetlink")
        }
        if config.anycast != nil {
            needs[.netAdmin, default: []].append("[anycast] interface, local routes and virtual IPs via rtnetlink")
        }
        self.needs = needs
    }

    /// The kernel's bit mask: what /proc/PID/status shows as CapEff and CapPrm after the drop.
    public var mask: UInt64 {
        capabilities.reduce(0) { $0 | (1 << UInt64($1.rawValue)) }
    }

    /// Who to become, decided from [process] alone; whether the account exists is asked later.
    public enum Target: Sendable, Equatable {
        /// user = "root": no switch, no drop (as HAProxy without `user`).
        case stayRoot
        /// No user set: `_fulcrum` if the account exists, else stay root with a warning.
        case defaultAccount(group: String?)
        /// A user named in [process]: it must exist (a startup error otherwise).
        case named(user: String, group: String?)
    }

    public static func target(_ process: ProcessSettings) -> Target {
        switch process.user {
        case "root"?: return .stayRoot
        case let user?: return .named(user: user, group: process.group)
        case nil: return .defaultAccount(group: process.group)
        }
    }
}
