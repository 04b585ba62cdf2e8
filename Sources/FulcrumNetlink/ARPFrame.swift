import FulcrumAddress

/// ARP frames (RFC 826) for announcing an IPv4 VIP.
public enum ARPFrame {
    /// A gratuitous ARP request as keepalived sends one when it takes a VIP: broadcast,
    /// sender and target IP both the VIP, sender MAC the interface's, target MAC broadcast.
    /// A request rather than a reply, because every stack (Linux since arp_is_garp, the BSDs,
    /// switches learning the port) treats a broadcast request with sender == target as an
    /// announcement and refreshes an existing entry, while some ignore unsolicited replies.
    /// 42 bytes: no padding to the 60-byte minimum, which the sending NIC adds (keepalived's
    /// captured frame has none either).
    public static func gratuitous(mac: MACAddress, ip: IPAddress) -> [UInt8] {
        guard case .v4 = ip else { preconditionFailure("gratuitous ARP announces IPv4 addresses, not \(ip)") }
        var frame = [UInt8].ethernetHeader(to: .broadcast, from: mac, type: .arp)
        frame.appendBigEndian(hardwareTypeEthernet)
        frame.appendBigEndian(protocolTypeIPv4)
        frame.append(6)  // hardware address length
        frame.append(4)  // protocol address length
        frame.appendBigEndian(operationRequest)
        frame += mac.bytes
        frame.append(ip)
        frame += MACAddress.broadcast.bytes
        frame.append(ip)
        return frame
    }

    static let hardwareTypeEthernet: UInt16 = 1
    /// The protocol-type field names IPv4 by its EtherType.
    static let protocolTypeIPv4: UInt16 = 0x0800
    static let operationRequest: UInt16 = 1
}
