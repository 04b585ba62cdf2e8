import FulcrumAddress
import FulcrumVRRP
import XCTest

/// Several routers on one simulated link, in simulated time. Adverts go through the real codec
/// (encoded by the sender, decoded and validated by each receiver) with a fixed latency; a
/// node can be killed (it stops dead, as with SIGKILL), stopped (SIGTERM: priority 0),
/// restarted, and any direction of the link cut (a partition). The addresses each node holds
/// follow its becomeMaster / becomeBackup / becomeInitialize actions, and every instant at
/// which two live nodes hold them is recorded.
struct SimulatedLink {
    struct Node {
        var router: VRRPRouter
        var alive = true
        var holdsAddresses = false
        var reannouncements = 0
    }

    private struct InFlight {
        var arrival: VRRPInstant
        var from: Int
        var to: Int
        var payload: [UInt8]
    }

    var nodes: [Node]
    private(set) var now = VRRPInstant(nanoseconds: 0)
    let latency: VRRPDuration
    /// blocked[from][to]: adverts from `from` do not reach `to`.
    var blocked: [[Bool]]
    /// Fraction of adverts lost at random, from a seeded generator.
    var lossRate = 0.0
    private var random = SplitMix64(state: 42)
    private var inFlight: [InFlight] = []
    /// Every instant at which more than one live node held the addresses.
    private(set) var overlaps: [VRRPInstant] = []
    /// (instant, node, action) for every transition, in order.
    private(set) var transitions: [(at: VRRPInstant, node: Int, action: VRRPAction)] = []
    private(set) var decodeFailures: [VRRPDiscard] = []
    /// Which node a client on the link would send to for the virtual address: the last one
    /// whose gratuitous ARP it heard (on becoming master or re-announcing). The partition
    /// cuts only the routers' adverts; the client hears everyone.
    private(set) var neighbourEntry: Int?

    init(_ configurations: [VRRPRouterConfiguration], latency: VRRPDuration = .milliseconds(1)) {
        nodes = configurations.map { Node(router: VRRPRouter(configuration: $0)) }
        self.latency = latency
        blocked = Array(repeating: Array(repeating: false, count: configurations.count), count: configurations.count)
    }

    var masters: [Int] { nodes.indices.filter { nodes[$0].alive && nodes[$0].router.state == .master } }
    var holders: [Int] { nodes.indices.filter { nodes[$0].alive && nodes[$0].holdsAddresses } }

    mutating func start(_ node: Int) {
        nodes[node].alive = true
        apply(nodes[node].router.start(now: now), from: node)
    }

    /// SIGKILL: no goodbye, no further adverts; the addresses vanish with the process (the
    /// kernel keeps them, but the node is gone from the link in this model).
    mutating func kill(_ node: Int) {
        nodes[node].alive = false
        nodes[node].holdsAddresses = false
        nodes[node].router = VRRPRouter(configuration: nodes[node].router.configuration)
    }

    /// SIGTERM: the router's shutdown, priority 0 if it was master.
    mutating func stop(_ node: Int) {
        apply(nodes[node].router.shutdown(now: now), from: node)
        nodes[node].alive = false
    }

    mutating func setEffectivePriority(_ node: Int, _ priority: Int) {
        apply(nodes[node].router.setEffectivePriority(priority, now: now), from: node)
    }

    mutating func partition(_ cut: Bool) {
        for from in nodes.indices {
            for to in nodes.indices where to != from {
                blocked[from][to] = cut
            }
        }
    }

    /// Runs events in time order until `end`.
    mutating func run(until end: VRRPInstant) {
        while true {
            let nextArrival = inFlight.map(\.arrival).min()
            let nextTimer = nodes.indices.filter { nodes[$0].alive }.compactMap { nodes[$0].router.nextDeadline }.min()
            guard let next = [nextArrival, nextTimer].compactMap({ $0 }).min(), next <= end else { break }
            now = next
            // Adverts first, as the daemon does: an advert that arrives with an expired
            // deadline proves the master alive.
            let arriving = inFlight.filter { $0.arrival <= now }
            inFlight.removeAll { $0.arrival <= now }
            for packet in arriving {
                deliver(packet)
            }
            for node in nodes.indices where nodes[node].alive {
                if let deadline = nodes[node].router.nextDeadline, deadline <= now {
                    apply(nodes[node].router.timerExpired(now: now), from: node)
                }
            }
            if holders.count > 1 { overlaps.append(now) }
        }
        now = end
    }

    mutating func run(for duration: VRRPDuration) {
        run(until: now + duration)
    }

    /// The first instant after `since` at which `node` became master, if any.
    func becameMaster(_ node: Int, after since: VRRPInstant) -> VRRPInstant? {
        transitions.first { entry in
            guard entry.node == node, entry.at >= since, case .becomeMaster = entry.action else { return false }
            return true
        }?.at
    }

    private mutating func deliver(_ packet: InFlight) {
        guard nodes[packet.to].alive else { return }
        let source = nodes[packet.from].router.configuration.primaryAddress
        let receiver = nodes[packet.to].router.configuration
        let decoded = VRRPAdvert.decode(payload: packet.payload, source: source, destination: receiver.family.multicastGroup,
                                        ttlOrHopLimit: VRRPAdvert.requiredTTL, expectedVRID: receiver.virtualRouterID,
                                        family: receiver.family)
        switch decoded {
        case let .success(advert):
            apply(nodes[packet.to].router.received(advert, from: source, now: now), from: packet.to)
        case let .failure(reason):
            decodeFailures.append(reason)
        }
    }

    private mutating func apply(_ output: VRRPOutput, from node: Int) {
        for action in output.actions {
            switch action {
            case let .sendAdvert(priority):
                let configuration = nodes[node].router.configuration
                let payload = configuration.advert(priority: priority)
                    .encode(source: configuration.primaryAddress, destination: configuration.family.multicastGroup)
                for receiver in nodes.indices where receiver != node && !blocked[node][receiver] {
                    if lossRate > 0, Double.random(in: 0..<1, using: &random) < lossRate { continue }
                    inFlight.append(InFlight(arrival: now + latency, from: node, to: receiver, payload: payload))
                }
            case .becomeMaster:
                nodes[node].holdsAddresses = true
                neighbourEntry = node
                transitions.append((now, node, action))
            case .becomeBackup, .becomeInitialize:
                nodes[node].holdsAddresses = false
                transitions.append((now, node, action))
            case .reannounce:
                nodes[node].reannouncements += 1
                neighbourEntry = node
            }
        }
    }
}
