import FulcrumAddress

/// ICMPv6 neighbour advertisements (RFC 4861 §4.4) for announcing an IPv6 VIP.
public enum NeighborAdvertisement {
    /// An unsolicited advertisement as keepalived sends one when it takes a VIP: from the VIP
    /// to all nodes (ff02::1, Ethernet 33:33:00:00:00:01), hop limit 255 (receivers drop
    /// anything less: it proves the sender is on the link), Override set and Solicited clear
    /// (RFC 4861 §7.2.6: a multicast advertisement must not claim to be solicited; Override
    /// makes neighbours replace the MAC they have cached), Router clear, and the target
    /// link-layer address option carrying the interface's MAC, since that is the news.
    public static func unsolicited(mac: MACAddress, ip: IPAddress) -> [UInt8] {
        guard case .v6 = ip else { preconditionFailure("neighbour advertisements announce IPv6 addresses, not \(ip)") }
        var icmp: [UInt8] = [typeNeighborAdvertisement, 0, 0, 0]  // type, code, checksum (below)
        icmp.appendBigEndian(flagOverride)
        icmp.append(ip)  // target
        icmp += [optionTargetLinkLayerAddress, 1]  // type, length in units of 8 bytes
        icmp += mac.bytes

        let checksum = checksum(icmp, from: ip, to: allNodes)
        icmp[2] = UInt8(truncatingIfNeeded: checksum >> 8)
        icmp[3] = UInt8(truncatingIfNeeded: checksum)

        var frame = [UInt8].ethernetHeader(to: allNodesMAC, from: mac, type: .ipv6)
        frame.appendBigEndian(UInt32(6) << 28)  // version 6, traffic class 0, flow label 0
        frame.appendBigEndian(UInt16(icmp.count))
        frame.append(nextHeaderICMPv6)
        frame.append(255)  // hop limit
        frame.append(ip)
        frame.append(allNodes)
        return frame + icmp
    }

    /// ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and the message, whose
    /// checksum field must be zero.
    static func checksum(_ icmp: [UInt8], from source: IPAddress, to destination: IPAddress) -> UInt16 {
        var pseudo: [UInt8] = []
        pseudo.append(source)
        pseudo.append(destination)
        pseudo.appendBigEndian(UInt32(icmp.count))
        pseudo += [0, 0, 0, nextHeaderICMPv6]
        var total: UInt32 = 0
        InternetChecksum.sum(pseudo, into: &total)
        InternetChecksum.sum(icmp, into: &total)
        return InternetChecksum.finish(total)
    }

    static let allNodes = IPAddress.v6(0xFF02_0000_0000_0000, 1)
    static let allNodesMAC = MACAddress(bytes: [0x33, 0x33, 0, 0, 0, 1])!
    static let nextHeaderICMPv6: UInt8 = 58
    static let typeNeighborAdvertisement: UInt8 = 136
    static let optionTargetLinkLayerAddress: UInt8 = 2
    /// Flags word: Router 0x8000_0000, Solicited 0x4000_0000, Override 0x2000_0000.
    static let flagOverride: UInt32 = 0x2000_0000
}
