import CFulcrumLinux

/// An interface's link layer, as far as announcing cares: Ethernet (NICs, veth, bridges, bonds,
/// VLANs) carries ARP and NDP frames; the others cannot.
public enum LinkLayer: Hashable, Sendable, CustomStringConvertible {
    case ethernet
    case loopback
    /// No link-layer header at all: tun, WireGuard.
    case none
    /// Any other ARPHRD_* type (IP tunnels, InfiniBand, …), by its number.
    case other(UInt16)

    init(arphrd type: UInt16) {
        switch type {
        case CFL_ARPHRD_ETHER: self = .ethernet
        case CFL_ARPHRD_LOOPBACK: self = .loopback
        case CFL_ARPHRD_NONE: self = .none
        default: self = .other(type)
        }
    }

    public var description: String {
        switch self {
        case .ethernet: return "Ethernet"
        case .loopback: return "loopback"
        case .none: return "no link layer"
        case let .other(type): return "link type \(type)"
        }
    }
}
