import FulcrumAddress

/// One IP address as text, checked and written the way the rest of Fulcrum writes it
/// (IPAddress), so "2001:DB8:0::10" on the socket names the VIP listed as "2001:db8::10".
enum IPLiteral {
    /// Longer than any address text (INET6_ADDRSTRLEN is 46 with its NUL): refused before the
    /// parser sees it.
    static let maxLength = 45

    /// The canonical text of `text`, or nil when it is not exactly one IPv4 or IPv6 address.
    static func canonical(_ text: Substring) -> String? {
        guard !text.isEmpty, text.utf8.count <= maxLength, text.utf8.allSatisfy(isAddressByte),
              let address = IPAddress(String(text)) else { return nil }
        return address.description
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
}
