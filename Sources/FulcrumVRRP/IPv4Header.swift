import FulcrumAddress

/// The fields of an IPv4 header that VRRP needs. An IPv4 raw socket hands the daemon the
/// header with the payload (an IPv6 raw socket does not), and the captured test frames carry
/// it too; this pulls it apart without trusting any length in it.
public struct IPv4Header: Hashable, Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var ttl: UInt8
    /// IP protocol number (112 for VRRP).
    public var protocolNumber: UInt8
    /// Where the payload lies in the bytes given to `parse` (indices of that collection). Ends
    /// at the header's total length, so link-layer padding after the packet is left out.
    public var payload: Range<Int>

    public init(source: IPAddress, destination: IPAddress, ttl: UInt8, protocolNumber: UInt8, payload: Range<Int>) {
        self.source = source
        self.destination = destination
        self.ttl = ttl
        self.protocolNumber = protocolNumber
        self.payload = payload
    }

    /// nil unless the bytes start with a whole IPv4 header: version 4, header length 20...60
    /// and within the bytes, total length covering the header and within the bytes, not a
    /// fragment (VRRP packets are tiny; a fragment here is forged or broken). The header
    /// checksum is not checked: the kernel drops packets whose header checksum is wrong before
    /// any raw socket sees them.
    public static func parse<Bytes: RandomAccessCollection>(_ bytes: Bytes) -> IPv4Header?
    where Bytes.Element == UInt8, Bytes.Index == Int {
        guard bytes.count >= 20 else { return nil }
        let start = bytes.startIndex
        guard bytes[start] >> 4 == 4 else { return nil }
        let headerLength = Int(bytes[start] & 0x0F) * 4
        guard headerLength >= 20, headerLength <= bytes.count else { return nil }
        let totalLength = Int(bytes[start + 2]) << 8 | Int(bytes[start + 3])
        guard totalLength >= headerLength, totalLength <= bytes.count else { return nil }
        let flagsAndOffset = UInt16(bytes[start + 6]) << 8 | UInt16(bytes[start + 7])
        let moreFragments: UInt16 = 0x2000
        let offsetMask: UInt16 = 0x1FFF
        guard flagsAndOffset & (moreFragments | offsetMask) == 0 else { return nil }
        return IPv4Header(
            source: VRRPAddressBytes.read(.ipv4, from: bytes, at: start + 12),
            destination: VRRPAddressBytes.read(.ipv4, from: bytes, at: start + 16),
            ttl: bytes[start + 8],
            protocolNumber: bytes[start + 9],
            payload: (start + headerLength)..<(start + totalLength)
        )
    }
}
