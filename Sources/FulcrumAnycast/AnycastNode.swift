import CFulcrumLinux
import FulcrumAddress
import FulcrumConfig
import FulcrumNetlink
import FulcrumStatus
import FulcrumSystem
import Logging
import Synchronization

/// [anycast] on its own thread: ten times a second it weighs each VIP's pools
/// (AnycastCondition), passes the verdict through hold_down (AnnouncementGate), and puts the
/// VIP on the anycast interface or takes it off, through the one room that changes
/// interfaces. BIRD's `protocol direct` exports what is on the interface; that is the whole
/// coupling to BGP. A local route per VIP (lo, local table) keeps the node accepting a VIP's
/// packets while the VIP is withdrawn, so connections that routers still send here (open
/// ones, and new ones until they converge) are served, not black-holed.
public final class AnycastNode: @unchecked Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    let addresses: any VirtualAddressControl
    let logger: Logger
    /// Each VIP's pools and their health, in VIP order; read once per turn. Set by start().
    var poolHealth: @Sendable ([IPAddress]) -> [[AnycastCondition.PoolHealth]] = { $0.map { _ in [] } }
    let interface: String
    let origin: InterfaceOrigin
    let loop: EventLoop

    /// One VIP as the thread keeps it.
    struct VIPState {
        let vip: InterfaceAddress
        var gate: AnnouncementGate
        var onInterface = false
        var transitions = 0
        var since: Int64
        /// The last failure logged, so a change the kernel keeps refusing is logged once.
        var lastFailure: String?
        /// The VIP's pools as last evaluated.
        var pools: [String] = []

        var address: IPAddress { vip.address }
    }

    /// Only the anycast thread touches these (and init and stop(), before and after it runs).
    /// A reload changes them through `reconfigure`, which the thread applies at its next turn.
    var settings: AnycastSettings
    var states: [VIPState]
    var lastRefreshMs: Int64 = 0

    /// Why a VIP is kept off whatever its condition says.
    enum ForcedOff: Equatable {
        case operatorRequest, shutdown

        var reason: String {
            switch self {
            case .operatorRequest: return "withdrawn by operator"
            case .shutdown: return "shutting down"
            }
        }
    }

    /// What other threads ask: operator withdrawals (by address, so they outlive a reload that
    /// keeps the VIP), shutdown, new settings from a reload, and a request counter the thread
    /// echoes in `applied` once a turn has acted on them.
    struct Requests {
        var withdrawnByOperator: Set<IPAddress> = []
        var shuttingDown = false
        var reconfiguration: AnycastSettings?
        var number: UInt64 = 0

        func forcedOff(_ address: IPAddress) -> ForcedOff? {
            shuttingDown ? .shutdown : withdrawnByOperator.contains(address) ? .operatorRequest : nil
        }
    }
    private let requests = Mutex(Requests())
    private let applied = Mutex<UInt64>(0)
    private let published: Mutex<AnycastStatus>

    static let turnMs: Int64 = 100
    /// Announced VIPs carry a kernel lifetime, renewed every `refreshMs`: if fulcrumd dies
    /// without withdrawing (SIGKILL, a crash) while BIRD lives on, the kernel removes the
    /// addresses and BIRD withdraws the routes within about this long (the kernel looks at
    /// lifetimes about once a second) instead of black-holing the node's share of flows until
    /// a restart. 4 s against a 1 s refresh lets the thread stall 3 s before a VIP drops.
    static let addressLifetimeSeconds: UInt32 = 4
    static let refreshMs: Int64 = 1_000

    /// Makes sure the interface exists and is up, takes off any of the VIPs an earlier run left
    /// on it (this run announces only after hold_down), and adds the local routes. Any failure
    /// stops the start with the interface or VIP named.
    public init(settings: AnycastSettings, addresses: any VirtualAddressControl, logger: Logger) throws {
        self.settings = settings
        self.addresses = addresses
        self.logger = logger
        let name = settings.interface
        interface = name
        let vips = settings.virtualIPs.map { AnycastNode.interfaceAddress($0, on: name) }
        // Before any change to the kernel, so a failure here leaves nothing to undo.
        loop = try EventLoop(name: "fulcrum-anycast", capacity: 4, wakeData: 1)
        do {
            origin = try addresses.ensureInterface(name)
            if origin != .existing {
                logger.notice("anycast: created interface \(name) (\(origin.rawValue))",
                              metadata: ["interface": "\(name)", "kind": "\(origin.rawValue)"])
            }
            let present = try addresses.addresses(on: name)
            for vip in vips where present.contains(where: { $0.address == vip.address }) {
                try addresses.remove(vip)
                logger.notice("anycast: took \(vip.address) off \(name), left there by an earlier run; announced again after hold_down",
                              metadata: ["vip": "\(vip.address)"])
            }
            for vip in vips { try addresses.addLocalRoute(vip.address) }
        } catch {
            // Nothing may stay behind that says this host owns an address it will not serve.
            for vip in vips { try? addresses.removeLocalRoute(vip.address) }
            throw StartError(description: "anycast interface \(name): \(error)")
        }
        let now = WallClock.unixSeconds()
        let startMs = cfl_monotonic_ms()
        // The gates are set again from the first look at the pools when the thread starts.
        states = vips.map {
            VIPState(vip: $0, gate: AnnouncementGate(holdDownMs: settings.holdDownMs, condition: false, nowMs: startMs),
                     since: now)
        }
        published = Mutex(AnycastStatus(
            interface: name, interfaceKind: origin.rawValue, announceWhen: settings.announceWhen.rawValue,
            holdDownMs: settings.holdDownMs, withdrawGraceMs: settings.withdrawGraceMs,
            vips: settings.virtualIPs.map {
                AnycastStatus.VIP(address: "\($0)", announced: false, conditionHolds: false, reason: "starting", since: now)
            }))
    }

    static func interfaceAddress(_ address: IPAddress, on interface: String) -> InterfaceAddress {
        InterfaceAddress(interface: interface, address: address, prefixLength: address.isIPv4 ? 32 : 128)!
    }

    /// `poolHealth`: each VIP's pools and their health, in VIP order (the daemon reads them
    /// from its status snapshot, which needs the status reader this node's status feeds).
    public func start(poolHealth: @escaping @Sendable ([IPAddress]) -> [[AnycastCondition.PoolHealth]]) throws(SystemError) {
        self.poolHealth = poolHealth
        try loop.start { [self] in run() }
    }

    /// What `show anycast`, the metrics and the page show.
    public func status() -> AnycastStatus { published.withLock { $0 } }

    /// SIGTERM, first step: every VIP off the interface now (no hold_down). Returns once a turn
    /// of the thread has acted on it (or after 2 s; a removal the kernel refused is retried
    /// by later turns), with how many VIPs were announced before.
    @discardableResult
    public func withdrawForShutdown() -> Int {
        let announcedBefore = status().vips.filter(\.announced).count
        wait(for: requests.withLock { state in
            state.shuttingDown = true
            state.number += 1
            return state.number
        })
        return announcedBefore
    }

    /// A reload's new [anycast] settings (same interface: a new one needs a restart). VIPs
    /// that left the list are withdrawn and lose their local route; new ones get a local route
    /// and are announced once their condition has held for hold_down, like at start; kept ones
    /// keep their state and take the new hold_down and announce_when. Returns once a turn has
    /// applied them (or after 2 s).
    public func reconfigure(_ new: AnycastSettings) {
        precondition(new.interface == interface, "a new anycast interface needs a restart")
        wait(for: requests.withLock { state in
            state.reconfiguration = new
            state.withdrawnByOperator.formIntersection(new.virtualIPs)
            state.number += 1
            return state.number
        })
    }

    /// Ends the thread, then takes off whatever is still announced and the local routes: the
    /// node accepts the VIPs no longer.
    public func stop() {
        loop.requestStop()
        _ = loop.join()
        for index in states.indices {
            if states[index].onInterface { put(index, on: false, reason: "stopped") }
            removeLocalRoute(states[index].address)
        }
    }

    func removeLocalRoute(_ address: IPAddress) {
        do {
            try addresses.removeLocalRoute(address)
        } catch {
            logger.error("anycast: cannot remove the local route for \(address): \(error)",
                         metadata: ["vip": "\(address)"])
        }
    }

    /// The admin socket's `anycast withdraw|announce [VIP]`: one line per VIP asked about, saying
    /// where it is now and where it was.
    public func steer(_ steer: AnycastSteer, vip text: String?) -> Result<[String], AnycastSteerError> {
        let before = status()
        let configured = before.vips.compactMap { IPAddress($0.address) }
        let asked: [IPAddress]
        if let text {
            guard let address = IPAddress(text), configured.contains(address) else {
                let list = before.vips.map(\.address).joined(separator: ", ")
                return .failure(AnycastSteerError("no anycast VIP \(text); configured: \(list)"))
            }
            asked = [address]
        } else {
            asked = configured
        }
        wait(for: requests.withLock { state in
            for address in asked {
                switch steer {
                case .withdraw: state.withdrawnByOperator.insert(address)
                case .announce: state.withdrawnByOperator.remove(address)
                }
            }
            state.number += 1
            return state.number
        })
        let after = status()
        return .success(asked.compactMap { address in
            // A reload between the two looks may have taken the VIP away.
            guard let now = after.vips.first(where: { IPAddress($0.address) == address }) else { return nil }
            let was = before.vips.first(where: { IPAddress($0.address) == address })?.announced ?? false
            let state = now.announced ? "announced" : "not announced"
            let detail = now.pending ?? now.reason
            return "anycast \(now.address): \(state) (was \(was ? "announced" : "not announced")): \(detail)"
        })
    }

    /// The latest requests, taken whole so one turn acts on one consistent set.
    func currentRequests() -> Requests {
        requests.withLock { state in
            let taken = state
            state.reconfiguration = nil
            return taken
        }
    }

    func markApplied(_ request: UInt64) { applied.withLock { $0 = request } }

    func publish(_ entries: [AnycastStatus.VIP]) {
        published.withLock { status in
            status.vips = entries
            status.announceWhen = settings.announceWhen.rawValue
            status.holdDownMs = settings.holdDownMs
            status.withdrawGraceMs = settings.withdrawGraceMs
        }
    }

    private func wait(for request: UInt64) {
        loop.wake()
        let deadline = cfl_monotonic_ms() + 2_000
        while applied.withLock({ $0 }) < request && cfl_monotonic_ms() < deadline {
            Pause.milliseconds(2)
        }
    }
}
