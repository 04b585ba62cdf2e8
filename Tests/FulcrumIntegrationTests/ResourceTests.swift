// Running out of file descriptors: the daemon must pause, not spin, and recover by itself.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ResourceTests: FulcrumTestCase {
    /// With RLIMIT_NOFILE lowered under it (prlimit on the running process), accept fails with
    /// EMFILE. The daemon must log it, keep serving the connections it has, not burn CPU on the
    /// pending ones, and serve them once descriptors free up.
    func testAcceptOutOfDescriptorsPausesAndRecovers() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))

        // One exchange first, so the worker's pipe pool holds a pipe and later exchanges (one
        // at a time) need no new descriptors.
        let warm = try connect(port: port, ioTimeout: 5)
        try warm.exchange("warm")
        warm.close()
        XCTAssertNotNil(member.waitFinished(count: 1, timeout: 5))
        sleepSeconds(0.2)
        // Room for exactly two proxied connections (2 sockets each): the third accept fails.
        // RLIMIT_NOFILE bounds descriptor numbers, so find the limit that leaves exactly four
        // free numbers below it (the daemon may hold inherited descriptors above it).
        let taken = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd").compactMap { Int($0) })
        var limit = 0
        var free = 0
        while free < 4 {
            if !taken.contains(limit) { free += 1 }
            limit += 1
        }
        let prlimit = Process()
        prlimit.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        prlimit.arguments = ["--pid", "\(daemon.pid)", "--nofile=\(limit):\(limit)"]
        try prlimit.run()
        prlimit.waitUntilExit()
        XCTAssertEqual(prlimit.terminationStatus, 0, "prlimit failed")

        let first = try connect(port: port, ioTimeout: 5)
        try first.exchange("one")
        let second = try connect(port: port, ioTimeout: 5)
        try second.exchange("two")
        // These complete the TCP handshake in the kernel but cannot be accepted yet.
        let waiting = try (0..<4).map { _ in try connect(port: port, ioTimeout: 10) }
        for (i, socket) in waiting.enumerated() { try socket.send("waiting \(i)\n") }

        let paused = daemon.waitForLog(timeout: 5) { $0.message.contains("out of resources, pausing accept") }
        XCTAssertNotNil(paused, "no log line about pausing the listener\n\(daemon.diagnostics)")

        // A spinning event loop would use a whole core; a paused listener wakes 10 times a second.
        let before = try cpuTicks(daemon.pid)
        sleepSeconds(1.0)
        let used = try cpuTicks(daemon.pid) - before
        let ticksPerSecond = sysconf(Int32(_SC_CLK_TCK))
        XCTAssertLessThan(used, ticksPerSecond / 4, "daemon used \(used) of \(ticksPerSecond) CPU ticks in 1 s while out of descriptors")

        // Connections it already had keep working.
        try first.exchange("one again")
        try second.exchange("two again")

        // Free descriptors: the waiting connections are accepted and forwarded.
        first.close()
        second.close()
        for (i, socket) in waiting.enumerated() {
            let echoed = try socket.recvExactly("waiting \(i)\n".utf8.count)
            XCTAssertEqual(String(decoding: echoed, as: UTF8.self), "waiting \(i)\n")
            socket.close()
            sleepSeconds(0.05)
        }
        try terminate(daemon)
    }
}
