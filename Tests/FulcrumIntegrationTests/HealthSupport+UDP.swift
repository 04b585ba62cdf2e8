// Health test member over UDP: a responder whose reply can be switched, or closed so its port
// is unreachable, and reopened on the same port. Stopped by HealthTestCase.tearDown.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - UDP responder

/// A UDP health target on its own thread: answers each datagram (echo, a fixed payload, or
/// nothing), and can be "closed" — its port then answers ICMP port unreachable, as a dead
/// service's does — and reopened on the same port. While closed the socket stays bound but is
/// connected to a peer that never sends (127.0.0.1:9 or [::1]:9): the kernel then finds no
/// socket for anyone else's datagrams, and nobody else can take the port meanwhile.
final class HealthUDPResponder: UDPStoppable {
    enum Reply: Equatable {
        case echo
        case fixed([UInt8])
        case silent
    }

    let host: String
    let port: UInt16
    private let fd: Int32
    private let cond = NSCondition()
    private var reply: Reply
    private var open = true
    private var datagrams = 0
    private var last: [UInt8]?
    private var stopping = false
    private var done = false
    private var stopped = false

    init(host: String = "127.0.0.1", reply: Reply = .echo) throws {
        self.host = host
        self.reply = reply
        // Bound to an explicit port (one found free first): a UDP socket bound to port 0 loses
        // its port on disconnect, one bound explicitly keeps it (SOCK_BINDPORT_LOCK).
        var attempt = 0
        var bound: (fd: Int32, port: UInt16)?
        while bound == nil {
            attempt += 1
            let address = try SocketAddress(host: host, port: try freeUDPPort(host: host))
            let fd = try UDP.socket(family: address.family)
            do {
                try Sock.bind(fd, address)
                bound = (fd, address.port)
            } catch let error as SocketError where error.code == EADDRINUSE && attempt < 20 {
                Glibc.close(fd)
            } catch {
                Glibc.close(fd)
                throw error
            }
        }
        fd = bound!.fd
        port = bound!.port
        UDP.setReceiveTimeout(fd, 0.05)
        startThread(name: "fulcrum-it-udp-health-\(port)") { [self] in serve() }
    }

    func setReply(_ reply: Reply) { cond.lock(); self.reply = reply; cond.unlock() }

    /// Datagrams received while open.
    var datagramCount: Int { cond.lock(); defer { cond.unlock() }; return datagrams }
    var lastDatagram: [UInt8]? { cond.lock(); defer { cond.unlock() }; return last }

    /// From now on datagrams to the port get ICMP port unreachable.
    func close() throws {
        cond.lock()
        defer { cond.unlock() }
        guard open else { return }
        let sink = try SocketAddress(host: host.contains(":") ? "::1" : "127.0.0.1", port: 9)
        let rc = sink.withSockaddr { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else { throw SocketError("connect (closing the UDP responder)", errno) }
        open = false
    }

    /// Serves the port again.
    func reopen() throws {
        cond.lock()
        defer { cond.unlock() }
        guard !open else { return }
        var unspec = sockaddr()
        unspec.sa_family = sa_family_t(AF_UNSPEC)
        let rc = Glibc.connect(fd, &unspec, socklen_t(MemoryLayout<sockaddr>.size))
        guard rc == 0 else { throw SocketError("connect AF_UNSPEC (reopening the UDP responder)", errno) }
        guard (try? SocketAddress.local(of: fd).port) == port else {
            throw TestFailure("the UDP responder lost its port \(port) when reopened")
        }
        open = true
    }

    private func serve() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 70_000, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            cond.lock()
            let stop = stopping
            cond.unlock()
            if stop { break }
            guard let got = try? UDP.receive(fd, buffer) else { continue }
            cond.lock()
            let isOpen = open
            if isOpen {
                datagrams += 1
                last = got.bytes
            }
            let answer = reply
            cond.unlock()
            guard isOpen else { continue }
            switch answer {
            case .echo: try? UDP.sendTo(fd, got.bytes, got.from)
            case let .fixed(bytes): try? UDP.sendTo(fd, bytes, got.from)
            case .silent: break
            }
        }
        cond.lock()
        done = true
        cond.broadcast()
        cond.unlock()
    }

    func stop() {
        cond.lock()
        stopping = true
        let deadline = Date(timeIntervalSinceNow: 2)
        while !done { if !cond.wait(until: deadline) { break } }
        let first = !stopped
        stopped = true
        cond.unlock()
        if first { Glibc.close(fd) }
    }
}
