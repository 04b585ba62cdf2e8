import FulcrumAddress

/// A virtual IP as it sits on an interface: "198.18.0.100/24 on eth0". The prefix length is the
/// on-link prefix the kernel gives the address (and its prefix route), not a network: host bits
/// are set, which is why this is not a `CIDR`.
public struct InterfaceAddress: Hashable, Sendable, CustomStringConvertible {
    public let interface: String
    public let address: IPAddress
    public let prefixLength: Int

    /// Nil when the interface name could not name a Linux interface or the prefix length does
    /// not fit the family (0...32 for IPv4, 0...128 for IPv6).
    public init?(interface: String, address: IPAddress, prefixLength: Int) {
        guard InterfaceAddress.isValidInterfaceName(interface),
              (0...(address.isIPv4 ? 32 : 128)).contains(prefixLength) else { return nil }
        self.interface = interface
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses "ADDRESS/LENGTH" as a config writes a VIP; a bare address is a host prefix
    /// (/32 or /128), as `ip addr add` reads it.
    public init?(interface: String, _ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let address = IPAddress(String(parts[0])) else { return nil }
        var length = address.isIPv4 ? 32 : 128
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let parsed = Int(parts[1]) else { return nil }
            length = parsed
        }
        self.init(interface: interface, address: address, prefixLength: length)
    }

    /// "198.18.0.100/24", as `ip addr` prints it.
    public var addressWithPrefix: String { "\(address)/\(prefixLength)" }

    public var description: String { "\(addressWithPrefix) on \(interface)" }

    /// The kernel's rule (dev_valid_name): 1...15 bytes (IFNAMSIZ less the NUL), not "." or
    /// "..", and no '/', ':' or whitespace. A name breaking it can never exist, so it is refused
    /// before any system call.
    public static func isValidInterfaceName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard (1...15).contains(bytes.count), name != ".", name != ".." else { return false }
        return !bytes.contains { byte in
            byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":") || byte == 0
                || byte == UInt8(ascii: " ") || (0x09...0x0D).contains(byte)
        }
    }
}
