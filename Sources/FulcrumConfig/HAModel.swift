import FulcrumAddress

/// [ha]: VRRPv3 (RFC 5798) virtual-IP takeover between Fulcrum nodes. Absent = no HA.
public struct HASettings: Sendable, Equatable {
    /// A virtual IP with the prefix length it gets on the interface.
    public struct VirtualIP: Sendable, Equatable, CustomStringConvertible {
        public var address: IPAddress
        public var prefixLength: Int

        public init(address: IPAddress, prefixLength: Int) {
            self.address = address
            self.prefixLength = prefixLength
        }

        public var description: String { "\(address)/\(prefixLength)" }
    }

    public var interface: String
    public var virtualRouterID: Int
    /// 1...254 (255 is the address owner, which Fulcrum never is: its VIPs are virtual).
    public var priority: Int
    /// Milliseconds, a multiple of 10 (adverts carry centiseconds).
    public var advertIntervalMs: Int
    public var preempt: Bool
    public var preemptDelayMs: Int
    /// Empty: multicast to 224.0.0.18 / ff02::12. Otherwise adverts go to these addresses
    /// only, and adverts from any other source are ignored (and counted).
    public var unicastPeers: [IPAddress]
    /// The adverts' family is the first VIP's; VIPs of the other family follow the same state
    /// without being listed in adverts (as keepalived's virtual_ipaddress_excluded).
    public var virtualIPs: [VirtualIP]
    /// Run on each transition as `notify STATE PRIORITY`, not waited for.
    public var notify: String?
    public var trackPools: [String]
    /// Effective priority = max(1, priority - trackWeight) while every member of a tracked
    /// pool is down.
    public var trackWeight: Int

    public init(interface: String, virtualRouterID: Int, priority: Int, advertIntervalMs: Int = HASettings.defaultAdvertIntervalMs,
                preempt: Bool = true, preemptDelayMs: Int = 0, unicastPeers: [IPAddress] = [],
                virtualIPs: [VirtualIP], notify: String? = nil, trackPools: [String] = [],
                trackWeight: Int = HASettings.defaultTrackWeight) {
        self.interface = interface
        self.virtualRouterID = virtualRouterID
        self.priority = priority
        self.advertIntervalMs = advertIntervalMs
        self.preempt = preempt
        self.preemptDelayMs = preemptDelayMs
        self.unicastPeers = unicastPeers
        self.virtualIPs = virtualIPs
        self.notify = notify
        self.trackPools = trackPools
        self.trackWeight = trackWeight
    }

    /// Whether adverts are IPv4 (else IPv6): the first VIP's family.
    public var advertIsIPv4: Bool { virtualIPs.first?.address.isIPv4 ?? true }

    /// 100 ms: a dead master is noticed after 3 adverts plus skew (~0.35 s at priority 100),
    /// against keepalived's 1 s default (~3.6 s measured); 10 adverts a second are nothing on
    /// any link.
    public static let defaultAdvertIntervalMs = 100
    /// Down to priority 1: any backup takes over while a tracked pool is down.
    public static let defaultTrackWeight = 253
}
