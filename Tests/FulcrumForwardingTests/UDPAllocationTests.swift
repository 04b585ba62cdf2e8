import CAllocationCounter
import FulcrumAddress
import FulcrumConfig
@testable import FulcrumForwarding
import FulcrumSystem
import Foundation
import Glibc
import Logging
import XCTest

/// Per-datagram work (batch receive, session lookup, forward, reply batch, send back, idle
/// checks) must not touch the heap once sessions exist.
final class UDPAllocationTests: XCTestCase {
    func testSteadyStateDatagramsAllocateNothing() throws {
        let member = try UDPEchoMember()
        defer { member.stop() }
        let tracked = try TrackedUDPWorker(memberPort: member.port, allowedCIDRs: [CIDR("127.0.0.0/8")!])
        defer { XCTAssertTrue(tracked.stop(), "worker did not stop") }
        let (worker, port) = (tracked.worker, tracked.port)
        let clients = try (0..<8).map { _ in try UDPClient(port: port) }
        defer { clients.forEach { $0.close() } }
        // Warm up: every client gets its session.
        for (i, client) in clients.enumerated() { try client.roundTrip(size: 100 + i) }
        cac_reset()
        for round in 0..<300 {
            for (i, client) in clients.enumerated() { try client.roundTrip(size: 1 + (round * 131 + i * 977) % 9000) }
        }
        Thread.sleep(forTimeInterval: 0.2)
        let allocations = cac_allocations()
        XCTAssertEqual(allocations, 0, "\(allocations) heap allocations on the worker thread over 2400 datagram round trips")
        XCTAssertEqual(worker.counters.udpListeners[0].sessionsCreated, 8)
    }
}

extension UDPAllocationTests {
    /// The session table starts small and grows while clients arrive; once grown, datagrams
    /// allocate nothing again (growth is the only allocation, and it stops at the peak).
    func testDatagramsAllocateNothingOnceTheSessionTableHasGrown() throws {
        let member = try UDPEchoMember()
        defer { member.stop() }
        let tracked = try TrackedUDPWorker(memberPort: member.port)
        defer { XCTAssertTrue(tracked.stop(), "worker did not stop") }
        let (worker, port) = (tracked.worker, tracked.port)
        // More clients than the table's first slots: it doubles (256 -> 512 -> 1024).
        let clientCount = UDPSessionTable.defaultInitialCapacity * 2 + 100
        let clients = try (0..<clientCount).map { _ in try UDPClient(port: port) }
        defer { clients.forEach { $0.close() } }
        for client in clients { try client.roundTrip(size: 64) }
        XCTAssertEqual(worker.counters.udpListeners[0].sessionsCreated, clientCount)
        cac_reset()
        for round in 0..<3 {
            for (i, client) in clients.enumerated() { try client.roundTrip(size: 1 + (round * 131 + i * 977) % 2000) }
        }
        Thread.sleep(forTimeInterval: 0.2)
        let allocations = cac_allocations()
        XCTAssertEqual(allocations, 0, "\(allocations) heap allocations on the worker thread over \(3 * clientCount) round trips")
        XCTAssertEqual(worker.counters.udpListeners[0].sessionsCreated, clientCount, "no session lost in the growth")
    }
}

/// One worker forwarding a UDP listener on 127.0.0.1 to a member on `memberPort`, run on a
/// thread the allocation counter tracks (it counts that thread only).
final class TrackedUDPWorker {
    let worker: Worker
    let port: UInt16
    private let done = DispatchSemaphore(value: 0)

    init(memberPort: UInt16, allowedCIDRs: [CIDR] = []) throws {
        let listenFD = try Datagram.makeListener(Endpoint(address: .v4(0x7F00_0001), port: 0))
        port = Socket.localEndpoint(listenFD)!.port
        let config = Config(
            workers: 1, shutdownGraceMs: 0, pipeSize: 65536, statusSocket: "/tmp/unused.sock",
            listeners: [Listener(name: "u", transport: .udp, address: .v4(0x7F00_0001), port: port, defaultPool: "p",
                                 allowedCIDRs: allowedCIDRs)],
            pools: [Pool(name: "p", members: [Member(name: "m", address: .v4(0x7F00_0001), port: memberPort)])])
        worker = try Worker(index: 0, workerCount: 1, plan: ForwardingPlan(config: config), listenFDs: [],
                            udpListenFDs: [listenFD], logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let (worker, done) = (worker, done)
        Thread {
            cac_track_current_thread()
            worker.run()
            done.signal()
        }.start()
    }

    /// Stops the worker; false when it has not ended within 10 s.
    func stop() -> Bool {
        worker.stop()
        return done.wait(timeout: .now() + 10) == .success
    }
}

/// A UDP echo server on 127.0.0.1 in its own thread.
final class UDPEchoMember: @unchecked Sendable {
    let fd: Int32
    let port: UInt16

    init() throws {
        let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let address = SocketAddress(Endpoint(address: .v4(0x7F00_0001), port: 0))
        _ = try address.withSockAddr { sa, len throws(SystemError) in
            try syscall("bind") { bind(s, sa, len) }
        }
        fd = s
        port = Socket.localEndpoint(s)!.port
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            var peer = sockaddr_storage()
            while true {
                var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutablePointer(to: &peer) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(s, &buffer, buffer.count, 0, $0, &len) }
                }
                if n < 0 { return }
                _ = withUnsafePointer(to: &peer) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(s, buffer, n, 0, $0, len) }
                }
            }
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// A connected UDP client that sends a datagram and waits for the same bytes back.
final class UDPClient {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let address = SocketAddress(Endpoint(address: .v4(0x7F00_0001), port: port))
        _ = try address.withSockAddr { sa, len throws(SystemError) in
            try syscall("connect") { Glibc.connect(fd, sa, len) }
        }
    }

    func roundTrip(size: Int) throws {
        let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: size), count: size)
        guard send(fd, payload, size, 0) == size else { throw SystemError(code: errno, call: "send") }
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n >= 0 else { throw SystemError(code: errno, call: "recv") }
        XCTAssertEqual(n, size)
        XCTAssertTrue(buffer[0..<n].elementsEqual(payload))
    }

    func close() { Glibc.close(fd) }
}
