// Support for the integration tests: they run real `fulcrumd` processes against real sockets on
// 127.0.0.1 / ::1 only. Everything here is blocking and thread based, with a timeout on every
// wait, so a hung daemon makes a test fail rather than hang.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Member servers

/// A member: thread-per-connection TCP server on 127.0.0.1 or ::1, counting accepted
/// connections and recording, per connection, what it received and sent (bytes and SHA-256).
final class TestServer {
    enum Mode {
        /// Echo everything; at EOF shut down writing and close.
        case echo
        /// Read until EOF, then send `bytes` random bytes and close.
        case replyAfterEOF(bytes: Int)
        /// Read until EOF, recording hash and count; then close.
        case sink
        /// Send `bytes` random bytes, shut down writing, then read until EOF (recorded); close.
        case source(bytes: Int)
    }

    struct Record {
        var id: Int
        var peer: String
        var receivedBytes = 0
        var receivedDigest: SHA256Digest?
        var sentBytes = 0
        var sentDigest: SHA256Digest?
        var finished = false
        var error: String?
    }

    let host: String
    let mode: Mode
    let port: UInt16
    private let listener: TCPListener
    private let cond = NSCondition()
    private var records: [Record] = []
    private var liveFDs: Set<Int32> = []
    private var stopping = false
    private var acceptLoopDone = false
    private let ioTimeout: Double

    init(host: String = "127.0.0.1", mode: Mode = .echo, ioTimeout: Double = 60) throws {
        self.host = host
        self.mode = mode
        self.ioTimeout = ioTimeout
        listener = try TCPListener(host: host, port: 0, backlog: 1024)
        port = listener.port
        startThread(name: "fulcrum-it-server-\(port)") { [self] in acceptLoop() }
    }

    var acceptedCount: Int {
        cond.lock()
        defer { cond.unlock() }
        return records.count
    }

    var allRecords: [Record] {
        cond.lock()
        defer { cond.unlock() }
        return records
    }

    /// Waits until at least `count` connections have finished; returns all records, or nil.
    func waitFinished(count: Int, timeout: Double) -> [Record]? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while records.filter(\.finished).count < count {
            if !cond.wait(until: deadline) {
                return records.filter(\.finished).count >= count ? records : nil
            }
        }
        return records
    }

    func stop() {
        cond.lock()
        stopping = true
        for fd in liveFDs { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        cond.unlock()
        cond.lock()
        let deadline = Date(timeIntervalSinceNow: 2)
        while !acceptLoopDone {
            if !cond.wait(until: deadline) { break }
        }
        cond.unlock()
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            cond.lock()
            let stop = stopping
            cond.unlock()
            if stop { break }
            guard (try? Sock.poll(listener.fd, events: Int16(POLLIN), timeout: 0.1)) == true else { continue }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listener.fd, $0, &length)
                }
            }
            if fd < 0 { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // (accept4 needs _GNU_SOURCE, not visible here)
            let peer = SocketAddress(storage: storage, length: length).description
            cond.lock()
            if stopping {
                cond.unlock()
                Glibc.close(fd)
                break
            }
            let id = records.count
            records.append(Record(id: id, peer: peer))
            liveFDs.insert(fd)
            cond.broadcast()
            cond.unlock()
            startThread(name: "fulcrum-it-conn-\(port)-\(id)") { [self] in serve(fd: fd, id: id) }
        }
        listener.close()
        cond.lock()
        acceptLoopDone = true
        cond.broadcast()
        cond.unlock()
    }

    private func serve(fd: Int32, id: Int) {
        Sock.setTimeouts(fd, receive: ioTimeout, send: ioTimeout)
        var result = Record(id: id, peer: "")
        let size = 256 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }

        func drain() throws {
            var hasher = SHA256()
            while true {
                let n = try Sock.recv(fd, buffer)
                if n == 0 { break }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                result.receivedBytes += n
            }
            result.receivedDigest = hasher.finalize()
        }

        func sendRandom(_ bytes: Int) throws {
            let stream = PayloadStream(seed: UInt64.random(in: 1...UInt64.max), total: bytes)
            while let chunk = stream.nextChunk() {
                try Sock.sendAll(fd, chunk, timeout: ioTimeout)
                result.sentBytes += chunk.count
            }
            result.sentDigest = stream.digest()
        }

        do {
            switch mode {
            case .echo:
                var received = SHA256()
                while true {
                    let n = try Sock.recv(fd, buffer)
                    if n == 0 { break }
                    let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                    received.update(bufferPointer: chunk)
                    result.receivedBytes += n
                    try Sock.sendAll(fd, chunk, timeout: ioTimeout)
                    result.sentBytes += n
                }
                result.receivedDigest = received.finalize()
                result.sentDigest = result.receivedDigest
                _ = Glibc.shutdown(fd, Int32(SHUT_WR))
            case let .replyAfterEOF(bytes):
                try drain()
                try sendRandom(bytes)
                _ = Glibc.shutdown(fd, Int32(SHUT_WR))
            case .sink:
                try drain()
            case let .source(bytes):
                try sendRandom(bytes)
                _ = Glibc.shutdown(fd, Int32(SHUT_WR))
                try drain()
            }
        } catch {
            result.error = "\(error)"
        }

        cond.lock()
        liveFDs.remove(fd)
        Glibc.close(fd)
        records[id].receivedBytes = result.receivedBytes
        records[id].receivedDigest = result.receivedDigest
        records[id].sentBytes = result.sentBytes
        records[id].sentDigest = result.sentDigest
        records[id].error = result.error
        records[id].finished = true
        cond.broadcast()
        cond.unlock()
    }
}
