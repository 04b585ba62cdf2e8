import CFulcrumLinux
import FulcrumAddress
import Glibc

/// A reply the kernel sent that does not parse. Never trusted further: lengths are checked
/// before every read, so a bad reply is an error, not a crash.
struct MalformedReply: Error, Equatable {
    let what: String
}

/// One message of a netlink datagram: header fields and the payload after the header.
struct NetlinkMessage {
    let type: UInt16
    let flags: UInt16
    let sequence: UInt32
    let payload: ArraySlice<UInt8>
}

/// The kernel's answer to an acknowledged request: 0 for done, else a positive errno, and the
/// kernel's explanation when extended acknowledgements carried one.
struct Acknowledgement: Equatable {
    let code: Int32
    let kernelMessage: String?
}

/// What RTM_GETLINK tells about an interface.
struct LinkInfo: Equatable {
    let index: Int32
    let linkLayer: LinkLayer
    /// IFLA_ADDRESS when it is a 6-byte address; nil for links without one (tun, ip tunnels).
    let mac: MACAddress?
}

/// One address from an RTM_GETADDR dump.
struct ListedAddress: Equatable {
    let interfaceIndex: Int32
    let address: IPAddress
    let prefixLength: Int
}

enum NetlinkReply {
    static let headerSize = MemoryLayout<cfl_nlmsghdr>.size

    /// Splits a datagram into its messages.
    static func messages(in datagram: ArraySlice<UInt8>) throws(MalformedReply) -> [NetlinkMessage] {
        var result: [NetlinkMessage] = []
        var offset = datagram.startIndex
        while datagram.endIndex - offset >= headerSize {
            let header: cfl_nlmsghdr = load(datagram, at: offset)
            let length = Int(header.nlmsg_len)
            guard length >= headerSize, length <= datagram.endIndex - offset else {
                throw MalformedReply(what: "message length \(length) with \(datagram.endIndex - offset) bytes left")
            }
            result.append(NetlinkMessage(type: header.nlmsg_type, flags: header.nlmsg_flags, sequence: header.nlmsg_seq,
                                         payload: datagram[(offset + headerSize)..<(offset + length)]))
            offset += min(Netlink.aligned(length), datagram.endIndex - offset)
        }
        guard offset == datagram.endIndex else {
            throw MalformedReply(what: "\(datagram.endIndex - offset) stray bytes after the last message")
        }
        return result
    }

    /// Route attributes by type (the last one wins if a type repeats). The nested and
    /// byte-order flag bits are not part of the type.
    static func attributes(in bytes: ArraySlice<UInt8>) throws(MalformedReply) -> [UInt16: ArraySlice<UInt8>] {
        let headerSize = MemoryLayout<cfl_rtattr>.size
        var result: [UInt16: ArraySlice<UInt8>] = [:]
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= headerSize {
            let header: cfl_rtattr = load(bytes, at: offset)
            let length = Int(header.rta_len)
            guard length >= headerSize, length <= bytes.endIndex - offset else {
                throw MalformedReply(what: "attribute length \(length) with \(bytes.endIndex - offset) bytes left")
            }
            result[header.rta_type & 0x3FFF] = bytes[(offset + headerSize)..<(offset + length)]
            offset += min(Netlink.aligned(length), bytes.endIndex - offset)
        }
        return result
    }

    /// Reads an NLMSG_ERROR message. With NLM_F_CAPPED the request is not echoed; without it
    /// the whole request follows the header and the extended-ack attributes come after that.
    static func acknowledgement(_ message: NetlinkMessage) throws(MalformedReply) -> Acknowledgement {
        let errorSize = MemoryLayout<cfl_nlmsgerr>.size
        guard message.payload.count >= errorSize else {
            throw MalformedReply(what: "error message of \(message.payload.count) bytes")
        }
        let error: cfl_nlmsgerr = load(message.payload, at: message.payload.startIndex)
        var kernelMessage: String?
        if message.flags & CFL_NLM_F_ACK_TLVS != 0 {
            let echoed = message.flags & CFL_NLM_F_CAPPED != 0 ? 0 : Netlink.aligned(Int(error.msg.nlmsg_len)) - headerSize
            let start = message.payload.startIndex + errorSize + max(0, echoed)
            guard start <= message.payload.endIndex else {
                throw MalformedReply(what: "error message shorter than the request it echoes")
            }
            if let text = try attributes(in: message.payload[start...])[CFL_NLMSGERR_ATTR_MSG] {
                kernelMessage = String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        // Some kernels once sent positive codes; only the magnitude means anything.
        return Acknowledgement(code: error.error.magnitude > Int32.max ? Int32.max : Int32(error.error.magnitude),
                               kernelMessage: kernelMessage)
    }

    /// Reads an RTM_NEWLINK message.
    static func link(_ message: NetlinkMessage) throws(MalformedReply) -> LinkInfo {
        let infoSize = MemoryLayout<cfl_ifinfomsg>.size
        guard message.type == CFL_RTM_NEWLINK, message.payload.count >= infoSize else {
            throw MalformedReply(what: "link message of type \(message.type) and \(message.payload.count) bytes")
        }
        let info: cfl_ifinfomsg = load(message.payload, at: message.payload.startIndex)
        let attributes = try attributes(in: message.payload.dropFirst(Netlink.aligned(infoSize)))
        return LinkInfo(index: info.ifi_index, linkLayer: LinkLayer(arphrd: info.ifi_type),
                        mac: attributes[CFL_IFLA_ADDRESS].flatMap { MACAddress(bytes: $0) })
    }

    /// Reads an RTM_NEWADDR message; nil for a family other than IPv4 and IPv6.
    static func address(_ message: NetlinkMessage) throws(MalformedReply) -> ListedAddress? {
        let headerSize = MemoryLayout<cfl_ifaddrmsg>.size
        guard message.type == CFL_RTM_NEWADDR, message.payload.count >= headerSize else {
            throw MalformedReply(what: "address message of type \(message.type) and \(message.payload.count) bytes")
        }
        let header: cfl_ifaddrmsg = load(message.payload, at: message.payload.startIndex)
        let attributes = try attributes(in: message.payload.dropFirst(Netlink.aligned(headerSize)))
        // IFA_LOCAL is the interface's own address when it differs from IFA_ADDRESS (the peer
        // of a point-to-point link); otherwise only IFA_ADDRESS may be present.
        guard let wire = attributes[CFL_IFA_LOCAL] ?? attributes[CFL_IFA_ADDRESS] else {
            throw MalformedReply(what: "address message without IFA_LOCAL or IFA_ADDRESS")
        }
        let address: IPAddress
        switch Int32(header.ifa_family) {
        case AF_INET:
            guard wire.count == 4 else { throw MalformedReply(what: "IPv4 address of \(wire.count) bytes") }
            address = .v4(wire.reduce(0) { $0 << 8 | UInt32($1) })
        case AF_INET6:
            guard wire.count == 16 else { throw MalformedReply(what: "IPv6 address of \(wire.count) bytes") }
            address = Array(wire).withUnsafeBytes { IPAddress(ipv6Bytes: $0) }
        default:
            return nil
        }
        return ListedAddress(interfaceIndex: Int32(bitPattern: header.ifa_index), address: address,
                             prefixLength: Int(header.ifa_prefixlen))
    }

    /// A C struct read from `bytes` at `offset`; the caller has checked the length.
    private static func load<T>(_ bytes: ArraySlice<UInt8>, at offset: Int) -> T {
        precondition(bytes.endIndex - offset >= MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { raw in
            raw.loadUnaligned(fromByteOffset: offset - bytes.startIndex, as: T.self)
        }
    }
}
