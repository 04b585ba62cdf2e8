import CFulcrumLinux

/// Builds one netlink message: the header, a fixed family header (ifaddrmsg, ifinfomsg) and
/// route attributes, each padded to 4 bytes. Integers are in host byte order, as netlink wants.
struct NetlinkMessageBuilder {
    private(set) var bytes: [UInt8] = []

    init(type: UInt16, flags: UInt16, sequence: UInt32) {
        // nlmsg_pid 0: the kernel fills in the sender's port id.
        appendRaw(cfl_nlmsghdr(nlmsg_len: 0, nlmsg_type: type, nlmsg_flags: flags, nlmsg_seq: sequence, nlmsg_pid: 0))
    }

    /// Appends a C struct's bytes as they are in memory, padded to the netlink alignment.
    mutating func appendRaw<T>(_ value: T) {
        withUnsafeBytes(of: value) { bytes += $0 }
        pad()
    }

    /// Appends an rtattr: length (header included, padding not), type, payload, padding.
    mutating func appendAttribute(_ type: UInt16, _ payload: [UInt8]) {
        let header = cfl_rtattr(rta_len: UInt16(MemoryLayout<cfl_rtattr>.size + payload.count), rta_type: type)
        withUnsafeBytes(of: header) { bytes += $0 }
        bytes += payload
        pad()
    }

    mutating func appendAttribute(_ type: UInt16, _ value: UInt32) {
        appendAttribute(type, withUnsafeBytes(of: value) { Array($0) })
    }

    /// One attribute as bytes (header, payload, padding), to nest inside another (IFLA_LINKINFO).
    static func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        var builder = NetlinkMessageBuilder()
        builder.appendAttribute(type, payload)
        return builder.bytes
    }

    private init() {}

    /// The finished message, its length written into the header.
    var message: [UInt8] {
        var result = bytes
        withUnsafeBytes(of: UInt32(result.count)) { length in
            for i in 0..<4 { result[i] = length[i] }
        }
        return result
    }

    private mutating func pad() {
        while bytes.count % Netlink.alignment != 0 { bytes.append(0) }
    }
}

enum Netlink {
    static let alignment = 4

    static func aligned(_ length: Int) -> Int { (length + alignment - 1) & ~(alignment - 1) }
}
