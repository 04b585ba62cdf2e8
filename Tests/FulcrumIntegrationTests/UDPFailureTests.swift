// UDP when things go wrong: a member goes down (ICMP port unreachable), a pool with no live
// member, empty datagrams, a flood towards a member that never answers.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class UDPFailureTests: UDPTestCase {
    /// Splits a tagged reply `name|payload`.
    private func untag(_ reply: [UInt8]) -> (name: String, payload: [UInt8])? {
        guard let bar = reply.firstIndex(of: UInt8(ascii: "|")) else { return nil }
        return (String(decoding: reply[..<bar], as: UTF8.self), Array(reply[(bar + 1)...]))
    }

    /// Pool m1 + m2, 10 clients exchanging continuously (each datagram retried up to 3 times,
    /// 300 ms apart). m2 stops (its port closes): every client keeps getting replies, from m1
    /// only, and m2's `refused` is counted.
    func testUDPMemberDownSessionsMove() throws {
        let m1 = try makeUDPMember("m1", mode: .tagged)
        let m2 = try makeUDPMember("m2", mode: .tagged)
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(listeners: [udpListener(port: port)], pools: [udpPool([m1, m2])]))

        let stoppedAt = Locked<Double>(.infinity)
        let start = monotonicNow()
        let replies = Locked<[Int: [(time: Double, member: String)]]>([:])
        let clients = 10
        let group = DispatchGroup()
        let failures = Locked<[String]>([])
        group.enter()
        startThread { [self] in
            defer { group.leave() }
            let result = runUDPClients(clients, timeout: 30) { [self] c in
                let client = try makeUDPClient(port: port, receiveTimeout: 0.3)
                var seq = 0
                while monotonicNow() < start + 5 {
                    let request = udpPayload(client: c, sequence: seq, size: 100)
                    let result = try client.exchange(request, retries: 3, isReply: { self.untag($0)?.payload == request })
                    guard let reply = result?.reply, let name = untag(reply)?.name else {
                        let since = monotonicNow() - stoppedAt.current
                        throw TestFailure("datagram \(seq): no reply after 4 attempts 300 ms apart (\(since > 0 ? String(format: "%.2f s after m2 stopped", since) : "before m2 stopped"))")
                    }
                    replies.withLock { $0[c, default: []].append((monotonicNow(), name)) }
                    seq += 1
                    sleepSeconds(0.02)
                }
            }
            failures.withLock { $0 = result }
        }
        sleepSeconds(1.5)
        m2.stop()
        stoppedAt.withLock { $0 = monotonicNow() }
        XCTAssertEqual(group.wait(timeout: .now() + 40), .success, "client threads did not finish")
        XCTAssertEqual(failures.current, [])

        let stop = stoppedAt.current
        let byClient = replies.current
        let onM2Before = byClient.values.filter { $0.contains { $0.time < stop && $0.member == "m2" } }.count
        XCTAssertGreaterThanOrEqual(onM2Before, 1, "no client was on m2 before it stopped (the test proves nothing)")
        for c in 0..<clients {
            let list = byClient[c] ?? []
            let late = list.filter { $0.time > stop + 0.2 }
            XCTAssertGreaterThanOrEqual(late.count, 10, "client \(c) got only \(late.count) replies after m2 stopped")
            XCTAssertTrue(late.allSatisfy { $0.member == "m1" }, "client \(c) got replies from \(Set(late.map(\.member))) after m2 stopped")
            XCTAssertTrue(list.contains { $0.time > start + 4.5 }, "client \(c) got no reply in the last 0.5 s")
        }

        try terminate(daemon)
        XCTAssertGreaterThanOrEqual(try udpMemberStat(daemon, pool: "udp", member: "m2", "refused"), 1, "m2 refused")
        XCTAssertEqual(try udpMemberStat(daemon, pool: "udp", member: "m1", "refused"), 0, "m1 refused")
    }

    /// A UDP listener whose only member's port is closed answers nothing; the daemon neither
    /// spins (< 25 % of a core over 1 s while datagrams keep coming) nor stops serving its other
    /// UDP and TCP listeners.
    func testUDPPoolWithOnlyDeadMemberAnswersNothing() throws {
        let gone = try makeUDPMember("gone")
        gone.stop()
        let live = try makeUDPMember("live")
        let tcpMember = try makeServer(mode: .echo)
        let deadPort = try freeUDPPort(), livePort = try freeUDPPort(), tcpPort = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(name: "dead", port: deadPort, pool: "dead"),
                        udpListener(name: "live", port: livePort, pool: "live"),
                        ListenerSpec(name: "tcp", port: tcpPort, defaultPool: "tcp")],
            pools: [udpPool(name: "dead", [gone]), udpPool(name: "live", [live]),
                    PoolSpec(name: "tcp", members: [MemberSpec(name: "t1", port: tcpMember.port)])]))

        let client = try makeUDPClient(port: deadPort, receiveTimeout: 0.2)
        for i in 0..<10 {
            try client.send(Array("anyone? \(i)".utf8))
            let answer = try client.receive()
            XCTAssertNil(answer, "the dead pool answered datagram \(i)")
        }
        for i in 0..<500 { try client.send(Array("burst \(i)".utf8)) }

        // Keep a trickle going to the dead pool while measuring CPU.
        let ticksPerSecond = sysconf(Int32(_SC_CLK_TCK))
        let before = try cpuTicks(daemon.pid)
        let end = monotonicNow() + 1.0
        var i = 0
        while monotonicNow() < end {
            try client.send(Array("trickle \(i)".utf8))
            i += 1
            sleepSeconds(0.02)
        }
        let used = try cpuTicks(daemon.pid) - before
        XCTAssertLessThan(used, ticksPerSecond / 4, "daemon used \(used) of \(ticksPerSecond) CPU ticks in 1 s with a dead pool")
        client.setReceiveTimeout(1.0)
        XCTAssertNil(try client.receive(), "the dead pool answered")

        let liveClient = try makeUDPClient(port: livePort)
        for seq in 0..<5 {
            let request = udpPayload(client: 1, sequence: seq, size: 300)
            XCTAssertNotNil(try liveClient.exchange(request, retries: 3, isReply: { $0 == request }),
                            "the live UDP listener did not answer datagram \(seq)\n\(daemon.diagnostics)")
        }
        let tcp = try connect(port: tcpPort, ioTimeout: 5)
        try tcp.exchange("tcp still works")
        tcp.close()

        try terminate(daemon)
        XCTAssertGreaterThanOrEqual(try udpMemberStat(daemon, pool: "dead", member: "gone", "refused"), 1, "refused")
        XCTAssertEqual(try udpListenerStat(daemon, "dead", "datagrams_out"), 0)
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "live", "datagrams_out"), 5)
    }

    /// A zero-length datagram is forwarded and echoed, and the session carries on.
    func testUDPZeroLengthDatagram() throws {
        let member = try makeUDPMember("m1")
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(listeners: [udpListener(port: port)], pools: [udpPool([member])]))
        let client = try makeUDPClient(port: port)
        for (what, request) in [("before", Array("before".utf8)), ("empty", []), ("after", Array("after".utf8))] {
            guard try client.exchange(request, retries: 3, isReply: { $0 == request }) != nil else {
                throw TestFailure("no reply to the \(what) datagram (\(request.count) bytes)\n\(daemon.diagnostics)")
            }
        }
        XCTAssertEqual(member.sourcePorts.count, 1, "the empty datagram must not start a new session")
        try terminate(daemon)
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "sessions_created"), 1)
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "datagrams_out"), 3)
    }

    /// Pool of a silent member and a tagging echo member: 5000 datagrams from a client mapped
    /// to the silent one do not stop a client on the echo member from getting its replies.
    func testUDPBurstToSilentMemberDoesNotStarveOthers() throws {
        let silent = try makeUDPMember("silent", mode: .silent)
        let echo = try makeUDPMember("echo", mode: .tagged)
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 1, listeners: [udpListener(port: port)], pools: [udpPool([silent, echo])]))

        // Find one client on each member (round robin alternates, so this takes a few tries).
        var onSilent: UDPClient?, onEcho: UDPClient?
        for attempt in 0..<8 where onSilent == nil || onEcho == nil {
            let client = try makeUDPClient(port: port, receiveTimeout: 0.5)
            let seen = silent.datagramCount
            let probe = Array("probe \(attempt)".utf8)
            try client.send(probe)
            if let reply = try client.receive() {
                XCTAssertEqual(untag(reply)?.payload, probe)
                if untag(reply)?.name == "echo", onEcho == nil { onEcho = client }
            } else if silent.datagramCount > seen, onSilent == nil {
                onSilent = client
            }
        }
        guard let onSilent, let onEcho else {
            throw TestFailure("could not find a client on each member (silent \(onSilent != nil), echo \(onEcho != nil))\n\(daemon.diagnostics)")
        }

        let payload = [UInt8](repeating: 0x5A, count: 512)
        for _ in 0..<5000 { try onSilent.send(payload) }

        for seq in 0..<20 {
            let request = udpPayload(client: 2, sequence: seq, size: 200)
            let result = try onEcho.exchange(request, retries: 3, isReply: { self.untag($0)?.payload == request })
            XCTAssertEqual(result.flatMap { untag($0.reply)?.name }, "echo", "datagram \(seq) after the burst\n\(daemon.diagnostics)")
        }
        // A new client still gets a session and, on the echo member, a reply.
        var answered = false
        for attempt in 0..<4 where !answered {
            let client = try makeUDPClient(port: port, receiveTimeout: 0.5)
            try client.send(Array("new \(attempt)".utf8))
            answered = try client.receive() != nil
        }
        XCTAssertTrue(answered, "no new client got a reply after the burst")
        print("UDP burst: the silent member received \(silent.datagramCount) datagrams")
        XCTAssertGreaterThan(silent.datagramCount, 1, "the burst never reached the silent member")

        try terminate(daemon)
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "datagrams_in"), 1000)
    }
}
