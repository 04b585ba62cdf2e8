// on_member_down = "shutdown_sessions" and a connect still in flight when the member is marked
// down: when that connect completes, the connection must not go on to the down member.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class HealthConnectRaceTests: HealthTestCase {
    /// Member a's data port drops SYNs (full accept queue), so Fulcrum's connect to it hangs;
    /// b is a backup. a is marked down while the connect hangs; then a's queue is drained so the
    /// next SYN retransmission completes the connect. Fulcrum must move the connection to b
    /// (the client's bytes come back echoed) and close its socket to a.
    func testConnectCompletingToAMemberMarkedDownMovesToAnother() throws {
        let hole = try BlackholeListener()
        keep(hole)
        guard hole.connectHangs(timeout: 1.0) else {
            throw TestFailure("cannot build a member whose connects hang on this kernel (SYNs were not dropped)")
        }
        let healthA = try makeHTTPHealthServer()
        let healthB = try makeHTTPHealthServer()
        let dataB = try makeServer(mode: .echo)
        let port = try freePort()
        let dir = try makeConfigDir(DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(port: port, timeoutMemberConnect: 20_000)],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: hole.port, monitorPort: healthA.port),
                                       MemberSpec(name: "b", port: dataB.port, monitorPort: healthB.port)],
                             extra: ["on_member_down = \"shutdown_sessions\""],
                             healthMonitor: monitor("HTTP", delay: 0.2, timeout: 0.1, up: 1, down: 1))]))
        // b as backup, by a drop-in merged key by key into the member.
        try dir.write("conf.d/60-backup.toml", "[pool.web.members.b]\nbackup = true\n")
        let fulcrum = try startFulcrum(configDir: dir)
        let watchA = StatusWatch(fulcrum, pool: "web", member: "a")
        try expectChange(watchA, to: "ONLINE", within: 5, "at start")

        // The client's connection goes to a (the primary) and hangs in connect.
        let client = try connect(port: port, ioTimeout: 15)
        try client.send("through the race\n")
        sleepSeconds(0.3)
        XCTAssertEqual(dataB.acceptedCount, 0, "the backup took the connection while the primary was up")

        healthA.setStatus(503)
        try expectChange(watchA, to: "ERROR", check: "L7STS", within: 5, "while a connect to it hangs")
        hole.acceptQueued()

        // The SYN retransmission (about 1 s, then 3 s after the first) now completes the connect
        // to a; Fulcrum must go to b instead.
        let echoed = try client.recvExactly("through the race\n".utf8.count)
        XCTAssertEqual(String(decoding: echoed, as: UTF8.self), "through the race\n")
        XCTAssertEqual(dataB.acceptedCount, 1, "the connection should have moved to b")
        let deadline = monotonicNow() + 5
        // Fulcrum's connection to a sits in a's accept queue: take it and see that it was closed.
        while hole.acceptedClosedByPeer() == 0 && monotonicNow() < deadline {
            hole.acceptQueued()
            sleepSeconds(0.05)
        }
        XCTAssertGreaterThan(hole.acceptedClosedByPeer(), 0, "Fulcrum kept its connection to the down member open")
        client.close()
        try terminate(fulcrum)
    }
}
