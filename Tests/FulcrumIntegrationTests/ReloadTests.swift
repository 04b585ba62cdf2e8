// Live reload (SIGHUP, the status socket's `reload`, `fulcrumctl reload`) and systemd
// notification: reloads under TCP and UDP traffic lose nothing through unchanged listeners,
// a removed member's open connection finishes while new ones avoid it, broken drop-ins are
// refused whole with every problem named, health and run-time state carry over, memory stays
// flat over 1,000 reloads, and NOTIFY_SOCKET sees READY / RELOADING / STOPPING.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ReloadTests: UDPTestCase {
    // MARK: Helpers

    /// Reloads through the socket and throws unless the reply is a success (later steps would
    /// only repeat the failure).
    @discardableResult
    private func expectReload(_ control: StatusSocketClient, _ daemon: FulcrumProcess, _ context: String) throws -> ReloadReply {
        let reply: ReloadReply
        do {
            reply = try socketReload(control)
        } catch {
            throw TestFailure("reload \(context): \(error)\n\(daemon.diagnostics)")
        }
        guard reply.succeeded else {
            throw TestFailure("reload \(context): expected a reply starting with 'reloaded in ', got:\n\(reply)\n\(daemon.diagnostics)")
        }
        return reply
    }

    /// Reloads through the socket and throws unless the reply is a refusal.
    private func expectRefusal(_ control: StatusSocketClient, _ daemon: FulcrumProcess, _ context: String) throws -> ReloadReply {
        let reply: ReloadReply
        do {
            reply = try socketReload(control)
        } catch {
            throw TestFailure("reload \(context): \(error)\n\(daemon.diagnostics)")
        }
        guard reply.refused else {
            throw TestFailure("reload \(context): expected 'error: reload refused, nothing changed: N problems' and only 'error: ' lines, got:\n\(reply)\n\(daemon.diagnostics)")
        }
        XCTAssertEqual(reply.problemCount, reply.problems.count,
                       "reload \(context): the first line's count of problems and the problem lines:\n\(reply)")
        XCTAssertGreaterThan(reply.problems.count, 0, "reload \(context): at least one problem line:\n\(reply)")
        return reply
    }

    /// One echo round trip through `port`, from a fresh connection.
    private func echoOnce(_ port: UInt16, _ text: String) throws {
        let socket = try connect(port: port, timeout: 5, ioTimeout: 5)
        defer { socket.close() }
        try socket.exchange(text)
    }

    private func showStat(_ control: StatusSocketClient) throws -> StatRows {
        try StatRows(try control.command("show stat"))
    }

    // MARK: 1. Reloads under traffic

    /// Two valid configurations, A and B, alternate over 100 reloads (SIGHUP and the socket
    /// taking turns in pairs, so each trigger applies both A→B and B→A):
    /// - A: listener web → pool web {a w1, b w1}; listener steady → pool steady {s};
    ///      UDP listener udp → pool udp {u1 w1, u2 w1}
    /// - B: pool web {a w3, c w1} (b removed, c added, a reweighted); pool udp {u1 w2, u2 w1};
    ///      plus listener extra → pool web.
    /// Meanwhile 4 threads keep opening connections through web and echoing checksummed bytes,
    /// 2 connections stay open through steady for the whole run, and 4 UDP clients do
    /// request/reply through udp. Through these unchanged listeners: no refused or reset
    /// connection, no corrupted byte, no lost UDP reply, no UDP session moved to another member.
    /// After each reload the extra listener accepts (B) or refuses (A). Counters of listeners
    /// and members that remain count every connection and datagram of the whole run.
    func testHundredReloadsUnderTrafficLoseNothing() throws {
        let a = try makeServer(mode: .echo), b = try makeServer(mode: .echo), c = try makeServer(mode: .echo)
        let s = try makeServer(mode: .echo)
        let u1 = try makeUDPMember("u1", mode: .tagged), u2 = try makeUDPMember("u2", mode: .tagged)
        let webPort = try freePort(), steadyPort = try freePort(), extraPort = try freePort(), udpPort = try freeUDPPort()

        func config(_ variant: String) -> DaemonConfig {
            let isB = variant == "B"
            var listeners = [ListenerSpec(name: "web", port: webPort),
                             ListenerSpec(name: "steady", port: steadyPort, defaultPool: "steady"),
                             udpListener(port: udpPort)]
            if isB { listeners.append(ListenerSpec(name: "extra", port: extraPort)) }
            let web = isB ? [MemberSpec(name: "a", port: a.port, weight: 3), MemberSpec(name: "c", port: c.port, weight: 1)]
                          : [MemberSpec(name: "a", port: a.port, weight: 1), MemberSpec(name: "b", port: b.port, weight: 1)]
            return DaemonConfig(
                shutdownGrace: 5000,
                listeners: listeners,
                pools: [PoolSpec(members: web),
                        PoolSpec(name: "steady", members: [MemberSpec(name: "s", port: s.port)]),
                        PoolSpec(name: "udp", members: [MemberSpec(name: "u1", port: u1.port, weight: isB ? 2 : 1),
                                                        MemberSpec(name: "u2", port: u2.port, weight: 1)])])
        }
        let dir = try makeConfigDir(config("A"))
        let daemon = try startFulcrum(configDir: dir)
        let control = try StatusSocketClient(path: dir.statusSocket)
        XCTAssertTrue(connectRefused(port: extraPort), "listener extra is not in configuration A")

        let traffic = ReloadTraffic(tcpPort: webPort, tcpThreads: 4, longLivedPort: steadyPort, longLived: 2,
                                    udpPort: udpPort, udpClients: 4)
        traffic.start()
        var trafficStopped = false
        defer { if !trafficStopped { _ = traffic.stop() } }
        sleepSeconds(0.3)

        var socketTimes: [Double] = [], sighupTimes: [Double] = [], reportedMs: [Double] = []
        for i in 0..<100 {
            let variant = i % 2 == 0 ? "B" : "A"
            let bySignal = (i / 2) % 2 == 1
            try config(variant).write(to: dir)
            let context = "#\(i + 1) to \(variant) by \(bySignal ? "SIGHUP" : "socket")"
            let summary: String
            if bySignal {
                let (line, seconds) = try sighupReload(daemon)
                guard line.isReloadSuccess else {
                    throw TestFailure("reload \(context): logged \(line.raw)\n\(daemon.diagnostics)")
                }
                sighupTimes.append(seconds)
                summary = line.raw
                if let range = line.raw.range(of: "configuration reloaded in "),
                   let ms = Int(line.raw[range.upperBound...].prefix { $0.isNumber }) {
                    reportedMs.append(Double(ms))
                }
            } else {
                let reply = try expectReload(control, daemon, context)
                socketTimes.append(reply.seconds)
                if let ms = reply.reportedMilliseconds { reportedMs.append(Double(ms)) }
                summary = reply.summary ?? ""
                if variant == "B" {
                    XCTAssertTrue(reply.hasChange("listener added: extra"), "reload \(context) lists the new listener:\n\(reply)")
                    XCTAssertTrue(reply.hasChange("member added: web/c"), "reload \(context) lists member c:\n\(reply)")
                    XCTAssertTrue(reply.hasChange("member removed: web/b"), "reload \(context) lists member b:\n\(reply)")
                } else {
                    XCTAssertTrue(reply.hasChange("listener removed: extra"), "reload \(context) lists the removed listener:\n\(reply)")
                    XCTAssertTrue(reply.hasChange("member added: web/b"), "reload \(context) lists member b:\n\(reply)")
                    XCTAssertTrue(reply.hasChange("member removed: web/c"), "reload \(context) lists member c:\n\(reply)")
                }
            }
            // a and u1 change weight; b/c swap; the extra listener comes and goes.
            let expectedListeners = variant == "B" ? "listeners +1 -0 ~0" : "listeners +0 -1 ~0"
            XCTAssertTrue(summary.contains(expectedListeners), "reload \(context): summary should say \(expectedListeners): \(summary)")
            XCTAssertTrue(summary.contains("members +1 -1 ~2"), "reload \(context): summary should say members +1 -1 ~2: \(summary)")
            if variant == "B" {
                XCTAssertNoThrow(try echoOnce(extraPort, "extra after reload \(i + 1)\n"),
                                 "reload \(context): the new listener accepts once the reload is reported")
            } else {
                XCTAssertTrue(connectRefused(port: extraPort), "reload \(context): the removed listener refuses at once")
            }
            sleepSeconds(0.03)
        }
        sleepSeconds(0.3)
        let tally = traffic.stop()
        trafficStopped = true
        print("100 reloads under traffic: \(tally.description)")
        for problem in tally.problems { print("  traffic problem: \(problem)") }

        XCTAssertEqual(tally.refused, 0, "refused connections through the unchanged listener web")
        XCTAssertEqual(tally.reset, 0, "reset connections through unchanged listeners")
        XCTAssertEqual(tally.closedEarly, 0, "connections closed before their echo came back")
        XCTAssertEqual(tally.corruptedBytes, 0, "corrupted bytes through unchanged listeners")
        XCTAssertEqual(tally.otherTCPErrors, 0, "other TCP errors (timeouts, …) through unchanged listeners")
        XCTAssertEqual(tally.udpLost, 0, "lost UDP replies through the unchanged UDP listener")
        XCTAssertEqual(tally.udpWrongPayload, 0, "UDP replies with the wrong payload")
        XCTAssertEqual(tally.udpMemberSwitches, 0, "UDP sessions that moved to another member although theirs remained")
        XCTAssertTrue(tally.problems.isEmpty, "traffic problems:\n\(tally.problems.joined(separator: "\n"))")
        // The run must have carried real traffic across the reloads for the zeros to mean anything.
        XCTAssertGreaterThan(tally.tcpConnections, 200, "TCP connections during the reloads")
        XCTAssertEqual(tally.longLivedConnections, 2, "long-lived connections through steady")
        XCTAssertGreaterThan(tally.longLivedRounds, 100, "rounds on the long-lived connections")
        XCTAssertGreaterThan(tally.udpReplies, 1000, "UDP replies during the reloads")
        XCTAssertEqual(tally.udpMembersSeen, ["u1", "u2"], "UDP sessions went to both members")
        XCTAssertGreaterThan(b.acceptedCount, 0, "member b served connections")
        XCTAssertGreaterThan(c.acceptedCount, 0, "member c served connections")

        // Counters of what remained counted the whole run (extra's and the probes' connections
        // also land on pool web's members, so members are compared with what the servers saw).
        let expected: [(String, String, Int)] = [
            ("web/FRONTEND", "stot", tally.tcpConnections),
            ("steady/FRONTEND", "stot", 2), ("steady/s", "stot", 2),
            ("web/a", "stot", a.acceptedCount),
            ("udp/FRONTEND", "udp_din", tally.udpRequests),
            ("udp/u1", "udp_din", u1.datagramCount), ("udp/u2", "udp_din", u2.datagramCount),
        ]
        var rows = try showStat(control)
        _ = waitUntil(timeout: 5, interval: 0.1) {
            rows = (try? self.showStat(control)) ?? rows
            return expected.allSatisfy { (try? rows.int($0.0, $0.1)) == $0.2 }
        }
        for (row, field, value) in expected {
            XCTAssertEqual(try rows.int(row, field), value, "show stat \(row) \(field) after 100 reloads")
        }

        let socketStats = medianAndP99(socketTimes), sighupStats = medianAndP99(sighupTimes), reported = medianAndP99(reportedMs)
        print(String(format: "reload time under traffic, socket round trip over %d: median %.2f ms, p99 %.2f ms", socketTimes.count, socketStats.median * 1000, socketStats.p99 * 1000))
        print(String(format: "reload time under traffic, SIGHUP until the log line was seen, over %d: median %.2f ms, p99 %.2f ms", sighupTimes.count, sighupStats.median * 1000, sighupStats.p99 * 1000))
        print(String(format: "reload time under traffic, as the daemon reports it, over %d: median %.0f ms, p99 %.0f ms", reportedMs.count, reported.median, reported.p99))
        try terminate(daemon)
    }

    // MARK: 2. A removed member's open connections

    /// Pool web {old, keep}, shutdown_grace 4 s. A paced 5 MiB echo transfer (about 1 s) runs on a
    /// connection to old and a second, idle connection sits on old; a reload removes old.
    /// From the reply on, no new connection reaches old; the transfer completes byte-exact
    /// (client and member agree on count and SHA-256) before the grace period ends; the idle
    /// connection still echoes after the reload and is closed once the grace period is over.
    func testRemovedMembersTransferCompletesAndNewConnectionsAvoidIt() throws {
        let old = try makeServer(mode: .echo), keep = try makeServer(mode: .echo)
        let port = try freePort()
        let grace = 4.0
        func config(withOld: Bool) -> DaemonConfig {
            DaemonConfig(shutdownGrace: Int(grace * 1000), listeners: [ListenerSpec(port: port)],
                         pools: [PoolSpec(members: (withOld ? [MemberSpec(name: "old", port: old.port)] : [])
                                            + [MemberSpec(name: "keep", port: keep.port)])])
        }
        let dir = try makeConfigDir(config(withOld: true))
        let daemon = try startFulcrum(configDir: dir)
        let control = try StatusSocketClient(path: dir.statusSocket)

        /// A connection that the round robin put on old (others are closed), and the greeting it
        /// exchanged to find out.
        func connectionOnOld(_ label: String) throws -> (socket: TCPSocket, greeting: String) {
            for attempt in 0..<10 {
                let before = old.acceptedCount
                let socket = try connect(port: port, ioTimeout: 10)
                let greeting = "\(label) \(attempt)\n"
                try socket.exchange(greeting)
                if old.acceptedCount > before { return (socket, greeting) }
                socket.close()
            }
            throw TestFailure("no connection landed on member old in 10 tries\n\(daemon.diagnostics)")
        }
        let (transferSocket, greeting) = try connectionOnOld("transfer")
        let idleSocket = try connectionOnOld("idle").socket
        let transferRecord = old.acceptedCount - 2
        let oldConnections = old.acceptedCount

        // The transfer: 40 chunks of 128 KiB, one every 25 ms, read back concurrently.
        let chunk = 128 * 1024, chunks = 40, size = chunk * chunks
        let sent = Locked<Result<SHA256Digest, Error>?>(nil)
        let senderDone = DispatchSemaphore(value: 0)
        startThread(name: "fulcrum-it-paced-sender") {
            let stream = PayloadStream(seed: 0xC0FFEE, total: size, chunkSize: chunk)
            do {
                while let piece = stream.nextChunk() {
                    try transferSocket.send(piece)
                    usleep(25_000)
                }
                transferSocket.shutdownWrite()
                sent.withLock { $0 = .success(stream.digest()) }
            } catch {
                sent.withLock { $0 = .failure(error) }
            }
            senderDone.signal()
        }
        let received = Locked<Result<(count: Int, digest: SHA256Digest), Error>?>(nil)
        let readerDone = DispatchSemaphore(value: 0)
        startThread(name: "fulcrum-it-paced-reader") {
            received.withLock { $0 = Result { try transferSocket.readToEOF(limit: size, totalTimeout: 30) } }
            readerDone.signal()
        }
        sleepSeconds(0.3)

        try config(withOld: false).write(to: dir)
        let reply = try expectReload(control, daemon, "removing member old")
        let repliedAt = monotonicNow()
        XCTAssertTrue(reply.hasChange("member removed: web/old"), "the reply lists the removed member:\n\(reply)")

        // From the reply on, new connections go to keep only.
        let keepBefore = keep.acceptedCount
        for i in 0..<20 { try echoOnce(port, "after removal \(i)\n") }
        XCTAssertEqual(old.acceptedCount, oldConnections, "new connections reached the removed member after the reply")
        XCTAssertEqual(keep.acceptedCount, keepBefore + 20, "the new connections went to keep")
        XCTAssertNil(try showStat(control).rows["web/old"], "show stat has no row for the removed member")
        XCTAssertNoThrow(try idleSocket.exchange("idle, still on old after the reload\n"),
                         "an open connection on the removed member keeps working")

        XCTAssertEqual(senderDone.wait(timeout: .now() + 30), .success, "the paced sender finished")
        XCTAssertEqual(readerDone.wait(timeout: .now() + 30), .success, "the reader finished")
        let finishedAt = monotonicNow()
        switch (sent.current, received.current) {
        case let (.success(sentDigest)?, .success(got)?):
            XCTAssertEqual(got.count, size, "bytes echoed back through the removed member")
            XCTAssertEqual(got.digest, sentDigest, "SHA-256 of the bytes echoed back through the removed member")
            _ = waitUntil(timeout: 5) { old.allRecords[transferRecord].finished }
            if let record = old.allRecords.first(where: { $0.id == transferRecord && $0.finished }) {
                // The member saw the greeting, then the transfer.
                var hasher = SHA256()
                hasher.update(data: Array(greeting.utf8))
                let stream = PayloadStream(seed: 0xC0FFEE, total: size, chunkSize: chunk)
                while let piece = stream.nextChunk() { hasher.update(bufferPointer: piece) }
                XCTAssertEqual(record.receivedBytes, greeting.utf8.count + size, "bytes the removed member received")
                XCTAssertEqual(record.receivedDigest, hasher.finalize(), "SHA-256 of what the removed member received")
                XCTAssertNil(record.error, "the removed member's side of the transfer")
            } else {
                XCTFail("the removed member did not finish the transfer connection: \(old.allRecords)")
            }
        case let (s, r):
            XCTFail("the transfer through the removed member failed: sender \(String(describing: s)), reader \(String(describing: r))\n\(daemon.diagnostics)")
        }
        XCTAssertLessThan(finishedAt - repliedAt, grace, "the transfer finished within shutdown_grace of the reload")

        // Still no new connection on old, and the idle one still works until the grace ends …
        for i in 0..<10 { try echoOnce(port, "later \(i)\n") }
        XCTAssertEqual(old.acceptedCount, oldConnections, "new connections reached the removed member")
        if monotonicNow() - repliedAt < grace - 0.5 {
            XCTAssertNoThrow(try idleSocket.exchange("idle, within the grace period\n"))
        }
        // … then it is cut, with a reset: a clean EOF would pass the cut off as a finished stream.
        let outcome = idleSocket.awaitClose(timeout: max(0.1, repliedAt + grace + 5 - monotonicNow()))
        XCTAssertEqual(outcome, .reset, "the idle connection on the removed member after shutdown_grace: \(outcome)\n\(daemon.diagnostics)")
        try terminate(daemon)
    }

    // MARK: 3. Broken drop-ins

    /// Each of three broken drop-ins (a TOML syntax error; a listener naming an unknown pool; a
    /// new listener on a port another program holds) comes with a valid change to 50-web.toml.
    /// Each reload is refused — socket, fulcrumctl (exit 1, errors on stderr) and SIGHUP — with
    /// the problem naming the file (or the listener, address and errno); nothing of the valid
    /// change is applied, no new listener accepts, traffic through web carries on; and the
    /// next good reload applies.
    func testBrokenDropInsAreRefusedWholeAndTheNextGoodReloadWorks() throws {
        let a = try makeServer(mode: .echo), b = try makeServer(mode: .echo), c = try makeServer(mode: .echo)
        let webPort = try freePort()
        func config(withC: Bool) -> DaemonConfig {
            var members = [MemberSpec(name: "a", port: a.port), MemberSpec(name: "b", port: b.port)]
            if withC { members.append(MemberSpec(name: "c", port: c.port)) }
            return DaemonConfig(listeners: [ListenerSpec(port: webPort)], pools: [PoolSpec(members: members)])
        }
        let dir = try makeConfigDir(config(withC: false))
        let daemon = try startFulcrum(configDir: dir)
        let control = try StatusSocketClient(path: dir.statusSocket)
        let badFile = "conf.d/60-bad.toml"
        let badPath = dir.filePath(badFile)

        let traffic = ReloadTraffic(tcpPort: webPort, tcpThreads: 2, longLivedPort: webPort, longLived: 1)
        traffic.start()
        var trafficStopped = false
        defer { if !trafficStopped { _ = traffic.stop() } }

        /// The same refusal through all three triggers; `check` looks at the problem lines.
        func refuseEverywhere(_ what: String, _ check: ([String], String) -> Void) throws {
            let reply = try expectRefusal(control, daemon, what)
            check(reply.problems, "socket reply")
            let ctl = try fulcrumctlReload(socket: dir.statusSocket)
            XCTAssertEqual(ctl.code, 1, "fulcrumctl reload \(what): exit status\nstdout: \(ctl.stdout)\nstderr: \(ctl.stderr)")
            XCTAssertTrue(ctl.stderr.contains("reload refused"), "fulcrumctl reload \(what): stderr says refused: \(ctl.stderr)")
            XCTAssertFalse(ctl.stdout.contains("reloaded in"), "fulcrumctl reload \(what): stdout: \(ctl.stdout)")
            check(ctl.stderr.split(separator: "\n").map(String.init), "fulcrumctl stderr")
            let (line, _) = try sighupReload(daemon)
            XCTAssertTrue(line.isReloadRefusal, "SIGHUP \(what): logged \(line.raw)")
            XCTAssertNil(try showStat(control).rows["web/c"], "\(what): the valid part of the refused change (member c) was not applied")
            let cBefore = c.acceptedCount
            for i in 0..<10 { try echoOnce(webPort, "after refusal \(i)\n") }
            XCTAssertEqual(c.acceptedCount, cBefore, "\(what): connections reached member c of the refused change")
        }

        // 1. Syntax error on line 3 of the drop-in.
        try config(withC: true).write(to: dir)
        try dir.write(badFile, "[pool.web.members.d]\naddress = \"127.0.0.1\"\nprotocol_port = = 5\n")
        try refuseEverywhere("with a syntax error") { lines, source in
            XCTAssertTrue(lines.contains { $0.contains("\(badFile):3:") }, "\(source) names \(badFile):3: \(lines)")
        }
        // show info (and the metrics) say the latest reload was refused, and how many were.
        let infoAfterRefusal = try control.command("show info")
        XCTAssertTrue(infoAfterRefusal.contains("last_reload: refused\n"), infoAfterRefusal)
        XCTAssertTrue(infoAfterRefusal.contains("reloads_refused: 3\n"), infoAfterRefusal)
        try FileManager.default.removeItem(atPath: badPath)
        let fixed = try fulcrumctlReload(socket: dir.statusSocket)
        XCTAssertEqual(fixed.code, 0, "fulcrumctl reload after removing the bad drop-in\nstdout: \(fixed.stdout)\nstderr: \(fixed.stderr)")
        XCTAssertTrue(fixed.stdout.hasPrefix("reloaded in "), "fulcrumctl reload prints the reply: \(fixed.stdout)")
        XCTAssertTrue(fixed.stdout.contains("member added: web/c"), "fulcrumctl reload lists member c: \(fixed.stdout)")
        XCTAssertNotNil(try showStat(control).rows["web/c"], "member c after the good reload")
        let infoAfterFix = try control.command("show info")
        XCTAssertTrue(infoAfterFix.contains("last_reload: applied\n"), infoAfterFix)
        let cBefore = c.acceptedCount
        for i in 0..<9 { try echoOnce(webPort, "with c \(i)\n") }
        XCTAssertGreaterThan(c.acceptedCount, cBefore, "new connections reach member c after the good reload")

        // 2. A new listener whose default_pool does not exist (line 5), and c removed in 50-web.
        let unknownPoolPort = try freePort()
        try config(withC: false).write(to: dir)
        try dir.write(badFile, """
            [listener.web2]
            protocol = "TCP"
            address = "127.0.0.1"
            protocol_port = \(unknownPoolPort)
            default_pool = "nosuch"

            """)
        let reply = try expectRefusal(control, daemon, "with an unknown pool")
        XCTAssertTrue(reply.problems.contains { $0.contains(badFile) && $0.contains("nosuch") },
                      "a problem names \(badFile) and the pool nosuch:\n\(reply)")
        let ctl = try fulcrumctlReload(socket: dir.statusSocket)
        XCTAssertEqual(ctl.code, 1, "fulcrumctl reload with an unknown pool\nstdout: \(ctl.stdout)\nstderr: \(ctl.stderr)")
        XCTAssertTrue(ctl.stderr.contains(badFile) && ctl.stderr.contains("nosuch"), "fulcrumctl stderr: \(ctl.stderr)")
        XCTAssertTrue(try sighupReload(daemon).line.isReloadRefusal, "SIGHUP with an unknown pool is refused")
        XCTAssertNotNil(try showStat(control).rows["web/c"], "member c stays: its removal was part of the refused change")
        XCTAssertTrue(connectRefused(port: unknownPoolPort), "the refused listener web2 does not accept")
        try FileManager.default.removeItem(atPath: badPath)
        let removedC = try expectReload(control, daemon, "after removing the unknown-pool drop-in")
        XCTAssertTrue(removedC.hasChange("member removed: web/c"), "the good reload removes c:\n\(removedC)")

        // 3. Two new listeners, web3 on a free port and web2 on a port another socket holds.
        let occupier = try TCPListener(host: "127.0.0.1", port: 0, reuseAddress: false)
        let takenPort = occupier.port
        let web3Port = try freePort()
        try config(withC: true).write(to: dir)
        try dir.write(badFile, """
            [listener.web3]
            protocol = "TCP"
            address = "127.0.0.1"
            protocol_port = \(web3Port)
            default_pool = "web"

            [listener.web2]
            protocol = "TCP"
            address = "127.0.0.1"
            protocol_port = \(takenPort)
            default_pool = "web"

            """)
        try refuseEverywhere("with a port in use") { lines, source in
            XCTAssertTrue(lines.contains { $0.contains("listener web2") && $0.contains("127.0.0.1:\(takenPort)") && $0.contains("Address already in use") },
                          "\(source) names listener web2, 127.0.0.1:\(takenPort) and the errno: \(lines)")
        }
        XCTAssertTrue(connectRefused(port: web3Port), "web3 of the refused reload does not accept")
        occupier.close()
        let bound = try expectReload(control, daemon, "once the port is free")
        XCTAssertTrue(bound.hasChange("listener added: web2") && bound.hasChange("listener added: web3")
                      && bound.hasChange("member added: web/c"), "the good reload adds web2, web3 and c:\n\(bound)")
        XCTAssertNoThrow(try echoOnce(takenPort, "through web2\n"), "web2 accepts after the good reload")
        XCTAssertNoThrow(try echoOnce(web3Port, "through web3\n"), "web3 accepts after the good reload")

        let tally = traffic.stop()
        trafficStopped = true
        print("traffic through web during the refused reloads: \(tally.description)")
        XCTAssertEqual(tally.tcpFailures, 0, "traffic through web during refused reloads:\n\(tally.problems.joined(separator: "\n"))")
        XCTAssertTrue(tally.problems.isEmpty, "traffic problems:\n\(tally.problems.joined(separator: "\n"))")
        XCTAssertGreaterThan(tally.tcpConnections, 20, "connections during the test")
        let refusals = reloadLogLines(daemon).filter(\.isReloadRefusal)
        XCTAssertEqual(refusals.count, 9, "one 'configuration reload refused' log line per refused reload:\n\(refusals.map(\.raw).joined(separator: "\n"))")
        try terminate(daemon)
    }

    // MARK: 4. Health and run-time state carry over

    /// TCP monitor on pool web {a, b, c}; all ONLINE. At run time: b drained, a's weight set to
    /// 5, c drained. A reload adds member d and listener web2 and changes c's weight in the
    /// config. Right after the reply (and for the next half second): a is still ONLINE with
    /// its last check and weight 5, b is still drained, no status change is logged for a or b;
    /// c's override is gone (ready, weight 4 from the config); drained b gets no new connection.
    func testHealthAndRuntimeOverridesCarryOverAReload() throws {
        let a = try makeServer(mode: .echo), b = try makeServer(mode: .echo), c = try makeServer(mode: .echo)
        let d = try makeServer(mode: .echo)
        let webPort = try freePort(), web2Port = try freePort()
        let monitor = ["type = \"TCP\"", "delay = 0.2", "timeout = 0.1", "max_retries = 2", "max_retries_down = 2"]
        func config(reloaded: Bool) -> DaemonConfig {
            var members = [MemberSpec(name: "a", port: a.port), MemberSpec(name: "b", port: b.port),
                           MemberSpec(name: "c", port: c.port, weight: reloaded ? 4 : 1)]
            var listeners = [ListenerSpec(port: webPort)]
            if reloaded {
                members.append(MemberSpec(name: "d", port: d.port))
                listeners.append(ListenerSpec(name: "web2", port: web2Port))
            }
            return DaemonConfig(listeners: listeners, pools: [PoolSpec(members: members, healthMonitor: monitor)])
        }
        let dir = try makeConfigDir(config(reloaded: false))
        let daemon = try startFulcrum(configDir: dir)
        let control = try StatusSocketClient(path: dir.statusSocket)

        var rows = try showStat(control)
        let online = waitUntil(timeout: 10, interval: 0.1) {
            rows = (try? self.showStat(control)) ?? rows
            return ["a", "b", "c"].allSatisfy { rows.text("web/\($0)", "op_status") == "ONLINE" }
        }
        guard online else {
            throw TestFailure("members not ONLINE within 10 s: \(["a", "b", "c"].map { "\($0)=\(rows.text("web/\($0)", "op_status") ?? "?")" })\n\(daemon.diagnostics)")
        }
        for command in ["set member web/b state drain", "set member web/a weight 5", "set member web/c state drain"] {
            let reply = try control.command(command)
            XCTAssertFalse(reply.hasPrefix("error:"), "\(command) → \(reply)")
        }
        let before = try showStat(control)
        func changes(_ member: String) -> [String] {
            daemon.logLines.filter {
                $0.metadata["pool"] == "web" && $0.metadata["member"] == member && $0.message.hasPrefix("member web/\(member) ")
                    && StatusChange.parse($0.message) != nil
            }.map(\.raw)
        }
        let changesBefore = (a: changes("a"), b: changes("b"))

        try config(reloaded: true).write(to: dir)
        let reply = try expectReload(control, daemon, "adding d and web2, reweighting c")
        let after = try showStat(control)
        let table = try control.command("show members web")

        XCTAssertEqual(after.text("web/a", "op_status"), "ONLINE", "a right after the reload (no UNKNOWN gap)")
        XCTAssertEqual(after.text("web/a", "check_status"), before.text("web/a", "check_status"), "a's last check carried over")
        XCTAssertEqual(after.text("web/a", "weight"), "5", "a's run-time weight survives a reload that does not change a")
        XCTAssertEqual(after.text("web/b", "admin_state"), "drain", "b stays drained")
        XCTAssertEqual(after.text("web/b", "status"), "DRAIN", "b's status after the reload")
        XCTAssertEqual(after.text("web/b", "op_status"), before.text("web/b", "op_status"), "b's health status carried over")
        XCTAssertEqual(after.text("web/c", "admin_state"), "ready", "c's config changed: its run-time drain is dropped")
        XCTAssertEqual(after.text("web/c", "weight"), "4", "c's weight from the new config")
        XCTAssertNotNil(after.rows["web/d"], "the new member d is shown:\n\(reply)")
        let rowA = table.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { $0.count > 4 && $0[0] == "web" && $0[1] == "a" }
        XCTAssertEqual(rowA?[3], "ONLINE", "show members: a's STATUS right after the reload:\n\(table)")
        let rowB = table.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { $0.count > 4 && $0[0] == "web" && $0[1] == "b" }
        XCTAssertEqual(rowB?[4], "drain", "show members: b's ADMIN right after the reload:\n\(table)")

        // For the next half second, a never shows anything but ONLINE.
        var seen: Set<String> = []
        let until = monotonicNow() + 0.5
        while monotonicNow() < until {
            seen.insert(try showStat(control).text("web/a", "op_status") ?? "missing")
            sleepSeconds(0.02)
        }
        XCTAssertEqual(seen, ["ONLINE"], "a's op_status over the half second after the reload")
        XCTAssertEqual(changes("a"), changesBefore.a, "a status change logged after the reload for unchanged member a")
        XCTAssertEqual(changes("b"), changesBefore.b, "a status change logged after the reload for unchanged member b")

        let bTotal = try after.int("web/b", "stot")
        for i in 0..<12 { try echoOnce(webPort, "after reload \(i)\n") }
        XCTAssertNoThrow(try echoOnce(web2Port, "through web2\n"), "the new listener accepts")
        XCTAssertEqual(try showStat(control).int("web/b", "stot"), bTotal, "drained b got new connections after the reload")
        try terminate(daemon)
    }

    // MARK: 5. Memory over 1,000 reloads

    /// A small config alternating between {a, b} and {a, c} + listener extra over 1,000 socket
    /// reloads: VmRSS after 1,000 is within 1 MiB of VmRSS after 10, descriptors do not pile
    /// up, and traffic still flows. Prints both RSS figures and the reload round trips.
    func testRSSStaysFlatOverAThousandReloads() throws {
        let a = try makeServer(mode: .echo), b = try makeServer(mode: .echo), c = try makeServer(mode: .echo)
        let webPort = try freePort(), extraPort = try freePort()
        let variants = [false, true].map { isB -> DaemonConfig in
            var listeners = [ListenerSpec(port: webPort)]
            if isB { listeners.append(ListenerSpec(name: "extra", port: extraPort)) }
            return DaemonConfig(listeners: listeners, pools: [PoolSpec(members: [
                MemberSpec(name: "a", port: a.port, weight: isB ? 2 : 1),
                isB ? MemberSpec(name: "c", port: c.port) : MemberSpec(name: "b", port: b.port),
            ])])
        }
        let dir = try makeConfigDir(variants[0])
        let daemon = try startFulcrum(configDir: dir)
        let control = try StatusSocketClient(path: dir.statusSocket)

        var times: [Double] = []
        func reloads(_ range: Range<Int>) throws {
            for i in range {
                try variants[(i + 1) % 2].write(to: dir)
                let reply = try expectReload(control, daemon, "#\(i + 1) of 1,000")
                times.append(reply.seconds)
            }
        }
        func traffic(_ label: String) throws {
            for i in 0..<10 { try echoOnce(webPort, "\(label) \(i)\n") }
        }
        try traffic("warm-up")
        try reloads(0..<10)
        try traffic("after 10")
        let rss10 = try procResidentKiB(daemon.pid), fds10 = procOpenDescriptors(daemon.pid)
        var checkpoints: [String] = []
        for (from, to) in [(10, 100), (100, 500), (500, 1000)] {
            try reloads(from..<to)
            checkpoints.append("\(to): \(try procResidentKiB(daemon.pid)) KiB")
        }
        try traffic("after 1000")
        let rss1000 = try procResidentKiB(daemon.pid), fds1000 = procOpenDescriptors(daemon.pid)

        let stats = medianAndP99(times)
        print("VmRSS after 10 reloads: \(rss10) KiB; after 1,000: \(rss1000) KiB; growth \(rss1000 - rss10) KiB (after \(checkpoints.joined(separator: ", ")))")
        print("open descriptors after 10 reloads: \(fds10); after 1,000: \(fds1000)")
        print(String(format: "reload socket round trip over %d reloads (small config, no traffic): median %.2f ms, p99 %.2f ms",
                     times.count, stats.median * 1000, stats.p99 * 1000))
        XCTAssertLessThan(rss1000 - rss10, 1024, "VmRSS growth between 10 and 1,000 reloads (KiB)")
        XCTAssertLessThanOrEqual(fds1000, fds10 + 10, "descriptors after 1,000 reloads vs after 10:\n\(procDescriptorTargets(daemon.pid))")
        XCTAssertTrue(connectRefused(port: extraPort), "after an even number of reloads the config without extra is in force")
        try variants[1].write(to: dir)
        try expectReload(control, daemon, "#1001")
        XCTAssertNoThrow(try echoOnce(extraPort, "extra after 1,001 reloads\n"))
        try terminate(daemon)
    }

    // MARK: 6. systemd notification

    /// NOTIFY_SOCKET set: READY=1 (with STATUS=) once the listener accepts; around a socket
    /// reload RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC at the time, in µs) and then
    /// READY=1; the same around a SIGHUP reload; a refused reload leaves no RELOADING=1 without
    /// a READY=1 after it; STOPPING=1 on SIGTERM.
    func testNotifySocketSeesReadyReloadingAndStopping() throws {
        let notify = try NotifySocketListener()
        defer { notify.stop() }
        let member = try makeServer(mode: .echo)
        let webPort = try freePort(), web2Port = try freePort()
        func config(_ second: Bool) -> DaemonConfig {
            var listeners = [ListenerSpec(port: webPort)]
            if second { listeners.append(ListenerSpec(name: "web2", port: web2Port)) }
            return DaemonConfig(listeners: listeners, pools: [PoolSpec(members: [MemberSpec(name: "m", port: member.port)])])
        }
        let dir = try makeConfigDir(config(false))
        let daemon = try launchFulcrum(configDir: dir, launcher: ["/usr/bin/env", "NOTIFY_SOCKET=\(notify.path)"])
        // READY=1 must come; the port is probed the moment it is seen (before the log is read).
        guard let ready = notify.waitFor(timeout: 5, { $0["READY"] == "1" }) ?? { () -> Int? in
            _ = try? daemon.waitReady()
            return notify.waitFor(timeout: 5) { $0["READY"] == "1" }
        }() else {
            throw TestFailure("no READY=1 on NOTIFY_SOCKET (\(notify.path)) within 5 s of 'fulcrumd ready'; got \(notify.messages)\n\(daemon.diagnostics)")
        }
        XCTAssertNoThrow(try echoOnce(webPort, "as soon as READY=1 came\n"), "the listener accepts when READY=1 is sent")
        XCTAssertNotNil(notify.waitFor(timeout: 1) { $0["STATUS"] != nil }, "a STATUS= line: \(notify.messages)")
        XCTAssertFalse(notify.messages[...ready].contains { $0.fields["RELOADING"] != nil || $0.fields["STOPPING"] != nil },
                       "nothing but READY/STATUS before the first READY=1: \(notify.messages)")
        try daemon.waitReady()
        let control = try StatusSocketClient(path: dir.statusSocket)

        /// RELOADING=1 with MONOTONIC_USEC within [before, after], then READY=1.
        func checkReload(from: Int, before: UInt64, after: UInt64, _ context: String) {
            guard let reloading = notify.waitFor(from: from, timeout: 5, { $0["RELOADING"] == "1" }) else {
                XCTFail("\(context): no RELOADING=1; messages since: \(notify.messages.dropFirst(from))")
                return
            }
            let fields = notify.messages[reloading].fields
            if let value = fields["MONOTONIC_USEC"].flatMap(UInt64.init) {
                XCTAssertTrue(value >= before && value <= after,
                              "\(context): MONOTONIC_USEC=\(value) is not CLOCK_MONOTONIC during the reload [\(before), \(after)]")
            } else {
                XCTFail("\(context): RELOADING=1 without a numeric MONOTONIC_USEC=: \(notify.messages[reloading])")
            }
            XCTAssertNotNil(notify.waitFor(from: reloading + 1, timeout: 5) { $0["READY"] == "1" },
                            "\(context): READY=1 after RELOADING=1; messages since: \(notify.messages.dropFirst(reloading))")
        }

        var mark = notify.messages.count
        try config(true).write(to: dir)
        var before = monotonicMicroseconds()
        try expectReload(control, daemon, "adding web2")
        checkReload(from: mark, before: before, after: monotonicMicroseconds(), "socket reload")
        XCTAssertNoThrow(try echoOnce(web2Port, "web2\n"))

        mark = notify.messages.count
        try config(false).write(to: dir)
        before = monotonicMicroseconds()
        let (line, _) = try sighupReload(daemon)
        XCTAssertTrue(line.isReloadSuccess, "SIGHUP reload: \(line.raw)")
        checkReload(from: mark, before: before, after: monotonicMicroseconds(), "SIGHUP reload")

        mark = notify.messages.count
        try dir.write("conf.d/60-bad.toml", "[listener.x\n")
        _ = try expectRefusal(control, daemon, "with a syntax error")
        sleepSeconds(0.3)
        let since = Array(notify.messages.dropFirst(mark))
        if let lastReloading = since.lastIndex(where: { $0.fields["RELOADING"] == "1" }) {
            XCTAssertTrue(since[(lastReloading + 1)...].contains { $0.fields["READY"] == "1" },
                          "a refused reload sent RELOADING=1 without READY=1 after it: \(since)")
        }

        mark = notify.messages.count
        daemon.sendSignal(SIGTERM)
        XCTAssertNotNil(notify.waitFor(from: mark, timeout: 10) { $0["STOPPING"] == "1" },
                        "STOPPING=1 after SIGTERM; messages since: \(notify.messages.dropFirst(mark))")
        XCTAssertEqual(daemon.waitExit(timeout: 15), .init(code: 0, signaled: false), "exit after SIGTERM\n\(daemon.diagnostics)")
        print("NOTIFY_SOCKET messages:\n" + notify.messages.map { "  \($0)" }.joined(separator: "\n"))
    }
}
