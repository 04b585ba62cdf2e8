// The anycast test world with BIRD alone (no fulcrumd yet): three nodes announce a VIP put on
// fulcrum0 by hand, each serving it with a who-server ("node N"). Checks that the router spreads
// connections over all three (ECMP, L4 hash) and measures how fast it drops a node:
//  - a node that vanishes (switch port down, BIRD killed): BFD (100 ms × 3) or the BGP hold time (3 s);
//  - a node whose BIRD crashes while the machine stays up: its kernel closes the BGP session.

import Foundation
import XCTest

final class AnycastWorldTests: AnycastTestCase {
    /// Every node announces the VIP and serves it; waits for the router's three next hops.
    private func announceEverywhere(_ w: AnycastWorld) throws {
        for node in w.nodes.indices {
            try w.addVIP(node: node)
            try w.startNodeService(node)
        }
        try w.waitForNextHops(count: 3, timeout: 10)
    }

    func testRouterSpreadsConnectionsOverAllThreeNodes() throws {
        try requireRoot("the anycast ECMP test (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        try announceEverywhere(w)
        XCTAssertEqual(try w.nextHops(), AnycastWorld.nodeFabricAddresses)
        // The nodes announce their fulcrum0 addresses and nothing else (not their fabric or
        // backend subnets).
        let birdRoutes = try w.router.run("route", "show", "proto", "bird").split(separator: "\n")
            .filter { !$0.hasPrefix("\t") && !$0.hasPrefix(" ") }.map { String($0.split(separator: " ")[0]) }
        XCTAssertEqual(birdRoutes, [AnycastWorld.vip])

        // The backend segment works: each node reaches each member.
        for node in w.nodes.indices {
            for member in AnycastWorld.memberAddresses {
                XCTAssertEqual(try w.memberGreeting(fromNode: node, member: member),
                               "member \(member) from \(AnycastWorld.nodeBackendAddresses[node])")
            }
        }

        // 300 connections: new ephemeral ports each time, from four source addresses.
        let addresses = [AnycastWorld.clientAddress] + AnycastWorld.extraClientAddresses.prefix(3)
        let greetings = try w.clientExchanges(from: (0..<300).map { addresses[$0 % addresses.count] })
        var perNode: [String: Int] = [:]
        for g in greetings { perNode[g, default: 0] += 1 }
        print("anycast ECMP spread over 300 connections: \(perNode.sorted { $0.key < $1.key })")
        XCTAssertEqual(Set(perNode.keys), ["node 1", "node 2", "node 3"], "\(perNode)")
        for (node, count) in perNode {
            XCTAssertGreaterThanOrEqual(count, 60, "\(node) carried \(count) of 300 connections (< 20 %): \(perNode)")
        }

        // A node without the VIP is no longer a next hop; with it again, it is.
        try w.removeVIP(node: 1)
        try w.waitForNextHops(count: 2, timeout: 5)
        XCTAssertEqual(try w.nextHops(), [AnycastWorld.nodeFabricAddresses[0], AnycastWorld.nodeFabricAddresses[2]])
        try w.addVIP(node: 1)
        try w.waitForNextHops(count: 3, timeout: 5)
    }

    /// Kills node `victim` as a machine dies: off the fabric first (so not even a FIN gets out),
    /// then its BIRD and service. Returns the seconds until the router has two next hops, and
    /// checks that new connections all reach the survivors.
    private func killNode(_ w: AnycastWorld, _ victim: Int, timeout: Double) throws -> Double {
        let start = monotonicNow()
        try w.isolateNode(victim)
        w.killNodeBird(victim)
        w.stopNodeService(victim)
        let seconds = try w.waitForNextHops(count: 2, timeout: timeout, since: start)
        XCTAssertFalse(try w.nextHops().contains(AnycastWorld.nodeFabricAddresses[victim]))
        let greetings = try w.clientExchanges(from: (0..<12).map { AnycastWorld.extraClientAddresses[$0 % 8] })
        XCTAssertFalse(greetings.contains("node \(victim + 1)"), "a connection reached the dead node: \(greetings)")
        return seconds
    }

    /// Brings node `victim` back; returns the seconds until the router has three next hops again.
    private func reviveNode(_ w: AnycastWorld, _ victim: Int) throws -> Double {
        let start = monotonicNow()
        try w.reconnectNode(victim)
        try w.startNodeService(victim)
        try w.startNodeBird(victim)
        return try w.waitForNextHops(count: 3, timeout: 15, since: start)
    }

    private func measureNodeDeaths(bfd: Bool, trials: Int, limit: Double) throws {
        let w = try makeWorld(bfd: bfd)
        try announceEverywhere(w)
        var times: [Double] = []
        var revivals: [Double] = []
        for trial in 0..<trials {
            let victim = trial % w.nodes.count
            times.append(try killNode(w, victim, timeout: limit + 5))
            revivals.append(try reviveNode(w, victim))
        }
        let label = bfd ? "with BFD (100 ms x 3)" : "without BFD (hold time 3 s)"
        print("anycast node death \(label): withdrawn after median \(HATestCase.ms(HATestCase.median(times))), "
              + "max \(HATestCase.ms(times.max()!)) over \(trials) trials: \(times.map { HATestCase.ms($0) }); "
              + "back in the ECMP set after a restart: median \(HATestCase.ms(HATestCase.median(revivals))), "
              + "max \(HATestCase.ms(revivals.max()!))")
        XCTAssertLessThan(times.max()!, limit, "withdrawal times \(label): \(times)")
    }

    func testNodeDeathIsWithdrawnWithinASecondWithBFD() throws {
        try requireRoot("the anycast BFD test (network namespaces, BIRD)")
        try measureNodeDeaths(bfd: true, trials: 10, limit: 1)
    }

    func testNodeDeathIsWithdrawnWithinHoldTimeWithoutBFD() throws {
        try requireRoot("the anycast hold time test (network namespaces, BIRD)")
        try measureNodeDeaths(bfd: false, trials: 3, limit: 5)
    }

    /// A BIRD crash on a live machine needs neither BFD nor the hold time: the node's kernel
    /// closes the session's TCP connection, and the router withdraws the node at once.
    func testBirdCrashIsWithdrawnAtOnceWithoutBFD() throws {
        try requireRoot("the anycast BIRD crash test (network namespaces, BIRD)")
        let w = try makeWorld(bfd: false)
        try announceEverywhere(w)
        var times: [Double] = []
        for victim in w.nodes.indices {
            let start = monotonicNow()
            w.killNodeBird(victim)
            times.append(try w.waitForNextHops(count: 2, timeout: 5, since: start))
            // The node's service is still up but no longer reached.
            let greetings = try w.clientExchanges(from: (0..<12).map { AnycastWorld.extraClientAddresses[$0 % 8] })
            XCTAssertFalse(greetings.contains("node \(victim + 1)"), "\(greetings)")
            try w.startNodeBird(victim)
            try w.waitForNextHops(count: 3, timeout: 15)
        }
        print("anycast BIRD crash (SIGKILL, no BFD): withdrawn after median \(HATestCase.ms(HATestCase.median(times))), "
              + "max \(HATestCase.ms(times.max()!)): \(times.map { HATestCase.ms($0) })")
        XCTAssertLessThan(times.max()!, 1, "\(times)")
    }
}
