// Active-active anycast end to end: fulcrumd on three nodes puts the VIP on fulcrum0 through
// [anycast], each node's BIRD exports it to the router (AnycastSupport.swift), and the
// router's kernel spreads client connections over the nodes (ECMP, L4 hash). Root only.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class AnycastTests: AnycastTestCase {
    /// Starts fulcrumd on every node and waits until the router has all three next hops.
    private func startAllNodes(_ w: AnycastWorld, _ options: AnycastNodeOptions = AnycastNodeOptions())
        throws -> [(process: FulcrumProcess, dir: ConfigDir)] {
        let nodes = try w.nodes.indices.map { try startAnycastNode(w, $0, options) }
        try w.waitForNextHops(count: 3, timeout: 15)
        return nodes
    }

    func testThreeNodesAnnounceTheVIPAndShareConnections() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        let nodes = try startAllNodes(w)
        XCTAssertEqual(try w.nextHops(), AnycastWorld.nodeFabricAddresses)
        // What BIRD exports is what fulcrumd put on fulcrum0: the VIP, nothing else.
        let learned = try w.router.run("route", "show", "proto", "bird").split(separator: "\n")
            .filter { !$0.hasPrefix("\t") && !$0.hasPrefix(" ") }.map { String($0.split(separator: " ")[0]) }
        XCTAssertEqual(learned, [AnycastWorld.vip])
        for (index, node) in nodes.enumerated() {
            XCTAssertNotNil(node.process.logLines.first { $0.message.hasPrefix("anycast: created interface fulcrum0 (") },
                            "fulcrumd made fulcrum0 itself\n\(node.process.diagnostics)")
            XCTAssertNotNil(node.process.waitForLog(timeout: 1) { $0.message.hasPrefix("anycast announce \(AnycastWorld.vip): pool web: 3 of 3 members up") },
                            "node \(index + 1)\n\(node.process.diagnostics)")
            let shown = try statusCommand(node.dir, "show anycast")
            XCTAssertTrue(shown.contains("interface fulcrum0 (bridge)") || shown.contains("interface fulcrum0 (dummy)"), shown)
            let row = shown.split(separator: "\n").first { $0.hasPrefix(AnycastWorld.vip) } ?? ""
            XCTAssertTrue(row.contains(" yes ") && row.contains("pool web: 3 of 3 members up"), shown)
            let metrics = try statusCommand(node.dir, "show metrics")
            XCTAssertTrue(metrics.contains("fulcrum_anycast_vip_announced{vip=\"\(AnycastWorld.vip)\"} 1"), metrics)
        }

        // 300 connections, new source ports each time, from four client addresses.
        let sources = [AnycastWorld.clientAddress] + AnycastWorld.extraClientAddresses.prefix(3)
        let greetings = try w.clientExchanges(from: (0..<300).map { sources[$0 % sources.count] })
        var perNode = [0, 0, 0]
        for greeting in greetings {
            guard let node = AnycastWorld.node(of: greeting) else { return XCTFail("greeting \(greeting)") }
            perNode[node] += 1
        }
        print("anycast: 300 connections through fulcrumd on three nodes: \(perNode)")
        for (node, count) in perNode.enumerated() {
            XCTAssertGreaterThanOrEqual(count, 60, "node \(node + 1) carried \(count) of 300 (< 20 %): \(perNode)")
        }
        // And fulcrumd counted them: the per-node totals are what the clients saw.
        for (index, node) in nodes.enumerated() {
            let rows = try StatRows(try statusCommand(node.dir, "show stat"))
            XCTAssertEqual(rows.rows["web/FRONTEND"]?["stot"], "\(perNode[index])", "node \(index + 1)")
        }
    }

    /// Node death: the node falls off the fabric (so not even its BGP session's FIN gets out)
    /// and its fulcrumd and BIRD are SIGKILLed. Returns the seconds until the router drops it,
    /// after checking new connections reach the survivors; then brings the node back.
    private func killNode(_ w: AnycastWorld, _ victim: Int, _ running: inout [(process: FulcrumProcess, dir: ConfigDir)])
        throws -> Double {
        let start = monotonicNow()
        try w.isolateNode(victim)
        running[victim].process.sendSignal(SIGKILL)
        w.killNodeBird(victim)
        let seconds = try w.waitForNextHops(count: 2, timeout: 8, since: start)
        XCTAssertFalse(try w.nextHops().contains(AnycastWorld.nodeFabricAddresses[victim]))
        for greeting in try w.clientExchanges(from: Array(repeating: nil, count: 12)) {
            XCTAssertNotEqual(AnycastWorld.node(of: greeting), victim, "a new connection reached the dead node")
        }
        _ = running[victim].process.waitExit(timeout: 5)
        // Back: its BIRD and a new fulcrumd, which takes off the VIP the killed one left and
        // announces again after hold_down.
        try w.reconnectNode(victim)
        try w.startNodeBird(victim)
        running[victim] = try startAnycastNode(w, victim, dir: running[victim].dir)
        XCTAssertNotNil(running[victim].process.waitForLog(timeout: 5) { $0.message.contains("left there by an earlier run") },
                        "the restarted node found the killed one's VIP\n\(running[victim].process.diagnostics)")
        try w.waitForNextHops(count: 3, timeout: 15)
        return seconds
    }

    func testNodeDeathIsNoticedWithinASecondWithBFD() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        var running = try startAllNodes(w)
        var times: [Double] = []
        for trial in 0..<10 { times.append(try killNode(w, trial % 3, &running)) }
        let (median, max) = medianAndMax(times)
        print(String(format: "anycast node death with BFD (100 ms x 3), 10 trials: median %.3f s, max %.3f s; all: %@",
                     median, max, times.map { String(format: "%.3f", $0) }.joined(separator: " ")))
        XCTAssertLessThan(max, 1.0, "\(times)")
    }

    func testNodeDeathWithoutBFDWaitsForTheHoldTime() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: false)
        var running = try startAllNodes(w)
        var times: [Double] = []
        for trial in 0..<3 { times.append(try killNode(w, trial, &running)) }
        let (median, max) = medianAndMax(times)
        print(String(format: "anycast node death without BFD (hold time 3 s), 3 trials: median %.3f s, max %.3f s",
                     median, max))
        XCTAssertLessThan(max, 5.0, "\(times)")
        XCTAssertGreaterThan(median, 1.0, "without BFD, only the hold time can notice a silent node: \(times)")
    }

    /// fulcrumd dies alone (SIGKILL) while the node and its BIRD live on: the VIP's kernel
    /// lifetime runs out, the address goes, and BIRD withdraws it, without anyone cleaning up.
    /// Then another node's BIRD dies alone (its fulcrumd lives on).
    func testAKilledFulcrumdIsWithdrawnByTheAddressLifetime() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        let running = try startAllNodes(w)
        let start = monotonicNow()
        running[0].process.sendSignal(SIGKILL)
        let seconds = try w.waitForNextHops(count: 2, timeout: 10, since: start)
        print(String(format: "anycast: fulcrumd SIGKILLed alone, next hop dropped after %.2f s (4 s address lifetime)", seconds))
        XCTAssertGreaterThan(seconds, 2.0, "gone before its lifetime: something else withdrew it")
        XCTAssertLessThan(seconds, 7.0)
        XCTAssertEqual(try w.nextHops(), Array(AnycastWorld.nodeFabricAddresses[1...]))

        // BIRD dying on a live node is quicker still: its kernel closes the BGP session.
        let birdStart = monotonicNow()
        w.killNodeBird(1)
        let birdSeconds = try w.waitForNextHops(count: 1, timeout: 2, since: birdStart)
        print(String(format: "anycast: BIRD SIGKILLed on a live node, next hop dropped after %.3f s", birdSeconds))
        XCTAssertLessThan(birdSeconds, 1.0)
        XCTAssertEqual(try w.nextHops(), [AnycastWorld.nodeFabricAddresses[2]])
    }

    /// A node whose pool goes down withdraws after hold_down, and comes back after hold_down;
    /// a member that fails every other check does not move the route at all.
    func testPoolHealthWithHoldDownAndNoFlapping() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        let health = try inNetns(w.member.name) { try HealthHTTPServer(host: AnycastWorld.memberAddresses[0]) }
        keep(health)
        var options = AnycastNodeOptions()
        options.holdDownMs = 1500
        options.members = [AnycastWorld.memberAddresses[0]]
        options.monitor = (AnycastWorld.memberAddresses[0], health.port)
        let node = try startAnycastNode(w, 0, options).process
        try w.waitForNextHops(count: 1, timeout: 15)

        // Down: the withdrawal comes hold_down after the member went down, not before.
        try health.refuse()
        _ = try node.waitForTransition(pool: "web", member: "m60", after: 1, to: "ERROR", timeout: 5)
        try w.waitForNextHops(count: 0, timeout: 5)
        let down = try XCTUnwrap(node.transitions(pool: "web", member: "m60").last)
        let withdrawn = try XCTUnwrap(node.logLines.last { $0.message.hasPrefix("anycast withdraw \(AnycastWorld.vip)") })
        XCTAssertTrue(withdrawn.message.contains("pool web: 0 of 1 member up (held 1500 ms)"), withdrawn.raw)
        let downGap = try XCTUnwrap(logMilliseconds(withdrawn)) - (try XCTUnwrap(logMilliseconds(down)))
        XCTAssertGreaterThanOrEqual(downGap, 1400, "withdrawn \(downGap) ms after the member went down")
        XCTAssertLessThan(downGap, 2500)

        // Up again: announced hold_down after the member is back.
        try health.listenAgain()
        _ = try node.waitForTransition(pool: "web", member: "m60", after: 2, to: "ONLINE", timeout: 5)
        try w.waitForNextHops(count: 1, timeout: 5)
        let up = try XCTUnwrap(node.transitions(pool: "web", member: "m60").last)
        let announced = try XCTUnwrap(node.logLines.last { $0.message.hasPrefix("anycast announce \(AnycastWorld.vip)") })
        let upGap = try XCTUnwrap(logMilliseconds(announced)) - (try XCTUnwrap(logMilliseconds(up)))
        XCTAssertGreaterThanOrEqual(upGap, 1400, "announced \(upGap) ms after the member came back")

        // Flapping: every check gets the other answer (200, 500, 200, …) for 5 s.
        let transitionsBefore = node.transitions(pool: "web", member: "m60").count
        let withdrawalsBefore = node.logLines.filter { $0.message.hasPrefix("anycast withdraw") }.count
        let stop = Locked(false)
        let flipper = Thread {
            while !stop.current {
                health.setStatus(health.requestCount % 2 == 0 ? 200 : 500)
                usleep(2_000)
            }
            health.setStatus(200)
        }
        flipper.start()
        let end = monotonicNow() + 5
        var missing = 0
        while monotonicNow() < end {
            if try w.nextHops().count != 1 { missing += 1 }
            usleep(50_000)
        }
        stop.withLock { $0 = true }
        let flips = node.transitions(pool: "web", member: "m60").count - transitionsBefore
        XCTAssertGreaterThanOrEqual(flips, 8, "the member did not flap (\(flips) transitions in 5 s)\n\(node.diagnostics)")
        XCTAssertEqual(missing, 0, "the route was missing in \(missing) looks while the member flapped")
        XCTAssertEqual(node.logLines.filter { $0.message.hasPrefix("anycast withdraw") }.count, withdrawalsBefore,
                       "\(node.diagnostics)")
        print("anycast: a member flapping \(flips) times in 5 s with hold_down 1500 ms: 0 withdrawals, route present in every look")
    }

    /// SIGTERM: the route goes first; an open connection that still reaches the node is served
    /// to its end (a route pinned on the router stands in for a router that keeps established
    /// flows where they are); one the ECMP change moves to another node breaks; the node exits
    /// when its last connection closes.
    func testSIGTERMWithdrawsFirstThenDrains() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        var options = AnycastNodeOptions()
        options.withdrawGraceMs = 1500
        // The half of a moved connection left on node 1 hears nothing more (its client's
        // packets go elsewhere): it ends by timeout_client_data, short here.
        options.timeoutClientDataMs = 2000
        let nodes = try startAllNodes(w, options)
        // Connections from .58 are routed to node 1 whatever the ECMP route says.
        let pinned = AnycastWorld.extraClientAddresses.last!
        try w.router.run("rule", "add", "from", pinned, "lookup", "100", "priority", "100")
        try w.router.run("route", "add", "\(AnycastWorld.vip)/32", "via", AnycastWorld.nodeFabricAddresses[0], "table", "100")
        let kept = try w.openConnection(from: pinned)
        defer { kept.socket.close() }
        XCTAssertEqual(AnycastWorld.node(of: kept.greeting), 0, kept.greeting)
        // An ordinary connection that ECMP gave to node 1.
        var moved: TCPSocket?
        for _ in 0..<60 where moved == nil {
            let c = try w.openConnection(from: AnycastWorld.clientAddress)
            if AnycastWorld.node(of: c.greeting) == 0 { moved = c.socket } else { c.socket.close() }
        }
        let movedSocket = try XCTUnwrap(moved, "no ECMP connection landed on node 1 in 60 tries")
        defer { movedSocket.close() }
        func echo(_ socket: TCPSocket, _ text: String) throws -> String {
            try inNetns(w.client.name) {
                try socket.send(text + "\n")
                return try HAWorld.readLine(socket)
            }
        }
        XCTAssertEqual(try echo(movedSocket, "alive"), "alive", "the ECMP connection works before the withdrawal")

        let start = monotonicNow()
        nodes[0].process.sendSignal(SIGTERM)
        let withdrawal = try w.waitForNextHops(count: 2, timeout: 3, since: start)
        print(String(format: "anycast: SIGTERM to route withdrawn at the router: %.3f s", withdrawal))
        XCTAssertLessThan(withdrawal, 1.0)
        // The ECMP connection now lands on a node that never saw it: reset.
        XCTAssertThrowsError(try echo(movedSocket, "moved"), "a connection ECMP moved to another node cannot continue there")
        // New connections go to the other nodes...
        for greeting in try w.clientExchanges(from: Array(repeating: AnycastWorld.clientAddress, count: 10)) {
            XCTAssertNotEqual(AnycastWorld.node(of: greeting), 0, greeting)
        }
        // ...while the kept connection is served through withdraw_grace and the drain after it.
        for round in 0..<4 {
            XCTAssertEqual(try echo(kept.socket, "still here \(round)"), "still here \(round)")
            usleep(700_000)
        }
        XCTAssertNil(nodes[0].process.waitExit(timeout: 0.5), "exited with a connection still open")

        // The order in the log: withdraw, (grace), stop accepting; then the exit when the kept
        // connection ends.
        let lines = nodes[0].process.logLines.map(\.message)
        let withdrawAt = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("anycast withdraw \(AnycastWorld.vip): shutting down") })
        let graceAt = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("anycast: VIPs withdrawn; still accepting") })
        let closedAt = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("no longer accepting") })
        XCTAssertTrue(withdrawAt < graceAt && graceAt < closedAt, "\(lines)")
        kept.socket.close()
        let exit = try XCTUnwrap(nodes[0].process.waitExit(timeout: 5), "still running after its last connection closed")
        XCTAssertTrue(exit.isSuccess, "\(exit)")
        XCTAssertEqual(try w.nodes[0].run("route", "show", "table", "local", AnycastWorld.vip), "",
                       "the local route goes with the process")
    }

    /// A second SIGTERM during withdraw_grace does what it does during the drain: closes
    /// everything at once, instead of starting shutdown_grace.
    func testASecondSIGTERMDuringWithdrawGraceClosesAtOnce() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        var options = AnycastNodeOptions()
        options.withdrawGraceMs = 30_000
        options.shutdownGraceMs = 60_000
        let node = try startAnycastNode(w, 0, options).process
        try w.waitForNextHops(count: 1, timeout: 15)
        let open = try w.openConnection(from: nil)
        defer { open.socket.close() }
        XCTAssertEqual(AnycastWorld.node(of: open.greeting), 0)
        node.sendSignal(SIGTERM)
        try w.waitForNextHops(count: 0, timeout: 3)
        XCTAssertNotNil(node.waitForLog(timeout: 3) { $0.message.hasPrefix("anycast: VIPs withdrawn; still accepting") })
        let second = monotonicNow()
        node.sendSignal(SIGTERM)
        let exit = try XCTUnwrap(node.waitExit(timeout: 5), "still running 5 s after the second SIGTERM\n\(node.diagnostics)")
        XCTAssertTrue(exit.isSuccess, "\(exit)")
        XCTAssertLessThan(monotonicNow() - second, 3)
        let messages = node.logLines.map(\.message)
        XCTAssertTrue(messages.contains { $0.hasPrefix("second signal: not waiting for withdraw_grace") }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.hasPrefix("closing open connections") }, "\(messages)")
        XCTAssertFalse(messages.contains { $0.hasPrefix("no longer accepting") }, "the drain was skipped: \(messages)")
    }

    /// SOURCE_IP: whichever node a client reaches, Maglev over the same members picks the same
    /// member. Each node in turn is made the only path (the others withdrawn by the operator).
    func testSourceIPPicksTheSameMemberThroughEveryNode() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        var options = AnycastNodeOptions()
        options.algorithm = "SOURCE_IP"
        let nodes = try startAllNodes(w, options)
        let clients = [AnycastWorld.clientAddress] + AnycastWorld.extraClientAddresses
        var chosen: [[String]] = []
        for only in w.nodes.indices {
            for other in w.nodes.indices where other != only {
                let reply = try statusCommand(nodes[other].dir, "anycast withdraw")
                XCTAssertTrue(reply.contains("not announced (was"), reply)
            }
            try w.waitForNextHops(count: 1, timeout: 5)
            XCTAssertEqual(try w.nextHops(), [AnycastWorld.nodeFabricAddresses[only]])
            let greetings = try w.clientExchanges(from: clients)
            XCTAssertEqual(Set(greetings.compactMap(AnycastWorld.node(of:))), [only], "\(greetings)")
            chosen.append(greetings.map { AnycastWorld.member(of: $0) ?? "?" })
            for other in w.nodes.indices where other != only {
                _ = try statusCommand(nodes[other].dir, "anycast announce")
            }
            try w.waitForNextHops(count: 3, timeout: 5)
        }
        print("anycast SOURCE_IP: member per client address through nodes 1, 2, 3: \(chosen)")
        XCTAssertEqual(chosen[0], chosen[1], "node 1 and node 2 chose differently")
        XCTAssertEqual(chosen[0], chosen[2], "node 1 and node 3 chose differently")
        XCTAssertGreaterThanOrEqual(Set(chosen[0]).count, 2, "every client got one member: the check proves little")
        let log = nodes[0].process.logLines.map(\.message)
        XCTAssertTrue(log.contains { $0.hasPrefix("anycast withdraw \(AnycastWorld.vip): withdrawn by operator") }, "\(log)")
    }

    /// A reload adds a VIP (with its listener) and the router learns it after hold_down while
    /// the first VIP's route stays; a later reload removes the first VIP: route and local
    /// route go, the new one stays. A new interface is refused, as it needs a restart.
    func testAReloadAddsAndRemovesVIPs() throws {
        try requireRoot("the anycast tests (network namespaces, BIRD)")
        let w = try makeWorld(bfd: true)
        let options = AnycastNodeOptions()
        let (node, dir) = try startAnycastNode(w, 0, options)
        try w.waitForNextHops(count: 1, timeout: 15)
        let vip2 = "10.203.0.101"
        let base = anycastConfig(dir, options)
        let both = base.replacingOccurrences(of: "virtual_ips = [\"\(AnycastWorld.vip)\"]",
                                             with: "virtual_ips = [\"\(AnycastWorld.vip)\", \"\(vip2)\"]")
        XCTAssertNotEqual(both, base)
        let listener2 = """

            [listener.web2]
            address = "\(vip2)"
            protocol_port = \(AnycastWorld.servicePort)
            default_pool = "web"

            """
        try dir.write("fulcrum.toml", both + listener2)
        var reply = try statusCommand(dir, "reload")
        XCTAssertTrue(reply.contains("anycast.virtual_ips: +\(vip2)"), reply)
        let added = try w.waitForNextHops(vip2, count: 1, timeout: 10)
        XCTAssertGreaterThanOrEqual(added, Double(options.holdDownMs) / 1000 - 0.15, "announced before hold_down")
        XCTAssertEqual(try w.nextHops(for: vip2), [AnycastWorld.nodeFabricAddresses[0]])
        XCTAssertEqual(AnycastWorld.node(of: try w.clientExchange(to: vip2)), 0)
        XCTAssertEqual(try w.nextHops(), [AnycastWorld.nodeFabricAddresses[0]], "the first VIP's route stayed")
        XCTAssertFalse(node.logLines.contains { $0.message.hasPrefix("anycast withdraw \(AnycastWorld.vip)") },
                       "\(node.diagnostics)")
        var shown = try statusCommand(dir, "show anycast")
        XCTAssertTrue(shown.split(separator: "\n").contains { $0.hasPrefix(vip2) && $0.contains(" yes ") }, shown)

        // The first VIP leaves the list (its listener stays, which --check-config warns of).
        let onlySecond = (base + listener2).replacingOccurrences(of: "virtual_ips = [\"\(AnycastWorld.vip)\"]",
                                                                 with: "virtual_ips = [\"\(vip2)\"]")
        try dir.write("fulcrum.toml", onlySecond)
        reply = try statusCommand(dir, "reload")
        XCTAssertTrue(reply.contains("anycast.virtual_ips: -\(AnycastWorld.vip)"), reply)
        try w.waitForNextHops(count: 0, timeout: 5)
        XCTAssertEqual(try w.nextHops(for: vip2), [AnycastWorld.nodeFabricAddresses[0]])
        let localRoutes = try w.nodes[0].run("route", "show", "table", "local", "dev", "lo")
        XCTAssertFalse(localRoutes.contains(AnycastWorld.vip + " "), localRoutes)
        XCTAssertTrue(localRoutes.contains(vip2 + " "), localRoutes)
        XCTAssertNotNil(node.logLines.first { $0.message.hasPrefix("anycast withdraw \(AnycastWorld.vip): removed from [anycast] virtual_ips by a reload") },
                        "\(node.diagnostics)")
        shown = try statusCommand(dir, "show anycast")
        XCTAssertFalse(shown.contains(AnycastWorld.vip), shown)

        // Another interface: refused, nothing changes.
        try dir.write("fulcrum.toml", onlySecond.replacingOccurrences(of: "[anycast]\n", with: "[anycast]\ninterface = \"fulcrum1\"\n"))
        reply = try statusCommand(dir, "reload")
        XCTAssertTrue(reply.contains("anycast.interface: \"fulcrum0\" -> \"fulcrum1\" needs a restart"), reply)
        XCTAssertEqual(try w.nextHops(for: vip2), [AnycastWorld.nodeFabricAddresses[0]])
    }

    /// The BIRD example shipped with the package parses with the BIRD the tests run.
    func testTheShippedBirdExampleParses() throws {
        try requireRoot("the anycast tests (BIRD)")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = root.appendingPathComponent("examples/bird.conf").path
        XCTAssertNoThrow(try runCommand([try Bird.binary("bird"), "-p", "-c", example]))
    }
}
