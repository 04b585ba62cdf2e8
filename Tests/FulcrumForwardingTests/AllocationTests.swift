import CAllocationCounter
import FulcrumAddress
import FulcrumConfig
@testable import FulcrumForwarding
import FulcrumSystem
import Foundation
import Glibc
import Logging
import XCTest

/// The per-connection path (accept, member choice, connect, splice both ways, half-close,
/// close) must not touch the heap once the worker is warm. A worker runs in this process on a
/// thread whose allocations are counted by the test-only malloc replacement.
final class AllocationTests: XCTestCase {
    func testSteadyStateConnectionsAllocateNothing() throws {
        try steadyStateAllocations(copySmallReads: true)
    }

    func testSteadyStateConnectionsAllocateNothingSpliceOnly() throws {
        try steadyStateAllocations(copySmallReads: false)
    }

    /// Least connections with source-IP persistence: shared counters and the stick table's
    /// lock, still no heap.
    func testSteadyStateConnectionsAllocateNothingLeastConnectionsPersistent() throws {
        var pool = Pool(name: "p", lbAlgorithm: .leastConnections, members: [])
        pool.sessionPersistence = SessionPersistence(timeoutSeconds: 60, granularity: 0xFFFF_FF00)
        try steadyStateAllocations(copySmallReads: true, pool: pool)
    }

    func testSteadyStateConnectionsAllocateNothingSourceIP() throws {
        try steadyStateAllocations(copySmallReads: true, pool: Pool(name: "p", lbAlgorithm: .sourceIP, members: []))
    }

    private func steadyStateAllocations(copySmallReads: Bool, pool template: Pool = Pool(name: "p", members: [])) throws {
        let member = try EchoMember()
        defer { member.stop() }
        let listenFD = try Socket.makeTCPListener(Endpoint(address: .v4(0x7F00_0001), port: 0))
        let port = Socket.localEndpoint(listenFD)!.port
        var config = Config(
            workers: 1, shutdownGraceMs: 0, pipeSize: 65536, statusSocket: "/tmp/unused.sock",
            listeners: [Listener(name: "l", address: .v4(0x7F00_0001), port: port, defaultPool: "p",
                                 connectionLimit: 10_000, allowedCIDRs: [CIDR("127.0.0.0/8")!])],
            pools: [{ () -> Pool in
                var pool = template
                pool.members = [Member(name: "m", address: .v4(0x7F00_0001), port: member.port)]
                return pool
            }()])
        config.copySmallReads = copySmallReads
        let worker = try Worker(index: 0, workerCount: 1, plan: ForwardingPlan(config: config),
                                listenFDs: [listenFD], logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            cac_track_current_thread()
            worker.run()
            done.signal()
        }
        thread.start()
        defer {
            worker.stop()
            XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "worker did not stop")
        }

        // Warm up: slot table, pipe pool, timer wheel and epoll buffers reach their working size.
        for i in 0..<200 { try roundTrip(port: port, size: 1 + (i * 7919) % 200_000) }
        cac_reset()
        let connections = 500
        for i in 0..<connections { try roundTrip(port: port, size: 1 + (i * 7919) % 200_000) }
        // Let the worker finish closing the last connection before reading the counter.
        Thread.sleep(forTimeInterval: 0.2)
        let allocations = cac_allocations()
        XCTAssertEqual(allocations, 0, "\(allocations) heap allocations on the worker thread over \(connections) connections")
        XCTAssertEqual(worker.memberCounters[0].connections, 700)
    }

    /// Connects through the worker, sends `size` bytes, half-closes, reads the echo to EOF.
    private func roundTrip(port: UInt16, size: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let address = SocketAddress(Endpoint(address: .v4(0x7F00_0001), port: port))
        _ = try address.withSockAddr { sa, len throws(SystemError) in
            try syscall("connect") { Glibc.connect(fd, sa, len) }
        }
        let payload = [UInt8](repeating: UInt8(size & 0xFF), count: size)
        var received = 0
        var sent = 0
        // Interleave sending and reading so neither side's buffers fill up.
        var buffer = [UInt8](repeating: 0, count: 65536)
        while sent < size {
            let n = payload.withUnsafeBytes { send(fd, $0.baseAddress! + sent, min(65536, size - sent), 0) }
            guard n > 0 else { throw SystemError(code: errno, call: "send") }
            sent += n
            while received < sent {
                let r = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if r <= 0 { break }
                XCTAssertTrue(buffer[0..<r].allSatisfy { $0 == UInt8(size & 0xFF) })
                received += r
            }
        }
        shutdown(fd, Int32(SHUT_WR))
        while true {
            let r = recv(fd, &buffer, buffer.count, 0)
            if r == 0 { break }
            guard r > 0 else { throw SystemError(code: errno, call: "recv") }
            received += r
        }
        XCTAssertEqual(received, size)
    }
}

/// A thread-per-connection echo server on 127.0.0.1 that echoes until EOF, then closes.
final class EchoMember: @unchecked Sendable {
    let fd: Int32
    let port: UInt16

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let address = SocketAddress(Endpoint(address: .v4(0x7F00_0001), port: 0))
        _ = try address.withSockAddr { sa, len throws(SystemError) in
            try syscall("bind") { bind(listener, sa, len) }
        }
        try syscall("listen") { listen(listener, 512) }
        fd = listener
        port = Socket.localEndpoint(listener)!.port
        Thread.detachNewThread {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let n = recv(client, &buffer, buffer.count, 0)
                        if n <= 0 { break }
                        var off = 0
                        while off < n {
                            let w = buffer.withUnsafeBytes { send(client, $0.baseAddress! + off, n - off, Int32(MSG_NOSIGNAL)) }
                            if w <= 0 { break }
                            off += w
                        }
                    }
                    close(client)
                }
            }
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
