/// Why a received packet was not taken as an advertisement. Each is counted by kind (status
/// socket, metrics) and otherwise ignored: a bad packet never changes state. The raw values
/// are the label names the metrics use.
public enum VRRPDiscard: String, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the fixed header.
    case tooShort = "too_short"
    /// Source or destination is not of the virtual router's family (or they differ).
    case wrongFamily = "wrong_family"
    /// TTL / hop limit is not 255: the packet crossed a router, so it did not come from this
    /// link (RFC 5798 §7.1) — the protocol's defence against remote spoofing.
    case wrongTTL = "wrong_ttl"
    /// Version nibble is not 3 (a VRRPv2 speaker on the segment lands here).
    case wrongVersion = "wrong_version"
    /// Type nibble is not 1 (ADVERTISEMENT), the only type defined.
    case wrongType = "wrong_type"
    /// Count IPvX Addr is 0; RFC 5798 §5.2.5 says the minimum is 1.
    case noAddresses = "no_addresses"
    /// The payload length is not 8 + count × address size: truncated, padded or lying count.
    case addressCountMismatch = "address_count_mismatch"
    /// The checksum over the pseudo-header and packet does not verify.
    case badChecksum = "bad_checksum"
    /// A well-formed advert for another virtual router on the same segment.
    case wrongVRID = "wrong_vrid"
    /// Max Advertise Interval 0: no master can advertise that often, and taking it would make
    /// our Master_Down_Interval only the skew.
    case zeroInterval = "zero_interval"
    /// With unicast peers configured, an advert from an address not among them. Never returned
    /// by `VRRPAdvert.decode` (it does not know the peers); here so the daemon's source filter
    /// counts in the same table.
    case unknownSource = "unknown_source"

    public var description: String { rawValue }
}
