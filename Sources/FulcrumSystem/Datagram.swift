import CFulcrumLinux
import FulcrumAddress
import Glibc

/// UDP sockets and batched datagram I/O.
public enum Datagram {
    /// A non-blocking UDP socket bound to `endpoint` with SO_REUSEPORT (one per worker).
    public static func makeListener(_ endpoint: Endpoint) throws(SystemError) -> Int32 {
        let address = SocketAddress(endpoint)
        let fd = try syscall("socket") { cfl_socket_nonblocking(address.family, Int32(SOCK_DGRAM.rawValue)) }
        do {
            try Socket.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            try Socket.setOption(fd, SOL_SOCKET, CFL_SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)")
            if endpoint.address.isIPv4 {
                try Socket.setOption(fd, Int32(IPPROTO_IP), CFL_IP_FREEBIND, 1, "setsockopt(IP_FREEBIND)")
            } else {
                try Socket.setOption(fd, Int32(IPPROTO_IPV6), CFL_IPV6_FREEBIND, 1, "setsockopt(IPV6_FREEBIND)")
                try Socket.setOption(fd, Int32(IPPROTO_IPV6), CFL_IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)")
            }
            // A burst from many clients lands in one socket per worker: the 208 KiB default
            // overflows long before the worker falls behind. Best effort: SO_RCVBUFFORCE needs
            // CAP_NET_ADMIN, SO_RCVBUF is capped by net.core.rmem_max.
            var size = Datagram.receiveBufferBytes
            let length = socklen_t(MemoryLayout<Int32>.size)
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, length) != 0 {
                _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, length)
            }
            _ = try address.withSockAddr { sa, len throws(SystemError) in
                try syscall("bind") { bind(fd, sa, len) }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    public static let receiveBufferBytes: Int32 = 4 << 20

    /// A non-blocking UDP socket connected to a member: replies arrive only from it, and an
    /// ICMP port unreachable comes back as ECONNREFUSED on the next call.
    @inline(__always)
    public static func connectedSocket(to address: SocketAddress) throws(SystemError) -> Int32 {
        let fd = try syscall("socket") { cfl_socket_nonblocking(address.family, Int32(SOCK_DGRAM.rawValue)) }
        do {
            _ = try address.withSockAddr { sa, len throws(SystemError) in
                try syscall("connect") { Glibc.connect(fd, sa, len) }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    @inline(__always)
    public static func receive(_ fd: Int32, _ messages: UnsafeMutablePointer<cfl_mmsghdr>, count: Int) throws(SystemError) -> IOResult<Int> {
        try retryingSyscall("recvmmsg") { Int(cfl_recvmmsg(fd, messages, UInt32(count))) }
    }

    @inline(__always)
    public static func send(_ fd: Int32, _ messages: UnsafeMutablePointer<cfl_mmsghdr>, count: Int) throws(SystemError) -> IOResult<Int> {
        try retryingSyscall("sendmmsg") { Int(cfl_sendmmsg(fd, messages, UInt32(count))) }
    }

    public static let truncatedFlag = CFL_MSG_TRUNC
}
