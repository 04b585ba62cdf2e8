// UDP sessions: idle expiry, the per-worker LRU bound (udp_max_sessions), allowed_cidrs.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class UDPSessionTests: UDPTestCase {
    /// One stop-and-wait exchange of `request` on `client`: the reply must equal it.
    func echo(_ client: UDPClient, _ request: [UInt8], _ what: String, _ daemon: FulcrumProcess, retries: Int = 3) throws -> Int {
        guard let result = try client.exchange(request, retries: retries, isReply: { $0 == request }) else {
            throw TestFailure("\(what): no reply after \(retries + 1) attempts\n\(daemon.diagnostics)")
        }
        return result.resends
    }

    /// timeout_client_data = 500: 10 clients exchange, go quiet for 1.5 s, and exchange again
    /// from the same sockets: each gets a new session (new socket towards the member). A client
    /// on another listener that keeps talking every 200 ms keeps its one session.
    func testUDPIdleSessionsExpire() throws {
        let member = try makeUDPMember("m1")
        let steady = try makeUDPMember("k1")
        let port = try freeUDPPort()
        let keepPort = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(port: port, timeoutClientData: 500),
                        udpListener(name: "keep", port: keepPort, pool: "keep", timeoutClientData: 500)],
            pools: [udpPool([member]), udpPool(name: "keep", [steady])]))

        let clients = try (0..<10).map { _ in try makeUDPClient(port: port) }
        let keeper = try makeUDPClient(port: keepPort)
        var resends = 0
        for (c, client) in clients.enumerated() {
            for seq in 0..<3 {
                resends += try echo(client, udpPayload(client: c, sequence: seq, size: 200), "client \(c) datagram \(seq)", daemon)
            }
        }
        XCTAssertEqual(member.sourcePorts.count, 10, "one session socket per client")

        // Quiet for 1.5 s (3 × the timeout); meanwhile the keeper talks every 200 ms.
        let quietEnd = monotonicNow() + 1.5
        var keepSeq = 0
        while monotonicNow() < quietEnd {
            resends += try echo(keeper, udpPayload(client: 99, sequence: keepSeq, size: 50), "keeper \(keepSeq)", daemon)
            keepSeq += 1
            sleepSeconds(0.2)
        }
        for (c, client) in clients.enumerated() {
            resends += try echo(client, udpPayload(client: c, sequence: 100, size: 200), "client \(c) after idling", daemon)
        }
        // New sessions have new sockets (ephemeral ports are random, so allow one collision).
        XCTAssertGreaterThanOrEqual(member.sourcePorts.count, 19, "session sockets seen by the member after expiry")
        XCTAssertEqual(steady.sourcePorts.count, 1, "a session with traffic every 200 ms must not expire")

        try terminate(daemon)
        let created = try udpListenerStat(daemon, "udp", "sessions_created")
        if resends == 0 {
            XCTAssertEqual(created, 20, "10 sessions, expired, then 10 new ones")
        } else {
            XCTAssertGreaterThanOrEqual(created, 20, "sessions_created (\(resends) resends happened)")
        }
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "sessions_expired"), 10)
        XCTAssertEqual(try udpListenerStat(daemon, "keep", "sessions_created"), 1)
        XCTAssertEqual(try udpListenerStat(daemon, "keep", "sessions_expired"), 0,
                       "the keeper's session expired although it never idled 500 ms")
    }

    /// workers = 1, udp_max_sessions = 20: 200 client sockets, one after another, each get
    /// their reply; 180 sessions are evicted. The most recent client keeps its session; the
    /// first one, long evicted, gets a new session and its reply.
    func testUDPSessionTableEvictsLeastRecentlyUsed() throws {
        let member = try makeUDPMember("m1")
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 1, extraMain: ["udp_max_sessions = 20"],
            listeners: [udpListener(port: port)], pools: [udpPool([member])]))

        var clients: [UDPClient] = []
        for c in 0..<200 {
            let client = try makeUDPClient(port: port)
            clients.append(client)
            _ = try echo(client, udpPayload(client: c, sequence: 0, size: 64 + c), "client \(c)", daemon)
        }
        _ = try echo(clients[199], udpPayload(client: 199, sequence: 1, size: 10), "the most recent client again", daemon)
        _ = try echo(clients[0], udpPayload(client: 0, sequence: 1, size: 10), "the first (evicted) client again", daemon)
        XCTAssertGreaterThanOrEqual(member.datagramCount, 202)

        try terminate(daemon)
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "sessions_created"), 201,
                       "200 clients + the first one coming back after eviction")
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "sessions_evicted"), 181)
        XCTAssertEqual(try udpMemberStat(daemon, pool: "udp", member: "m1", "sessions"), 201)
    }

    /// allowed_cidrs = ["127.0.0.2/32"]: a client on 127.0.0.2 is answered; one on 127.0.0.3
    /// gets nothing within 1 s, never reaches the member, and is counted as denied_cidr.
    func testUDPAllowedCIDRs() throws {
        let member = try makeUDPMember("m1")
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(port: port, allowedCIDRs: ["127.0.0.2/32"])], pools: [udpPool([member])]))

        let allowed = try makeUDPClient(port: port, source: "127.0.0.2")
        _ = try echo(allowed, Array("from 127.0.0.2".utf8), "client on allowed 127.0.0.2", daemon)
        let reached = member.datagramCount

        let denied = try makeUDPClient(port: port, source: "127.0.0.3", receiveTimeout: 1.0)
        for i in 0..<3 {
            try denied.send(Array("from 127.0.0.3 #\(i)".utf8))
        }
        let start = monotonicNow()
        let answer = try denied.receive()
        XCTAssertNil(answer, "a client on 127.0.0.3 got a reply: \(answer.map { String(decoding: $0, as: UTF8.self) } ?? "")")
        XCTAssertGreaterThanOrEqual(monotonicNow() - start, 0.9, "receive timeout")
        XCTAssertEqual(member.datagramCount, reached, "a denied datagram reached the member")

        _ = try echo(allowed, Array("still here".utf8), "allowed client afterwards", daemon)
        try terminate(daemon)
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "denied_cidr"), 3)
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "sessions_created"), 1, "denied sources must not get sessions")
    }
}
