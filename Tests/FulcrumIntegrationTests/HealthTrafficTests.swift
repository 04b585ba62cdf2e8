// Health verdicts and real traffic: a member marked down under continuous TCP or UDP load gets
// nothing new (and UDP sessions pinned to it move), and gets traffic again once back up;
// on_member_down = shutdown_sessions closes its open connections while "keep" leaves them;
// a pool with every member down closes new clients at once; and 500 monitored members are
// checked while another pool forwards data byte for byte.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Clients on their own threads opening short connections through fulcrumd (connect, one
/// echoed line, close) until stopped, recording every failure.
final class TCPLoad {
    private let stopping = Locked(false)
    private let state = Locked<(completed: Int, failures: [String])>((0, []))
    private let group = DispatchGroup()

    init(port: UInt16, threads: Int, pause: Double = 0.01) {
        for index in 0..<threads {
            group.enter()
            startThread(name: "fulcrum-it-load-\(index)") { [self] in
                defer { group.leave() }
                var sequence = 0
                while !stopping.current {
                    do {
                        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 5, ioTimeout: 5)
                        defer { socket.close() }
                        try socket.exchange("load \(index) \(sequence)\n")
                        state.withLock { $0.completed += 1 }
                    } catch {
                        state.withLock { if $0.failures.count < 20 { $0.failures.append("client \(index) #\(sequence): \(error)") } }
                    }
                    sequence += 1
                    sleepSeconds(pause)
                }
            }
        }
    }

    var completed: Int { state.current.completed }
    var failures: [String] { state.current.failures }

    /// Stops the clients and waits for them (idempotent).
    func stop() {
        stopping.withLock { $0 = true }
        _ = group.wait(timeout: .now() + 15)
    }
}

/// UDP clients, each with its own socket (so a fixed source port and one session each),
/// exchanging tagged datagrams (`member|payload` replies) until stopped; every reply is
/// recorded with its time and the member that answered.
final class UDPLoad {
    struct Reply {
        var time: Double
        var member: String
    }

    private let stopping = Locked(false)
    private let state = Locked<(replies: [Int: [Reply]], failures: [String])>(([:], []))
    private let group = DispatchGroup()
    let clients: Int

    init(clients: [UDPClient], pause: Double = 0.02) {
        self.clients = clients.count
        for (index, client) in clients.enumerated() {
            group.enter()
            let box = UncheckedSendable(client)
            startThread(name: "fulcrum-it-udp-load-\(index)") { [self] in
                defer { group.leave() }
                let client = box.value
                var sequence = 0
                while !stopping.current {
                    let request = udpPayload(client: index, sequence: sequence, size: 64)
                    do {
                        let result = try client.exchange(request, retries: 3, isReply: { UDPLoad.untag($0)?.payload == request })
                        if let reply = result?.reply, let name = UDPLoad.untag(reply)?.name {
                            state.withLock { $0.replies[index, default: []].append(Reply(time: monotonicNow(), member: name)) }
                        } else {
                            state.withLock { if $0.failures.count < 20 { $0.failures.append("client \(index) datagram \(sequence): no reply to 4 attempts 300 ms apart at \(monotonicNow())") } }
                        }
                    } catch {
                        state.withLock { if $0.failures.count < 20 { $0.failures.append("client \(index) datagram \(sequence): \(error)") } }
                    }
                    sequence += 1
                    sleepSeconds(pause)
                }
            }
        }
    }

    static func untag(_ reply: [UInt8]) -> (name: String, payload: [UInt8])? {
        guard let bar = reply.firstIndex(of: UInt8(ascii: "|")) else { return nil }
        return (String(decoding: reply[..<bar], as: UTF8.self), Array(reply[(bar + 1)...]))
    }

    var replies: [Int: [Reply]] { state.current.replies }
    var failures: [String] { state.current.failures }

    func stop() {
        stopping.withLock { $0 = true }
        _ = group.wait(timeout: .now() + 15)
    }
}

final class HealthTrafficTests: HealthTestCase {
    let slack = 2.5

    /// Waits until the watched pool or member reaches `status`, passing over other changes.
    @discardableResult
    private func waitForStatus(_ watch: StatusWatch, _ status: String, timeout: Double) throws -> StatusChange {
        let deadline = monotonicNow() + timeout
        while true {
            guard let change = watch.next(timeout: max(0.05, deadline - monotonicNow())) else {
                throw TestFailure("\(watch.what) did not become \(status) within \(timeout) s; changes:\n\(watch.all().map(\.raw).joined(separator: "\n"))\n\(watch.process.diagnostics)")
            }
            if change.status == status { return change }
        }
    }

