import CFulcrumLinux
import FulcrumAddress
import Glibc

/// A raw IP socket for one protocol on one interface (VRRP's 112), through the one syscall
/// layer: TTL / hop limit 255 both ways, bound to the device, multicast out of it.
public final class RawIPSocket: @unchecked Sendable {
    public let fd: Int32
    public let isIPv4: Bool
    public let interfaceIndex: Int32

    /// One received packet: IPv4 packets include their IP header (the kernel gives it to raw
    /// sockets); IPv6 ones do not, so their addresses and hop limit come beside the payload.
    public struct Received {
        public var length: Int
        public var source: IPAddress
        /// IPv6 only (nil for IPv4: read it from the header).
        public var destination: IPAddress?
        /// IPv6 only (nil when the kernel did not say, or IPv4).
        public var hopLimit: UInt8?
    }

    public init(protocol number: Int32, ipv4: Bool, interface: String) throws(SystemError) {
        let index = if_nametoindex(interface)
        guard index != 0 else { throw SystemError(code: ENODEV, call: "if_nametoindex") }
        let fd = try syscall("socket") { cfl_raw_ip_socket(ipv4 ? AF_INET : AF_INET6, number, Int32(index), interface) }
        self.fd = fd
        isIPv4 = ipv4
        interfaceIndex = Int32(index)
    }

    deinit { close(fd) }

    public func join(_ group: IPAddress) throws(SystemError) {
        try RawIPSocket.withBytes(group) { bytes throws(SystemError) in
            _ = try syscall("setsockopt(ADD_MEMBERSHIP)") { cfl_raw_ip_join(fd, isIPv4 ? AF_INET : AF_INET6, interfaceIndex, bytes) }
        }
    }

    /// Sets the source address of what this socket sends.
    public func bind(_ address: IPAddress) throws(SystemError) {
        try RawIPSocket.withBytes(address) { bytes throws(SystemError) in
            _ = try syscall("bind") { cfl_raw_ip_bind(fd, isIPv4 ? AF_INET : AF_INET6, bytes, interfaceIndex) }
        }
    }

    public func send(_ payload: [UInt8], to destination: IPAddress) throws(SystemError) -> IOResult<Int> {
        try RawIPSocket.withBytes(destination) { bytes throws(SystemError) in
            try retryingSyscall("sendto") {
                payload.withUnsafeBufferPointer {
                    Int(cfl_raw_ip_send(fd, isIPv4 ? AF_INET : AF_INET6, $0.baseAddress, $0.count, bytes, interfaceIndex))
                }
            }
        }
    }

    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Received> {
        var source = [UInt8](repeating: 0, count: 16)
        var destination = [UInt8](repeating: 0, count: 16)
        var hopLimit: Int32 = -1
        let result = try retryingSyscall("recvmsg") {
            Int(cfl_raw_ip_receive(fd, isIPv4 ? AF_INET : AF_INET6, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                   buffer.count, &source, &destination, &hopLimit))
        }
        switch result {
        case .wouldBlock: return .wouldBlock
        case let .done(n):
            if isIPv4 {
                let v4 = UInt32(source[0]) << 24 | UInt32(source[1]) << 16 | UInt32(source[2]) << 8 | UInt32(source[3])
                return .done(Received(length: n, source: .v4(v4), destination: nil, hopLimit: nil))
            }
            let src = source.withUnsafeBytes { IPAddress(ipv6Bytes: $0) }
            let dst = destination.withUnsafeBytes { IPAddress(ipv6Bytes: $0) }
            return .done(Received(length: n, source: src, destination: dst,
                                  hopLimit: hopLimit >= 0 ? UInt8(clamping: hopLimit) : nil))
        }
    }

    private static func withBytes<R>(_ address: IPAddress, _ body: (UnsafePointer<UInt8>) throws(SystemError) -> R) throws(SystemError) -> R {
        var bytes: [UInt8]
        switch address {
        case let .v4(value): bytes = [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        case let .v6(high, low):
            bytes = (0..<8).map { UInt8(high >> (56 - 8 * UInt64($0)) & 0xFF) } + (0..<8).map { UInt8(low >> (56 - 8 * UInt64($0)) & 0xFF) }
        }
        return try bytes.withUnsafeBufferPointer { buffer throws(SystemError) in try body(buffer.baseAddress!) }
    }
}
