import FulcrumAddress

/// The Internet checksum (RFC 1071): one's-complement sum of big-endian 16-bit words, an odd
/// trailing byte padded with zero. Fed in pieces so the pseudo-header never has to be copied
/// in front of the packet.
struct InternetChecksum {
    private var sum: UInt64 = 0
    /// An odd byte from the previous piece, waiting for its low half.
    private var pendingHighByte: UInt8?

    mutating func add<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            if let high = pendingHighByte {
                sum &+= UInt64(high) << 8 | UInt64(byte)
                pendingHighByte = nil
            } else {
                pendingHighByte = byte
            }
        }
    }

    /// The checksum to store: the complement of the folded sum. Over a packet whose checksum
    /// field already holds a correct value it is 0.
    var value: UInt16 {
        var total = sum
        if let high = pendingHighByte { total &+= UInt64(high) << 8 }
        while total >> 16 != 0 {
            total = (total & 0xFFFF) + (total >> 16)
        }
        return ~UInt16(total)
    }
}

/// The VRRPv3 checksum: the Internet checksum over a pseudo-header and the whole VRRP packet
/// (RFC 5798 §5.2.8). Unlike VRRPv2, the IP addresses are covered, so an advert replayed
/// with another source or destination fails it.
public enum VRRPChecksum {
    /// IP protocol number of VRRP, and the IPv6 next-header value in the pseudo-header.
    public static let ipProtocolNumber: UInt8 = 112

    /// The checksum of `packet` (with whatever its checksum field holds) under the pseudo-header
    /// of `source` → `destination`: the value to store when the field is zero, 0 when the
    /// stored value is right. Source and destination must be of one family.
    public static func compute<Bytes: Collection>(over packet: Bytes, source: IPAddress, destination: IPAddress) -> UInt16
    where Bytes.Element == UInt8 {
        var checksum = InternetChecksum()
        checksum.add(pseudoHeader(source: source, destination: destination, length: packet.count))
        checksum.add(packet)
        return checksum.value
    }

    /// IPv4 (RFC 768 layout): source, destination, zero, protocol, 16-bit length.
    /// IPv6 (RFC 8200 §8.1): source, destination, 32-bit upper-layer length, three zero bytes,
    /// next header.
    static func pseudoHeader(source: IPAddress, destination: IPAddress, length: Int) -> [UInt8] {
        var header: [UInt8] = []
        header.reserveCapacity(40)
        VRRPAddressBytes.append(source, to: &header)
        VRRPAddressBytes.append(destination, to: &header)
        if source.isIPv4 {
            header += [0, ipProtocolNumber, UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
        } else {
            header += [
                UInt8(truncatingIfNeeded: length >> 24), UInt8(truncatingIfNeeded: length >> 16),
                UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length),
                0, 0, 0, ipProtocolNumber,
            ]
        }
        return header
    }
}
