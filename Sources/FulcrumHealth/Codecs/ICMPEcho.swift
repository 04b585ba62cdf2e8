/// ICMP / ICMPv6 echo ("ping") messages as the ICMP health check sends and receives them.
///
/// What a socket hands back differs by kind, which is why `parseReply` asks:
/// - IPv4 SOCK_RAW delivers the IPv4 header first, and the kernel has not checked the ICMP
///   checksum (raw delivery happens before the ICMP layer), so it is verified here.
/// - IPv4 SOCK_DGRAM "ping sockets" and all ICMPv6 sockets deliver the bare ICMP message with
///   the checksum already verified by the kernel. For ping sockets the kernel also rewrites the
///   identifier to the socket's own, so callers should match replies on sequence only.
public enum ICMPEcho {
    public enum Reply: Equatable, Sendable {
        case echoReply(identifier: UInt16, sequence: UInt16)
        /// Destination unreachable (type 3 / ICMPv6 type 1), with its code (e.g. 1 host, 3 port).
        case unreachable(code: UInt8)
        /// Any other ICMP type, including our own echo requests seen on a raw socket over loopback.
        case other(type: UInt8)
        /// Too short, a bad IP header, or (IPv4 raw only) a wrong checksum.
        case malformed
    }

    enum MessageType {
        static let echoRequestV4: UInt8 = 8
        static let echoReplyV4: UInt8 = 0
        static let unreachableV4: UInt8 = 3
        static let echoRequestV6: UInt8 = 128
        static let echoReplyV6: UInt8 = 129
        static let unreachableV6: UInt8 = 1
    }

    /// Every ICMP message starts with type, code, checksum and 4 type-specific bytes.
    static let headerLength = 8
    static let ipv6HeaderLength = 40
    static let icmpv6NextHeader: UInt8 = 58
    static let icmpProtocol: UInt8 = 1

    /// An echo request: type 8 (ICMPv6 128), code 0, identifier and sequence big-endian, then
    /// `payload`. The IPv4 checksum is filled in; the ICMPv6 one is left 0 because it covers an
    /// IPv6 pseudo-header (source address included) that only the kernel knows, and Linux
    /// always computes it for ICMPv6 sockets.
    public static func encodeRequest(v6: Bool, identifier: UInt16, sequence: UInt16, payload: [UInt8]) -> [UInt8] {
        var message: [UInt8] = []
        message.reserveCapacity(headerLength + payload.count)
        message.append(v6 ? MessageType.echoRequestV6 : MessageType.echoRequestV4)
        message.append(0)  // code
        message.append(contentsOf: [0, 0])  // checksum, computed over the message with this as zero
        appendBigEndian(identifier, to: &message)
        appendBigEndian(sequence, to: &message)
        message.append(contentsOf: payload)
        if !v6 {
            let sum = checksum(message[...])
            message[2] = UInt8(truncatingIfNeeded: sum >> 8)
            message[3] = UInt8(truncatingIfNeeded: sum)
        }
        return message
    }

    /// The Internet checksum (RFC 1071): one's complement of the one's complement sum of the
    /// big-endian 16-bit words, an odd last byte padded with zero. Returned as the value to
    /// store big-endian; a message that already holds its correct checksum sums to 0.
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        // Accumulate in 32 bits and fold the carries back in before the top bit could
        // overflow, so any length is safe; one's complement addition does not care when.
        var sum: UInt32 = 0
        var index = bytes.startIndex
        while index + 1 < bytes.endIndex {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            if sum >= 0x8000_0000 { sum = (sum & 0xffff) + (sum >> 16) }
            index += 2
        }
        if index < bytes.endIndex {
            sum += UInt32(bytes[index]) << 8
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16)
        }
        return ~UInt16(truncatingIfNeeded: sum)
    }

    /// Reads what an ICMP socket received. `includesIPHeader` is true for IPv4 SOCK_RAW; for
    /// IPv6 it is accepted too (a fixed 40-byte header whose next header must be ICMPv6, no
    /// extension headers), though Linux never delivers one.
    public static func parseReply(_ bytes: ArraySlice<UInt8>, v6: Bool, includesIPHeader: Bool) -> Reply {
        let message: ArraySlice<UInt8>
        if includesIPHeader {
            guard let inner = v6 ? stripIPv6Header(bytes) : stripIPv4Header(bytes) else { return .malformed }
            message = inner
        } else {
            message = bytes
        }
        guard message.count >= headerLength else { return .malformed }
        let checksumUnverifiedByKernel = includesIPHeader && !v6
        if checksumUnverifiedByKernel && checksum(message) != 0 { return .malformed }

        let start = message.startIndex
        let type = message[start]
        let code = message[start + 1]
        switch (v6, type) {
        case (false, MessageType.echoReplyV4), (true, MessageType.echoReplyV6):
            return .echoReply(identifier: bigEndian(message, at: start + 4), sequence: bigEndian(message, at: start + 6))
        case (false, MessageType.unreachableV4), (true, MessageType.unreachableV6):
            return .unreachable(code: code)
        default:
            return .other(type: type)
        }
    }

    public static func parseReply(_ bytes: [UInt8], v6: Bool, includesIPHeader: Bool) -> Reply {
        parseReply(bytes[...], v6: v6, includesIPHeader: includesIPHeader)
    }

    /// The ICMP message inside an IPv4 packet, or nil when the header is not a sane IPv4
    /// header carrying ICMP. Uses the total-length field as Linux delivers it (network order,
    /// header included), which also drops any link-layer padding after the packet.
    private static func stripIPv4Header(_ packet: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let start = packet.startIndex
        guard packet.count >= 20 else { return nil }
        let version = packet[start] >> 4
        let headerLength = Int(packet[start] & 0x0f) * 4
        let totalLength = Int(bigEndian(packet, at: start + 2))
        guard version == 4, headerLength >= 20, packet[start + 9] == icmpProtocol,
              totalLength >= headerLength, totalLength <= packet.count else { return nil }
        return packet[(start + headerLength)..<(start + totalLength)]
    }

    private static func stripIPv6Header(_ packet: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let start = packet.startIndex
        guard packet.count >= ipv6HeaderLength, packet[start] >> 4 == 6,
              packet[start + 6] == icmpv6NextHeader else { return nil }
        let payloadLength = Int(bigEndian(packet, at: start + 4))
        guard ipv6HeaderLength + payloadLength <= packet.count else { return nil }
        return packet[(start + ipv6HeaderLength)..<(start + ipv6HeaderLength + payloadLength)]
    }

    /// Callers have checked that two bytes exist at `index`.
    private static func bigEndian(_ bytes: ArraySlice<UInt8>, at index: Int) -> UInt16 {
        UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
    }

    private static func appendBigEndian(_ value: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }
}
