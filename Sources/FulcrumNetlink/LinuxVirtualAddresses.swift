import CFulcrumLinux
import FulcrumAddress
import FulcrumSystem
import Glibc

/// The real room: rtnetlink (RTM_NEWADDR, RTM_DELADDR, RTM_GETLINK, RTM_GETADDR) for the
/// addresses, AF_PACKET frames for the announcements. Needs CAP_NET_ADMIN to change addresses
/// and CAP_NET_RAW to announce; listing needs neither. Works in the network namespace of the
/// calling thread. Stateless, so any thread may call it.
public struct LinuxVirtualAddresses: VirtualAddressControl {
    public init() {}

    public func add(_ vip: InterfaceAddress) throws(NetlinkError) {
        try withLink(.add, .address(vip)) { socket, link throws(RouteFailure) in
            let sequence = socket.sequence()
            do throws(RouteFailure) {
                _ = try socket.exchange(RouteRequest.newAddress(vip, interfaceIndex: link.index, sequence: sequence),
                                        sequence: sequence, name: "RTM_NEWADDR")
            } catch let .refused(error, _) where error.code == EEXIST {
                return  // already there: adding is idempotent
            }
        }
    }

    public func remove(_ vip: InterfaceAddress) throws(NetlinkError) {
        try withLink(.remove, .address(vip)) { socket, link throws(RouteFailure) in
            let sequence = socket.sequence()
            do throws(RouteFailure) {
                _ = try socket.exchange(RouteRequest.deleteAddress(vip, interfaceIndex: link.index, sequence: sequence),
                                        sequence: sequence, name: "RTM_DELADDR")
            } catch let .refused(error, _) where error.code == EADDRNOTAVAIL {
                return  // not there: removing is idempotent
            }
        }
    }

    public func announce(_ vip: InterfaceAddress) throws(NetlinkError) {
        let link = try withLink(.announce, .address(vip)) { _, link throws(RouteFailure) in link }
        guard link.linkLayer == .ethernet, let mac = link.mac else {
            throw NetlinkError(.announce, .address(vip), .notEthernet(link.linkLayer))
        }
        let frame: [UInt8]
        let type: EtherType
        switch vip.address {
        case .v4:
            frame = ARPFrame.gratuitous(mac: mac, ip: vip.address)
            type = .arp
        case .v6:
            frame = NeighborAdvertisement.unsolicited(mac: mac, ip: vip.address)
            type = .ipv6
        }
        do {
            try PacketSender.send(frame, type: type, interfaceIndex: link.index)
        } catch {
            throw NetlinkError(.announce, .address(vip), .systemCall(error))
        }
    }

    public func addresses(on interface: String) throws(NetlinkError) -> [InterfaceAddress] {
        try withLink(.list, .interface(interface)) { socket, link throws(RouteFailure) in
            let sequence = socket.sequence()
            let messages = try socket.exchange(RouteRequest.dumpAddresses(sequence: sequence), sequence: sequence, name: "RTM_GETADDR")
            var result: [InterfaceAddress] = []
            for message in messages where message.type == CFL_RTM_NEWADDR {
                let listed: ListedAddress?
                do throws(MalformedReply) { listed = try NetlinkReply.address(message) } catch { throw .malformed(error) }
                guard let listed, listed.interfaceIndex == link.index,
                      let address = InterfaceAddress(interface: interface, address: listed.address,
                                                     prefixLength: listed.prefixLength) else { continue }
                result.append(address)
            }
            return result
        }
    }

    /// Opens a conversation, looks the interface up by name (ENODEV: no such interface), then
    /// runs `body` with it; every failure comes out as a NetlinkError about `subject`.
    func withLink<T>(_ operation: NetlinkError.Operation, _ subject: NetlinkError.Subject,
                             _ body: (RouteNetlinkSocket, LinkInfo) throws(RouteFailure) -> T) throws(NetlinkError) -> T {
        let name: String
        switch subject {
        case let .address(vip): name = vip.interface
        case let .interface(interface): name = interface
        }
        guard InterfaceAddress.isValidInterfaceName(name) else {
            throw NetlinkError(operation, subject, .noSuchInterface)
        }
        let socket: RouteNetlinkSocket
        let link: LinkInfo?
        do throws(RouteFailure) {
            socket = try RouteNetlinkSocket()
            link = try socket.link(named: name)
        } catch {
            throw NetlinkError(operation, subject, NetlinkError.Cause(error))
        }
        guard let link else { throw NetlinkError(operation, subject, .noSuchInterface) }
        do throws(RouteFailure) {
            return try body(socket, link)
        } catch {
            throw NetlinkError(operation, subject, NetlinkError.Cause(error))
        }
    }
}

extension NetlinkError.Cause {
    init(_ failure: RouteFailure) {
        switch failure {
        case let .refused(error, message): self = .refused(error, kernelMessage: message)
        case let .systemCall(error): self = .systemCall(error)
        case let .malformed(reply): self = .malformedReply(reply.what)
        case .noReply: self = .noReply
        }
    }
}
