/// The one way Fulcrum changes interfaces: virtual IPs on and off, and telling the link who owns
/// one now. The HA state machine drives it; `LinuxVirtualAddresses` does it with rtnetlink and
/// AF_PACKET, `FakeVirtualAddresses` records it for tests.
public protocol VirtualAddressControl: Sendable {
    /// Puts the address on its interface. Idempotent: an address already there (same address;
    /// for IPv4 also the same prefix length) is left as it is and is not an error.
    func add(_ vip: InterfaceAddress) throws(NetlinkError)

    /// Takes the address (with exactly this prefix length) off its interface. Idempotent: an
    /// address not there is not an error; an interface not there is.
    func remove(_ vip: InterfaceAddress) throws(NetlinkError)

    /// Sends one announcement frame for the address on its interface: a gratuitous ARP request
    /// for IPv4, an unsolicited neighbour advertisement with Override for IPv6. Repeating it
    /// (several on becoming master, then periodically) is the caller's schedule.
    func announce(_ vip: InterfaceAddress) throws(NetlinkError)

    /// The IPv4 and IPv6 addresses on the interface, as the kernel lists them.
    func addresses(on interface: String) throws(NetlinkError) -> [InterfaceAddress]
}

extension VirtualAddressControl {
    /// True when the interface carries this address with this prefix length.
    public func hasAddress(_ vip: InterfaceAddress) throws(NetlinkError) -> Bool {
        try addresses(on: vip.interface).contains(vip)
    }
}
