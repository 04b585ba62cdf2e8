import CFulcrumLinux
import FulcrumAddress
import FulcrumConfig
import FulcrumNetlink
import FulcrumStatus
import FulcrumSystem
import FulcrumVRRP
import Glibc
import Logging
import Synchronization

/// One VRRPv3 virtual router on its own thread: the raw socket, the clock and the state
/// machine (FulcrumVRRP, pure) wired to the one room that changes interfaces
/// (FulcrumNetlink). It never touches the data plane: listeners bind the VIPs with
/// IP_FREEBIND on every node, so whichever node holds the addresses serves them.
public final class HANode: @unchecked Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    let settings: HASettings
    let addresses: any VirtualAddressControl
    let trackedPoolsDown: @Sendable () -> [String]
    let logger: Logger
    let socket: RawIPSocket
    let loop: EventLoop
    let primary: IPAddress
    let destinations: [IPAddress]
    let vips: [InterfaceAddress]
    /// Only the HA thread touches these.
    var router: VRRPRouter
    var discards = HAStatus.Discards()
    var announceAt: [Int64] = []
    var children: [pid_t] = []
    var lastTrackMs: Int64 = 0
    var trackedDown: [String] = []
    /// The state the last transition log line named (the router's own record has moved on).
    var loggedState = VRRPState.initialize
    var lastReannounceMs = Int64.min / 2
    private let published: Mutex<HAStatus>
    private let shutdownRequested = Mutex(false)

    /// Opens the socket and finds the primary address now, so a wrong interface stops the
    /// start with an error naming it.
    public init(settings: HASettings, addresses: any VirtualAddressControl, logger: Logger,
                trackedPoolsDown: @escaping @Sendable () -> [String]) throws {
        self.settings = settings
        self.addresses = addresses
        self.logger = logger
        self.trackedPoolsDown = trackedPoolsDown
        let ipv4 = settings.advertIsIPv4
        let name = settings.interface
        vips = settings.virtualIPs.compactMap {
            InterfaceAddress(interface: name, address: $0.address, prefixLength: $0.prefixLength)
        }
        let present: [InterfaceAddress]
        do {
            present = try addresses.addresses(on: name)
        } catch {
            throw StartError(description: "ha interface \(name): \(error)")
        }
        let vipSet = Set(settings.virtualIPs.map(\.address))
        // The advert source: the interface's own address of the adverts' family (IPv6: its
        // link-local, as RFC 5798 §5.1.2.1 requires), never a VIP.
        guard let own = present.first(where: { candidate in
            candidate.address.isIPv4 == ipv4 && !vipSet.contains(candidate.address)
                && (ipv4 || HANode.isLinkLocal(candidate.address))
        })?.address else {
            throw StartError(description: "ha interface \(name): no \(ipv4 ? "IPv4" : "IPv6 link-local") address to send adverts from")
        }
        primary = own
        let family = VRRPFamily(of: own)
        destinations = settings.unicastPeers.isEmpty ? [family.multicastGroup] : settings.unicastPeers
        let configuration: VRRPRouterConfiguration
        do {
            configuration = try VRRPRouterConfiguration(
                virtualRouterID: UInt8(settings.virtualRouterID), priority: UInt8(settings.priority),
                advertInterval: VRRPAdvertInterval(milliseconds: settings.advertIntervalMs)!,
                preemption: settings.preempt ? .enabled(delay: .milliseconds(Int64(settings.preemptDelayMs))) : .disabled,
                primaryAddress: own, virtualAddresses: settings.virtualIPs.map(\.address))
        } catch {
            throw StartError(description: "ha: \(error)")
        }
        router = VRRPRouter(configuration: configuration)
        do {
            socket = try RawIPSocket(protocol: Int32(VRRPChecksum.ipProtocolNumber), ipv4: ipv4, interface: name)
            if settings.unicastPeers.isEmpty { try socket.join(family.multicastGroup) }
            // Not bound to `own`: a bound raw socket only receives packets addressed to that
            // address, which would drop every multicast advert. The kernel picks the
            // interface's primary address (IPv6: its link-local) as source, which is `own`.
        } catch {
            // A raw IP socket needs CAP_NET_RAW: name it rather than leave a bare EPERM.
            let hint = error.code == EPERM ? "; [ha] needs CAP_NET_RAW" : ""
            throw StartError(description: "ha interface \(name): VRRP socket: \(error)\(hint)")
        }
        loop = try EventLoop(name: "fulcrum-ha", capacity: 16, wakeData: UInt64.max)
        try loop.poll.add(socket.fd, events: EventPoll.readable, data: 1)
        published = Mutex(HAStatus(interface: name, virtualRouterID: settings.virtualRouterID, state: .initialize,
                                   configuredPriority: settings.priority, effectivePriority: settings.priority,
                                   advertIntervalMs: settings.advertIntervalMs, preempt: settings.preempt,
                                   unicastPeers: settings.unicastPeers.map { "\($0)" },
                                   virtualIPs: settings.virtualIPs.map(\.description)))
    }

    static func isLinkLocal(_ address: IPAddress) -> Bool {
        if case let .v6(high, _) = address { return high >> 54 == 0x3FA }  // fe80::/10
        return false
    }

    public func start() throws(SystemError) {
        // A VIP left behind by an earlier run that died must not make two masters.
        removeVIPs()
        try loop.start { [self] in run() }
    }

    /// SIGTERM: a master says priority 0 (the backup takes over after Skew_Time, not
    /// Master_Down_Interval) and gives the VIPs up; then the thread ends.
    public func stop() {
        shutdownRequested.withLock { $0 = true }
        loop.wake()
        _ = loop.join()
    }

    /// What `show ha`, the metrics and the page show.
    public func status() -> HAStatus { published.withLock { $0 } }

    func publishStatus(_ status: HAStatus) { published.withLock { $0 = status } }

    // MARK: the thread

    func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
        defer { buffer.deallocate() }
        apply(router.start(now: now()))
        while !shutdownRequested.withLock({ $0 }) {
            let nowMs = cfl_monotonic_ms()
            var timeout: Int64 = settings.trackPools.isEmpty ? 1000 : 100
            if let deadline = router.nextDeadline {
                timeout = min(timeout, max(0, deadline.nanoseconds / 1_000_000 - nowMs + 1))
            }
            if let next = announceAt.first { timeout = min(timeout, max(0, next - nowMs)) }
            let ready: Int
            do {
                ready = try loop.poll.wait(timeoutMs: Int32(timeout))
            } catch {
                logger.critical("ha event loop failed", metadata: ["error": "\(error)"])
                break
            }
            for i in 0..<ready where loop.poll.data(at: i) == loop.wakeData { loop.consumeWake() }
            if ready > 0 { receiveAll(buffer) }
            if let deadline = router.nextDeadline, now() >= deadline { apply(router.timerExpired(now: now())) }
            track()
            // Published before announcing: a packet socket's close can take 10-20 ms here,
            // and show ha should say MASTER as soon as the VIPs are on.
            publish()
            announceIfDue()
            reapChildren()
            publish()
        }
        apply(router.shutdown(now: now()))
        removeVIPs()
        publish()
    }

    func now() -> VRRPInstant { .milliseconds(cfl_monotonic_ms()) }

    private func receiveAll(_ buffer: UnsafeMutableRawBufferPointer) {
        for _ in 0..<64 {
            let received: RawIPSocket.Received
            do {
                switch try socket.receive(into: buffer) {
                case .wouldBlock: return
                case let .done(packet): received = packet
                }
            } catch {
                logger.warning("ha: receive failed", metadata: ["error": "\(error)"])
                return
            }
            handle(received, UnsafeRawBufferPointer(rebasing: buffer[0..<received.length]))
        }
    }

    private func handle(_ packet: RawIPSocket.Received, _ bytes: UnsafeRawBufferPointer) {
        let source: IPAddress, destination: IPAddress, ttl: UInt8
        let payload: UnsafeRawBufferPointer
        if socket.isIPv4 {
            guard let header = IPv4Header.parse(bytes) else { discards.other += 1; return }
            (source, destination, ttl) = (header.source, header.destination, header.ttl)
            payload = UnsafeRawBufferPointer(rebasing: bytes[header.payload])
        } else {
            guard let dst = packet.destination else { discards.other += 1; return }
            (source, destination, ttl) = (packet.source, dst, packet.hopLimit ?? 0)
            payload = bytes
        }
        if source == primary { return }  // our own, looped back
        if !settings.unicastPeers.isEmpty && !settings.unicastPeers.contains(source) {
            discards.notAPeer += 1
            return
        }
        switch VRRPAdvert.decode(payload: [UInt8](payload), source: source, destination: destination,
                                 ttlOrHopLimit: ttl, expectedVRID: UInt8(settings.virtualRouterID),
                                 family: router.configuration.family) {
        case let .success(advert):
            apply(router.received(advert, from: source, now: now()))
        case let .failure(reason):
            count(reason)
        }
    }

    private func count(_ reason: VRRPDiscard) {
        switch reason {
        case .wrongVersion: discards.wrongVersion += 1
        case .wrongType: discards.wrongType += 1
        case .wrongTTL: discards.wrongTTL += 1
        case .badChecksum: discards.badChecksum += 1
        case .tooShort, .noAddresses, .addressCountMismatch: discards.badLength += 1
        case .wrongVRID: discards.wrongVRID += 1
        case .wrongFamily: discards.wrongFamily += 1
        case .unknownSource: discards.notAPeer += 1
        case .zeroInterval: discards.other += 1
        }
    }

    /// track_pools: while every member of a tracked pool is down, the effective priority
    /// drops by track_weight (at least to 1), so a healthier backup preempts.
    private func track() {
        guard !settings.trackPools.isEmpty else { return }
        let nowMs = cfl_monotonic_ms()
        guard nowMs - lastTrackMs >= 100 else { return }
        lastTrackMs = nowMs
        let down = trackedPoolsDown()
        let effective = down.isEmpty ? settings.priority : max(1, settings.priority - settings.trackWeight)
        if down != trackedDown {
            if down.isEmpty {
                logger.notice("ha: tracked pools back up; priority \(settings.priority)")
            } else {
                logger.notice("ha: tracked pool down (\(down.joined(separator: ", "))); priority \(effective)",
                              metadata: ["pools": "\(down.joined(separator: ","))"])
            }
            trackedDown = down
        }
        if effective != Int(router.effectivePriority) {
            apply(router.setEffectivePriority(effective, now: now()))
        }
    }
}
