// VRRPv3 virtual-IP takeover between two fulcrumd nodes, for real: the world of HASupport.swift
// (bridge, node1 198.18.0.11, node2 198.18.0.12, client .50, member .60, VIP 198.18.0.100/24 on
// :8080), built and removed by each test. Root only. node1 has priority 200, node2 100 unless a
// test says otherwise; advert_interval 100 ms.
//
// "Takeover" is measured from the event (SIGKILL, SIGTERM, link down) to the first new client
// connection through the VIP that reaches the member by way of the new master (a new connection
// attempt every 10 ms; earlier ones stay pending). keepalived is measured the same way in the same
// world (testKeepalivedOnlyTakeoverForComparison) and both are printed side by side.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class HATakeoverTests: HATestCase {
    /// Takeover times (seconds) by implementation, for the side-by-side summary.
    private static let measured = Locked<[String: [Double]]>([:])

    private static func record(_ who: String, _ times: [Double]) {
        measured.withLock { $0[who] = times }
        let all = measured.current
        func line(_ name: String, _ t: [Double]) -> String {
            "\(name): median \(ms(median(t))), max \(ms(t.max() ?? .nan)), min \(ms(t.min() ?? .nan)) over \(t.count) trials"
        }
        var text = "HA takeover after SIGKILL of the master (advert 100 ms, backup priority 100, same world):\n"
        for name in ["fulcrum", "keepalived"] { if let t = all[name] { text += "  " + line(name, t) + "\n" } }
        print(text, terminator: "")
    }

    private var sigkillBound: Double { (Self.masterDownInterval(priority: 100) + 100) / 1000 }

    // MARK: 1

    /// Both start: node1 (priority 200) is MASTER and alone holds the VIP, node2 is BACKUP and
    /// knows node1 as master; the client reaches the member through node1; `show ha`,
    /// `fulcrumctl ha`, the transition log lines and the notify command agree.
    func testBothStartExactlyOneOwnsTheVIPAndTheClientReachesTheMember() throws {
        try requireRoot("the HA start test (network namespaces)")
        let w = try makeWorld()
        let n1 = try makeNode(0, priority: 200), n2 = try makeNode(1, priority: 100)
        for n in [n1, n2] {
            let script = n.dir.filePath("notify.sh")
            // Also the signal mask and ignored set it runs with (grep is its child and inherits
            // both): fulcrumd blocks nearly every signal, and must not pass that on.
            try n.dir.write("notify.sh", """
                #!/bin/sh
                grep -E '^Sig(Blk|Ign):' /proc/self/status > \(n.dir.filePath("notify.signals"))
                echo "$1 $2" >> \(n.dir.filePath("notify.log"))

                """)
            chmod(script, 0o755)
            try writeHA(n, priority: n.index == 0 ? 200 : 100, extra: ["notify = \"\(script)\""])
        }
        try start(n1, n2)
        let converged = try waitConverged(master: n1, backups: [n2], timeout: 5, "at start")
        print("HA start: converged \(Self.ms(converged)) after both were ready")

        XCTAssertTrue(try w.ipAddrShowHasVIP(0), "ip addr show on node1 lacks the VIP")
        XCTAssertFalse(try w.ipAddrShowHasVIP(1), "ip addr show on node2 has the VIP")
        let seen = try sampleHolders(duration: 1.0)
        XCTAssertEqual(Array(seen.keys), [[0]], "VIP holders sampled every 20 ms for 1 s: \(seen)\n\(describe([n1, n2]))")

        XCTAssertEqual(try w.clientExchange(), n1.address, "the client's connection through the VIP went by another node")

        let h1 = try showHA(n1), h2 = try showHA(n2)
        XCTAssertEqual(h1["state"], "MASTER")
        XCTAssertEqual(h1["priority"], "200")
        XCTAssertEqual(h1["effective_priority"], "200")
        XCTAssertEqual(h1["master"], n1.address)
        XCTAssertEqual(h1["virtual_ip"], w.vipCIDR)
        XCTAssertGreaterThan(Int(h1["adverts_sent"] ?? "") ?? 0, 0, "\(h1)")
        XCTAssertEqual(h2["state"], "BACKUP")
        XCTAssertEqual(h2["priority"], "100")
        XCTAssertEqual(h2["master"], n1.address)
        let received = Int(h2["adverts_received"] ?? "") ?? 0
        XCTAssertGreaterThan(received, 0, "\(h2)")
        sleepSeconds(0.5)
        // About 5 adverts in 0.5 s at 100 ms.
        XCTAssertGreaterThanOrEqual(try haInt(n2, "adverts_received") - received, 3, "node2 stopped receiving adverts")
        XCTAssertNotNil(h1["transitions"].flatMap { Int($0) }, "\(h1)")
        XCTAssertFalse((h1["last_transition_reason"] ?? "").isEmpty, "\(h1)")

        // One log line per transition, naming the new state.
        let t1 = haTransitions(n1), t2 = haTransitions(n2)
        XCTAssertTrue(t1.last?.raw.contains("-> MASTER") == true, "node1's last ha line: \(t1.map(\.raw))")
        XCTAssertTrue(t2.last?.raw.contains("-> BACKUP") == true, "node2's last ha line: \(t2.map(\.raw))")
        XCTAssertEqual(t1.count, Int(h1["transitions"] ?? "") ?? -1, "node1: ha log lines vs show ha transitions")

        // fulcrumctl ha prints the same.
        let ctl = try Fulcrumctl.run(["ha", "--socket", n1.socket])
        XCTAssertEqual(ctl.code, 0, ctl.stderr)
        XCTAssertTrue(ctl.stdout.contains("MASTER") && ctl.stdout.contains(w.vip), "fulcrumctl ha: \(ctl.stdout)")

        // Metrics: fulcrum_ha_state is 1 for the current state only.
        for (n, current) in [(n1, "MASTER"), (n2, "BACKUP")] {
            let metrics = try StatusSocketClient(path: n.socket).command("show metrics")
            for state in ["INIT", "BACKUP", "MASTER"] {
                let want = "fulcrum_ha_state{state=\"\(state)\"} \(state == current ? 1 : 0)"
                XCTAssertTrue(metrics.contains(want), "\(n.name): no `\(want)` in show metrics:\n\(metrics.split(separator: "\n").filter { $0.contains("fulcrum_ha_state") }.joined(separator: "\n"))")
            }
        }

        // notify STATE PRIORITY on each transition (not blocking the state machine).
        for (n, want) in [(n1, "MASTER 200"), (n2, "BACKUP 100")] {
            var last = ""
            waitUntil(timeout: 3) {
                last = ((try? String(contentsOfFile: n.dir.filePath("notify.log"), encoding: .utf8)) ?? "")
                    .split(separator: "\n").last.map(String.init) ?? ""
                return last == want
            }
            XCTAssertEqual(last, want, "\(n.name)'s notify command's last call")
            // Signals 32 and 33 are glibc's own (thread cancellation, setxid): its posix_spawn
            // always leaves them ignored in the child, and no program can use them.
            let signals = (try? String(contentsOfFile: n.dir.filePath("notify.signals"), encoding: .utf8)) ?? ""
            let masks = Dictionary(uniqueKeysWithValues: signals.split(separator: "\n").compactMap { line -> (String, UInt64)? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let value = UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
                return (String(parts[0]), value)
            })
            let glibcInternal: UInt64 = (1 << 31) | (1 << 32)
            XCTAssertEqual(masks["SigBlk"], 0, "\(n.name)'s notify command must start with no signal blocked: \(signals)")
            XCTAssertEqual(masks["SigIgn"].map { $0 & ~glibcInternal }, 0,
                           "\(n.name)'s notify command must start with no signal ignored: \(signals)")
        }
    }

    // MARK: 2

    /// SIGKILL the master, 10 times: node2 takes the VIP and a new client connection through it
    /// reaches the member by way of node2, within 3 × advert_interval + Skew_Time + 100 ms.
    /// (A killed fulcrumd cannot remove its VIP, and node1's kernel answers the client with
    /// resets until node2's gratuitous ARP; node1 started again removes that VIP, then preempts.)
    func testSigkillOfTheMasterTakeoverTimes() throws {
        try requireRoot("the HA SIGKILL takeover test (network namespaces)")
        let w = try makeWorld()
        let n1 = try makeNode(0, priority: 200), n2 = try makeNode(1, priority: 100)
        try start(n1, n2)
        var times: [Double] = [], statusLags: [Double] = []
        for trial in 1...10 {
            try waitConverged(master: n1, backups: [n2], timeout: 5, "before trial \(trial)")
            XCTAssertEqual(try w.clientExchange(), n1.address, "trial \(trial): before the kill")
            let victim = try XCTUnwrap(n1.process)
            let transitionsBefore = haTransitions(n2).count
            // A random moment in the advert cycle: otherwise the loop's own rhythm (restart,
            // preempt, converge, kill) phase-locks the kill to just after an advert, which
            // always measures the worst case.
            sleepSeconds(Double.random(in: 0..<(Double(Self.advertInterval) / 1000)))
            let t0 = monotonicNow()
            kill(victim.pid, SIGKILL)
            guard let usable = try w.waitUsable(via: n2.address, timeout: 5) else {
                throw TestFailure("trial \(trial): the VIP was not usable through node2 within 5 s of SIGKILL\n\(describe([n1, n2]))")
            }
            times.append(usable.time - t0)
            statusLags.append(try statusLag(n2, "MASTER", since: usable.time, "trial \(trial)"))
            XCTAssertTrue(try w.vipHolders().contains(1), "trial \(trial): node2 does not hold the VIP")
            let lines = haTransitions(n2).dropFirst(transitionsBefore)
            XCTAssertTrue(lines.contains { $0.raw.contains("-> MASTER") }, "trial \(trial): node2 logged no transition to MASTER: \(lines.map(\.raw))")
            if trial == 1 { print("HA SIGKILL: node2's transition: \(lines.map(\.raw).joined(separator: " | "))") }

            victim.waitExit(timeout: 5)
            try restartAfterKill(n1, "trial \(trial)")
        }
        try waitConverged(master: n1, backups: [n2], timeout: 5, "after the last trial (preempted back)")
        Self.record("fulcrum", times)
        print("HA SIGKILL takeover (fulcrum), each: \(times.map(Self.ms).joined(separator: ", ")); bound \(Self.ms(sigkillBound))")
        print("HA SIGKILL: `show ha` said MASTER \(statusLags.map(Self.ms).joined(separator: ", ")) after the client got through")
        XCTAssertLessThanOrEqual(times.max() ?? .infinity, sigkillBound,
                                 "SIGKILL takeover above 3 × advert_interval + skew + 100 ms: \(times.map(Self.ms))")
    }

    /// The same with an IPv6 VIP (fd00:198:18::100/64; adverts from the link-local address to
    /// ff02::12): one owner at start, and after SIGKILL of the master the client follows node2's
    /// unsolicited neighbour advertisement (3 trials).
    func testIPv6VIPTakeoverAfterSigkill() throws {
        try requireRoot("the HA IPv6 takeover test (network namespaces)")
        let w = try makeWorld()
        w.useIPv6VIP()
        let n1 = try makeNode(0, priority: 200), n2 = try makeNode(1, priority: 100)
        try start(n1, n2)
        let mac2 = try w.mac(of: w.nodes[1])
        var times: [Double] = []
        for trial in 1...3 {
            try waitConverged(master: n1, backups: [n2], timeout: 5, "IPv6, before trial \(trial)")
            if trial == 1 {
                XCTAssertTrue(try w.ipAddrShowHasVIP(0), "ip addr show on node1 lacks the IPv6 VIP")
                XCTAssertEqual(try showHA(n1)["virtual_ip"], w.vipCIDR)
            }
            XCTAssertEqual(try w.clientExchange(), n1.address, "IPv6 trial \(trial): before the kill")
            let victim = try XCTUnwrap(n1.process)
            sleepSeconds(Double.random(in: 0..<(Double(Self.advertInterval) / 1000)))
            let t0 = monotonicNow()
            kill(victim.pid, SIGKILL)
            guard let usable = try w.waitUsable(via: n2.address, timeout: 5) else {
                throw TestFailure("IPv6 trial \(trial): the VIP was not usable through node2 within 5 s of SIGKILL\n\(describe([n1, n2]))")
            }
            times.append(usable.time - t0)
            XCTAssertEqual(try w.clientNeighbour().mac, mac2, "IPv6 trial \(trial): the client's neighbour entry for the VIP")
            try statusLag(n2, "MASTER", since: usable.time, "IPv6 trial \(trial)")
            victim.waitExit(timeout: 5)
            try restartAfterKill(n1, "IPv6 trial \(trial)")
        }
        try waitConverged(master: n1, backups: [n2], timeout: 5, "IPv6, after the last trial (preempted back)")
        print("HA IPv6 SIGKILL takeover (fulcrum): \(times.map(Self.ms).joined(separator: ", ")); bound \(Self.ms(sigkillBound))")
        XCTAssertLessThanOrEqual(times.max() ?? .infinity, sigkillBound, "IPv6 SIGKILL takeover: \(times.map(Self.ms))")
    }

    /// Starts a node again after SIGKILL left its VIP on the interface: the new fulcrumd
    /// removes it as it starts (before its first BACKUP), so for the Master_Down_Interval until
    /// it preempts only the other node holds the VIP.
    private func restartAfterKill(_ node: HATestNode, _ context: String) throws {
        let w = try XCTUnwrap(world)
        XCTAssertTrue(try w.vipHolders().contains(node.index), "\(context): the killed node's VIP should still be there")
        let p = try launch(node)
        try p.waitReady(timeout: 30)
        guard p.waitForLog(timeout: 5, where: { $0.raw.contains("ha: INIT -> BACKUP") }) != nil else {
            throw TestFailure("\(context): restarted \(node.name) logged no INIT -> BACKUP\n\(p.diagnostics)")
        }
        let holders = try w.vipHolders()
        if state(node) != "MASTER" {
            XCTAssertFalse(holders.contains(node.index), "\(context): \(node.name) restarted as BACKUP still holds the VIP a killed run left")
        }
    }

    // MARK: 3

    /// SIGTERM the master (with a client connection open through it): it sends a priority-0
    /// advert and removes its VIP, and node2 takes over within Skew_Time + 50 ms. 3 trials.
    func testSigtermOfTheMasterHandsOverWithinSkewTime() throws {
        try requireRoot("the HA SIGTERM takeover test (network namespaces)")
        let w = try makeWorld()
        let n1 = try makeNode(0, priority: 200), n2 = try makeNode(1, priority: 100)
        try start(n1, n2)
        let bound = (Self.skew(priority: 100) + 50) / 1000
        var times: [Double] = []
        for trial in 1...3 {
            try waitConverged(master: n1, backups: [n2], timeout: 5, "before trial \(trial)")
            let open = try w.clientConnection()
            XCTAssertEqual(open.via, n1.address)
            let victim = try XCTUnwrap(n1.process)
            sleepSeconds(Double.random(in: 0..<(Double(Self.advertInterval) / 1000)))
            let t0 = monotonicNow()
            victim.sendSignal(SIGTERM)
            guard let usable = try w.waitUsable(via: n2.address, timeout: 5) else {
                throw TestFailure("trial \(trial): the VIP was not usable through node2 within 5 s of SIGTERM\n\(describe([n1, n2]))")
            }
            times.append(usable.time - t0)
            open.socket.close()
            guard let status = victim.waitExit(timeout: 15) else { throw TestFailure("node1 did not exit after SIGTERM\n\(victim.diagnostics)") }
            XCTAssertEqual(status, .init(code: 0, signaled: false), "node1's exit after SIGTERM")
            XCTAssertEqual(try w.vipHolders(), [1], "trial \(trial): after node1 exited, the VIP holders")
            try statusLag(n2, "MASTER", since: usable.time, "trial \(trial)")
            if trial == 1 { print("HA SIGTERM: node2's transition: \(haTransitions(n2).last?.raw ?? "none")") }
            try launch(n1)
            try n1.process!.waitReady(timeout: 30)
        }
        try waitConverged(master: n1, backups: [n2], timeout: 5, "after the last trial (preempted back)")
        print("HA SIGTERM takeover (fulcrum): \(times.map(Self.ms).joined(separator: ", ")); bound Skew_Time + 50 ms = \(Self.ms(bound))")
        XCTAssertLessThanOrEqual(times.max() ?? .infinity, bound,
                                 "SIGTERM takeover above Skew_Time + 50 ms (did the master wait for its connections to drain before sending priority 0?): \(times.map(Self.ms))")
    }

    // MARK: 4

    /// The master's link goes down: node2 takes over. Back up: node1 preempts, the client
    /// follows it, and sampled every 20 ms for 2 s after convergence only node1 holds the VIP.
    func testMasterLinkDownThenUpTakeoverAndPreemption() throws {
        try requireRoot("the HA link-down test (network namespaces)")
        let w = try makeWorld()
        let n1 = try makeNode(0, priority: 200), n2 = try makeNode(1, priority: 100)
        try start(n1, n2)
        try waitConverged(master: n1, backups: [n2], timeout: 5, "at start")
        XCTAssertEqual(try w.clientExchange(), n1.address)

        let t0 = monotonicNow()
        try n1.ns.run("link", "set", HAWorld.interface, "down")
        guard let usable = try w.waitUsable(via: n2.address, timeout: 5) else {
            throw TestFailure("the VIP was not usable through node2 within 5 s of node1's link going down\n\(describe([n1, n2]))")
        }
        let takeover = usable.time - t0
        try statusLag(n2, "MASTER", since: usable.time, "link down")
        XCTAssertLessThanOrEqual(takeover, sigkillBound, "link-down takeover")
        sleepSeconds(0.5)
        print("HA link down: takeover \(Self.ms(takeover)); node1 meanwhile: state \(state(n1) ?? "?"), holders \((try? w.vipHolders()) ?? [])")

        let t1 = monotonicNow()
        try n1.ns.run("link", "set", HAWorld.interface, "up")
        let back = try waitConverged(master: n1, backups: [n2], timeout: 5, "after node1's link came back")
        guard let returned = try w.waitUsable(via: n1.address, timeout: 3) else {
            throw TestFailure("the client did not reach the member through node1 within 3 s of convergence (no gratuitous ARP?)\n\(describe([n1, n2]))")
        }
        print("HA link up: converged on node1 after \(Self.ms(back)), client through node1 after \(Self.ms(returned.time - t1))")
        let seen = try sampleHolders(duration: 2.0, interval: 0.02)
        XCTAssertEqual(Array(seen.keys), [[0]], "VIP holders every 20 ms for 2 s after convergence: \(seen)")
        XCTAssertNil(seen[[0, 1]], "both nodes held the VIP at a sampled moment")
        XCTAssertEqual(state(n1), "MASTER")
        XCTAssertEqual(state(n2), "BACKUP")
    }

    // MARK: 5

    /// Adverts dropped between the nodes (nftables, IP protocol 112 only): both become MASTER,
    /// and the client follows node2's gratuitous ARP. Restored: one MASTER (node1), and the
    /// client's neighbour entry for the VIP goes back to node1's MAC.
    func testSplitBrainConvergesAndTheClientFollowsTheWinner() throws {
        try requireRoot("the HA split-brain test (network namespaces, nftables)")
        let w = try makeWorld()
        _ = try NFT.binary()
        let n1 = try makeNode(0, priority: 200), n2 = try makeNode(1, priority: 100)
        try start(n1, n2)
        try waitConverged(master: n1, backups: [n2], timeout: 5, "at start")
        XCTAssertEqual(try w.clientExchange(), n1.address)
        let mac1 = try w.mac(of: w.nodes[0]), mac2 = try w.mac(of: w.nodes[1])
        XCTAssertEqual(try w.clientNeighbour().mac, mac1, "the client's neighbour entry before the partition")

        for ns in w.nodes { try NFT.add(ns, hook: "input", rules: ["ip protocol vrrp drop"]) }
        guard waitUntil(timeout: 3, { state(n1) == "MASTER" && state(n2) == "MASTER" && (try? w.vipHolders()) == [0, 1] }) else {
            throw TestFailure("partitioned: not both MASTER holding the VIP within 3 s\n\(describe([n1, n2]))")
        }
        // node2's gratuitous ARP moves the client.
        var during: String?
        waitUntil(timeout: 2, interval: 0.01) {
            during = try? w.clientNeighbour().mac
            return during == mac2
        }
        XCTAssertEqual(during, mac2, "while partitioned, node2 became MASTER but the client's neighbour entry did not follow (no gratuitous ARP?)")
        let receivedBefore = try haInt(n1, "adverts_received")

        let t0 = monotonicNow()
        for ns in w.nodes { try NFT.flush(ns) }
        let converged = try waitConverged(master: n1, backups: [n2], timeout: 5, "after the partition healed")
        var after: (mac: String?, line: String) = (nil, "")
        let followed = waitUntil(timeout: 3, interval: 0.01) {
            after = (try? w.clientNeighbour()) ?? (nil, "")
            return after.mac == mac1
        }
        print("HA split brain healed: one master after \(Self.ms(converged)), client's neighbour entry on node1 after \(followed ? Self.ms(monotonicNow() - t0) : "never")")
        XCTAssertTrue(followed, "the client's neighbour entry for the VIP still points at \(after.mac ?? "nothing") (\(after.line.trimmingCharacters(in: .whitespacesAndNewlines))), not the winner node1 (\(mac1)); node2 is \(mac2)")
        XCTAssertTrue(waitUntil(timeout: 1) { ((try? haInt(n1, "adverts_received")) ?? 0) > receivedBefore },
                      "node1 counted none of node2's adverts after the partition healed\n\(describe([n1, n2]))")
        XCTAssertEqual(try w.clientExchange(), n1.address, "after the split brain, through the VIP")
        let seen = try sampleHolders(duration: 1.0)
        XCTAssertEqual(Array(seen.keys), [[0]], "VIP holders after convergence: \(seen)")
    }

    // MARK: 6

    /// track_pools: every member of pool web down as seen from node1 (the member's port rejected
    /// in node1's namespace) → node1's effective priority is max(1, 200 − 253) = 1 and node2
    /// takes over; the member back → node1 preempts again.
    func testTrackedPoolDownOnTheMasterMovesTheVIPAndBack() throws {
        try requireRoot("the HA track_pools test (network namespaces, nftables)")
        let w = try makeWorld()
        _ = try NFT.binary()
        let monitor = ["type = \"TCP\"", "delay = 0.2", "timeout = 0.1", "max_retries = 1", "max_retries_down = 1"]
        let n1 = try makeNode(0, priority: 200, ha: ["track_pools = [\"web\"]"], healthMonitor: monitor)
        let n2 = try makeNode(1, priority: 100, ha: ["track_pools = [\"web\"]"], healthMonitor: monitor)
        try start(n1, n2)
        for n in [n1, n2] {
            _ = try n.process!.waitForTransition(pool: "web", member: "m1", after: 0, to: "ONLINE", timeout: 5)
        }
        try waitConverged(master: n1, backups: [n2], timeout: 5, "at start")
        XCTAssertEqual(try haInt(n1, "effective_priority"), 200)
        XCTAssertEqual(try w.clientExchange(), n1.address)

        try NFT.add(n1.ns, hook: "output", rules: ["ip daddr \(HAWorld.memberAddress) tcp dport \(HAWorld.memberPort) reject with tcp reset"])
        let down = try n1.process!.waitForTransition(pool: "web", member: "m1", after: 1, to: "ERROR", timeout: 5)
        let afterDown = monotonicNow()
        try waitConverged(master: n2, backups: [n1], timeout: 5, "with the tracked pool down on node1")
        guard let usable = try w.waitUsable(via: n2.address, timeout: 3) else {
            throw TestFailure("the client did not reach the member through node2\n\(describe([n1, n2]))")
        }
        print("HA track_pools: member down on node1 (\(Self.ms(down.seconds)) to detect), client through node2 \(Self.ms(usable.time - afterDown)) later")
        XCTAssertEqual(try haInt(n1, "effective_priority"), 1, "max(1, 200 - 253)")
        XCTAssertEqual(try haInt(n1, "priority"), 200)
        XCTAssertEqual(try haInt(n2, "effective_priority"), 100)

        try NFT.flush(n1.ns)
        _ = try n1.process!.waitForTransition(pool: "web", member: "m1", after: 2, to: "ONLINE", timeout: 5)
        let afterUp = monotonicNow()
        try waitConverged(master: n1, backups: [n2], timeout: 5, "with the tracked pool back on node1")
        guard let back = try w.waitUsable(via: n1.address, timeout: 3) else {
            throw TestFailure("the client did not reach the member through node1 again\n\(describe([n1, n2]))")
        }
        print("HA track_pools: member back on node1, client through node1 \(Self.ms(back.time - afterUp)) later")
        XCTAssertEqual(try haInt(n1, "effective_priority"), 200)
    }

    // MARK: 7

    /// keepalived (vrrp_version 3, advert_int 0.1) as node2's VRRP speaker, beside a fulcrumd
    /// without [ha] that serves the VIP there. Each side is master in turn: keepalived alone;
    /// fulcrum (200) preempts it and keepalived stays BACKUP; fulcrum stops (priority 0) and
    /// keepalived takes over at once; fulcrum (50) comes back as BACKUP and knows keepalived as
    /// master; keepalived stops and fulcrum takes over at once; keepalived (100) preempts it.
    func testKeepalivedAsThePeerEachSideMasterInTurn() throws {
        try requireRoot("the HA keepalived interoperability test (network namespaces)")
        let w = try makeWorld()
        _ = try Keepalived.binary()
        let n1 = try makeNode(0, priority: 200)
        let server2 = try makeNode(1, priority: nil, withHA: false)
        try start(server2)
        let fastBound = 3 * Double(Self.advertInterval) / 1000  // faster than any Master_Down_Interval

        // a) keepalived alone: MASTER.
        var k2 = try startKeepalived(1, priority: 100)
        try waitHolders([1], timeout: 5, "keepalived alone")
        XCTAssertEqual(try w.clientExchange(), server2.address)

        // b) fulcrum (200) preempts; keepalived understands its adverts and stays BACKUP.
        try start(n1)
        try waitHolders([0], timeout: 5, "fulcrum 200 starting beside keepalived 100")
        try statusLag(n1, "MASTER", since: monotonicNow(), "fulcrum 200 beside keepalived 100")
        let seenB = try sampleHolders(duration: 1.5)
        XCTAssertEqual(Array(seenB.keys), [[0]], "fulcrum master, keepalived backup: holders \(seenB)\nkeepalived:\n\(k2.process.tail())")
        XCTAssertTrue(k2.log.contains("Entering BACKUP STATE"), "keepalived never went BACKUP:\n\(k2.process.tail())")
        XCTAssertEqual(try w.clientExchange(), n1.address)

        // c) fulcrum stops: its priority-0 advert makes keepalived take over before any timeout.
        var t0 = monotonicNow()
        n1.process!.sendSignal(SIGTERM)
        guard let c = try w.waitUsable(via: server2.address, timeout: 3) else {
            throw TestFailure("keepalived did not take over after fulcrum's SIGTERM\n\(k2.process.tail())")
        }
        print("HA interop: fulcrum SIGTERM → keepalived usable after \(Self.ms(c.time - t0))")
        XCTAssertLessThan(c.time - t0, fastBound, "keepalived took over only after a timeout: did it understand the priority-0 advert?")
        XCTAssertNotNil(n1.process!.waitExit(timeout: 15))
        XCTAssertEqual(try w.vipHolders(), [1])

        // d) fulcrum (50) back: BACKUP under keepalived, which stays MASTER.
        try writeHA(n1, priority: 50)
        try start(n1)
        guard waitUntil(timeout: 3, { state(n1) == "BACKUP" && (try? showHA(n1))?["master"] == server2.address }) else {
            throw TestFailure("fulcrum (50) did not settle as BACKUP under keepalived\n\(describe([n1]))\nkeepalived:\n\(k2.process.tail())")
        }
        let received = try haInt(n1, "adverts_received")
        let seenD = try sampleHolders(duration: 1.5)
        XCTAssertEqual(Array(seenD.keys), [[1]], "keepalived master, fulcrum backup: holders \(seenD)")
        XCTAssertGreaterThanOrEqual(try haInt(n1, "adverts_received") - received, 10, "fulcrum counts keepalived's adverts")
        let hd = try showHA(n1)
        let discarded = hd.filter { $0.key.hasPrefix("discarded_") && $0.value != "0" }
        XCTAssertEqual(discarded, [:], "fulcrum discarded keepalived's adverts")
        XCTAssertEqual(hd["state"], "BACKUP")
        XCTAssertEqual(try w.clientExchange(), server2.address)

        // e) keepalived stops (priority 0): fulcrum takes over before any timeout.
        t0 = monotonicNow()
        k2.process.signal(SIGTERM)  // keepalived itself takes about a second to exit
        guard let e = try w.waitUsable(via: n1.address, timeout: 3) else {
            throw TestFailure("fulcrum did not take over after keepalived stopped\n\(describe([n1]))\n\(k2.process.tail())")
        }
        print("HA interop: keepalived SIGTERM → fulcrum usable after \(Self.ms(e.time - t0)) (\(haTransitions(n1).last?.raw ?? ""))")
        XCTAssertLessThan(e.time - t0, fastBound, "fulcrum took over only after a timeout: did it understand keepalived's priority-0 advert?")
        try statusLag(n1, "MASTER", since: e.time, "after keepalived stopped")
        k2.stop()
        try waitHolders([0], timeout: 2, "after keepalived stopped")

        // f) keepalived (100) preempts fulcrum (50).
        k2 = try startKeepalived(1, priority: 100)
        try waitHolders([1], timeout: 5, "keepalived 100 preempting fulcrum 50")
        guard waitUntil(timeout: 2, { state(n1) == "BACKUP" }) else { throw TestFailure("fulcrum not BACKUP\n\(describe([n1]))") }
        XCTAssertEqual(try w.clientExchange(), server2.address)
        let seenF = try sampleHolders(duration: 1.0)
        XCTAssertEqual(Array(seenF.keys), [[1]], "after keepalived preempted: holders \(seenF)")
    }

    /// With unicast_peers set, a well-formed priority-254 advert for the same VRID from a third
    /// address on the segment (198.18.0.99, sent from the client's namespace by unicast to both
    /// nodes and to 224.0.0.18) changes nothing, and each node counts it as discarded_not_a_peer.
    func testSpoofedAdvertFromANonPeerChangesNothing() throws {
        try requireRoot("the HA spoofed-advert test (network namespaces, raw socket)")
        let w = try makeWorld()
        // The packet builder matches keepalived's own bytes (checksum over the pseudo-header).
        let reference = try VRRPv3.advert(vrid: 42, priority: 200, intervalCentiseconds: 10, addresses: ["198.18.0.100"],
                                          source: "198.18.0.11", destination: "224.0.0.18")
        XCTAssertEqual(reference.map { String(format: "%02x", $0) }.joined(), VRRPv3.keepalivedPrio200)

        let n1 = try makeNode(0, priority: 200, ha: ["unicast_peers = [\"\(HAWorld.nodeAddresses[1])\"]"])
        let n2 = try makeNode(1, priority: 100, ha: ["unicast_peers = [\"\(HAWorld.nodeAddresses[0])\"]"])
        try start(n1, n2)
        try waitConverged(master: n1, backups: [n2], timeout: 5, "at start (unicast)")
        XCTAssertEqual(try w.clientExchange(), n1.address)
        try w.client.run("addr", "add", "198.18.0.99/24", "dev", HAWorld.interface)
        try w.client.run("route", "add", "224.0.0.0/4", "dev", HAWorld.interface)

        let before = (try showHA(n1), try showHA(n2))
        let rounds = 10
        try inNetns(w.client.name) {
            try VRRPv3.send(vrid: UInt8(Self.vrid), priority: 254, addresses: [w.vip], source: "198.18.0.99",
                            destinations: HAWorld.nodeAddresses + ["224.0.0.18"], count: rounds, interval: 0.02)
        }
        let seen = try sampleHolders(duration: 1.0)
        let after = (try showHA(n1), try showHA(n2))
        XCTAssertEqual(Array(seen.keys), [[0]], "VIP holders after the spoofed adverts: \(seen)")
        XCTAssertEqual(after.0["state"], "MASTER")
        XCTAssertEqual(after.1["state"], "BACKUP")
        XCTAssertEqual(after.1["master"], n1.address, "node2's idea of the master")
        XCTAssertEqual(after.0["transitions"], before.0["transitions"], "node1 changed state")
        XCTAssertEqual(after.1["transitions"], before.1["transitions"], "node2 changed state")
        for (name, b, a) in [("node1", before.0, after.0), ("node2", before.1, after.1)] {
            let grew = (Int(a["discarded_not_a_peer"] ?? "") ?? 0) - (Int(b["discarded_not_a_peer"] ?? "") ?? 0)
            XCTAssertGreaterThanOrEqual(grew, rounds, "\(name): discarded_not_a_peer grew by \(grew) for \(rounds) unicast spoofs\nbefore \(b)\nafter \(a)")
        }
        XCTAssertEqual(try w.clientExchange(), n1.address, "after the spoofed adverts")
    }

    // MARK: 8

    /// keepalived alone on both nodes (200 and 100, vrrp_version 3, advert_int 0.1), with a
    /// fulcrumd without [ha] serving the VIP on each: SIGKILL the master's keepalived (VRRP
    /// child, then parent), 10 trials, measured like Fulcrum's. Printed, not asserted.
    func testKeepalivedOnlyTakeoverForComparison() throws {
        try requireRoot("the keepalived takeover measure (network namespaces)")
        let w = try makeWorld()
        _ = try Keepalived.binary()
        let s1 = try makeNode(0, priority: nil, withHA: false), s2 = try makeNode(1, priority: nil, withHA: false)
        try start(s1, s2)
        var k1 = try startKeepalived(0, priority: 200)
        let k2 = try startKeepalived(1, priority: 100)
        var times: [Double] = []
        for trial in 1...10 {
            try waitHolders([0], timeout: 5, "keepalived, before trial \(trial)")
            XCTAssertEqual(try w.clientExchange(), s1.address, "trial \(trial): before the kill")
            guard k1.vrrpChildPid() != nil else { throw TestFailure("keepalived wrote no VRRP pid file:\n\(k1.process.tail())") }
            sleepSeconds(Double.random(in: 0..<(Double(Self.advertInterval) / 1000)))
            let t0 = monotonicNow()
            k1.crash()
            guard let usable = try w.waitUsable(via: s2.address, timeout: 5) else {
                throw TestFailure("trial \(trial): keepalived node2 did not take over within 5 s\n\(k2.process.tail())")
            }
            times.append(usable.time - t0)
            k1.process.waitExit(timeout: 5)
            _ = try? w.nodes[0].run("addr", "del", w.vipCIDR, "dev", HAWorld.interface)
            k1 = try startKeepalived(0, priority: 200)
        }
        print("HA SIGKILL takeover (keepalived), each: \(times.map(Self.ms).joined(separator: ", "))")
        Self.record("keepalived", times)
    }
}
