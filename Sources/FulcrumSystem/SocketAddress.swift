import Glibc
import FulcrumAddress

/// A sockaddr big enough for IPv4 and IPv6, kept by value so connection setup builds it on
/// the stack. Plain bytes, so a plan holding them can be shared by every worker thread.
public struct SocketAddress: @unchecked Sendable {
    public var storage = sockaddr_storage()
    public var length: socklen_t = socklen_t(MemoryLayout<sockaddr_storage>.size)

    public init() {}

    public init(_ endpoint: Endpoint) {
        switch endpoint.address {
        case let .v4(a):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = endpoint.port.bigEndian
            sin.sin_addr.s_addr = a.bigEndian
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: &sin) { dst.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case .v6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = endpoint.port.bigEndian
            endpoint.address.withIPv6Bytes { raw in
                withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyMemory(from: raw) }
            }
            withUnsafeMutableBytes(of: &storage) { dst in
                withUnsafeBytes(of: &sin6) { dst.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
    }

    public var family: Int32 { Int32(storage.ss_family) }

    /// The endpoint this sockaddr names, or nil for a family other than IPv4/IPv6.
    public var endpoint: Endpoint? {
        withUnsafeBytes(of: storage) { raw -> Endpoint? in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let sin = raw.load(as: sockaddr_in.self)
                return Endpoint(address: .v4(UInt32(bigEndian: sin.sin_addr.s_addr)),
                                port: UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.load(as: sockaddr_in6.self)
                let address = withUnsafeBytes(of: sin6.sin6_addr) { IPAddress(ipv6Bytes: $0) }
                return Endpoint(address: address, port: UInt16(bigEndian: sin6.sin6_port))
            default:
                return nil
            }
        }
    }

    /// Calls `body` with the sockaddr pointer and length, as bind/connect want them.
    @inline(__always)
    public func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> R) throws(SystemError) -> R {
        var copy = storage
        let len = length
        return try withUnsafePointer(to: &copy) { ptr throws(SystemError) -> R in
            try ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) -> R in
                try body(sa, len)
            }
        }
    }
}
