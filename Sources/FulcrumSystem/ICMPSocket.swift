import CFulcrumLinux
import Glibc

/// ICMP echo sockets for PING health checks.
public enum ICMPSocket {
    /// A non-blocking ICMP socket: an unprivileged ICMP datagram socket where
    /// net.ipv4.ping_group_range lets this process's group open one (the kernel then matches
    /// replies to the socket), else a raw socket, which needs CAP_NET_RAW. `raw` says which.
    public static func open(ipv6: Bool) throws(SystemError) -> (fd: Int32, raw: Bool) {
        let family = ipv6 ? AF_INET6 : AF_INET
        let proto = ipv6 ? Int32(IPPROTO_ICMPV6) : Int32(IPPROTO_ICMP)
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        do throws(SystemError) {
            return (try syscall("socket(ICMP datagram)") { socket(family, Int32(SOCK_DGRAM.rawValue) | flags, proto) }, false)
        } catch {
            guard error.code == EACCES || error.code == EPERM || error.code == EPROTONOSUPPORT else { throw error }
            return (try syscall("socket(ICMP raw)") { socket(family, Int32(SOCK_RAW.rawValue) | flags, proto) }, true)
        }
    }

    /// Whether a failure of `open` is the missing capability (both kinds of socket refused).
    public static func needsCapability(_ error: SystemError) -> Bool {
        error.code == EPERM || error.code == EACCES
    }
}
