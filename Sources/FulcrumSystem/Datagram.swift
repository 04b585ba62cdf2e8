import CFulcrumLinux
import FulcrumAddress
import Glibc

/// UDP sockets and batched datagram I/O.
public enum Datagram {
    /// A non-blocking UDP socket bound like every listener (see Socket.makeBound).
    public static func makeListener(_ endpoint: Endpoint) throws(SystemError) -> Int32 {
        try Socket.makeBound(endpoint, type: Int32(SOCK_DGRAM.rawValue)) { fd throws(SystemError) in
            // A burst from many clients lands in one socket per worker: the 208 KiB default
            // overflows long before the worker falls behind. Best effort: SO_RCVBUFFORCE needs
            // CAP_NET_ADMIN, SO_RCVBUF is capped by net.core.rmem_max.
            var size = Datagram.receiveBufferBytes
            let length = socklen_t(MemoryLayout<Int32>.size)
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, length) != 0 {
                _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, length)
            }
        }
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
