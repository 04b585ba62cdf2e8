import FulcrumAddress

extension VRRPAdvert {
    /// Validates a received VRRP packet (the IP payload) as RFC 5798 §7.1 asks, and decodes it.
    ///
    /// - Parameters:
    ///   - payload: the bytes after the IP header (for an IPv4 raw socket, use
    ///     `IPv4Header.parse` to find them; an IPv6 raw socket delivers only the payload).
    ///   - source, destination: the IP header's addresses (for IPv6 from the socket's
    ///     IPV6_PKTINFO); the checksum covers them.
    ///   - ttlOrHopLimit: IPv4 TTL or IPv6 hop limit as received (IPV6_RECVHOPLIMIT).
    ///   - expectedVRID: this node's virtual router id.
    ///   - family: the virtual router's family; source and destination must both be of it.
    /// - Returns: the advert, or the first reason to discard it. Never traps, whatever the bytes.
    ///
    /// Order of checks: the IP-level facts first, then the structure (version, type, length),
    /// then the checksum, then what the packet means (VRID, interval) — so a bit flipped in the
    /// VRID is counted as the corruption it is, not as another router's traffic.
    public static func decode<Bytes: RandomAccessCollection>(
        payload: Bytes,
        source: IPAddress,
        destination: IPAddress,
        ttlOrHopLimit: UInt8,
        expectedVRID: UInt8,
        family: VRRPFamily
    ) -> Result<VRRPAdvert, VRRPDiscard> where Bytes.Element == UInt8, Bytes.Index == Int {
        guard VRRPFamily(of: source) == family, VRRPFamily(of: destination) == family else {
            return .failure(.wrongFamily)
        }
        guard ttlOrHopLimit == requiredTTL else { return .failure(.wrongTTL) }
        guard payload.count >= headerLength else { return .failure(.tooShort) }

        let start = payload.startIndex
        let versionAndType = payload[start]
        guard versionAndType >> 4 == version else { return .failure(.wrongVersion) }
        guard versionAndType & 0x0F == advertisementType else { return .failure(.wrongType) }

        let addressCount = Int(payload[start + 3])
        guard addressCount > 0 else { return .failure(.noAddresses) }
        guard payload.count == headerLength + addressCount * family.addressLength else {
            return .failure(.addressCountMismatch)
        }

        guard VRRPChecksum.compute(over: payload, source: source, destination: destination) == 0 else {
            return .failure(.badChecksum)
        }

        let virtualRouterID = payload[start + 1]
        guard virtualRouterID == expectedVRID else { return .failure(.wrongVRID) }

        // The reserved top nibble is ignored on receipt, as §5.2.6 says.
        let intervalWord: UInt16 = VRRPAddressBytes.bigEndianInteger(payload, from: start + 4, count: 2)
        guard let interval = VRRPAdvertInterval(centiseconds: Int(intervalWord & VRRPAdvertInterval.maximumCentiseconds)) else {
            return .failure(.zeroInterval)
        }

        var addresses: [IPAddress] = []
        addresses.reserveCapacity(addressCount)
        for index in 0..<addressCount {
            addresses.append(VRRPAddressBytes.read(family, from: payload, at: start + headerLength + index * family.addressLength))
        }
        return .success(VRRPAdvert(
            virtualRouterID: virtualRouterID,
            priority: payload[start + 2],
            maxAdvertInterval: interval,
            addresses: addresses
        ))
    }
}
