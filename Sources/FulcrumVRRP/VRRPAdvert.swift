import FulcrumAddress

/// One VRRPv3 ADVERTISEMENT (RFC 5798 §5.2), the only packet the protocol has:
///
///     0                   1                   2                   3
///     |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
///     |(rsvd) |     Max Adver Int     |          Checksum             |
///     |                    IPvX Address(es) ...                       |
public struct VRRPAdvert: Hashable, Sendable {
    /// The version this module speaks; anything else is discarded on receipt.
    public static let version: UInt8 = 3
    /// The ADVERTISEMENT type, the only one RFC 5798 defines.
    public static let advertisementType: UInt8 = 1
    /// Bytes before the address list.
    public static let headerLength = 8
    /// TTL / hop limit every advert is sent with and must arrive with (§5.1.1.3, §7.1).
    public static let requiredTTL: UInt8 = 255

    /// Priority 0: "the current Master has stopped participating in VRRP" (§5.2.4); backups
    /// take over after Skew_Time instead of Master_Down_Interval.
    public static let shutdownPriority: UInt8 = 0
    /// Priority 255: the router that owns the virtual addresses. Fulcrum never claims it
    /// (its virtual IPs are never an interface's own address), but honours it when received.
    public static let ownerPriority: UInt8 = 255

    /// VRID 1...255, identifying the virtual router on the link.
    public var virtualRouterID: UInt8
    /// The sender's priority for this virtual router.
    public var priority: UInt8
    /// How often the sender advertises; backups learn it (§6.4.2) to time the master's death.
    public var maxAdvertInterval: VRRPAdvertInterval
    /// The virtual addresses, all of the advert's family.
    public var addresses: [IPAddress]

    public init(virtualRouterID: UInt8, priority: UInt8, maxAdvertInterval: VRRPAdvertInterval, addresses: [IPAddress]) {
        self.virtualRouterID = virtualRouterID
        self.priority = priority
        self.maxAdvertInterval = maxAdvertInterval
        self.addresses = addresses
    }

    /// The VRRP packet (the IP payload) from `source` to `destination`, checksum filled in.
    ///
    /// The family is the source's; `destination` must be of the same family (a pseudo-header
    /// cannot mix them). Only addresses of that family are written, at most 255 (the count is
    /// one byte): RFC 5798 runs IPv4 and IPv6 virtual routers separately, and
    /// `VRRPRouterConfiguration` has already refused a config with none or too many.
    public func encode(source: IPAddress, destination: IPAddress) -> [UInt8] {
        precondition(source.isIPv4 == destination.isIPv4, "VRRP source and destination of different families")
        let family = VRRPFamily(of: source)
        let carried = addresses.lazy.filter { VRRPFamily(of: $0) == family }.prefix(255)
        var packet: [UInt8] = []
        packet.reserveCapacity(Self.headerLength + carried.count * family.addressLength)
        packet.append(Self.version << 4 | Self.advertisementType)
        packet.append(virtualRouterID)
        packet.append(priority)
        packet.append(UInt8(carried.count))
        // The top four bits of this word are reserved and sent as zero.
        let interval = maxAdvertInterval.centiseconds & VRRPAdvertInterval.maximumCentiseconds
        packet.append(UInt8(interval >> 8))
        packet.append(UInt8(interval & 0xFF))
        packet.append(0)  // checksum, computed below with the field zero
        packet.append(0)
        for address in carried {
            VRRPAddressBytes.append(address, to: &packet)
        }
        let checksum = VRRPChecksum.compute(over: packet, source: source, destination: destination)
        packet[6] = UInt8(checksum >> 8)
        packet[7] = UInt8(checksum & 0xFF)
        return packet
    }
}
