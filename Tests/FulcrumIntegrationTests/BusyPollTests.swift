// busy_poll: a worker that found no event keeps looking for a while before it sleeps. It must
// forward exactly as without, be applied by a reload, and leave an idle daemon idle.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class BusyPollTests: UDPTestCase {
    /// busy_poll at its maximum (1 ms): 300 TCP and 300 UDP round trips of varied sizes come
    /// back byte-exact; then, with one TCP connection and one UDP session left open and idle,
    /// fulcrumd uses next to no CPU (a loop that spun whenever nothing was ready would use a
    /// whole core); a reload to busy_poll = 0 is reported as a changed setting.
    func testBusyPollForwardsExactlyAndIdlesWithoutSpinning() throws {
        let tcpMember = try makeServer(mode: .echo)
        let udpMember = try makeUDPMember("u1")
        let tcpPort = try freePort()
        let udpPort = try freeUDPPort()
        func config(busyPoll: Int) -> DaemonConfig {
            DaemonConfig(extraMain: ["busy_poll = \(busyPoll)"],
                         listeners: [ListenerSpec(port: tcpPort), udpListener(port: udpPort)],
                         pools: [PoolSpec(members: [MemberSpec(name: "m1", port: tcpMember.port)]),
                                 udpPool([udpMember])])
        }
        let dir = try makeConfigDir(config(busyPoll: 1000))
        let daemon = try startFulcrum(configDir: dir)

        let socket = try connect(port: tcpPort, ioTimeout: 10)
        let client = try makeUDPClient(port: udpPort)
        var rng = SplitMix(seed: 0xB057)
        for i in 0..<300 {
            let message = (0..<(1 + Int(rng.next() % 2000))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            try socket.send(message)
            let echoed = try socket.recvExactly(message.count)
            XCTAssertEqual(echoed, message, "TCP round trip \(i) (\(message.count) bytes)")
            let datagram = udpPayload(client: 1, sequence: i, size: 16 + i % 500)
            guard let answer = try client.exchange(datagram, retries: 3, isReply: { $0 == datagram }) else {
                XCTFail("UDP round trip \(i): no echo after 4 sends\n\(daemon.diagnostics)")
                return
            }
            XCTAssertEqual(answer.reply, datagram, "UDP round trip \(i)")
        }

        // Idle with the connection and the session open: CPU over 2 s from /proc/PID/stat.
        Thread.sleep(forTimeInterval: 0.2)
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let before = try cpuTicks(daemon.pid)
        Thread.sleep(forTimeInterval: 2)
        let used = Double(try cpuTicks(daemon.pid) - before) / ticksPerSecond
        XCTAssertLessThan(used, 0.2, "fulcrumd used \(used) s of CPU in 2 idle seconds with busy_poll = 1000")

        try config(busyPoll: 0).write(to: dir)
        let reply = try socketReload(try StatusSocketClient(path: dir.statusSocket))
        XCTAssertTrue(reply.hasChange("setting changed: busy_poll: 1000 -> 0 us"), "reload reply:\n\(reply)")
        try socket.send(Array("after the reload\n".utf8))
        XCTAssertEqual(try socket.recvExactly(17), Array("after the reload\n".utf8))
        socket.close()
        try terminate(daemon)
    }
}
