// Payload integrity through the splice engine: every byte that goes in comes out, hashed on
// both sides; half-close passes through in both directions; IPv6 works end to end.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class DataIntegrityTests: FulcrumTestCase {
    private func members(_ servers: [TestServer]) -> [MemberSpec] {
        servers.enumerated().map { MemberSpec(name: "m\($0.offset + 1)", address: $0.element.host, port: $0.element.port) }
    }

    /// 64 concurrent clients each send 4 MiB of random bytes to echo members and read them back.
    /// Small reads are copied, bulk reads spliced (the default).
    func testConcurrentClientsEchoIntegrity() throws {
        try concurrentEchoIntegrity(copySmallReads: true)
    }

    /// The same with every read spliced.
    func testConcurrentClientsEchoIntegritySpliceOnly() throws {
        try concurrentEchoIntegrity(copySmallReads: false)
    }

    private func concurrentEchoIntegrity(copySmallReads: Bool) throws {
        let servers = try (0..<3).map { _ in try makeServer(mode: .echo) }
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            extraMain: ["copy_small_reads = \(copySmallReads)"],
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(retries: 3, members: members(servers))]))

        let clients = 64
        let size = 4 << 20
        let results = Locked<[Int: Result<(sent: SHA256Digest, received: SHA256Digest, count: Int), Error>]>([:])
        let finished = runConcurrently(clients, timeout: 240) { index in
            do {
                let socket = try self.connect(port: port, timeout: 10, ioTimeout: 60)
                let r = try echoRoundTrip(socket, seed: UInt64(index + 1), size: size, timeout: 120)
                socket.close()
                results.withLock { $0[index] = .success((r.sent, r.received, r.receivedCount)) }
            } catch {
                results.withLock { $0[index] = .failure(error) }
            }
        }
        XCTAssertTrue(finished, "not all \(clients) clients finished within 240 s")
        let all = results.current
        XCTAssertEqual(all.count, clients, "results from all clients")
        for index in 0..<clients {
            switch all[index] {
            case let .success(r)?:
                XCTAssertEqual(r.count, size, "client \(index): bytes echoed back")
                XCTAssertEqual(r.received, r.sent, "client \(index): SHA-256 of received != SHA-256 of sent")
            case let .failure(error)?:
                XCTFail("client \(index): \(error)")
            case nil:
                XCTFail("client \(index): no result")
            }
        }
        let accepted = servers.map(\.acceptedCount)
        XCTAssertEqual(accepted.reduce(0, +), clients, "member connections in total: \(accepted)")
        for (i, count) in accepted.enumerated() {
            XCTAssertGreaterThan(count, 0, "member m\(i + 1) got no connection (round robin over 3 members): \(accepted)")
        }
        for (i, server) in servers.enumerated() {
            guard let records = server.waitFinished(count: server.acceptedCount, timeout: 10) else {
                XCTFail("member m\(i + 1) still has open connections 10 s after all clients finished\n\(daemon.diagnostics)")
                continue
            }
            for record in records where record.error != nil {
                XCTFail("member m\(i + 1) connection \(record.id) ended with error: \(record.error!)")
            }
        }
    }

    /// Request/response traffic in messages of 1 byte to 9 KB, so reads cross the 4 KiB line
    /// between the copy path and splice both ways; every echo must match its message.
    func testMixedSizeMessagesIntegrity() throws {
        for copySmallReads in [true, false] {
            let member = try makeServer(mode: .echo)
            let port = try freePort()
            let daemon = try startFulcrum(DaemonConfig(
                extraMain: ["copy_small_reads = \(copySmallReads)"],
                listeners: [ListenerSpec(port: port)],
                pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))
            let failures = Locked<[String]>([])
            let finished = runConcurrently(8, timeout: 120) { client in
                do {
                    let socket = try self.connect(port: port, ioTimeout: 10)
                    var rng = SplitMix(seed: UInt64(client) &+ (copySmallReads ? 1000 : 2000))
                    for i in 0..<1500 {
                        let size = 1 + Int(rng.next() % (i % 10 == 0 ? 9000 : 300))
                        let message = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                        try socket.send(message)
                        let echoed = try socket.recvExactly(size)
                        if echoed != message {
                            failures.withLock { $0.append("client \(client) message \(i) (\(size) bytes) came back different") }
                            return
                        }
                    }
                    socket.close()
                } catch {
                    failures.withLock { $0.append("client \(client): \(error)") }
                }
            }
            XCTAssertTrue(finished, "clients did not finish (copy_small_reads = \(copySmallReads))")
            XCTAssertEqual(failures.current, [], "copy_small_reads = \(copySmallReads)\n\(daemon.diagnostics)")
            try terminate(daemon)
        }
    }

    /// 256 MiB client → member; the sink member's hash must equal the client's.
    func testBulkClientToMember256MiB() throws {
        let sink = try makeServer(mode: .sink)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "sink", port: sink.port)])]))

        let size = 256 << 20
        let socket = try connect(port: port, ioTimeout: 60)
        let stream = PayloadStream(seed: 0xB01C, total: size, chunkSize: 1 << 20)
        let start = monotonicNow()
        while let chunk = stream.nextChunk() {
            do {
                try socket.send(chunk)
            } catch {
                throw TestFailure("send failed after \(stream.produced - chunk.count) bytes: \(error)\n\(daemon.diagnostics)")
            }
            if monotonicNow() - start > 180 {
                throw TestFailure("sending 256 MiB took more than 180 s (\(stream.produced) bytes so far)\n\(daemon.diagnostics)")
            }
        }
        socket.shutdownWrite()
        let sent = stream.digest()
        let outcome = socket.awaitClose(timeout: 60)
        XCTAssertEqual(outcome, .eof, "after the sink member closed, the client should see EOF")
        guard let records = sink.waitFinished(count: 1, timeout: 30), let record = records.first else {
            XCTFail("sink member did not finish its connection\n\(daemon.diagnostics)")
            return
        }
        XCTAssertNil(record.error, "sink member error")
        XCTAssertEqual(record.receivedBytes, size, "bytes received by the member")
        XCTAssertEqual(record.receivedDigest, sent, "SHA-256 at the member != SHA-256 sent by the client")
        XCTAssertEqual(sink.acceptedCount, 1)
        print("bulk client->member: \(size >> 20) MiB in \(String(format: "%.2f", monotonicNow() - start)) s")
    }

    /// 256 MiB member → client; the client's hash must equal the source member's.
    func testBulkMemberToClient256MiB() throws {
        let size = 256 << 20
        let source = try makeServer(mode: .source(bytes: size))
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "source", port: source.port)])]))

        let socket = try connect(port: port, ioTimeout: 60)
        let start = monotonicNow()
        let received = try socket.readToEOF(limit: size)
        let elapsed = monotonicNow() - start
        socket.close()
        guard let records = source.waitFinished(count: 1, timeout: 30), let record = records.first else {
            XCTFail("source member did not finish its connection\n\(daemon.diagnostics)")
            return
        }
        XCTAssertNil(record.error, "source member error")
        XCTAssertEqual(record.sentBytes, size)
        XCTAssertEqual(received.count, size, "bytes received by the client")
        XCTAssertEqual(received.digest, record.sentDigest, "SHA-256 at the client != SHA-256 sent by the member")
        print("bulk member->client: \(size >> 20) MiB in \(String(format: "%.2f", elapsed)) s")
    }

    /// Client sends, then shutdown(SHUT_WR); the member sees EOF and only then replies 1 MiB.
    func testHalfCloseFromClientStillReceivesReply() throws {
        let replySize = 1 << 20
        let member = try makeServer(mode: .replyAfterEOF(bytes: replySize))
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))

        let socket = try connect(port: port, ioTimeout: 20)
        let requestSize = 300 * 1024 + 17
        let request = PayloadStream(seed: 0x4A1F, total: requestSize)
        while let chunk = request.nextChunk() { try socket.send(chunk) }
        socket.shutdownWrite()
        let reply = try socket.readToEOF(limit: replySize)
        guard let records = member.waitFinished(count: 1, timeout: 10), let record = records.first else {
            XCTFail("member did not finish\n\(daemon.diagnostics)")
            return
        }
        XCTAssertNil(record.error, "member error")
        XCTAssertEqual(record.receivedBytes, requestSize, "member got the whole request before EOF")
        XCTAssertEqual(record.receivedDigest, request.digest(), "request hash at the member")
        XCTAssertEqual(reply.count, replySize, "client got the whole reply after its half-close")
        XCTAssertEqual(reply.digest, record.sentDigest, "reply hash at the client")
    }

    /// 8 clients each make `perClient` connections, one after another, through a fulcrumd in
    /// front of one member in `mode`; `exchange` runs on each connection and returns nil or what
    /// went wrong. Every connection must succeed and reach the member.
    private func connectionsThroughFulcrum(member mode: TestServer.Mode, perClient: Int,
                                           _ exchange: @escaping (_ socket: TCPSocket, _ client: Int, _ index: Int) throws -> String?) throws {
        let member = try makeServer(mode: mode)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))
        let failures = Locked<[String]>([])
        let finished = runConcurrently(8, timeout: 120) { client in
            for i in 0..<perClient {
                do {
                    let socket = try self.connect(port: port, ioTimeout: 10)
                    defer { socket.close() }
                    if let failure = try exchange(socket, client, i) {
                        failures.withLock { $0.append("client \(client) connection \(i): \(failure)") }
                        return
                    }
                } catch {
                    failures.withLock { $0.append("client \(client) connection \(i): \(error)") }
                    return
                }
            }
        }
        XCTAssertTrue(finished, "clients did not finish\n\(daemon.diagnostics)")
        XCTAssertEqual(failures.current, [], "\(daemon.diagnostics)")
        XCTAssertEqual(member.acceptedCount, 8 * perClient, "member connections")
    }

    /// Small messages followed at once by a half-close, through the copy path: a short read
    /// ends reading until the next event (no recv for EAGAIN), so a FIN queued behind the
    /// data — sent before the member connection was up, or in the same event as the data —
    /// must still be seen. Half the connections send one message and the FIN at once (often
    /// before fulcrumd has connected to the member); the others read the echo of a first
    /// message, then send a last one and shut down at once. Each must get its echoes, then EOF.
    func testSmallMessageThenHalfCloseIsNeverStuck() throws {
        try connectionsThroughFulcrum(member: .echo, perClient: 40) { socket, client, i in
            var rng = SplitMix(seed: UInt64(client * 1000 + i) &+ 77)
            let first = (0..<(1 + Int(rng.next() % 200))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let last = (0..<(1 + Int(rng.next() % 200))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Every other connection sends its first message with the FIN right behind it.
            let oneShot = i % 2 == 0
            try socket.send(first)
            if oneShot { socket.shutdownWrite() }
            let firstEcho = try socket.recvExactly(first.count)
            if oneShot {
                let outcome = socket.awaitClose(timeout: 10)
                return firstEcho == first && outcome == .eof ? nil
                    : "(one message, then FIN): echo matches \(firstEcho == first), end \(outcome)"
            }
            try socket.send(last)
            socket.shutdownWrite()
            let lastEcho = try socket.recvExactly(last.count)
            let outcome = socket.awaitClose(timeout: 10)
            return firstEcho == first && lastEcho == last && outcome == .eof ? nil
                : "echoes match \(firstEcho == first)/\(lastEcho == last), end \(outcome)"
        }
    }

    /// A member that speaks first, briefly, and closes (a greeting and FIN, often queued before
    /// fulcrumd has seen its connect finish): whatever fulcrumd reads on after the connect must
    /// include it. Every client of 200 gets the whole greeting, then EOF.
    func testMemberGreetingAndFINBeforeConnectIsSeen() throws {
        let greeting = 37
        try connectionsThroughFulcrum(member: .source(bytes: greeting), perClient: 25) { socket, _, _ in
            let received = try socket.readToEOF(limit: 1 << 20, totalTimeout: 10)
            return received.count == greeting ? nil : "\(received.count) bytes before EOF"
        }
    }

    /// Mirror: the member sends 1 MiB and shuts down its write side; the client reads to EOF,
    /// then still sends 1 MiB, which the member receives in full.
    func testHalfCloseFromMemberClientCanStillSend() throws {
        let size = 1 << 20
        let member = try makeServer(mode: .source(bytes: size))
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))

        let socket = try connect(port: port, ioTimeout: 20)
        let fromMember = try socket.readToEOF(limit: size)
        XCTAssertEqual(fromMember.count, size, "client got the member's data up to its EOF")
        // The member's write side is shut; ours must still be open end to end.
        let upload = PayloadStream(seed: 0x5EED, total: size)
        while let chunk = upload.nextChunk() {
            do {
                try socket.send(chunk)
            } catch {
                throw TestFailure("client could not send after the member's half-close: \(error)\n\(daemon.diagnostics)")
            }
        }
        socket.shutdownWrite()
        let outcome = socket.awaitClose(timeout: 10)
        XCTAssertEqual(outcome, .eof, "connection should end cleanly once both sides are done")
        guard let records = member.waitFinished(count: 1, timeout: 10), let record = records.first else {
            XCTFail("member did not finish\n\(daemon.diagnostics)")
            return
        }
        XCTAssertNil(record.error, "member error")
        XCTAssertEqual(fromMember.digest, record.sentDigest, "member → client hash")
        XCTAssertEqual(record.receivedBytes, size, "member received everything sent after its half-close")
        XCTAssertEqual(record.receivedDigest, upload.digest(), "client → member hash after half-close")
    }

    /// Listener on ::1, member on ::1: 1 MiB echo round trip.
    func testIPv6EchoRoundTrip() throws {
        guard (try? TCPListener(host: "::1", port: 0)) != nil else {
            throw TestFailure("::1 is not usable on this host (IPv6 loopback disabled?)")
        }
        let member = try makeServer(host: "::1", mode: .echo)
        let port = try freePort(host: "::1")
        _ = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(address: "::1", port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m6", address: "::1", port: member.port)])]))

        let socket = try connect(host: "::1", port: port, ioTimeout: 20)
        let r = try echoRoundTrip(socket, seed: 0x6666, size: 1 << 20, timeout: 30)
        XCTAssertEqual(r.receivedCount, 1 << 20)
        XCTAssertEqual(r.received, r.sent, "SHA-256 of the echo over IPv6")
        XCTAssertEqual(member.acceptedCount, 1)
        if let peer = member.allRecords.first?.peer {
            XCTAssertTrue(peer.hasPrefix("[::1]"), "member should be reached over IPv6, saw peer \(peer)")
        }
    }
}

/// A tiny deterministic generator for message sizes and bytes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
