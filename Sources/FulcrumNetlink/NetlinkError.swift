import Glibc
import FulcrumSystem

/// Why changing or reading an interface's addresses failed, naming what was asked, on which
/// interface, and the cause: "add 192.0.2.10/24 on eth0: RTM_NEWADDR: EPERM (Operation not
/// permitted)", "announce 192.0.2.10 on eth9: no such interface".
public struct NetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Operation: Hashable, Sendable, CustomStringConvertible {
        case add
        case remove
        case announce
        case list
        case createInterface
        case addLocalRoute
        case removeLocalRoute

        public var description: String {
            switch self {
            case .add: return "add"
            case .remove: return "remove"
            case .announce: return "announce"
            case .list: return "list addresses"
            case .createInterface: return "create interface"
            case .addLocalRoute: return "add local route for"
            case .removeLocalRoute: return "remove local route for"
            }
        }
    }

    public enum Cause: Equatable, Sendable, CustomStringConvertible {
        /// The kernel knows no interface by that name (in this network namespace).
        case noSuchInterface
        /// Not a name Linux allows for an interface (1..15 bytes, no '/', ':' or whitespace).
        case invalidInterfaceName
        /// Announcing needs an Ethernet link layer; this interface has another.
        case notEthernet(LinkLayer)
        /// The kernel refused the rtnetlink request: its errno under the request's name, and
        /// the kernel's own explanation when it gave one (extended acknowledgement).
        case refused(SystemError, kernelMessage: String?)
        /// A system call on the way failed (socket, send, recv): no request was judged.
        case systemCall(SystemError)
        /// The kernel's reply did not parse; says what was wrong with it.
        case malformedReply(String)
        /// The kernel did not answer within the receive timeout.
        case noReply

        public var description: String {
            switch self {
            case .noSuchInterface:
                return "no such interface"
            case .invalidInterfaceName:
                return "not a valid interface name (1 to 15 characters without '/', ':' or spaces)"
            case let .notEthernet(linkLayer):
                return "not an Ethernet interface (\(linkLayer)): nothing to announce with ARP or NDP"
            case let .refused(error, nil):
                return error.description
            case let .refused(error, message?):
                return "\(error.description): \(message)"
            case let .systemCall(error):
                return error.description
            case let .malformedReply(what):
                return "malformed rtnetlink reply: \(what)"
            case .noReply:
                return "no rtnetlink reply from the kernel"
            }
        }
    }

    /// What the failed call was about: one VIP, or (for `list`) a whole interface.
    public enum Subject: Hashable, Sendable {
        case address(InterfaceAddress)
        case interface(String)
    }

    public let operation: Operation
    public let subject: Subject
    public let cause: Cause

    public init(_ operation: Operation, _ subject: Subject, _ cause: Cause) {
        self.operation = operation
        self.subject = subject
        self.cause = cause
    }

    public var interface: String {
        switch subject {
        case let .address(vip): return vip.interface
        case let .interface(name): return name
        }
    }

    public var description: String {
        switch (operation, subject) {
        case let (.announce, .address(vip)):
            return "announce \(vip.address) on \(vip.interface): \(cause)\(capabilityHint)"
        case let (_, .address(vip)):
            return "\(operation) \(vip.addressWithPrefix) on \(vip.interface): \(cause)\(capabilityHint)"
        case let (.createInterface, .interface(name)):
            return "create interface \(name): \(cause)\(capabilityHint)"
        case let (_, .interface(name)):
            return "\(operation) on \(name): \(cause)\(capabilityHint)"
        }
    }

    /// EPERM here is almost always a capability fulcrumd was started without (or dropped):
    /// changing addresses, routes and links needs CAP_NET_ADMIN, announcing opens an AF_PACKET socket, which
    /// needs CAP_NET_RAW. Named, so the operator knows what to grant.
    private var capabilityHint: String {
        let code: Int32
        switch cause {
        case let .refused(error, _), let .systemCall(error): code = error.code
        default: return ""
        }
        guard code == EPERM else { return "" }
        switch operation {
        case .add, .remove, .createInterface, .addLocalRoute, .removeLocalRoute: return "; needs CAP_NET_ADMIN"
        case .announce: return "; needs CAP_NET_RAW"
        case .list: return ""
        }
    }
}
