// UDP sessions cannot starve the rest of the daemon of descriptors, and session tables grow on
// demand instead of being allocated at their maximum.
//
// Before: with the default udp_max_sessions (65,536 per worker) a flood from many source
// addresses took every descriptor under RLIMIT_NOFILE, logged one line per datagram, and the
// TCP listener of the same daemon stopped serving until the sessions expired. And a config with
// udp_max_sessions = 1,000,000 took 450 MB at start (10,000,000: 2.2 GB).

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class UDPDescriptorBudgetTests: FulcrumTestCase {
    /// fulcrumd under RLIMIT_NOFILE 512 with a TCP and a UDP listener: 3,000 client sockets send
    /// a datagram each while TCP clients keep connecting. Every TCP exchange must work, the status
    /// socket must answer, and the log must stay short.
    func testUDPFloodCannotStarveTCPOrTheStatusSocket() throws {
        let tcpMember = try makeServer()
        let udpMember = try UDPMember(name: "u1")
        defer { udpMember.stop() }
        let tcpPort = try freePort(), udpPort = try freePort()
        let config = DaemonConfig(
            workers: 2,
            listeners: [ListenerSpec(name: "web", port: tcpPort, defaultPool: "web"),
                        ListenerSpec(name: "dns", protocol: "UDP", port: udpPort, defaultPool: "dns")],
            pools: [PoolSpec(name: "web", members: [MemberSpec(name: "m1", port: tcpMember.port)]),
                    PoolSpec(name: "dns", members: [MemberSpec(name: "u1", port: udpMember.port)])])
        let dir = try makeConfigDir(config)
        let daemon = try launchFulcrum(configDir: dir, launcher: ["/usr/bin/prlimit", "--nofile=512:512", "--"])
        try daemon.waitReady()
        // (512 - 2 listeners x 2 workers - 64 reserved) / 2 for TCP / 2 workers = 111.
        XCTAssertNotNil(daemon.waitForLog(timeout: 1) {
            $0.raw.contains("udp listener dns: udp_max_sessions 65536 per worker capped to 111 by RLIMIT_NOFILE=512")
        }, "the cap is logged at start\n\(daemon.diagnostics)")
        let linesBefore = daemon.stderrText.split(separator: "\n").count

        let datagrams = 3000
        let flooding = Locked(true)
        let floodError = Locked<String?>(nil)
        startThread(name: "fulcrum-it-flood") {
            defer { flooding.withLock { $0 = false } }
            do {
                let target = try SocketAddress(host: "127.0.0.1", port: udpPort)
                var open: [Int32] = []
                defer { open.forEach { close($0) } }
                for i in 0..<datagrams {
                    let fd = try UDP.socket(family: AF_INET)
                    open.append(fd)
                    try UDP.sendTo(fd, Array("query \(i)".utf8), target)
                    // Keep each source port taken (a new port per datagram), closing the oldest
                    // in blocks so this process stays well inside its own limit.
                    if open.count >= 1000 { open.prefix(500).forEach { close($0) }; open.removeFirst(500) }
                    if i % 100 == 0 { usleep(1000) }
                }
                usleep(300_000)
            } catch {
                floodError.withLock { $0 = "\(error)" }
            }
        }
        var exchanges = 0
        var failures: [String] = []
        // TCP keeps working during the flood and after it.
        while flooding.current || exchanges < 20 {
            do {
                let client = try connect(port: tcpPort, timeout: 3, ioTimeout: 3)
                try client.exchange("hello \(exchanges)")
                client.close()
            } catch {
                failures.append("exchange \(exchanges): \(error)")
            }
            exchanges += 1
            if exchanges > 2000 { break }
        }
        XCTAssertNil(floodError.current)
        XCTAssertEqual(failures, [], "TCP through the daemon failed during a UDP flood\n\(daemon.diagnostics)")
        let reply = try StatusSocketClient(path: dir.statusSocket, timeout: 3).command("show stat")
        XCTAssertTrue(reply.contains("web"), "status socket answers during/after the flood: \(reply)")
        // New UDP clients are still served (the oldest sessions make room).
        let late = try UDPClient(to: "127.0.0.1", port: udpPort, receiveTimeout: 2)
        defer { late.stop() }
        let echoed = try late.exchange(Array("late".utf8), retries: 3, isReply: { $0 == Array("late".utf8) })
        XCTAssertNotNil(echoed, "a new UDP client after the flood\n\(daemon.diagnostics)")
        let lines = daemon.stderrText.split(separator: "\n").count - linesBefore
        XCTAssertLessThan(lines, 50, "\(datagrams) datagrams must not log a line each\n\(daemon.diagnostics)")
        try terminate(daemon)
    }

    /// udp_max_sessions = 10,000,000 with RLIMIT_NOFILE 1,048,576: over 500,000 sessions per
    /// worker are allowed, and the tables must still start small (memory, not time, is asserted).
    func testHugeSessionLimitStartsSmall() throws {
        let udpMember = try UDPMember(name: "u1")
        defer { udpMember.stop() }
        let udpPort = try freePort()
        let config = DaemonConfig(
            workers: 2, extraMain: ["udp_max_sessions = 10000000"],
            listeners: [ListenerSpec(name: "dns", protocol: "UDP", port: udpPort, defaultPool: "dns")],
            pools: [PoolSpec(name: "dns", members: [MemberSpec(name: "u1", port: udpMember.port)])])
        // Raising the hard limit takes CAP_SYS_RESOURCE (a container may not have it even as
        // root); below 1,048,576 the cap would keep the tables small without growth on demand.
        // FulcrumForwardingTests.UDPSessionMemoryTests covers the table in-process either way.
        let probe = try FulcrumProcess.runCommand(["/usr/bin/prlimit", "--nofile=1048576:1048576", "--", "/bin/true"])
        // Not a root test: even root cannot raise the hard limit where the machine withholds
        // CAP_SYS_RESOURCE (this project's CI VMs cap it at 20,000), so FULCRUM_REQUIRE_ROOT_TESTS
        // does not make this a failure; UDPSessionMemoryTests fails there if tables stop growing.
        if probe != 0 {
            throw XCTSkip("cannot raise RLIMIT_NOFILE to 1048576 here (needs CAP_SYS_RESOURCE); UDPSessionMemoryTests covers the table")
        }
        let dir = try makeConfigDir(config)
        let daemon = try launchFulcrum(configDir: dir, launcher: ["/usr/bin/prlimit", "--nofile=1048576:1048576", "--"])
        try daemon.waitReady(timeout: 60)
        // The cap leaves (1,048,576 - 2 - 64) / 2 workers sessions each: the table may grow large.
        XCTAssertNotNil(daemon.waitForLog(timeout: 1) {
            $0.raw.contains("udp_max_sessions 10000000 per worker capped to 524255 by RLIMIT_NOFILE=1048576")
        }, daemon.diagnostics)
        let client = try UDPClient(to: "127.0.0.1", port: udpPort, receiveTimeout: 2)
        defer { client.stop() }
        XCTAssertNotNil(try client.exchange(Array("ping".utf8), retries: 3, isReply: { $0 == Array("ping".utf8) }),
                        daemon.diagnostics)
        let status = try String(contentsOfFile: "/proc/\(daemon.pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
            throw TestFailure("no VmRSS in /proc/\(daemon.pid)/status")
        }
        XCTAssertLessThan(kib, 64 * 1024, "resident memory after start: \(kib) KiB")
        try terminate(daemon)
    }
}

