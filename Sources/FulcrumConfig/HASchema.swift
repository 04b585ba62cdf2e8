import FulcrumAddress

/// [ha]: decoded and checked on its own; track_pools is checked against the pools by the
/// decoder (it knows them all).
enum HASchema {
    static let keys = [
        "interface", "virtual_router_id", "priority", "advert_interval", "preempt", "preempt_delay",
        "unicast_peers", "virtual_ips", "notify", "track_pools", "track_weight",
    ]

    static func decode(_ table: TableReader) -> HASettings? {
        table.rejectUnknownKeys(allowed: keys)
        let interface = table.plainString("interface", expected: "an interface name string such as \"eth0\"",
                                          default: nil, interfaceName)
        let vrid = table.integer("virtual_router_id", 1...255, default: nil)
        let priority = table.integer("priority", 1...254, default: 100)
        let interval = table.value("advert_interval", expected: "an integer 10..40950 (milliseconds, a multiple of 10)",
                                   default: HASettings.defaultAdvertIntervalMs) { node -> Check<Int> in
            guard case let .integer(wide) = node.value else { return .wrongType }
            // Adverts carry the interval in centiseconds in 12 bits: 1..4095 cs.
            guard let ms = Int(exactly: wide), (10...40_950).contains(ms), ms % 10 == 0 else {
                return .invalid("\(wide) is not allowed; allowed: 10..40950 milliseconds in steps of 10 "
                    + "(VRRP adverts carry centiseconds)")
            }
            return .valid(ms)
        }
        let preempt = table.boolean("preempt", default: true)
        let preemptDelay = table.integer("preempt_delay", 0...3_600_000, default: 0, unit: " (milliseconds)")
        let vips = virtualIPs(table)
        let peers = addressList(table, "unicast_peers")
        // nil: the key is wrong (reported); .some(nil): absent.
        let notify: String?? = table.entries["notify"] == nil ? .some(nil)
            : table.plainString("notify", expected: "an absolute path string", default: nil) { path in
                path.hasPrefix("/") ? .valid(path)
                    : .invalid("\(quoted(path)) is not an absolute path; allowed: an absolute path to an executable")
            }.map { .some($0) }
        let trackPools = nameList(table, "track_pools")
        let trackWeight = table.integer("track_weight", 1...253, default: HASettings.defaultTrackWeight)

        if let vips, let peers, let first = vips.first {
            for peer in peers where peer.isIPv4 != first.address.isIPv4 {
                table.report("unicast_peers", "\(peer) is not of the adverts' family (that of the first virtual IP, "
                    + "\(first.address)); allowed: \(first.address.isIPv4 ? "IPv4" : "IPv6") peer addresses")
            }
        }
        guard let interface, let vrid, let priority, let interval, let preempt, let preemptDelay, let vips, let peers,
              let notify, let trackPools, let trackWeight,
              !peers.contains(where: { $0.isIPv4 != vips[0].address.isIPv4 }) else { return nil }
        return HASettings(interface: interface, virtualRouterID: vrid, priority: priority, advertIntervalMs: interval,
                          preempt: preempt, preemptDelayMs: preemptDelay, unicastPeers: peers, virtualIPs: vips,
                          notify: notify ?? nil, trackPools: trackPools, trackWeight: trackWeight)
    }

    /// Linux interface names: 1..15 bytes (IFNAMSIZ), no '/', no whitespace, not "." or "..".
    static func interfaceName(_ text: String) -> Check<String> {
        let bad = text.utf8.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ":") }
        guard !text.isEmpty, text.utf8.count <= 15, !bad, text != ".", text != ".." else {
            return .invalid("\(quoted(text)) is not an interface name; allowed: 1..15 characters without '/', ':' "
                + "or spaces, such as \"eth0\"")
        }
        return .valid(text)
    }

    private static func virtualIPs(_ table: TableReader) -> [HASettings.VirtualIP]? {
        let key = "virtual_ips"
        let example = "[\"192.0.2.10/24\"]"
        guard let node = table.entries[key] else {
            table.diagnostics.report(table.origin, table.path + [key],
                                     "required key is missing; expected an array of ADDRESS/PREFIX strings such as \(example)",
                                     needsWholeConfig: true)
            return nil
        }
        guard case let .array(items) = node.value, !items.isEmpty else {
            table.report(key, "\(node.rendered) is not allowed; expected a non-empty array of ADDRESS/PREFIX strings such as \(example)")
            return nil
        }
        var vips: [HASettings.VirtualIP] = []
        for item in items {
            guard case let .string(text) = item.value else {
                table.report(key, "\(item.rendered) is \(item.typeName); expected an ADDRESS/PREFIX string such as \"192.0.2.10/24\"")
                continue
            }
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, controlCharacterProblem(text, expected: "") == nil,
                  let address = IPAddress(String(parts[0])),
                  parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let length = Int(parts[1]), (1...(address.isIPv4 ? 32 : 128)).contains(length) else {
                table.report(key, "\(quoted(text)) is not ADDRESS/PREFIX; allowed: such as \"192.0.2.10/24\" or \"2001:db8::10/64\"")
                continue
            }
            if let problem = unusable(address) {
                table.report(key, "\(quoted(text)): \(problem); allowed: a unicast address of this network")
                continue
            }
            if vips.contains(where: { $0.address == address }) {
                table.report(key, "\(address) is listed twice")
                continue
            }
            vips.append(HASettings.VirtualIP(address: address, prefixLength: length))
        }
        return vips.count == items.count ? vips : nil
    }

    static func unusable(_ address: IPAddress) -> String? {
        switch address {
        case let .v4(value):
            if value == 0 { return "the unspecified address" }
            if value >> 24 == 127 { return "a loopback address" }
            if value >> 28 == 0xE { return "a multicast address" }
            if value == 0xFFFF_FFFF { return "the broadcast address" }
        case let .v6(high, low):
            if high == 0 && (low == 0 || low == 1) { return low == 0 ? "the unspecified address" : "the loopback address" }
            if high >> 56 == 0xFF { return "a multicast address" }
        }
        return nil
    }

    private static func addressList(_ table: TableReader, _ key: String) -> [IPAddress]? {
        var seen: Set<IPAddress> = []
        return table.stringArray(key, expected: "an array of IP address strings such as [\"192.0.2.12\"]",
                                 item: "an IP address string such as \"192.0.2.12\"") { text in
            guard case let .valid(address) = parseAddress(text) else { return parseAddress(text) }
            if let problem = unusable(address) {
                return .invalid("\(quoted(text)): \(problem); allowed: a peer's unicast address")
            }
            guard seen.insert(address).inserted else { return .invalid("\(address) is listed twice") }
            return .valid(address)
        }
    }

    private static func nameList(_ table: TableReader, _ key: String) -> [String]? {
        var seen: Set<String> = []
        let names = table.stringArray(key, expected: "an array of pool names such as [\"web\"]",
                                      item: "a pool name string such as \"web\"") { text -> Check<String> in
            isValidObjectName(text) ? .valid(text)
                : .invalid("\(quoted(text)) is not a pool name; expected a pool name string such as \"web\"")
        }
        return names?.filter { seen.insert($0).inserted }
    }
}
