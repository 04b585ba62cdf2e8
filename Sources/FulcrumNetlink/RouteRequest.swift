import CFulcrumLinux
import FulcrumAddress
import Glibc

/// The rtnetlink requests the room sends, as bytes (pure, so tests check their layout).
enum RouteRequest {
    /// RTM_NEWADDR, create but never replace: an address someone else put there stays exactly
    /// as they made it (EEXIST, which `add` takes as "already there").
    static func newAddress(_ vip: InterfaceAddress, interfaceIndex: Int32, sequence: UInt32) -> [UInt8] {
        addressMessage(CFL_RTM_NEWADDR, CFL_NLM_F_CREATE | CFL_NLM_F_EXCL, vip, interfaceIndex, sequence, creating: true)
    }

    /// RTM_NEWADDR creating the address or, when it is there, replacing its lifetimes: valid
    /// and preferred for `lifetimeSeconds` from now (IFA_CACHEINFO). The kernel deletes the
    /// address itself when that runs out, so one whose owner stopped refreshing it goes away.
    static func refreshAddress(_ vip: InterfaceAddress, lifetimeSeconds: UInt32, interfaceIndex: Int32,
                               sequence: UInt32) -> [UInt8] {
        let lifetime = cfl_ifa_cacheinfo(ifa_prefered: lifetimeSeconds, ifa_valid: lifetimeSeconds, cstamp: 0, tstamp: 0)
        return addressMessage(CFL_RTM_NEWADDR, CFL_NLM_F_CREATE | CFL_NLM_F_REPLACE, vip, interfaceIndex, sequence,
                              creating: true, lifetime: lifetime)
    }

    /// RTM_DELADDR naming address and prefix length, so only exactly this address goes.
    static func deleteAddress(_ vip: InterfaceAddress, interfaceIndex: Int32, sequence: UInt32) -> [UInt8] {
        addressMessage(CFL_RTM_DELADDR, 0, vip, interfaceIndex, sequence, creating: false)
    }

