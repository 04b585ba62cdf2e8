// Support for the anycast (active-active) tests: a router running BIRD with an eBGP session to
// each of three Fulcrum nodes, which all announce the same VIP; the router's kernel spreads
// client connections over them (ECMP, L4 hash). Everything is in network namespaces the test
// makes and removes, on private ranges only:
//
//     client ns  cl0 10.201.0.50 (+ .51–.58) ── cl0 10.201.0.1  router ns (BIRD AS 65000)
//                                                fab0 10.200.0.1
//                                                  │ fabric bridge (switch ns)
//             ┌────────────────────────────────────┼──────────────────────────┐
//     node1 ns fab0 10.200.0.11          node2 ns fab0 .12          node3 ns fab0 .13   (BIRD AS 65001)
//              fulcrum0 (VIPs /32)                fulcrum0                   fulcrum0
//              back0 10.202.0.11                  back0 .12                  back0 .13
//             └────────────────────────────────────┼──────────────────────────┘
//                                                  │ backend bridge (switch ns)
//     member ns  back0 10.202.0.60 .61 .62, a who-server on each :7000
//
// A member greets each connection with "member ADDRESS from PEER\n" (PEER: the node's backend
// address), then echoes. fulcrumd on a node (AnycastSupport+Fulcrum.swift) creates fulcrum0
// itself (a bridge without ports where the kernel has no dummy driver) and puts the VIP on it;
// the node's BIRD exports it. The host's root namespace is untouched except for creating and removing
// namespaces; namespaces left by a crashed run (creator's pid gone) are removed first.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class AnycastWorld {
    static let prefix = "fx-ac"
    static let vip = "10.203.0.100"
    static let servicePort: UInt16 = 8080
    static let routerAS = 65000
    /// Every node the same AS: the router sees equal AS paths and merges them into one ECMP route.
    static let nodeAS = 65001
    static let routerFabricAddress = "10.200.0.1"
    static let nodeFabricAddresses = ["10.200.0.11", "10.200.0.12", "10.200.0.13"]
    static let routerClientAddress = "10.201.0.1"
    static let clientAddress = "10.201.0.50"
    /// Further addresses on the client, to vary the source address.
    static let extraClientAddresses = (51...58).map { "10.201.0.\($0)" }
    static let nodeBackendAddresses = ["10.202.0.11", "10.202.0.12", "10.202.0.13"]
    static let memberAddresses = ["10.202.0.60", "10.202.0.61", "10.202.0.62"]
    static let memberPort: UInt16 = 7000
    /// The interface the node's BIRD announces (and fulcrumd puts its VIPs on).
    static let vipInterface = "fulcrum0"
    static let fabricInterface = "fab0"
    static let backendInterface = "back0"

    let bfd: Bool
    let switchNS: NetworkNamespace
    let router: NetworkNamespace
    let client: NetworkNamespace
    /// node1…node3: launch fulcrumd in one with `launcher: nodes[i].launcher`.
    let nodes: [NetworkNamespace]
    let member: NetworkNamespace
    let routerBird: BirdProcess
    let nodeBirds: [BirdProcess]
    private let dir: ConfigDir
    private var members: [WhoServer] = []
    private var removed = false
    private var all: [NetworkNamespace] { [client, member] + nodes + [router, switchNS] }

    init(bfd: Bool) throws {
        self.bfd = bfd
        removeStaleNamespaces(prefix: Self.prefix)
        var made: [NetworkNamespace] = []
        func namespace(_ suffix: String) throws -> NetworkNamespace {
            let ns = try NetworkNamespace(prefix: "\(Self.prefix)-\(suffix)")
            made.append(ns)
            return ns
        }
        var birds: [BirdProcess] = []
        var whos: [WhoServer] = []
        let dir = try ConfigDir()
        do {
            let switchNS = try namespace("sw")
            let router = try namespace("rt")
            let client = try namespace("cl")
            let nodes = try (1...3).map { try namespace("n\($0)") }
            let member = try namespace("mb")

            // Two bridges in the switch namespace: the fabric and the backend segment.
            for bridge in ["fabric", "backend"] {
                try switchNS.run("link", "add", bridge, "type", "bridge", "stp_state", "0")
                try switchNS.run("link", "set", bridge, "up")
            }
            try Self.plug(router, into: switchNS, bridge: "fabric", port: "p-rt", as: Self.fabricInterface,
                          addresses: [Self.routerFabricAddress])
            for (i, node) in nodes.enumerated() {
                try Self.plug(node, into: switchNS, bridge: "fabric", port: Self.fabricPort(i), as: Self.fabricInterface,
                              addresses: [Self.nodeFabricAddresses[i]])
                try Self.plug(node, into: switchNS, bridge: "backend", port: "b-n\(i + 1)", as: Self.backendInterface,
                              addresses: [Self.nodeBackendAddresses[i]])
                try node.run("route", "add", "default", "via", Self.routerFabricAddress)
            }
            try Self.plug(member, into: switchNS, bridge: "backend", port: "b-mb", as: Self.backendInterface,
                          addresses: Self.memberAddresses)

            // The client hangs directly off the router.
            try router.run("link", "add", "cl0", "type", "veth", "peer", "name", "cl0", "netns", client.name)
            try router.run("addr", "add", "\(Self.routerClientAddress)/24", "dev", "cl0")
            try router.run("link", "set", "cl0", "up")
            for address in [Self.clientAddress] + Self.extraClientAddresses {
                try client.run("addr", "add", "\(address)/24", "dev", "cl0")
            }
            try client.run("link", "set", "cl0", "up")
            try client.run("route", "add", "default", "via", Self.routerClientAddress)

            // Forwarding, and ECMP hashing on the L4 5-tuple (the default hashes addresses only:
            // one client address would always reach the same node).
            try inNetns(router.name, timeout: 10) {
                try "1\n".write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
                try "1\n".write(toFile: "/proc/sys/net/ipv4/fib_multipath_hash_policy", atomically: false, encoding: .utf8)
            }

            for address in Self.memberAddresses {
                whos.append(try inNetns(member.name) {
                    try WhoServer(host: address, port: Self.memberPort, greeting: { "member \(address) from \($0)\n" })
                })
            }

            let routerBird = try BirdProcess(name: "router", ns: router, dir: dir, config: Bird.routerConfig(
                routerID: Self.routerFabricAddress, localAS: Self.routerAS, nodes: Self.nodeFabricAddresses,
                nodeAS: Self.nodeAS, bfd: bfd))
            birds.append(routerBird)
            for (i, node) in nodes.enumerated() {
                birds.append(try BirdProcess(name: "node\(i + 1)", ns: node, dir: dir, config: Bird.nodeConfig(
                    routerID: Self.nodeFabricAddresses[i], localAS: Self.nodeAS, neighbor: Self.routerFabricAddress,
                    neighborAS: Self.routerAS, interface: Self.vipInterface, bfd: bfd)))
            }
            for bird in birds { try bird.start() }

            self.switchNS = switchNS
            self.router = router
            self.client = client
            self.nodes = nodes
            self.member = member
            self.routerBird = routerBird
            self.nodeBirds = Array(birds.dropFirst())
            self.dir = dir
            self.members = whos
        } catch {
            for bird in birds { bird.kill() }
            for who in whos { who.stop() }
            for ns in made.reversed() { ns.remove() }
            dir.remove()
            throw error
        }
        do {
            try waitForSessions(timeout: 15)
        } catch {
            remove()
            throw error
        }
    }

    /// A veth pair: `port` on `bridge` in `switchNS`, `name` in `ns` with `addresses` (/24), up.
    private static func plug(_ ns: NetworkNamespace, into switchNS: NetworkNamespace, bridge: String, port: String,
                             as name: String, addresses: [String]) throws {
        try switchNS.run("link", "add", port, "type", "veth", "peer", "name", name, "netns", ns.name)
        try switchNS.run("link", "set", port, "master", bridge)
        try switchNS.run("link", "set", port, "up")
        for address in addresses { try ns.run("addr", "add", "\(address)/24", "dev", name) }
        try ns.run("link", "set", name, "up")
    }

    private static func fabricPort(_ node: Int) -> String { "p-n\(node + 1)" }

    /// Removes everything (idempotent): the BIRDs and servers, then the namespaces and files.
    func remove() {
        guard !removed else { return }
        removed = true
        for bird in [routerBird] + nodeBirds { bird.kill() }
        for who in members { who.stop() }
        for ns in all { ns.remove() }
        dir.remove()
    }

    deinit { remove() }

    var namespaceNames: [String] { all.map(\.name) }

    // MARK: BGP sessions

    /// Waits until the router has all three sessions Established.
    func waitForSessions(timeout: Double) throws {
        guard waitUntil(timeout: timeout, interval: 0.05, { routerBird.establishedSessions().count == nodes.count }) else {
            throw TestFailure("BGP sessions not all Established within \(timeout) s\n\(diagnostics)")
        }
    }

    func startNodeBird(_ node: Int) throws { try nodeBirds[node].start() }

    /// The node's BIRD crashes (SIGKILL). Its kernel still closes the TCP session, so the router
    /// hears of it at once, BFD or not.
    func killNodeBird(_ node: Int) { nodeBirds[node].kill() }

    /// The node falls silent on the fabric (its switch port goes down): nothing it sends arrives,
    /// not even the FIN of a closing session, as when a machine loses power. Only BFD or the BGP
    /// hold time tells the router.
    func isolateNode(_ node: Int) throws { try switchNS.run("link", "set", Self.fabricPort(node), "down") }

    func reconnectNode(_ node: Int) throws { try switchNS.run("link", "set", Self.fabricPort(node), "up") }

    // MARK: Observations

    /// The gateways of the router's route for `vip`/32 (empty without one). `ip route` prints a
    /// single path as "VIP via X dev Y …", several as "nexthop via X dev Y weight 1" lines.
    func nextHops(for vip: String = AnycastWorld.vip) throws -> [String] {
        let text = try router.run("route", "show", "\(vip)/32")
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        return words.indices.dropLast().filter { words[$0] == "via" }.map { String(words[$0 + 1]) }.sorted()
    }

    /// Polls the router's route every ~10 ms until it has `count` next hops; returns the seconds
    /// from `since` (monotonicNow(); now if nil) until it was seen. Throws after `timeout`.
    @discardableResult
    func waitForNextHops(_ vip: String = AnycastWorld.vip, count: Int, timeout: Double, since: Double? = nil) throws -> Double {
        let start = since ?? monotonicNow()
        var last: [String] = []
        while true {
            last = (try? nextHops(for: vip)) ?? []
            let now = monotonicNow()
            if last.count == count { return now - start }
            if now - start > timeout { break }
            sleepSeconds(0.01)
        }
        throw TestFailure("router: \(count) next hops for \(vip) not seen within \(timeout) s (last: \(last))\n\(diagnostics)")
    }

    /// From the client (from `sourceAddress`, or the kernel's choice): one connection to
    /// vip:port, its greeting line (without the newline), and an echo checked.
    func clientExchange(from sourceAddress: String? = nil, to vip: String = AnycastWorld.vip,
                        port: UInt16 = AnycastWorld.servicePort, timeout: Double = 3) throws -> String {
        try clientExchanges(from: [sourceAddress], to: vip, port: port, timeout: timeout)[0]
    }

    /// One connection per entry of `sources`, one after the other on one thread in the client
    /// namespace (each from a new ephemeral port): their greeting lines.
    func clientExchanges(from sources: [String?], to vip: String = AnycastWorld.vip,
                         port: UInt16 = AnycastWorld.servicePort, timeout: Double = 3) throws -> [String] {
        try inNetns(client.name, timeout: timeout * Double(sources.count) + 10) {
            try sources.map { source in
                let s = try TCPSocket.connect(host: vip, port: port, timeout: timeout, source: source, ioTimeout: timeout)
                defer { s.close() }
                let greeting = try HAWorld.readLine(s)
                try s.send("ping\n")
                guard try HAWorld.readLine(s) == "ping" else { throw TestFailure("\(greeting): no echo") }
                return greeting
            }
        }
    }

    /// From inside `node`: one connection to a member, its greeting ("member M from NODE-BACKEND").
    func memberGreeting(fromNode node: Int, member: String, timeout: Double = 3) throws -> String {
        try inNetns(nodes[node].name) {
            let s = try TCPSocket.connect(host: member, port: Self.memberPort, timeout: timeout, ioTimeout: timeout)
            defer { s.close() }
            return try HAWorld.readLine(s)
        }
    }

    /// The router's and nodes' state and BIRD logs, for a failure message.
    var diagnostics: String {
        var text = "router route for \(Self.vip):\n\((try? router.run("route", "show", "\(Self.vip)/32")) ?? "?")\n"
        text += "router birdc show protocols:\n\((try? routerBird.birdc("show", "protocols")) ?? "(no answer)")\n"
        if bfd { text += "router birdc show bfd sessions:\n\((try? routerBird.birdc("show", "bfd", "sessions")) ?? "(no answer)")\n" }
        for bird in [routerBird] + nodeBirds {
            text += "--- \(bird.name) BIRD (\(bird.isRunning ? "running" : "not running")) ---\n\(bird.log)\n"
        }
        return text
    }
}

/// A test case with an anycast world: removed in tearDown (after the fulcrumd processes the
/// test launched are stopped), its diagnostics printed when the test failed.
class AnycastTestCase: FulcrumTestCase {
    private(set) var world: AnycastWorld?

    func makeWorld(bfd: Bool) throws -> AnycastWorld {
        let w = try AnycastWorld(bfd: bfd)
        world = w
        return w
    }

    override func tearDown() {
        if let w = world, let run = testRun, run.totalFailureCount > 0 { print(w.diagnostics) }
        super.tearDown()
        if let w = world {
            w.remove()
            let left = w.namespaceNames.filter { FileManager.default.fileExists(atPath: "/run/netns/\($0)") }
            XCTAssertEqual(left, [], "namespaces left behind")
        }
        world = nil
    }
}