    // MARK: TCP under load

    /// Three echo members, health on separate HTTP ports, four client threads opening short
    /// connections all along. b's health answers 503: once ERROR is logged (+300 ms), b gets
    /// no new connection for 2 s while a and c keep getting them; its health answers 200
    /// again: after ONLINE it gets connections again. No client ever fails.
    func testTCPLoadAvoidsMemberMarkedDown() throws {
        let names = ["a", "b", "c"]
        let data = try names.map { _ in try makeServer(mode: .echo) }
        let health = try names.map { _ in try makeHTTPHealthServer() }
        let port = try freePort()
        let (delay, timeout, up, down) = (0.3, 0.25, 2, 2)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: names.indices.map {
                MemberSpec(name: names[$0], port: data[$0].port, monitorPort: health[$0].port)
            }, healthMonitor: monitor("HTTP", delay: delay, timeout: timeout, up: up, down: down))]))
        let watches = names.map { StatusWatch(daemon, pool: "web", member: $0) }
        for watch in watches { try expectChange(watch, to: "ONLINE", check: "L7OK", within: 5, "at start") }

        let load = TCPLoad(port: port, threads: 4)
        defer { load.stop() }
        sleepSeconds(1.0)
        XCTAssertGreaterThan(data[1].acceptedCount, 0, "b took no connections before its health broke (the test proves nothing)")

        let broke = monotonicNow()
        health[1].setStatus(503)
        try expectChange(watches[1], to: "ERROR", check: "L7STS", since: broke,
                         within: Double(down) * delay * 1.05 + timeout + slack, "under load")
        sleepSeconds(0.3)
        let snapshot = data.map(\.acceptedCount)
        sleepSeconds(2.0)
        let after = data.map(\.acceptedCount)
        print("connections during the 2 s with b down: a \(after[0] - snapshot[0]), b \(after[1] - snapshot[1]), c \(after[2] - snapshot[2])")
        XCTAssertEqual(after[1], snapshot[1], "b (ERROR) received new connections")
        XCTAssertGreaterThanOrEqual(after[0] - snapshot[0], 20, "a kept receiving connections")
        XCTAssertGreaterThanOrEqual(after[2] - snapshot[2], 20, "c kept receiving connections")

        let fixed = monotonicNow()
        health[1].setStatus(200)
        try expectChange(watches[1], to: "ONLINE", check: "L7OK", since: fixed,
                         within: Double(up) * delay * 1.05 + timeout + slack, "under load")
        let atOnline = data[1].acceptedCount
        XCTAssertTrue(waitUntil(timeout: 3) { data[1].acceptedCount >= atOnline + 10 },
                      "b received \(data[1].acceptedCount - atOnline) connections in 3 s after ONLINE")
        load.stop()
        XCTAssertEqual(load.failures, [], "client failures")
        XCTAssertGreaterThan(load.completed, 200, "connections completed")
        print("TCP load: \(load.completed) connections, members \(data.map(\.acceptedCount))")
        XCTAssertEqual(watches[0].all().count + watches[2].all().count, 2, "a or c changed status")
        try terminate(daemon)
    }

    // MARK: UDP under load

    /// Three tagging echo members, UDP-CONNECT health on separate ports, nine clients with
    /// fixed source ports exchanging all along. b's health port closes: once ERROR is logged
    /// (+300 ms), b receives no datagram for 2 s and every client — those pinned to b too —
    /// gets its replies from a or c. b's health port reopens: after ONLINE, new clients land
    /// on b again.
    func testUDPLoadAvoidsMemberMarkedDown() throws {
        let names = ["a", "b", "c"]
        let members = try names.map { try makeUDPMember($0, mode: .tagged) }
        let health = try names.map { _ in try makeUDPResponder(.echo) }
        let port = try freeUDPPort()
        let (delay, timeout, up, down) = (0.3, 0.2, 2, 2)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(port: port)],
            pools: [PoolSpec(name: "udp", members: names.indices.map {
                MemberSpec(name: names[$0], port: members[$0].port, monitorPort: health[$0].port)
            }, healthMonitor: monitor("UDP-CONNECT", delay: delay, timeout: timeout, up: up, down: down))]))
        let watches = names.map { StatusWatch(daemon, pool: "udp", member: $0) }
        for watch in watches { try expectChange(watch, to: "ONLINE", check: "L4OK", within: 5, "at start") }

        let clients = try (0..<9).map { _ in try makeUDPClient(port: port, receiveTimeout: 0.3) }
        let load = UDPLoad(clients: clients)
        defer { load.stop() }
        sleepSeconds(1.5)
        let broke = monotonicNow()
        let pinnedToB = load.replies.filter { $0.value.last?.member == "b" }.map(\.key).sorted()
        XCTAssertFalse(pinnedToB.isEmpty, "no client was on b before its health broke (the test proves nothing): \(load.replies.mapValues { Set($0.map(\.member)) })")

        try health[1].close()
        try expectChange(watches[1], to: "ERROR", check: "L4CON", contains: "ICMP port unreachable", since: broke,
                         within: Double(down) * delay * 1.05 + timeout + slack, "under load")
        sleepSeconds(0.3)
        let windowStart = monotonicNow()
        let snapshot = members[1].datagramCount
        sleepSeconds(2.0)
        let windowEnd = monotonicNow()
        XCTAssertEqual(members[1].datagramCount, snapshot, "b (ERROR) received datagrams after being marked down")
        let replies = load.replies
        for client in 0..<clients.count {
            let inWindow = (replies[client] ?? []).filter { $0.time >= windowStart && $0.time <= windowEnd }
            XCTAssertGreaterThanOrEqual(inWindow.count, 5, "client \(client)\(pinnedToB.contains(client) ? " (was on b)" : "") got only \(inWindow.count) replies in the 2 s with b down")
            XCTAssertTrue(inWindow.allSatisfy { $0.member != "b" }, "client \(client) got replies from b while it was ERROR")
        }
        load.stop()
        XCTAssertEqual(load.failures, [], "client failures")

        try health[1].reopen()
        let fixed = monotonicNow()
        try expectChange(watches[1], to: "ONLINE", check: "L4OK", since: fixed,
                         within: Double(up) * delay * 1.05 + timeout + slack, "after its health port reopened")
        var landedOnB = 0
        var answers: [String] = []
        for index in 0..<12 where landedOnB == 0 {
            let client = try makeUDPClient(port: port, receiveTimeout: 0.3)
            let request = udpPayload(client: 100 + index, sequence: 0, size: 64)
            guard let reply = try client.exchange(request, retries: 3, isReply: { UDPLoad.untag($0)?.payload == request })?.reply,
                  let name = UDPLoad.untag(reply)?.name else {
                XCTFail("new client \(index) got no reply after b came back")
                continue
            }
            answers.append(name)
            if name == "b" { landedOnB += 1 }
        }
        XCTAssertEqual(landedOnB, 1, "no new client landed on b after it was ONLINE again (answers: \(answers))")
        try terminate(daemon)
        XCTAssertGreaterThanOrEqual(try udpMemberStat(daemon, pool: "udp", member: "b", "sessions"), 2, "sessions of b (before and after)")
    }

    // MARK: on_member_down

    /// on_member_down = "shutdown_sessions": connections open through a member that is marked
    /// down are closed by fulcrumd within 2 s; those through the other member stay and echo.
    func testShutdownSessionsClosesConnectionsOfMemberMarkedDown() throws {
        try checkOnMemberDown(shutdownSessions: true)
    }

    /// Default on_member_down ("keep"): connections through a member marked down stay open
    /// and keep echoing.
    func testKeepLeavesConnectionsOfMemberMarkedDownOpen() throws {
        try checkOnMemberDown(shutdownSessions: false)
    }

    private func checkOnMemberDown(shutdownSessions: Bool) throws {
        let dataA = try makeServer(mode: .echo)
        let dataB = try makeServer(mode: .echo)
        let healthA = try makeHTTPHealthServer()
        let healthB = try makeHTTPHealthServer()
        let port = try freePort()
        let (delay, timeout, down) = (0.3, 0.2, 2)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port, timeoutClientData: 60_000, timeoutMemberData: 60_000)],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: dataA.port, monitorPort: healthA.port),
                                       MemberSpec(name: "b", port: dataB.port, monitorPort: healthB.port)],
                             extra: shutdownSessions ? ["on_member_down = \"shutdown_sessions\""] : [],
                             healthMonitor: monitor("HTTP", delay: delay, timeout: timeout, up: 2, down: down))]))
        let watchA = StatusWatch(daemon, pool: "web", member: "a")
        try expectChange(watchA, to: "ONLINE", within: 5, "at start")

        // Open connections until each member holds at least 3 (which one took it: its count moved).
        var onA: [TCPSocket] = [], onB: [TCPSocket] = []
        for i in 0..<30 where onA.count < 3 || onB.count < 3 {
            let (a, b) = (dataA.acceptedCount, dataB.acceptedCount)
            let socket = try connect(port: port, ioTimeout: 5)
            try socket.exchange("hello \(i)\n")
            if dataA.acceptedCount > a { onA.append(socket) } else if dataB.acceptedCount > b { onB.append(socket) } else {
                XCTFail("connection \(i) reached neither member")
            }
        }
        guard onA.count >= 3, onB.count >= 3 else {
            throw TestFailure("could not spread connections over both members: a \(onA.count), b \(onB.count)")
        }

        let broke = monotonicNow()
        healthA.setStatus(503)
        let change = try expectChange(watchA, to: "ERROR", check: "L7STS", since: broke,
                                      within: Double(down) * delay * 1.05 + timeout + slack, "with connections open")
        if shutdownSessions {
            let deadline = change.seenAt + 2.0
            for (i, socket) in onA.enumerated() {
                let outcome = socket.awaitClose(timeout: max(0.05, deadline - monotonicNow()))
                XCTAssertTrue(outcome.isClosed, "connection \(i) to a (marked down) not closed within 2 s of ERROR: \(outcome)")
            }
        } else {
            sleepSeconds(1.0)
            for (i, socket) in onA.enumerated() {
                let outcome = socket.awaitClose(timeout: 0.1)
                XCTAssertEqual(outcome, .timeout, "connection \(i) to a (marked down, keep) was closed: \(outcome)")
                XCTAssertNoThrow(try socket.exchange("still there \(i)\n"), "connection \(i) to a stopped echoing")
            }
        }
        for (i, socket) in onB.enumerated() {
            XCTAssertEqual(socket.awaitClose(timeout: 0.1), .timeout, "connection \(i) to b (up) was closed")
            XCTAssertNoThrow(try socket.exchange("b is fine \(i)\n"), "connection \(i) to b stopped echoing")
        }
        for socket in onA + onB { socket.close() }

        try terminate(daemon)
        let shutA = try stat(daemon.memberStats(pool: "web", member: "a"), "shut_down_on_member_down", "member stats web/a", daemon)
        let shutB = try stat(daemon.memberStats(pool: "web", member: "b"), "shut_down_on_member_down", "member stats web/b", daemon)
        if shutdownSessions {
            XCTAssertGreaterThan(shutA, 0, "shut_down_on_member_down of a")
            XCTAssertEqual(shutA, onA.count, "shut_down_on_member_down of a: one per connection it held")
            XCTAssertTrue(daemon.logLines.contains { $0.message.contains("closed \(onA.count) connections") || $0.message.contains("(on_member_down = shutdown_sessions)") },
                          "no log line about the closed connections")
        } else {
            XCTAssertEqual(shutA, 0, "shut_down_on_member_down of a with on_member_down = keep")
        }
        XCTAssertEqual(shutB, 0, "shut_down_on_member_down of b")
    }

    // MARK: all members down

    /// Both members' health answers 503 from the start: once the pool is ERROR a new client is
    /// closed at once (EOF within 1 s, no member connection attempted), counted as no_member;
    /// when one member comes back, clients are served by it.
    func testAllMembersDownClosesNewClientsAtOnce() throws {
        let dataA = try makeServer(mode: .echo)
        let dataB = try makeServer(mode: .echo)
        let healthA = try makeHTTPHealthServer(.status(503))
        let healthB = try makeHTTPHealthServer(.status(503))
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port, timeoutMemberConnect: 5000)],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: dataA.port, monitorPort: healthA.port),
                                       MemberSpec(name: "b", port: dataB.port, monitorPort: healthB.port)],
                             healthMonitor: monitor("HTTP", delay: 0.3, timeout: 0.2, up: 2, down: 2))]))
        try waitForStatus(StatusWatch(daemon, pool: "web"), "ERROR", timeout: 6)

        for i in 0..<5 {
            let socket = try connect(port: port, ioTimeout: 5)
            let start = monotonicNow()
            let outcome = socket.awaitClose(timeout: 1.0)
            let elapsed = monotonicNow() - start
            XCTAssertTrue(outcome.isClosed, "client \(i) with every member down: \(outcome) after \(String(format: "%.3f", elapsed)) s (must be closed at once)")
            socket.close()
        }
        XCTAssertEqual(dataA.acceptedCount + dataB.acceptedCount, 0, "a member was connected to although all were down")

        let fixed = monotonicNow()
        healthA.setStatus(200)
        try expectChange(StatusWatch(daemon, pool: "web", member: "a").skipping(1), to: "ONLINE", since: fixed,
                         within: 2 * 0.3 * 1.05 + 0.2 + slack, "after its health recovered")
        for i in 0..<3 {
            let socket = try connect(port: port, ioTimeout: 5)
            try socket.exchange("back \(i)\n")
            socket.close()
        }
        XCTAssertTrue(waitUntil(timeout: 5) { dataA.acceptedCount == 3 }, "a took \(dataA.acceptedCount) of 3 connections")
        XCTAssertEqual(dataB.acceptedCount, 0, "b (still ERROR) took a connection")

        try terminate(daemon)
        let noMember = try stat(daemon.listenerStats("web"), "no_member", "listener stats web", daemon)
        XCTAssertGreaterThanOrEqual(noMember, 5, "no_member counts the clients closed with every member down")
    }

    // MARK: scale

    /// 500 members monitored by TCP every 0.2 s (timeout 0.1): half refused (nothing bound at
    /// their own 127.0.x.y address), half checked at monitor_address/monitor_port on four
    /// accept-and-close targets (127.0.0.1-3 and ::1). Every member gets the right first
    /// verdict; the daemon's CPU time over 5 s is reported (sanity bound: < 90 % of a core);
    /// meanwhile another pool forwards 200 connections × 64 KiB byte for byte; finally one
    /// target stops listening and its members all go ERROR.
    func testFiveHundredMonitoredMembersWhileForwarding() throws {
        let targets = try ["127.0.0.1", "127.0.0.2", "127.0.0.3", "::1"].map { try makeAcceptCloseServer(host: $0) }
        let unbound = try ClosedPort()  // its port on 127.0.0.1 stays ours; nothing listens on it at 127.0.1.x/127.0.2.x
        keep(unbound)
        let echoA = try makeServer(mode: .echo)
        let echoB = try makeServer(mode: .echo)
        let manyPort = try freePort(), dataPort = try freePort()
        let count = 500
        func target(of i: Int) -> Int { (i / 2) % targets.count }
        var members: [MemberSpec] = []
        for i in 0..<count {
            var member = MemberSpec(name: "m\(i)", address: "127.0.\(1 + i / 250).\(1 + i % 250)", port: unbound.port)
            if i % 2 == 1 {
                member.monitorAddress = targets[target(of: i)].host
                member.monitorPort = targets[target(of: i)].port
            }
            members.append(member)
        }
        let (delay, timeout, down) = (0.2, 0.1, 2)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(name: "many", port: manyPort, defaultPool: "many"),
                        ListenerSpec(name: "data", port: dataPort, defaultPool: "data")],
            pools: [PoolSpec(name: "many", members: members,
                             healthMonitor: monitor("TCP", delay: delay, timeout: timeout, up: 2, down: down)),
                    PoolSpec(name: "data", members: [MemberSpec(name: "a", port: echoA.port), MemberSpec(name: "b", port: echoB.port)])]))

        // Every member's first status change, from one pass over the log.
        func firstChanges() -> [String: LogLine] {
            var first: [String: LogLine] = [:]
            for line in daemon.logLines where line.metadata["pool"] == "many" && line.message.hasPrefix("member many/") {
                guard let member = line.metadata["member"], first[member] == nil, StatusChange.parse(line.message) != nil else { continue }
                first[member] = line
            }
            return first
        }
        var first: [String: LogLine] = [:]
        let judged = waitUntil(timeout: 20, interval: 0.1) {
            first = firstChanges()
            return first.count == count
        }
        XCTAssertTrue(judged, "only \(first.count) of \(count) members got a verdict within 20 s")
        var wrong: [String] = []
        for i in 0..<count {
            guard let line = first["m\(i)"] else { continue }
            let expected = i % 2 == 1 ? ("ONLINE", "L4OK") : ("ERROR", "L4CON")
            if StatusChange.parse(line.message)?.status != expected.0 || line.metadata["check"] != expected.1 {
                wrong.append(line.raw)
            }
        }
        XCTAssertEqual(wrong.count, 0, "members whose first verdict was wrong:\n\(wrong.prefix(20).joined(separator: "\n"))")
        for t in targets { XCTAssertGreaterThan(t.acceptedCount, 0, "target \(t.host):\(t.port) was never checked") }

        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let idleStart = (ticks: try cpuTicks(daemon.pid), time: monotonicNow())
        sleepSeconds(5.0)
        let idleEnd = (ticks: try cpuTicks(daemon.pid), time: monotonicNow())
        let idleShare = Double(idleEnd.ticks - idleStart.ticks) / ticksPerSecond / (idleEnd.time - idleStart.time)
        print(String(format: "500 members, TCP checks every %.1f s: fulcrumd used %.1f %% of one core over %.1f s (%d ticks)",
                     delay, idleShare * 100, idleEnd.time - idleStart.time, idleEnd.ticks - idleStart.ticks))
        XCTAssertLessThan(idleShare, 0.9, "fulcrumd CPU with 500 monitored members and no traffic")

        // Data through the other pool while the checks go on.
        let connections = 200, size = 64 * 1024, threads = 8
        let failures = Locked<[String]>([])
        let dataStart = (ticks: try cpuTicks(daemon.pid), time: monotonicNow())
        let finished = runConcurrently(threads, timeout: 120) { thread in
            for n in stride(from: thread, to: connections, by: threads) {
                do {
                    let socket = try TCPSocket.connect(host: "127.0.0.1", port: dataPort, timeout: 5, ioTimeout: 20)
                    defer { socket.close() }
                    let result = try echoRoundTrip(socket, seed: UInt64(n + 1), size: size, timeout: 30)
                    if result.receivedCount != size || result.sent != result.received {
                        failures.withLock { $0.append("connection \(n): got \(result.receivedCount) of \(size) bytes, digests \(result.sent == result.received ? "equal" : "differ")") }
                    }
                } catch {
                    failures.withLock { $0.append("connection \(n): \(error)") }
                }
            }
        }
        let dataEnd = (ticks: try cpuTicks(daemon.pid), time: monotonicNow())
        XCTAssertTrue(finished, "the data connections did not finish within 120 s")
        XCTAssertEqual(failures.current, [], "data connections")
        print(String(format: "200 × 64 KiB echoed in %.2f s while checking 500 members; fulcrumd used %.1f %% of one core meanwhile",
                     dataEnd.time - dataStart.time,
                     Double(dataEnd.ticks - dataStart.ticks) / ticksPerSecond / max(0.001, dataEnd.time - dataStart.time) * 100))

        // The checks still follow reality: target 0 stops listening, its members go down.
        let affected = (0..<count).filter { $0 % 2 == 1 && target(of: $0) == 0 }.map { "m\($0)" }
        let before = daemon.logLines.count
        let broke = monotonicNow()
        try targets[0].refuse()
        let within = Double(down) * delay * 1.05 + timeout + slack + 2.0
        var downNow: Set<String> = []
        let allDown = waitUntil(timeout: within, interval: 0.1) {
            for line in daemon.logLines.dropFirst(before) where line.metadata["pool"] == "many" && line.message.contains(" is ERROR (was ") {
                if let member = line.metadata["member"] { downNow.insert(member) }
            }
            return Set(affected).isSubset(of: downNow)
        }
        let missing = Set(affected).subtracting(downNow).sorted()
        XCTAssertTrue(allDown, "\(missing.count) of \(affected.count) members checked at the closed target were not ERROR within \(within) s: \(missing.prefix(10))")
        print(String(format: "%d members behind the closed target went ERROR within %.2f s", affected.count, monotonicNow() - broke))
        let timeouts = daemon.logLines.filter { $0.metadata["check"] == "L4TOUT" }.count
        print("status changes caused by check timeouts (L4TOUT) during the test: \(timeouts)")
        try terminate(daemon)
    }
}

extension StatusWatch {
    /// Marks the first `n` changes as seen (for a watch created after they happened).
    func skipping(_ n: Int) -> StatusWatch {
        for _ in 0..<n { _ = next(timeout: 5) }
        return self
    }
}
