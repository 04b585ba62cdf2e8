import FulcrumAddress

/// Ethernet II framing shared by the announcement frames.
enum EtherType: UInt16 {
    case arp = 0x0806
    case ipv6 = 0x86DD
}

extension Array where Element == UInt8 {
    /// Starts a frame: destination, source, EtherType.
    static func ethernetHeader(to destination: MACAddress, from source: MACAddress, type: EtherType) -> [UInt8] {
        var frame = destination.bytes + source.bytes
        frame.appendBigEndian(type.rawValue)
        return frame
    }

    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func appendBigEndian(_ value: UInt32) {
        appendBigEndian(UInt16(truncatingIfNeeded: value >> 16))
        appendBigEndian(UInt16(truncatingIfNeeded: value))
    }

    mutating func append(_ address: IPAddress) {
        switch address {
        case let .v4(a):
            appendBigEndian(a)
        case let .v6(hi, lo):
            for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: hi >> UInt64(shift))) }
            for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: lo >> UInt64(shift))) }
        }
    }
}
