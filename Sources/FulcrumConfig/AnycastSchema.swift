import FulcrumAddress

/// [anycast]: decoded and checked, refused beside [ha], with a warning for a VIP no listener
/// serves.
enum AnycastSchema {
    static let keys = ["interface", "virtual_ips", "announce_when", "hold_down", "withdraw_grace"]
    static let announceWhenNames = AnycastSettings.AnnounceWhen.allCases.map(\.rawValue).joined(separator: ", ")

    static func decode(_ table: TableReader, haIsSet: Bool, listeners: [Listener]) -> AnycastSettings? {
        if haIsSet {
            // Both decide who holds a VIP: VRRP gives it to one node, anycast to every healthy
            // one. A node runs one model.
            table.diagnostics.report(table.origin, table.path,
                "[anycast] and [ha] cannot both be set: [ha] moves VIPs to one active node, [anycast] announces them "
                + "from every healthy node; allowed: one of them", needsWholeConfig: true)
        }
        guard let settings = decodeKeys(table) else { return nil }
        warnUnserved(settings, listeners: listeners, table: table)
        return haIsSet ? nil : settings
    }

    /// A VIP no listener serves is never announced (but with `always`): almost certainly a
    /// listener address typed differently. Not an error: a reload may add the listener.
    private static func warnUnserved(_ anycast: AnycastSettings, listeners: [Listener], table: TableReader) {
        guard anycast.announceWhen != .always else { return }
        for vip in anycast.virtualIPs where AnycastSettings.pools(of: vip, in: listeners).isEmpty {
            table.diagnostics.warn(table.origin, table.path + ["virtual_ips"],
                                   "\(vip): no listener binds it (nor \(vip.isIPv4 ? "0.0.0.0" : "::")), so with announce_when = "
                                   + "\"\(anycast.announceWhen.rawValue)\" it is never announced")
        }
    }

    private static func decodeKeys(_ table: TableReader) -> AnycastSettings? {
        table.rejectUnknownKeys(allowed: keys)
        let interface = table.plainString("interface", expected: "an interface name string such as \"fulcrum0\"",
                                          default: AnycastSettings.defaultInterface, HASchema.interfaceName)
        let vips = virtualIPs(table)
        let when = table.plainString("announce_when", expected: "a string (\(announceWhenNames))",
                                     default: AnycastSettings.AnnounceWhen.anyMemberUp) { text in
            guard let value = AnycastSettings.AnnounceWhen(rawValue: text) else {
                return .invalid("\(quoted(text)) is not allowed; allowed: \(announceWhenNames)")
            }
            return .valid(value)
        }
        let holdDown = table.integer("hold_down", 0...600_000, default: AnycastSettings.defaultHoldDownMs,
                                     unit: " (milliseconds)")
        // At most a minute: shutdown_grace may already take an hour, and the unit's stop timeout
        // (TimeoutStopSec=3720) must cover both.
        let grace = table.integer("withdraw_grace", 0...AnycastSettings.maxWithdrawGraceMs, default: AnycastSettings.defaultWithdrawGraceMs,
                                  unit: " (milliseconds)")
        guard let interface, let vips, let when, let holdDown, let grace else { return nil }
        return AnycastSettings(interface: interface, virtualIPs: vips, announceWhen: when, holdDownMs: holdDown,
                               withdrawGraceMs: grace)
    }

    /// "192.0.2.10", "192.0.2.10/32" or "2001:db8::10/128": an anycast VIP is one address, the
    /// route BIRD exports for it a host route.
    private static func virtualIPs(_ table: TableReader) -> [IPAddress]? {
        let key = "virtual_ips"
        let example = "[\"192.0.2.10\", \"2001:db8::10\"]"
        guard table.entries[key] != nil else {
            table.diagnostics.report(table.origin, table.path + [key],
                                     "required key is missing; expected an array of IP address strings such as \(example)",
                                     needsWholeConfig: true)
            return nil
        }
        var seen: Set<IPAddress> = []
        return table.stringArray(key, expected: "a non-empty array of IP address strings such as \(example)",
                                 item: "an IP address string such as \"192.0.2.10\"",
                                 ifEmpty: "[] is not allowed; expected a non-empty array of IP address strings such as \(example)") { text in
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard case let .valid(address) = parseAddress(String(parts[0])) else {
                return .invalid("\(quoted(text)) is not an IP address; allowed: an address such as \"192.0.2.10\" "
                    + "or \"2001:db8::10\", optionally with /32 or /128")
            }
            if parts.count == 2 && parts[1] != (address.isIPv4 ? "32" : "128") {
                return .invalid("\(quoted(text)): an anycast VIP is one address; allowed: /\(address.isIPv4 ? "32" : "128") "
                    + "or no prefix length")
            }
            if let problem = HASchema.unusable(address) {
                return .invalid("\(quoted(text)): \(problem); allowed: a unicast address")
            }
            guard seen.insert(address).inserted else { return .invalid("\(address) is listed twice") }
            return .valid(address)
        }
    }
}
