import CFulcrumLinux
import FulcrumAddress
import Glibc

extension LinuxVirtualAddresses {
    public func ensureInterface(_ name: String) throws(NetlinkError) -> InterfaceOrigin {
        let subject = NetlinkError.Subject.interface(name)
        guard InterfaceAddress.isValidInterfaceName(name) else {
            throw NetlinkError(.createInterface, subject, .invalidInterfaceName)
        }
        do throws(RouteFailure) {
            let socket = try RouteNetlinkSocket()
            var origin = InterfaceOrigin.existing
            var link = try socket.link(named: name)
            if link == nil {
                origin = try create(name, on: socket)
                link = try socket.link(named: name)
            }
            guard let link else { throw RouteFailure.malformed(MalformedReply(what: "\(name) created but not listed")) }
            let sequence = socket.sequence()
            _ = try socket.exchange(RouteRequest.setUp(interfaceIndex: link.index, sequence: sequence),
                                    sequence: sequence, name: "RTM_NEWLINK")
            return origin
        } catch {
            throw NetlinkError(.createInterface, subject, NetlinkError.Cause(error))
        }
    }

    /// Dummy first: made for exactly this (addresses that are only announced). A kernel built
    /// without it (EOPNOTSUPP: "Unknown device type") gets a bridge with no ports: it may show
    /// NO-CARRIER, but addresses and local routes work on it the same, and BIRD's `protocol
    /// direct` exports them unless told to `check link`. EEXIST: someone made it meanwhile.
    private func create(_ name: String, on socket: RouteNetlinkSocket) throws(RouteFailure) -> InterfaceOrigin {
        do throws(RouteFailure) {
            return try newLink(name, .dummy, on: socket)
        } catch let .refused(error, _) where error.code == EOPNOTSUPP {
            return try newLink(name, .bridge, on: socket)
        }
    }

    private func newLink(_ name: String, _ kind: InterfaceOrigin, on socket: RouteNetlinkSocket) throws(RouteFailure) -> InterfaceOrigin {
        let sequence = socket.sequence()
        do throws(RouteFailure) {
            _ = try socket.exchange(RouteRequest.newLink(named: name, kind: kind.rawValue, sequence: sequence),
                                    sequence: sequence, name: "RTM_NEWLINK")
            return kind
        } catch let .refused(error, _) where error.code == EEXIST {
            return .existing
        }
    }

    public func addOrRefresh(_ vip: InterfaceAddress, lifetimeSeconds: UInt32) throws(NetlinkError) {
        try withLink(.add, .address(vip)) { socket, link throws(RouteFailure) in
            let sequence = socket.sequence()
            _ = try socket.exchange(RouteRequest.refreshAddress(vip, lifetimeSeconds: lifetimeSeconds,
                                                                interfaceIndex: link.index, sequence: sequence),
                                    sequence: sequence, name: "RTM_NEWADDR")
        }
    }

    public func addLocalRoute(_ address: IPAddress) throws(NetlinkError) {
        try withLoopback(.addLocalRoute, address) { socket, lo throws(RouteFailure) in
            let sequence = socket.sequence()
            _ = try socket.exchange(RouteRequest.newLocalRoute(address, loopbackIndex: lo, sequence: sequence),
                                    sequence: sequence, name: "RTM_NEWROUTE")
        }
    }

    public func removeLocalRoute(_ address: IPAddress) throws(NetlinkError) {
        try withLoopback(.removeLocalRoute, address) { socket, lo throws(RouteFailure) in
            let sequence = socket.sequence()
            do throws(RouteFailure) {
                _ = try socket.exchange(RouteRequest.deleteLocalRoute(address, loopbackIndex: lo, sequence: sequence),
                                        sequence: sequence, name: "RTM_DELROUTE")
            } catch let .refused(error, _) where error.code == ESRCH {
                return  // not there: removing is idempotent
            }
        }
    }

    /// withLink on lo: a local route is through lo, and errors name the address "on lo".
    private func withLoopback(_ operation: NetlinkError.Operation, _ address: IPAddress,
                              _ body: (RouteNetlinkSocket, Int32) throws(RouteFailure) -> Void) throws(NetlinkError) {
        let onLoopback = InterfaceAddress(interface: "lo", address: address, prefixLength: address.isIPv4 ? 32 : 128)!
        try withLink(operation, .address(onLoopback)) { socket, lo throws(RouteFailure) in try body(socket, lo.index) }
    }
}
