import FulcrumAddress

/// The one way Fulcrum changes interfaces: virtual IPs on and off, telling the link who owns
/// one now, and (for anycast) an interface of its own plus local routes that keep a VIP's
/// traffic delivered while it is not announced. The HA and anycast threads drive it;
/// `LinuxVirtualAddresses` does it with rtnetlink and AF_PACKET, `FakeVirtualAddresses`
/// records it for tests.
public protocol VirtualAddressControl: Sendable {
    /// Puts the address on its interface. Idempotent: an address already there (same address;
    /// for IPv4 also the same prefix length) is left as it is and is not an error.
    func add(_ vip: InterfaceAddress) throws(NetlinkError)

    /// Puts the address on its interface, or refreshes it when it is there, with a lifetime:
    /// the kernel removes it by itself `lifetimeSeconds` after the last refresh. Anycast keeps
    /// its VIPs this way, so a fulcrumd that dies without cleaning up (SIGKILL, a crash) stops
    /// attracting traffic within that time even while BIRD lives on.
    func addOrRefresh(_ vip: InterfaceAddress, lifetimeSeconds: UInt32) throws(NetlinkError)

    /// Takes the address (with exactly this prefix length) off its interface. Idempotent: an
    /// address not there is not an error; an interface not there is.
    func remove(_ vip: InterfaceAddress) throws(NetlinkError)

    /// Sends one announcement frame for the address on its interface: a gratuitous ARP request
    /// for IPv4, an unsolicited neighbour advertisement with Override for IPv6. Repeating it
    /// (several on becoming master, then periodically) is the caller's schedule.
    func announce(_ vip: InterfaceAddress) throws(NetlinkError)

    /// The IPv4 and IPv6 addresses on the interface, as the kernel lists them.
    func addresses(on interface: String) throws(NetlinkError) -> [InterfaceAddress]

    /// Makes sure an interface of this name exists and is up: one already there is used as it
    /// is (and set up); otherwise a dummy interface is created, or a bridge with no ports
    /// where the kernel has no dummy driver. Says which.
    func ensureInterface(_ name: String) throws(NetlinkError) -> InterfaceOrigin

    /// Adds (idempotent) a `local` route for the address through lo in the local table, so
    /// this host accepts its packets whether or not an interface carries the address.
    func addLocalRoute(_ address: IPAddress) throws(NetlinkError)

    /// Removes that route (idempotent).
    func removeLocalRoute(_ address: IPAddress) throws(NetlinkError)
}

/// Where the anycast interface came from.
public enum InterfaceOrigin: String, Sendable, Equatable {
    case existing, dummy, bridge
}

extension VirtualAddressControl {
    /// True when the interface carries this address with this prefix length.
    public func hasAddress(_ vip: InterfaceAddress) throws(NetlinkError) -> Bool {
        try addresses(on: vip.interface).contains(vip)
    }
}
