import CFulcrumLinux
import FulcrumAddress
import Glibc

/// Socket calls over raw descriptors. Descriptors stay plain Int32 so the data plane keeps
/// them in preallocated slots without reference counting.
public enum Socket {
    /// A non-blocking TCP listening socket (one per worker per listener; the kernel spreads
    /// connections across them). Accepted sockets inherit TCP_NODELAY from it: one call instead
    /// of one per connection.
    public static func makeTCPListener(_ endpoint: Endpoint, backlog: Int32 = 4096) throws(SystemError) -> Int32 {
        try makeBound(endpoint, type: Int32(SOCK_STREAM.rawValue)) { fd throws(SystemError) in
            try setOption(fd, CFL_SOL_TCP, CFL_TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)")
        } then: { fd throws(SystemError) in
            try syscall("listen") { listen(fd, backlog) }
        }
    }

    /// A non-blocking socket bound to `endpoint` the way every Fulcrum listener is: SO_REUSEPORT
    /// (one socket per worker), IP_FREEBIND (the address may be a VIP not on this host yet) and,
    /// for IPv6, V6ONLY ("::" means IPv6 only; an operator wanting IPv4 too adds a 0.0.0.0
    /// listener, which would otherwise collide with it). `configure` runs before bind, `then`
    /// after; the socket is closed if anything fails.
    static func makeBound(_ endpoint: Endpoint, type: Int32,
                          configure: (Int32) throws(SystemError) -> Void,
                          then finish: (Int32) throws(SystemError) -> Void = { _ in }) throws(SystemError) -> Int32 {
        let address = SocketAddress(endpoint)
        let fd = try syscall("socket") { cfl_socket_nonblocking(address.family, type) }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            try setOption(fd, SOL_SOCKET, CFL_SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)")
            if endpoint.address.isIPv4 {
                try setOption(fd, Int32(IPPROTO_IP), CFL_IP_FREEBIND, 1, "setsockopt(IP_FREEBIND)")
            } else {
                try setOption(fd, Int32(IPPROTO_IPV6), CFL_IPV6_FREEBIND, 1, "setsockopt(IPV6_FREEBIND)")
                try setOption(fd, Int32(IPPROTO_IPV6), CFL_IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)")
            }
            try configure(fd)
            _ = try address.withSockAddr { sa, len throws(SystemError) in
                try syscall("bind") { bind(fd, sa, len) }
            }
            try finish(fd)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// accept4 a connection; the peer's address lands in `peer`.
    @inline(__always)
    public static func accept(_ fd: Int32, peer: inout SocketAddress) throws(SystemError) -> IOResult<Int32> {
        peer.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return try retryingSyscall("accept4") {
            withUnsafeMutablePointer(to: &peer.storage) { ptr in
                ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    cfl_accept_nonblocking(fd, sa, &peer.length)
                }
            }
        }
    }

    /// A non-blocking, close-on-exec TCP socket of `family`, not yet connected: the member side
    /// of a connection, or a health check's.
    @inline(__always)
    public static func makeStream(family: Int32) throws(SystemError) -> Int32 {
        try syscall("socket") { cfl_socket_nonblocking(family, Int32(SOCK_STREAM.rawValue)) }
    }

    /// Starts a non-blocking connect. `.done` means connected already (common on loopback),
    /// `.wouldBlock` means in progress: wait for writability, then read SO_ERROR.
    @inline(__always)
    public static func connect(_ fd: Int32, to address: SocketAddress) throws(SystemError) -> IOResult<Void> {
        try address.withSockAddr { sa, len throws(SystemError) -> IOResult<Void> in
            while true {
                if Glibc.connect(fd, sa, len) == 0 { return .done(()) }
                switch errno {
                case EINTR: continue
                case EINPROGRESS, EAGAIN: return .wouldBlock
                case let code: throw SystemError(code: code, call: "connect")
                }
            }
        }
    }

    /// The result of a finished non-blocking connect: nil when it succeeded.
    @inline(__always)
    public static func pendingError(_ fd: Int32) -> SystemError? {
        var value: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0 {
            return SystemError(code: errno, call: "getsockopt(SO_ERROR)")
        }
        return value == 0 ? nil : SystemError(code: value, call: "connect")
    }

    @inline(__always)
    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32,
                                 _ call: StaticString) throws(SystemError) {
        var v = value
        try syscall(call) { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// TCP_NODELAY: a proxy must not add Nagle delay on top of the endpoints' own choices.
    @inline(__always)
    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, CFL_SOL_TCP, CFL_TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// SO_LINGER {on, 0 s}: the next close sends RST instead of FIN, so a peer reading the
    /// stream sees ECONNRESET rather than a clean end. A proxy uses it to pass an abort on:
    /// without it a reset (or a cut) on one side reaches the other side as a normal EOF and a
    /// truncated transfer looks complete.
    @inline(__always)
    public static func setAbortOnClose(_ fd: Int32) throws(SystemError) {
        var value = linger(l_onoff: 1, l_linger: 0)
        try syscall("setsockopt(SO_LINGER)") {
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
        }
    }

    /// shutdown(SHUT_WR): passes a FIN on while the other direction keeps flowing.
    @inline(__always)
    public static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// The local address a socket is bound to (tests and logs ask which port the kernel chose).
    public static func localEndpoint(_ fd: Int32) -> Endpoint? {
        var address = SocketAddress()
        let rc = withUnsafeMutablePointer(to: &address.storage) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &address.length) }
        }
        return rc == 0 ? address.endpoint : nil
    }
}

extension Socket {
    /// recv(2) without blocking; `.done(0)` means end of stream.
    @inline(__always)
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) throws(SystemError) -> IOResult<Int> {
        try retryingSyscall("recv") { Glibc.recv(fd, buffer, count, Int32(MSG_DONTWAIT)) }
    }

    /// send(2) without blocking and without SIGPIPE; may send fewer bytes than asked.
    @inline(__always)
    public static func send(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int) throws(SystemError) -> IOResult<Int> {
        try retryingSyscall("send") { Glibc.send(fd, buffer, count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
    }
}

extension Splice {
    /// write(2) into a pipe (the overflow of a copied read whose sink would block).
    @inline(__always)
    public static func write(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int) throws(SystemError) -> IOResult<Int> {
        try retryingSyscall("write") { Glibc.write(fd, buffer, count) }
    }
}
