// UDP listeners: datagrams arrive whole and unchanged, replies come from the listener's
// address, each client sticks to one member, sessions spread over the pool (IPv4 and IPv6).

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class UDPForwardingTests: UDPTestCase {
    /// 50 concurrent clients × (200 datagrams of 1..8000 bytes + 3 of 65,507 bytes) through 3
    /// echo members, stop-and-wait: every request gets a reply equal to it byte for byte, from
    /// the listener's address and port (a resend after 1 s of silence is allowed, at most 3).
    func testUDPIntegrityManyClientsRandomSizes() throws {
        let members = try (1...3).map { try makeUDPMember("m\($0)") }
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(listeners: [udpListener(port: port)], pools: [udpPool(members)]))

        let clients = 50, perClient = 200, large = 3
        let resends = Locked([0, 0])  // for datagrams of 1..8000 bytes, of 65,507 bytes
        let failures = runUDPClients(clients, timeout: 240) { [self] c in
            let client = try makeUDPClient(port: port, receiveTimeout: 1.0)
            var sizes = (0..<perClient).map { _ in Int.random(in: 1...8000) }
            for _ in 0..<large { sizes.insert(65_507, at: Int.random(in: 0...sizes.count)) }
            for (seq, size) in sizes.enumerated() {
                let request = udpPayload(client: c, sequence: seq, size: size)
                let result = try client.exchange(request, retries: 3, isReply: { $0 == request }, stray: { reply in
                    // After a resend a late reply to an earlier request may still arrive; it must
                    // equal that request. Anything else is corruption or misdelivery.
                    let earlier = (0..<seq).contains {
                        sizes[$0] == reply.count && udpPayload(client: c, sequence: $0, size: sizes[$0]) == reply
                    }
                    if !earlier {
                        throw TestFailure("datagram \(seq) (\(size) bytes): got a \(reply.count)-byte reply matching no request of this client (starts \(reply.prefix(8).map { String($0) }))")
                    }
                })
                guard let result else {
                    throw TestFailure("no reply to datagram \(seq) (\(size) bytes) after 4 attempts 1 s apart")
                }
                resends.withLock { $0[size == 65_507 ? 1 : 0] += result.resends }
            }
        }
        XCTAssertEqual(failures, [], "\(failures.count) clients failed")
        let total = clients * (perClient + large)
        let received = members.map(\.datagramCount)
        XCTAssertGreaterThanOrEqual(received.reduce(0, +), total, "datagrams the members received: \(received)")
        for (member, count) in zip(members, received) {
            XCTAssertGreaterThan(count, 0, "member \(member.name) got no datagrams")
        }
        print("UDP integrity (listener port \(port), members \(members.map(\.port))): \(total) exchanges; resends after a 1 s timeout: \(resends.current[0]) of small datagrams, \(resends.current[1]) of 65,507-byte ones; the kernel dropped \(kernelUDPDrops(port: port)) datagrams at the listener's sockets (receive buffer full)")

        try terminate(daemon)
        print("UDP integrity: \(daemon.logLines.first { $0.message == "udp listener stats" }?.raw ?? "no stats line")")
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "truncated"), 0, "truncated")
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "sessions_created"), clients, "one session per client")
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "datagrams_in"), total)
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "datagrams_out"), total)
    }

    /// 30 clients × 20 datagrams through 3 tagging members (weights 1/1/1): every reply of a
    /// client comes from the same member, and each member serves at least 5 clients.
    func testUDPSessionsStickToOneMemberAndSpreadEvenly() throws {
        let members = try (1...3).map { try makeUDPMember("m\($0)", mode: .tagged) }
        let names = Set(members.map(\.name))
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(listeners: [udpListener(port: port)], pools: [udpPool(members)]))

        /// Splits `name|payload`.
        func untag(_ reply: [UInt8]) -> (String, [UInt8])? {
            guard let bar = reply.firstIndex(of: UInt8(ascii: "|")) else { return nil }
            let name = String(decoding: reply[..<bar], as: UTF8.self)
            return names.contains(name) ? (name, Array(reply[(bar + 1)...])) : nil
        }
        let clients = 30, perClient = 20
        let memberOf = Locked<[Int: Set<String>]>([:])
        let failures = runUDPClients(clients, timeout: 120) { [self] c in
            let client = try makeUDPClient(port: port, receiveTimeout: 1.0)
            var sent: [[UInt8]] = []
            for seq in 0..<perClient {
                let request = udpPayload(client: c, sequence: seq, size: Int.random(in: 1...1000))
                let result = try client.exchange(request, retries: 3, isReply: { untag($0)?.1 == request }, stray: { reply in
                    guard let (_, payload) = untag(reply), sent.contains(payload) else {
                        throw TestFailure("datagram \(seq): unexpected reply \(String(decoding: reply.prefix(16), as: UTF8.self).debugDescription)")
                    }
                })
                guard let (name, _) = result.flatMap({ untag($0.reply) }) else {
                    throw TestFailure("no reply to datagram \(seq) after 4 attempts")
                }
                sent.append(request)
                _ = memberOf.withLock { $0[c, default: []].insert(name) }
            }
        }
        XCTAssertEqual(failures, [])
        let map = memberOf.current
        for c in 0..<clients {
            XCTAssertEqual(map[c]?.count, 1, "client \(c) was answered by \(map[c].map { $0.sorted() } ?? []), expected exactly one member")
        }
        var perMember: [String: Int] = [:]
        for (_, set) in map { if set.count == 1 { perMember[set.first!, default: 0] += 1 } }
        for member in members {
            let served = perMember[member.name] ?? 0
            XCTAssertGreaterThanOrEqual(served, 5, "member \(member.name) served \(served) of \(clients) clients (all: \(perMember))")
            // Each session has its own socket towards the member.
            XCTAssertEqual(member.sourcePorts.count, served, "distinct session sockets seen by \(member.name)")
        }

        try terminate(daemon)
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "sessions_created"), clients)
        for member in members {
            XCTAssertEqual(try udpMemberStat(daemon, pool: "udp", member: member.name, "sessions"), perMember[member.name] ?? 0,
                           "sessions stat of \(member.name)")
        }
    }

    /// 40 clients × 25 DNS-shaped queries with random ids to 2 responders: every answer has the
    /// id and question of its query and names a responder; each client keeps its responder.
    func testUDPDNSShapedQueries() throws {
        let responders = try (1...2).map { try makeUDPMember("dns\($0)", mode: .dns) }
        let texts = Set(responders.map { UDPMember.dnsAnswerText($0.name) })
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(name: "dns", port: port, pool: "dns")], pools: [udpPool(name: "dns", responders)]))

        let clients = 40, perClient = 25
        let responderOf = Locked<[Int: Set<String>]>([:])
        let failures = runUDPClients(clients, timeout: 120) { [self] c in
            let client = try makeUDPClient(port: port, receiveTimeout: 1.0)
            var answered: [(UInt16, [UInt8])] = []
            for n in 0..<perClient {
                let id = UInt16.random(in: 0...UInt16.max)
                let query = DNSMessage.query(id: id, name: "q\(n).c\(c).fulcrum.test")
                let question = DNSMessage.question(query)!
                let result = try client.exchange(query, retries: 3, isReply: { reply in
                    DNSMessage.id(reply) == id && DNSMessage.question(reply) == question
                }, stray: { reply in
                    guard let rid = DNSMessage.id(reply), let rq = DNSMessage.question(reply),
                          answered.contains(where: { $0.0 == rid && $0.1 == rq }) else {
                        throw TestFailure("query \(n) (id \(id)): answer with id \(DNSMessage.id(reply).map { "\($0)" } ?? "?") matches no query of this client")
                    }
                })
                guard let reply = result?.reply else { throw TestFailure("no answer to query \(n) (id \(id)) after 4 attempts") }
                guard let text = DNSMessage.answerText(reply), texts.contains(text) else {
                    throw TestFailure("query \(n): answer section \(DNSMessage.answerText(reply).debugDescription) names no responder")
                }
                answered.append((id, question))
                _ = responderOf.withLock { $0[c, default: []].insert(text) }
            }
        }
        XCTAssertEqual(failures, [])
        let map = responderOf.current
        XCTAssertEqual(map.count, clients)
        for (c, set) in map { XCTAssertEqual(set.count, 1, "client \(c) was answered by \(set.sorted())") }
        for text in texts {
            let served = map.values.filter { $0 == [text] }.count
            XCTAssertGreaterThanOrEqual(served, 10, "\(text) served \(served) of \(clients) clients")
        }
        try terminate(daemon)
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "dns", "datagrams_out"), clients * perClient)
    }

    /// Control for the checks above: a member answering a different payload is caught (the
    /// reply is not taken as the answer, it is reported as a stray, and no reply "matches").
    func testUDPWrongPayloadIsDetected() throws {
        let member = try makeUDPMember("liar", mode: .wrongPayload)
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(listeners: [udpListener(port: port)], pools: [udpPool([member])]))
        let client = try makeUDPClient(port: port, receiveTimeout: 0.3)
        let request = udpPayload(client: 7, sequence: 0, size: 100)
        var strays: [[UInt8]] = []
        let result = try client.exchange(request, retries: 1, isReply: { $0 == request }, stray: { strays.append($0) })
        XCTAssertNil(result, "a wrong payload was accepted as the echo")
        XCTAssertEqual(strays.count, 2, "both attempts should have been answered (wrongly)\n\(daemon.diagnostics)")
        XCTAssertTrue(strays.allSatisfy { $0 != request && $0.count == request.count + 6 })
        try terminate(daemon)
    }

    /// A UDP listener on ::1 with a member on ::1: 100 datagrams (two of 65,507 bytes) round
    /// trip intact, answered from [::1]:port.
    func testUDPIPv6RoundTrip() throws {
        let member = try makeUDPMember("v6", host: "::1")
        let port = try freeUDPPort(host: "::1")
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(address: "::1", port: port)], pools: [udpPool([member], host: "::1")]))

        let client = try makeUDPClient(host: "::1", port: port, receiveTimeout: 1.0)
        var resends = 0
        let sizes = (0..<100).map { $0 == 10 || $0 == 60 ? 65_507 : Int.random(in: 1...8000) }
        for (seq, size) in sizes.enumerated() {
            let request = udpPayload(client: 6, sequence: seq, size: size)
            let result = try client.exchange(request, retries: 3, isReply: { $0 == request }, stray: { reply in
                guard (0..<seq).contains(where: { sizes[$0] == reply.count && udpPayload(client: 6, sequence: $0, size: sizes[$0]) == reply }) else {
                    throw TestFailure("datagram \(seq): a \(reply.count)-byte reply matching no request\n\(daemon.diagnostics)")
                }
            })
            guard let result else {
                throw TestFailure("no reply to datagram \(seq) (\(size) bytes) over IPv6 after 4 attempts\n\(daemon.diagnostics)")
            }
            resends += result.resends
        }
        XCTAssertGreaterThanOrEqual(member.datagramCount, 100)
        XCTAssertEqual(member.sourcePorts.count, 1, "one session socket towards the member")
        print("UDP IPv6: 100 exchanges, \(resends) resends after a 1 s timeout")
        try terminate(daemon)
        XCTAssertGreaterThanOrEqual(try udpListenerStat(daemon, "udp", "datagrams_out"), 100)
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "truncated"), 0)
        XCTAssertEqual(try udpMemberStat(daemon, pool: "udp", member: "v6", "refused"), 0)
    }
}
