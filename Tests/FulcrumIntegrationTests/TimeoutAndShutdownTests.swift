// Time-driven behaviour that is the feature itself: idle timeouts and graceful shutdown.
// Bounds are generous; they check the mechanism, not performance.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class TimeoutAndShutdownTests: FulcrumTestCase {
    private func idleConfig(port: UInt16, member: TestServer) -> DaemonConfig {
        DaemonConfig(
            listeners: [ListenerSpec(port: port, timeoutClientData: 500, timeoutMemberData: 500)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])])
    }

    /// timeout_client_data = timeout_member_data = 500 ms: an idle proxied connection is closed
    /// (both sides) within 0.3–5 s.
    func testIdleConnectionIsClosed() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(idleConfig(port: port, member: member))

        let socket = try connect(port: port, ioTimeout: 10)
        try socket.exchange("wake")
        let idleSince = monotonicNow()
        let outcome = socket.awaitClose(timeout: 8)
        let elapsed = monotonicNow() - idleSince
        XCTAssertTrue(outcome.isClosed, "idle connection should be closed by the idle timeout, got \(outcome) after \(elapsed) s\n\(daemon.diagnostics)")
        XCTAssertGreaterThanOrEqual(elapsed, 0.3, "closed too early for a 500 ms idle timeout (\(elapsed) s)")
        XCTAssertLessThanOrEqual(elapsed, 5.0, "closed too late for a 500 ms idle timeout (\(elapsed) s)")
        XCTAssertNotNil(member.waitFinished(count: 1, timeout: 5), "the member side of the idle connection should be closed too")
    }

    /// A connection that exchanges a byte every 200 ms for 2 s stays open through 500 ms idle
    /// timeouts.
    func testActiveConnectionSurvivesIdleTimeout() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(idleConfig(port: port, member: member))

        let socket = try connect(port: port, ioTimeout: 5)
        let start = monotonicNow()
        for i in 0..<11 {
            let target = start + Double(i) * 0.2
            sleepSeconds(target - monotonicNow())
            do {
                try socket.exchange("k")
            } catch {
                throw TestFailure("exchange \(i) at \(String(format: "%.2f", monotonicNow() - start)) s failed on an active connection: \(error)\n\(daemon.diagnostics)")
            }
        }
        XCTAssertGreaterThanOrEqual(monotonicNow() - start, 2.0)
        XCTAssertEqual(member.acceptedCount, 1, "all exchanges used the one connection")
        XCTAssertEqual(member.allRecords.filter(\.finished).count, 0, "the member connection is still open")
    }

    /// SIGTERM mid-transfer with shutdown_grace = 10 s: new connects are refused or closed, the
    /// running transfer completes intact, then the process exits 0.
    func testGracefulShutdownLetsRunningTransferFinish() throws {
        let sink = try makeServer(mode: .sink)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            shutdownGrace: 10000,
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "sink", port: sink.port)])]))

        let socket = try connect(port: port, ioTimeout: 20)
        let size = 8 << 20
        let chunkSize = 128 * 1024
        let chunks = size / chunkSize
        let pacing = 2.0 / Double(chunks)
        struct Transfer {
            var sent: SHA256Digest?
            var outcome: CloseOutcome?
            var error: String?
            var doneAt: Double?
        }
        let transfer = Locked(Transfer())
        let done = DispatchSemaphore(value: 0)
        let transferStart = monotonicNow()
        startThread(name: "fulcrum-it-paced-sender") {
            let stream = PayloadStream(seed: 0x6A11, total: size, chunkSize: chunkSize)
            var index = 0
            do {
                while let chunk = stream.nextChunk() {
                    try socket.send(chunk)
                    index += 1
                    sleepSeconds(transferStart + Double(index) * pacing - monotonicNow())
                }
                socket.shutdownWrite()
                let digest = stream.digest()
                transfer.withLock { $0.sent = digest }
                let outcome = socket.awaitClose(timeout: 15)
                transfer.withLock { $0.outcome = outcome }
            } catch {
                transfer.withLock { $0.error = "after \(stream.produced) bytes: \(error)" }
            }
            transfer.withLock { $0.doneAt = monotonicNow() }
            done.signal()
        }

        XCTAssertTrue(waitUntil(timeout: 5) { sink.acceptedCount == 1 }, "the transfer reached the member")
        sleepSeconds(transferStart + 0.5 - monotonicNow())
        guard transfer.current.doneAt == nil else {
            throw TestFailure("the paced transfer ended before SIGTERM could be sent: \(transfer.current)\n\(daemon.diagnostics)")
        }
        daemon.sendSignal(SIGTERM)
        let signalledAt = monotonicNow()

        // A new connection after SIGTERM must be refused or closed, never proxied.
        sleepSeconds(0.5)
        do {
            let late = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 2, ioTimeout: 3)
            let outcome = late.awaitClose(timeout: 2)
            XCTAssertTrue(outcome.isClosed, "a connection accepted after SIGTERM should be closed at once, got \(outcome)")
            late.close()
        } catch let error as SocketError where error.isRefused || error.isReset {
            // Refused: the listener is closed. Good.
        } catch {
            XCTFail("a connect after SIGTERM should be refused or closed, got: \(error)")
        }
        XCTAssertEqual(sink.acceptedCount, 1, "no new connection may reach the member after SIGTERM")

        guard done.wait(timeout: .now() + 20) == .success else {
            throw TestFailure("the transfer did not finish within 20 s of SIGTERM\n\(daemon.diagnostics)")
        }
        let result = transfer.current
        XCTAssertNil(result.error, "transfer error")
        XCTAssertEqual(result.outcome, .eof, "the connection ends with EOF once the sink closed")
        XCTAssertGreaterThan(result.doneAt ?? 0, signalledAt, "the transfer was still running at SIGTERM")
        guard let records = sink.waitFinished(count: 1, timeout: 5), let record = records.first else {
            throw TestFailure("sink member did not finish\n\(daemon.diagnostics)")
        }
        XCTAssertNil(record.error, "sink member error")
        XCTAssertEqual(record.receivedBytes, size, "bytes received by the member")
        XCTAssertEqual(record.receivedDigest, result.sent, "SHA-256 of the transfer that ran across SIGTERM")

        guard let status = daemon.waitExit(timeout: 10) else {
            throw TestFailure("fulcrumd did not exit after its last connection finished\n\(daemon.diagnostics)")
        }
        XCTAssertEqual(status, .init(code: 0, signaled: false), "exit after SIGTERM\n\(daemon.diagnostics)")
        if let exitTime = daemon.exitTime, let doneAt = result.doneAt {
            XCTAssertLessThanOrEqual(exitTime - doneAt, 3.0,
                "fulcrumd should exit shortly after the last connection finished (took \(exitTime - doneAt) s)")
        }
    }

    /// shutdown_grace = 1 s with an idle held connection: exit 0 within ~1–4 s of SIGTERM and
    /// the held connection is closed.
    func testShutdownGraceClosesHeldConnection() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            shutdownGrace: 1000,
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "m1", port: member.port)])]))

        let held = try connect(port: port, ioTimeout: 10)
        try held.exchange("hold")
        daemon.sendSignal(SIGTERM)
        let signalledAt = monotonicNow()
        guard let status = daemon.waitExit(timeout: 8) else {
            throw TestFailure("fulcrumd did not exit within 8 s of SIGTERM with shutdown_grace = 1000\n\(daemon.diagnostics)")
        }
        let elapsed = (daemon.exitTime ?? monotonicNow()) - signalledAt
        XCTAssertEqual(status, .init(code: 0, signaled: false), "exit after SIGTERM\n\(daemon.diagnostics)")
        XCTAssertGreaterThanOrEqual(elapsed, 0.8, "exited before the 1 s grace period with a connection open (\(elapsed) s)")
        XCTAssertLessThanOrEqual(elapsed, 4.0, "exit took \(elapsed) s with shutdown_grace = 1000")
        let outcome = held.awaitClose(timeout: 2)
        XCTAssertTrue(outcome.isClosed, "the held connection should be closed at exit, got \(outcome)")
        XCTAssertNotNil(member.waitFinished(count: 1, timeout: 5), "the member side of the held connection is closed too")
    }
}