extension FulcrumProcess {
    /// Runs a command to completion with no output kept; its exit status.
    static func runCommand(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

extension UDPDescriptorBudgetTests {
    /// When descriptors do run out (TCP connections hold them), a new UDP client used to fail
    /// to get a session socket, with a log line per datagram (74,781 in one second). Now the
    /// least recently used session is closed to make room first, and what still fails is
    /// logged at most once a second per listener and worker, with a count.
    func testOutOfDescriptorsEvictsBeforeFailingAndLogsLittle() throws {
        let tcpMember = try makeServer()
        let udpMember = try UDPMember(name: "u1")
        defer { udpMember.stop() }
        let tcpPort = try freePort(), udpPort = try freePort()
        let config = DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(name: "web", port: tcpPort, defaultPool: "web"),
                        ListenerSpec(name: "dns", protocol: "UDP", port: udpPort, defaultPool: "dns")],
            pools: [PoolSpec(name: "web", members: [MemberSpec(name: "m1", port: tcpMember.port)]),
                    PoolSpec(name: "dns", members: [MemberSpec(name: "u1", port: udpMember.port)])])
        let dir = try makeConfigDir(config)
        let daemon = try launchFulcrum(configDir: dir, launcher: ["/usr/bin/prlimit", "--nofile=256:256", "--"])
        try daemon.waitReady()
        // Sessions first, as on a busy daemon: with none, there would be nothing to evict and
        // the only right answer is to drop (whether any descriptor is left after the TCP fill
        // below is a race, which made this test fail one CI run in a few).
        let early = try (0..<8).map { _ in try UDPClient(to: "127.0.0.1", port: udpPort, receiveTimeout: 2) }
        defer { early.forEach { $0.stop() } }
        for (i, client) in early.enumerated() {
            let query = Array("early\(i)".utf8)
            XCTAssertNotNil(try client.exchange(query, retries: 3, isReply: { $0 == query }), daemon.diagnostics)
        }
        // Fill the daemon's descriptors with TCP connections (two each) until one fails.
        var clients: [TCPSocket] = []
        for i in 0..<200 {
            guard let client = try? connect(port: tcpPort, timeout: 2, ioTimeout: 1) else { break }
            clients.append(client)
            if (try? client.exchange("x\(i)")) == nil { break }
        }
        XCTAssertNotNil(daemon.waitForLog(timeout: 5) { $0.raw.contains("EMFILE") },
                        "TCP connections should have used up the descriptors\n\(daemon.diagnostics)")
        let target = try SocketAddress(host: "127.0.0.1", port: udpPort)
        let datagrams = 400
        let started = monotonicNow()
        for i in 0..<datagrams {
            let fd = try UDP.socket(family: AF_INET)
            try UDP.sendTo(fd, Array("q\(i)".utf8), target)
            close(fd)
        }
        // A new client is still served: an older session made room.
        let late = try UDPClient(to: "127.0.0.1", port: udpPort, receiveTimeout: 2)
        defer { late.stop() }
        XCTAssertNotNil(try late.exchange(Array("late".utf8), retries: 3, isReply: { $0 == Array("late".utf8) }),
                        "a new UDP client with the descriptors used up\n\(daemon.diagnostics)")
        let seconds = monotonicNow() - started
        let failures = daemon.logLines.filter { $0.raw.contains("cannot open UDP socket") }
        XCTAssertLessThanOrEqual(failures.count, Int(seconds) + 2,
                                 "\(failures.count) lines for \(datagrams) datagrams in \(seconds) s\n\(daemon.diagnostics)")
        clients.forEach { $0.close() }
        try terminate(daemon)
        let evicted = try stat(daemon.logLines.last { $0.message == "udp listener stats" }, "sessions_evicted",
                               "udp listener stats", daemon)
        XCTAssertGreaterThan(evicted, 0, daemon.diagnostics)
    }
}
