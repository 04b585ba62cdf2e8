// Support for the integration tests: they run real `fulcrumd` processes against real sockets on
// 127.0.0.1 / ::1 only. Everything here is blocking and thread based, with a timeout on every
// wait, so a hung daemon makes a test fail rather than hang.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Listening helpers

/// A plain listening socket (used to occupy a port, and by `TestServer`).
final class TCPListener {
    let fd: Int32
    let address: SocketAddress
    private var closed = false

    init(host: String = "127.0.0.1", port: UInt16 = 0, backlog: Int32 = 512, reuseAddress: Bool = true) throws {
        let requested = try SocketAddress(host: host, port: port)
        let fd = try Sock.create(family: requested.family)
        do {
            if reuseAddress { Sock.setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1) }
            if requested.family == AF_INET6 { Sock.setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            try Sock.bind(fd, requested)
            guard listen(fd, backlog) == 0 else { throw SocketError("listen", errno) }
            self.address = try SocketAddress.local(of: fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
    }

    var port: UInt16 { address.port }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    deinit { close() }
}

/// A port bound but not listening: connects to it are refused, and nobody else can take it.
final class ClosedPort {
    let port: UInt16
    private let fd: Int32

    init(host: String = "127.0.0.1") throws {
        let address = try SocketAddress(host: host, port: 0)
        fd = try Sock.create(family: address.family)
        do {
            try Sock.bind(fd, address)
            port = try SocketAddress.local(of: fd).port
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { Glibc.close(fd) }
}

/// A loopback port whose SYNs go unanswered: a listener with backlog 0 whose accept queue we
/// fill with our own connections and never accept (Linux then drops further SYNs).
final class BlackholeListener {
    let port: UInt16
    private let listenFD: Int32
    private var fillers: [Int32] = []
    private var accepted: [Int32] = []

    init(host: String = "127.0.0.1") throws {
        let address = try SocketAddress(host: host, port: 0)
        listenFD = try Sock.create(family: address.family)
        try Sock.bind(listenFD, address)
        guard listen(listenFD, 0) == 0 else { throw SocketError("listen", errno) }
        port = try SocketAddress.local(of: listenFD).port
        let target = try SocketAddress(host: host, port: port)
        // Fill the accept queue: connect until one connect does not complete.
        for _ in 0..<16 {
            let fd = try Sock.create(family: address.family)
            do {
                try Sock.connect(fd, target, timeout: 0.3)
                fillers.append(fd)
            } catch {
                Glibc.close(fd)
                break
            }
        }
    }

    /// True when a direct connect gets no answer within `timeout` (the trick works here).
    func connectHangs(timeout: Double = 1.0) -> Bool {
        guard let address = try? SocketAddress(host: "127.0.0.1", port: port),
              let fd = try? Sock.create(family: address.family) else { return false }
        defer { Glibc.close(fd) }
        do {
            try Sock.connect(fd, address, timeout: timeout)
            return false
        } catch let error as SocketError {
            return error.code == ETIMEDOUT
        } catch {
            return false
        }
    }

    func close() {
        for fd in fillers { Glibc.close(fd) }
        fillers.removeAll()
        for fd in accepted { Glibc.close(fd) }
        accepted.removeAll()
    }

    /// Accepts what is queued, so the next SYN retransmission of a hanging connect completes.
    /// The accepted sockets are kept and never read: a connection to this member goes nowhere.
    /// Returns how many were accepted.
    @discardableResult
    func acceptQueued() -> Int {
        var count = 0
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        while true {
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else { return count }
            accepted.append(fd)
            count += 1
        }
    }

    /// Accepted sockets that the peer has closed (read returns 0 or an error other than EAGAIN).
    func acceptedClosedByPeer() -> Int {
        var buffer = [UInt8](repeating: 0, count: 256)
        return accepted.filter { fd in
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT | MSG_PEEK))
            return n == 0 || (n < 0 && errno != EAGAIN)
        }.count
    }

    deinit {
        close()
        Glibc.close(listenFD)
    }
}

// MARK: - Payloads

/// A deterministic stream of pseudo-random bytes (splitmix64), produced chunk by chunk and
/// hashed as it goes, so hundreds of MiB never sit in memory.
final class PayloadStream {
    let total: Int
    private(set) var produced = 0
    private var state: UInt64
    private let chunkBytes: Int
    private let words: UnsafeMutablePointer<UInt64>
    private var hasher = SHA256()

    init(seed: UInt64, total: Int, chunkSize: Int = 256 * 1024) {
        precondition(chunkSize > 0 && chunkSize % 8 == 0)
        self.total = total
        self.state = seed &* 0x2545_F491_4F6C_DD1D
        self.chunkBytes = chunkSize
        self.words = UnsafeMutablePointer<UInt64>.allocate(capacity: chunkSize / 8)
    }

    deinit { words.deallocate() }

    var isFinished: Bool { produced >= total }

    /// The next chunk (valid until the next call), or nil when everything was produced.
    func nextChunk() -> UnsafeRawBufferPointer? {
        let count = min(chunkBytes, total - produced)
        guard count > 0 else { return nil }
        let wordCount = (count + 7) / 8
        var s = state
        for i in 0..<wordCount {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words[i] = z ^ (z >> 31)
        }
        state = s
        let chunk = UnsafeRawBufferPointer(start: UnsafeRawPointer(words), count: count)
        hasher.update(bufferPointer: chunk)
        produced += count
        return chunk
    }

    /// SHA-256 of everything produced so far.
    func digest() -> SHA256Digest { hasher.finalize() }

    /// Produces everything and returns its hash (what a receiver must end up with).
    static func expectedDigest(seed: UInt64, total: Int) -> SHA256Digest {
        let stream = PayloadStream(seed: seed, total: total)
        while stream.nextChunk() != nil {}
        return stream.digest()
    }
}

/// Sends a payload through `socket` on a separate thread while this thread reads everything
/// back until EOF (sender and reader must run concurrently or buffers deadlock).
func echoRoundTrip(_ socket: TCPSocket, seed: UInt64, size: Int, timeout: Double = 60) throws
    -> (sent: SHA256Digest, received: SHA256Digest, receivedCount: Int)
{
    let sendResult = Locked<Result<SHA256Digest, Error>?>(nil)
    let senderDone = DispatchSemaphore(value: 0)
    startThread(name: "fulcrum-it-sender") {
        let stream = PayloadStream(seed: seed, total: size)
        do {
            let deadline = monotonicNow() + timeout
            while let chunk = stream.nextChunk() {
                try socket.send(chunk)
                if monotonicNow() > deadline { throw TestFailure("sending \(size) bytes took more than \(timeout) s") }
            }
            socket.shutdownWrite()
            sendResult.withLock { $0 = .success(stream.digest()) }
        } catch {
            sendResult.withLock { $0 = .failure(error) }
        }
        senderDone.signal()
    }
    let received: (count: Int, digest: SHA256Digest)
    do {
        received = try socket.readToEOF(limit: size * 2, totalTimeout: timeout)
    } catch {
        _ = senderDone.wait(timeout: .now() + 5)
        throw TestFailure("reading the echo failed after sending \(sendResult.current.map { "\($0)" } ?? "(sender still running)"): \(error)")
    }
    guard senderDone.wait(timeout: .now() + timeout) == .success else {
        throw TestFailure("sender did not finish within \(timeout) s")
    }
    switch sendResult.current {
    case let .success(digest)?:
        return (digest, received.digest, received.count)
    case let .failure(error)?:
        throw TestFailure("sending failed: \(error)")
    case nil:
        throw TestFailure("sender produced no result")
    }
}
