import FulcrumAddress

/// Which IP version a virtual router speaks. RFC 5798 keeps the two apart: an IPv4 virtual
/// router's adverts carry IPv4 addresses over IPv4, an IPv6 one's IPv6 addresses over IPv6.
public enum VRRPFamily: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case ipv4
    case ipv6

    public init(of address: IPAddress) {
        self = address.isIPv4 ? .ipv4 : .ipv6
    }

    public var description: String {
        switch self {
        case .ipv4: return "IPv4"
        case .ipv6: return "IPv6"
        }
    }

    /// Bytes one address takes in the advert's address list.
    public var addressLength: Int {
        switch self {
        case .ipv4: return 4
        case .ipv6: return 16
        }
    }

    /// Where adverts go when no unicast peers are configured (RFC 5798 §5.1.1.2, §5.1.2.2).
    public var multicastGroup: IPAddress {
        switch self {
        case .ipv4: return .v4(0xE000_0012)            // 224.0.0.18
        case .ipv6: return .v6(0xFF02_0000_0000_0000, 0x12)  // ff02::12
        }
    }
}

/// IPv4 and IPv6 address bytes as they appear on the wire, and the RFC's address comparison.
enum VRRPAddressBytes {
    static func append(_ address: IPAddress, to bytes: inout [UInt8]) {
        switch address {
        case let .v4(value):
            for shift in stride(from: 24, through: 0, by: -8) {
                bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
            }
        case let .v6(high, low):
            for half in [high, low] {
                for shift in stride(from: 56, through: 0, by: -8) {
                    bytes.append(UInt8(truncatingIfNeeded: half >> UInt64(shift)))
                }
            }
        }
    }

    /// Reads one address of `family` starting at `start`; the caller has checked the length.
    static func read<Bytes: RandomAccessCollection>(_ family: VRRPFamily, from bytes: Bytes, at start: Int) -> IPAddress
    where Bytes.Element == UInt8, Bytes.Index == Int {
        switch family {
        case .ipv4:
            return .v4(bigEndianInteger(bytes, from: start, count: 4))
        case .ipv6:
            return .v6(bigEndianInteger(bytes, from: start, count: 8), bigEndianInteger(bytes, from: start + 8, count: 8))
        }
    }

    static func bigEndianInteger<Bytes: RandomAccessCollection, Value: FixedWidthInteger>(
        _ bytes: Bytes, from start: Int, count: Int
    ) -> Value where Bytes.Element == UInt8, Bytes.Index == Int {
        var value: Value = 0
        for index in start..<(start + count) {
            value = value << 8 | Value(bytes[index])
        }
        return value
    }

    /// True when `candidate` is the higher address "based on an unsigned integer comparison of
    /// the IPvX addresses in network byte order" — the RFC's tie-break between equal
    /// priorities. Addresses of different families are never higher than each other.
    static func isHigher(_ candidate: IPAddress, than other: IPAddress) -> Bool {
        switch (candidate, other) {
        case let (.v4(a), .v4(b)):
            return a > b
        case let (.v6(aHigh, aLow), .v6(bHigh, bLow)):
            return aHigh > bHigh || (aHigh == bHigh && aLow > bLow)
        default:
            return false
        }
    }
}