    /// RTM_GETLINK by name: index, link type and MAC in one answer, ENODEV when there is no
    /// such interface. Acknowledged, so the conversation ends with the ack.
    static func link(named name: String, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: CFL_RTM_GETLINK, flags: CFL_NLM_F_REQUEST | CFL_NLM_F_ACK, sequence: sequence)
        builder.appendRaw(cfl_ifinfomsg(ifi_family: UInt8(AF_UNSPEC), ifi_pad: 0, ifi_type: 0, ifi_index: 0, ifi_flags: 0, ifi_change: 0))
        builder.appendAttribute(CFL_IFLA_IFNAME, Array(name.utf8) + [0])
        return builder.message
    }

    /// RTM_GETADDR dump of both families. Older kernels ignore an index filter in a dump, so
    /// the reply is filtered by interface index afterwards instead.
    static func dumpAddresses(sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: CFL_RTM_GETADDR, flags: CFL_NLM_F_REQUEST | CFL_NLM_F_DUMP, sequence: sequence)
        builder.appendRaw(cfl_ifaddrmsg(ifa_family: UInt8(AF_UNSPEC), ifa_prefixlen: 0, ifa_flags: 0, ifa_scope: 0, ifa_index: 0))
        return builder.message
    }

    /// RTM_NEWLINK creating a link of `kind` ("dummy", "bridge"), down, with no addresses.
    /// EXCL: one that appeared meanwhile is EEXIST, which the caller takes as "there".
    static func newLink(named name: String, kind: String, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: CFL_RTM_NEWLINK,
                                            flags: CFL_NLM_F_REQUEST | CFL_NLM_F_ACK | CFL_NLM_F_CREATE | CFL_NLM_F_EXCL,
                                            sequence: sequence)
        builder.appendRaw(cfl_ifinfomsg(ifi_family: UInt8(AF_UNSPEC), ifi_pad: 0, ifi_type: 0, ifi_index: 0, ifi_flags: 0, ifi_change: 0))
        builder.appendAttribute(CFL_IFLA_IFNAME, Array(name.utf8) + [0])
        builder.appendAttribute(CFL_IFLA_LINKINFO, NetlinkMessageBuilder.attribute(CFL_IFLA_INFO_KIND, Array(kind.utf8)))
        return builder.message
    }

    /// RTM_NEWLINK on an existing link changing only IFF_UP (ifi_change masks the rest).
    static func setUp(interfaceIndex: Int32, sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: CFL_RTM_NEWLINK, flags: CFL_NLM_F_REQUEST | CFL_NLM_F_ACK, sequence: sequence)
        builder.appendRaw(cfl_ifinfomsg(ifi_family: UInt8(AF_UNSPEC), ifi_pad: 0, ifi_type: 0, ifi_index: interfaceIndex,
                                        ifi_flags: CFL_IFF_UP, ifi_change: CFL_IFF_UP))
        return builder.message
    }

    /// A `local` route for one address in the local table through `lo` (as `ip route add local
    /// ADDR dev lo table local metric 1024`): the kernel delivers the address's packets to this
    /// host's sockets whether or not any interface carries it. Metric 1024 keeps it apart from
    /// the metric-0 route the kernel adds and removes with the address itself. REPLACE: adding
    /// it again is not an error.
    static func newLocalRoute(_ address: IPAddress, loopbackIndex: Int32, sequence: UInt32) -> [UInt8] {
        localRouteMessage(CFL_RTM_NEWROUTE, CFL_NLM_F_CREATE | CFL_NLM_F_REPLACE, address, loopbackIndex, sequence)
    }

    static func deleteLocalRoute(_ address: IPAddress, loopbackIndex: Int32, sequence: UInt32) -> [UInt8] {
        localRouteMessage(CFL_RTM_DELROUTE, 0, address, loopbackIndex, sequence)
    }

    static let localRouteMetric: UInt32 = 1024

    private static func localRouteMessage(_ type: UInt16, _ extraFlags: UInt16, _ address: IPAddress,
                                          _ loopbackIndex: Int32, _ sequence: UInt32) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: type, flags: CFL_NLM_F_REQUEST | CFL_NLM_F_ACK | extraFlags, sequence: sequence)
        builder.appendRaw(cfl_rtmsg(rtm_family: UInt8(address.isIPv4 ? AF_INET : AF_INET6),
                                    rtm_dst_len: address.isIPv4 ? 32 : 128, rtm_src_len: 0, rtm_tos: 0,
                                    rtm_table: CFL_RT_TABLE_LOCAL, rtm_protocol: CFL_RTPROT_STATIC,
                                    rtm_scope: CFL_RT_SCOPE_HOST, rtm_type: CFL_RTN_LOCAL, rtm_flags: 0))
        var wire: [UInt8] = []
        wire.append(address)
        builder.appendAttribute(CFL_RTA_DST, wire)
        builder.appendAttribute(CFL_RTA_OIF, UInt32(bitPattern: loopbackIndex))
        builder.appendAttribute(CFL_RTA_PRIORITY, localRouteMetric)
        return builder.message
    }

    private static func addressMessage(_ type: UInt16, _ extraFlags: UInt16, _ vip: InterfaceAddress,
                                       _ interfaceIndex: Int32, _ sequence: UInt32, creating: Bool,
                                       lifetime: cfl_ifa_cacheinfo? = nil) -> [UInt8] {
        var builder = NetlinkMessageBuilder(type: type, flags: CFL_NLM_F_REQUEST | CFL_NLM_F_ACK | extraFlags, sequence: sequence)
        var wire: [UInt8] = []
        wire.append(vip.address)
        switch vip.address {
        case .v4:
            builder.appendRaw(cfl_ifaddrmsg(ifa_family: UInt8(AF_INET), ifa_prefixlen: UInt8(vip.prefixLength),
                                            ifa_flags: 0, ifa_scope: UInt8(CFL_RT_SCOPE_UNIVERSE),
                                            ifa_index: UInt32(bitPattern: interfaceIndex)))
            // IFA_LOCAL is the interface's own address, IFA_ADDRESS the peer on a point-to-point
            // link and the same address otherwise; `ip addr add` sends both alike. On delete,
            // IFA_ADDRESS makes the kernel match the prefix length too.
            builder.appendAttribute(CFL_IFA_LOCAL, wire)
            builder.appendAttribute(CFL_IFA_ADDRESS, wire)
        case .v6:
            // IFA_F_NODAD: a VIP moved here on failover must be usable at once, not tentative
            // for a second of duplicate address detection, which would also see the old
            // master's copy as a duplicate when both briefly hold it. Set in the header byte
            // (older kernels) and IFA_FLAGS (newer ones read only this when it is present).
            let flags = creating ? CFL_IFA_F_NODAD : 0
            builder.appendRaw(cfl_ifaddrmsg(ifa_family: UInt8(AF_INET6), ifa_prefixlen: UInt8(vip.prefixLength),
                                            ifa_flags: UInt8(flags), ifa_scope: UInt8(CFL_RT_SCOPE_UNIVERSE),
                                            ifa_index: UInt32(bitPattern: interfaceIndex)))
            builder.appendAttribute(CFL_IFA_ADDRESS, wire)
            if creating { builder.appendAttribute(CFL_IFA_FLAGS, flags) }
        }
        if let lifetime { builder.appendAttribute(CFL_IFA_CACHEINFO, withUnsafeBytes(of: lifetime) { Array($0) }) }
        return builder.message
    }
}
