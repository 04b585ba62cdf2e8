import FulcrumAddress

/// Which PROXY protocol header to send: v1 is the human-readable line, v2 the binary block.
public enum ProxyProtocolVersion: Sendable {
    case v1, v2
}

/// The forwarded transport. v2 family/transport byte: 0x11 / 0x21 for TCP (stream),
/// 0x12 / 0x22 for UDP (datagram). v1 can only say TCP.
public enum ProxyTransport: Sendable {
    case stream, datagram
}

/// PROXY protocol headers (haproxy doc/proxy-protocol.txt) as Fulcrum sends them to members.
///
/// Address families: when both endpoints are IPv4 the header is TCP4 / AF_INET. Otherwise it is
/// TCP6 / AF_INET6, and an IPv4 endpoint is written as the IPv4-mapped address ::ffff:a.b.c.d.
/// This is what HAProxy does (v4tov6 in make_proxy_line_v1/v2) when, for example, the client
/// was seen as plain IPv4 on a dual-stack IPv6 listener. Endpoints are written as given:
/// an IPv4-mapped IPv6 client on an IPv6 listener stays IPv6 (TCP6 ::ffff:a.b.c.d), and
/// nothing is unmapped. Callers that want TCP4 for such peers pass `address.unmapped` for both.
///
/// Only PROXY (not LOCAL) headers without TLVs are written.
public enum ProxyHeader {
    /// Largest header this encoder writes (v1 max 107 bytes; v2 IPv6 = 16 + 36 = 52).
    public static let maxLength = 108

    /// Writes the header for a connection/datagram from `client` to `listener` into `buffer`
    /// (at least `maxLength` bytes) and returns its length. Allocation-free.
    ///
    /// - v1: "PROXY TCP4 src dst sport dport\r\n" (TCP6 for IPv6), addresses as glibc's
    ///   inet_ntop prints them (what HAProxy sends). v1 has no UDP: `transport` must be
    ///   `.stream` (precondition).
    /// - v2: 12-byte signature, 0x21 (version 2, PROXY), family/transport byte, big-endian
    ///   length, then source and destination addresses and ports, all big-endian.
    public static func encode(
        _ version: ProxyProtocolVersion, transport: ProxyTransport,
        client: Endpoint, listener: Endpoint, into buffer: UnsafeMutableRawBufferPointer
    ) -> Int {
        precondition(buffer.count >= maxLength, "PROXY header buffer must hold \(maxLength) bytes")
        var writer = ByteWriter(buffer.baseAddress!)
        let bothIPv4: Bool
        if case .v4 = client.address, case .v4 = listener.address { bothIPv4 = true } else { bothIPv4 = false }

        switch version {
        case .v1:
            precondition(transport == .stream, "PROXY protocol v1 cannot describe UDP; use v2")
            if bothIPv4 {
                writer.ascii("PROXY TCP4 ")
                writer.ipv4(ipv4Value(client.address))
                writer.byte(UInt8(ascii: " "))
                writer.ipv4(ipv4Value(listener.address))
            } else {
                writer.ascii("PROXY TCP6 ")
                let source = ipv6Halves(client.address)
                writer.ipv6(source.high, source.low)
                writer.byte(UInt8(ascii: " "))
                let destination = ipv6Halves(listener.address)
                writer.ipv6(destination.high, destination.low)
            }
            writer.byte(UInt8(ascii: " "))
            writer.decimal(UInt32(client.port))
            writer.byte(UInt8(ascii: " "))
            writer.decimal(UInt32(listener.port))
            writer.byte(0x0D)
            writer.byte(0x0A)

        case .v2:
            writer.bigEndian64(0x0D0A_0D0A_000D_0A51)  // signature, first 8 bytes
            writer.bigEndian32(0x5549_540A)            // "UIT\n"
            writer.byte(0x21)                          // version 2, command PROXY
            let transportNibble: UInt8 = transport == .stream ? 0x1 : 0x2
            if bothIPv4 {
                writer.byte(0x10 | transportNibble)
                writer.bigEndian16(12)
                writer.bigEndian32(ipv4Value(client.address))
                writer.bigEndian32(ipv4Value(listener.address))
            } else {
                writer.byte(0x20 | transportNibble)
                writer.bigEndian16(36)
                let source = ipv6Halves(client.address)
                writer.bigEndian64(source.high)
                writer.bigEndian64(source.low)
                let destination = ipv6Halves(listener.address)
                writer.bigEndian64(destination.high)
                writer.bigEndian64(destination.low)
            }
            writer.bigEndian16(client.port)
            writer.bigEndian16(listener.port)
        }
        return writer.offset
    }

    /// Convenience for tests and control-plane code (allocates the returned array).
    public static func bytes(
        _ version: ProxyProtocolVersion, transport: ProxyTransport, client: Endpoint, listener: Endpoint
    ) -> [UInt8] {
        var length = 0
        let result = [UInt8](unsafeUninitializedCapacity: maxLength) { buffer, initialized in
            length = encode(version, transport: transport, client: client, listener: listener,
                            into: UnsafeMutableRawBufferPointer(buffer))
            initialized = length
        }
        return result
    }

    @inline(__always)
    private static func ipv4Value(_ address: IPAddress) -> UInt32 {
        guard case let .v4(value) = address else { preconditionFailure("not IPv4") }
        return value
    }

    /// IPv6 as two halves; IPv4 becomes the IPv4-mapped ::ffff:a.b.c.d.
    @inline(__always)
    private static func ipv6Halves(_ address: IPAddress) -> (high: UInt64, low: UInt64) {
        switch address {
        case let .v4(value): return (0, 0xFFFF_0000_0000 | UInt64(value))
        case let .v6(high, low): return (high, low)
        }
    }
}
