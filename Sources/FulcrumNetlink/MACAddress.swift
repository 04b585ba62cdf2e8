/// An Ethernet (EUI-48) address, printed the way `ip link` prints it: 36:70:6b:92:f2:b3.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    /// The six octets in the low 48 bits, first octet most significant.
    public let value: UInt64

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        value = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Parses six colon-separated hex octets.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard (1...2).contains(part.count), let octet = UInt8(part, radix: 16) else { return nil }
            octets.append(octet)
        }
        self.init(bytes: octets)
    }

    public var bytes: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: value >> (40 - 8 * UInt64($0))) } }

    public static let broadcast = MACAddress(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])!

    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 0x10 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}
