#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as a plain value. Stored in network byte order semantics but as
/// integers, so comparing and masking it allocates nothing.
public enum IPAddress: Hashable, Sendable {
    /// IPv4 address, most significant byte first (192.0.2.1 == 0xC000_0201).
    case v4(UInt32)
    /// IPv6 address as two 64-bit halves, most significant first.
    case v6(UInt64, UInt64)

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text. Brackets and zone ids are not accepted:
    /// a config value is one address, nothing else.
    public init?(_ text: String) {
        // inet_pton reads a C string: "10.0.0.11\0junk" would parse as 10.0.0.11.
        guard !text.utf8.contains(0) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = withUnsafeBytes(of: &v6) { raw in IPAddress(ipv6Bytes: raw) }
            return
        }
        return nil
    }

    /// Builds an IPv6 address from its 16 wire bytes.
    public init(ipv6Bytes raw: UnsafeRawBufferPointer) {
        precondition(raw.count == 16)
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(raw[i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(raw[i]) }
        self = .v6(hi, lo)
    }

    public var isIPv4: Bool {
        if case .v4 = self { return true }
        return false
    }

    /// The 16 wire bytes of an IPv6 address (for sockaddr_in6).
    public func withIPv6Bytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard case let .v6(hi, lo) = self else { preconditionFailure("not IPv6") }
        var bytes = (hi.bigEndian, lo.bigEndian)
        return withUnsafeBytes(of: &bytes) { body($0) }
    }

    /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) seen as the IPv4 address it carries;
    /// other addresses are returned unchanged. Dual-stack sockets report IPv4 peers this way.
    public var unmapped: IPAddress {
        if case let .v6(hi, lo) = self, hi == 0, lo >> 32 == 0xFFFF {
            return .v4(UInt32(truncatingIfNeeded: lo))
        }
        return self
    }

    /// True for 0.0.0.0 and ::.
    public var isUnspecified: Bool {
        switch self {
        case let .v4(a): return a == 0
        case let .v6(hi, lo): return hi == 0 && lo == 0
        }
    }
}

extension IPAddress: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .v4(a):
            return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
        case .v6:
            var addr = in6_addr()
            withIPv6Bytes { raw in
                withUnsafeMutableBytes(of: &addr) { $0.copyMemory(from: raw) }
            }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            _ = inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
            return String(cString: buffer)
        }
    }
}

/// An address and port, printed the way operators type them: 10.0.0.1:80, [::1]:80.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String {
        address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}
