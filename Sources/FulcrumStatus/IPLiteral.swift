#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One IP address as text, checked and written the way the rest of Fulcrum writes it. The
/// status module has no address type of its own; inet_pton accepts what the config loader
/// accepts (dotted quad without leading zeros, RFC 4291 IPv6, no brackets, no zone id), and
/// inet_ntop gives the text `AnycastStatus` shows, so "2001:DB8:0::10" on the socket names
/// the VIP listed as "2001:db8::10".
enum IPLiteral {
    /// Longer than any address text (INET6_ADDRSTRLEN is 46 with its NUL): refused before the
    /// C call sees it.
    static let maxLength = 45

    /// The canonical text of `text`, or nil when it is not exactly one IPv4 or IPv6 address.
    static func canonical(_ text: Substring) -> String? {
        guard !text.isEmpty, text.utf8.count <= maxLength,
              text.utf8.allSatisfy(isAddressByte) else { return nil }
        let string = String(text)
        var v4 = in_addr()
        if inet_pton(AF_INET, string, &v4) == 1 { return withUnsafeBytes(of: &v4) { written(AF_INET, $0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, string, &v6) == 1 { return withUnsafeBytes(of: &v6) { written(AF_INET6, $0) } }
        return nil
    }

    /// Hex digits, dots and colons: also keeps NUL (which would cut the C string) out.
    private static func isAddressByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
             UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "."), UInt8(ascii: ":"):
            return true
        default:
            return false
        }
    }

    private static func written(_ family: Int32, _ address: UnsafeRawBufferPointer) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        guard inet_ntop(family, address.baseAddress, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
