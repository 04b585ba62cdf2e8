/// A network prefix such as 10.0.0.0/8 or fd00::/64. Matching is two masks and a compare.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    /// Parses "ADDRESS/LEN" or a bare address (a host prefix). Host bits set below the prefix
    /// are rejected rather than silently cleared: "10.0.0.1/8" is almost always a typo.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let address = IPAddress(String(parts[0])) else {
            return nil
        }
        let maxLength = address.isIPv4 ? 32 : 128
        var length = maxLength
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), parsed >= 0, parsed <= maxLength,
                  parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            length = parsed
        }
        guard CIDR.masked(address, length) == address else { return nil }
        self.network = address
        self.prefixLength = length
    }

    /// True when `address` lies in this prefix. IPv4-mapped IPv6 peers match IPv4 prefixes.
    @inlinable
    public func contains(_ address: IPAddress) -> Bool {
        let candidate = address.unmapped
        switch (network, candidate) {
        case (.v4, .v4), (.v6, .v6):
            return CIDR.masked(candidate, prefixLength) == network
        default:
            return false
        }
    }

    @usableFromInline
    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case let .v4(a):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return .v4(a & mask)
        case let .v6(hi, lo):
            let hiMask: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~UInt64(0) << UInt64(64 - length))
            let loLength = max(0, length - 64)
            let loMask: UInt64 = loLength >= 64 ? ~0 : (loLength == 0 ? 0 : ~UInt64(0) << UInt64(64 - loLength))
            return .v6(hi & hiMask, lo & loMask)
        }
    }

    public var description: String { "\(network)/\(prefixLength)" }
}
