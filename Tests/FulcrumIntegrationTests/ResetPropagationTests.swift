// Aborts pass through the proxy as aborts: a reset on one side reaches the other side as a
// reset (ECONNRESET), not as a clean end, and connections cut when shutdown_grace is over are
// reset too. Before, fulcrumd turned every reset into a FIN, so a member that reset after
// 100 KB gave the client a normal EOF and a truncated reply looked complete.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ResetPropagationTests: FulcrumTestCase {
    /// How a reader's stream ended, and how much it got first.
    struct Ending: CustomStringConvertible {
        var bytes = 0
        /// 0 for a clean EOF, else the errno recv failed with.
        var errno: Int32 = 0
        var description: String {
            "\(bytes) bytes, then " + (errno == 0 ? "EOF" : errnoDescription(errno))
        }
    }

    /// Reads `fd` (blocking, with a receive timeout set) to EOF or an error.
    static func readToEnd(_ fd: Int32, timeout: Double = 20) -> Ending {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        var ending = Ending()
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { ending.bytes += n; continue }
            if n == 0 { return ending }
            if errno == EINTR { continue }
            ending.errno = errno
            return ending
        }
    }

    static func abortClose(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }

    /// Waits until the kernel has had every byte sent on `fd` acknowledged (SIOCOUTQ = 0),
    /// so an abort that follows cannot discard any of it.
    static func waitSent(_ fd: Int32, timeout: Double = 10) -> Bool {
        waitUntil(timeout: timeout) {
            var queued: Int32 = 0
            return ioctl(fd, UInt(TIOCOUTQ), &queued) == 0 && queued == 0
        }
    }

    /// A member that runs `body` on each accepted connection (blocking socket) in a thread.
    final class ScriptedMember {
        let listener: TCPListener
        var port: UInt16 { listener.port }
        let done = DispatchSemaphore(value: 0)

        init(_ body: @escaping (Int32) -> Void) throws {
            listener = try TCPListener()
            let fd = listener.fd
            startThread(name: "fulcrum-it-scripted") { [done] in
                let client = accept(fd, nil, nil)
                if client >= 0 { body(client) }
                done.signal()
            }
        }
    }

    private func start(member port: UInt16, grace: Int = 2000) throws -> (FulcrumProcess, UInt16) {
        let listenPort = try freePort()
        var config = DaemonConfig(listeners: [ListenerSpec(port: listenPort)],
                                  pools: [PoolSpec(members: [MemberSpec(name: "m1", port: port)])])
        config.shutdownGrace = grace
        return (try startFulcrum(config), listenPort)
    }

    func testMemberResetAfterDataReachesTheClientAsAReset() throws {
        let payload = [UInt8](repeating: 0x5A, count: 100_000)
        let member = try ScriptedMember { fd in
            _ = payload.withUnsafeBytes { try? Sock.sendAll(fd, $0, timeout: 10) }
            _ = ResetPropagationTests.waitSent(fd)
            ResetPropagationTests.abortClose(fd)
        }
        let (daemon, port) = try start(member: member.port)
        let client = try connect(port: port)
        let ending = Self.readToEnd(client.fd)
        XCTAssertEqual(ending.bytes, 100_000, "every byte the member sent before its reset\n\(daemon.diagnostics)")
        XCTAssertEqual(ending.errno, ECONNRESET,
                       "a member's reset must reach the client as a reset, not a clean EOF (\(ending))\n\(daemon.diagnostics)")
        XCTAssertEqual(member.done.wait(timeout: .now() + 10), .success)
        try terminate(daemon)
    }

    func testClientResetReachesTheMemberAsAReset() throws {
        let ending = Locked<Ending?>(nil)
        let member = try ScriptedMember { fd in
            let e = ResetPropagationTests.readToEnd(fd)
            ending.withLock { $0 = e }
            close(fd)
        }
        let (daemon, port) = try start(member: member.port)
        let client = try connect(port: port)
        try client.send([UInt8](repeating: 0x33, count: 50_000))
        XCTAssertTrue(Self.waitSent(client.fd), "client data not delivered")
        client.abort()
        XCTAssertEqual(member.done.wait(timeout: .now() + 20), .success, "member never saw the end\n\(daemon.diagnostics)")
        let seen = ending.withLock { $0 }
        XCTAssertEqual(seen?.bytes, 50_000, "\(String(describing: seen))")
        XCTAssertEqual(seen?.errno, ECONNRESET,
                       "a client's reset must reach the member as a reset, not a clean EOF (\(String(describing: seen)))\n\(daemon.diagnostics)")
        try terminate(daemon)
    }

    /// A transfer still running when shutdown_grace is over is cut: the client must see a
    /// reset, or it would take the cut stream for a complete one.
    func testConnectionsCutAtTheEndOfShutdownGraceAreReset() throws {
        let member = try ScriptedMember { fd in
            // Streams until the proxy goes away.
            var chunk = [UInt8](repeating: 0x42, count: 16384)
            var tv = timeval(tv_sec: 30, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            while send(fd, &chunk, chunk.count, Int32(MSG_NOSIGNAL)) > 0 { usleep(2000) }
            close(fd)
        }
        let (daemon, port) = try start(member: member.port, grace: 500)
        let client = try connect(port: port)
        let first = try client.recvExactly(1000)
        XCTAssertEqual(first.count, 1000)
        daemon.sendSignal(SIGTERM)
        let ending = Self.readToEnd(client.fd)
        XCTAssertEqual(ending.errno, ECONNRESET,
                       "a connection cut at the end of shutdown_grace must be reset, not closed cleanly (\(ending))\n\(daemon.diagnostics)")
        XCTAssertEqual(daemon.waitExit(timeout: 15), .init(code: 0, signaled: false), daemon.diagnostics)
        XCTAssertEqual(member.done.wait(timeout: .now() + 10), .success)
    }
}
