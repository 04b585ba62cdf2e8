import FulcrumAddress
import Synchronization

/// A VirtualAddressControl that changes nothing: it keeps the interfaces' addresses in memory,
/// records every call in order, and fails on request, so the HA daemon's tests can check what
/// it asked for (and how it copes with refusals) without root or a real interface.
/// Behaves like the real one: add and remove are idempotent, an unknown interface is
/// `noSuchInterface`.
public final class FakeVirtualAddresses: VirtualAddressControl {
    public enum Call: Hashable, Sendable, CustomStringConvertible {
        case add(InterfaceAddress)
        case remove(InterfaceAddress)
        case announce(InterfaceAddress)
        case list(interface: String)
        case refresh(InterfaceAddress, lifetimeSeconds: UInt32)
        case ensureInterface(String)
        case addLocalRoute(IPAddress)
        case removeLocalRoute(IPAddress)

        public var description: String {
            switch self {
            case let .add(vip): return "add \(vip)"
            case let .remove(vip): return "remove \(vip)"
            case let .announce(vip): return "announce \(vip)"
            case let .list(interface): return "list \(interface)"
            case let .refresh(vip, seconds): return "refresh \(vip) for \(seconds) s"
            case let .ensureInterface(name): return "ensure interface \(name)"
            case let .addLocalRoute(address): return "add local route \(address)"
            case let .removeLocalRoute(address): return "remove local route \(address)"
            }
        }
    }

    private struct State {
        var interfaces: Set<String>
        var addresses: [InterfaceAddress]
        var calls: [Call] = []
        var failures: [NetlinkError.Operation: NetlinkError.Cause] = [:]
        var localRoutes: Set<IPAddress> = []
    }

    private let state: Mutex<State>

    /// `interfaces` exist (others are `noSuchInterface`); `addresses` are on them already.
    public init(interfaces: Set<String> = ["eth0"], addresses: [InterfaceAddress] = []) {
        state = Mutex(State(interfaces: interfaces.union(addresses.map(\.interface)).union(["lo"]), addresses: addresses))
    }

    /// Every call so far, failed ones included, in order.
    public var calls: [Call] { state.withLock { $0.calls } }

    /// The addresses on every interface now, in the order they were added.
    public var currentAddresses: [InterfaceAddress] { state.withLock { $0.addresses } }

    /// How many times `vip` was announced (failed attempts included).
    public func announcements(of vip: InterfaceAddress) -> Int {
        state.withLock { $0.calls.filter { $0 == .announce(vip) }.count }
    }

    /// Makes every later `operation` fail with `cause` (nil: succeed again). A failing call is
    /// still recorded and changes nothing.
    public func setFailure(_ cause: NetlinkError.Cause?, for operation: NetlinkError.Operation) {
        state.withLock { $0.failures[operation] = cause }
    }

    /// An interface appearing or disappearing (a disappearing one takes its addresses along).
    public func setInterface(_ name: String, present: Bool) {
        state.withLock { state in
            if present {
                state.interfaces.insert(name)
            } else {
                state.interfaces.remove(name)
                state.addresses.removeAll { $0.interface == name }
            }
        }
    }

    /// The addresses with a local route now.
    public var localRoutes: Set<IPAddress> { state.withLock { $0.localRoutes } }

    public func forgetCalls() {
        state.withLock { $0.calls.removeAll() }
    }

    public func add(_ vip: InterfaceAddress) throws(NetlinkError) {
        try record(.add(vip), .add, .address(vip)) { state in
            if !state.addresses.contains(where: { $0.sameAddress(as: vip) }) { state.addresses.append(vip) }
        }
    }

    public func addOrRefresh(_ vip: InterfaceAddress, lifetimeSeconds: UInt32) throws(NetlinkError) {
        try record(.refresh(vip, lifetimeSeconds: lifetimeSeconds), .add, .address(vip)) { state in
            if !state.addresses.contains(where: { $0.sameAddress(as: vip) }) { state.addresses.append(vip) }
        }
    }

    public func remove(_ vip: InterfaceAddress) throws(NetlinkError) {
        try record(.remove(vip), .remove, .address(vip)) { state in
            state.addresses.removeAll { $0 == vip }
        }
    }

    public func announce(_ vip: InterfaceAddress) throws(NetlinkError) {
        try record(.announce(vip), .announce, .address(vip)) { _ in }
    }

    public func addresses(on interface: String) throws(NetlinkError) -> [InterfaceAddress] {
        var result: [InterfaceAddress] = []
        try record(.list(interface: interface), .list, .interface(interface)) { state in
            result = state.addresses.filter { $0.interface == interface }
        }
        return result
    }

    /// A missing interface is created (as a dummy) and said so.
    public func ensureInterface(_ name: String) throws(NetlinkError) -> InterfaceOrigin {
        let origin: Result<InterfaceOrigin, NetlinkError> = state.withLock { state in
            state.calls.append(.ensureInterface(name))
            if let cause = state.failures[.createInterface] {
                return .failure(NetlinkError(.createInterface, .interface(name), cause))
            }
            return .success(state.interfaces.insert(name).inserted ? .dummy : .existing)
        }
        return try origin.get()
    }

    public func addLocalRoute(_ address: IPAddress) throws(NetlinkError) {
        try record(.addLocalRoute(address), .addLocalRoute, .address(Self.onLoopback(address))) { state in
            state.localRoutes.insert(address)
        }
    }

    public func removeLocalRoute(_ address: IPAddress) throws(NetlinkError) {
        try record(.removeLocalRoute(address), .removeLocalRoute, .address(Self.onLoopback(address))) { state in
            state.localRoutes.remove(address)
        }
    }

    private static func onLoopback(_ address: IPAddress) -> InterfaceAddress {
        InterfaceAddress(interface: "lo", address: address, prefixLength: address.isIPv4 ? 32 : 128)!
    }

    private func record(_ call: Call, _ operation: NetlinkError.Operation, _ subject: NetlinkError.Subject,
                        _ change: (inout State) -> Void) throws(NetlinkError) {
        let failure: NetlinkError? = state.withLock { state in
            state.calls.append(call)
            if let cause = state.failures[operation] { return NetlinkError(operation, subject, cause) }
            let interface: String
            switch subject {
            case let .address(vip): interface = vip.interface
            case let .interface(name): interface = name
            }
            guard state.interfaces.contains(interface) else { return NetlinkError(operation, subject, .noSuchInterface) }
            change(&state)
            return nil
        }
        if let failure { throw failure }
    }
}

extension InterfaceAddress {
    /// What the kernel calls the same address when adding: IPv6 by address alone, IPv4 by
    /// address and prefix length (a second prefix length is a second address).
    func sameAddress(as other: InterfaceAddress) -> Bool {
        guard interface == other.interface, address == other.address else { return false }
        return !address.isIPv4 || prefixLength == other.prefixLength
    }
}
