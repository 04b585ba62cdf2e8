import FulcrumAddress

/// [anycast]: decoded and checked on its own; the decoder refuses it beside [ha] and warns
/// about a VIP no listener serves.
enum AnycastSchema {
    static let keys = ["interface", "virtual_ips", "announce_when", "hold_down", "withdraw_grace"]
    static let announceWhenNames = AnycastSettings.AnnounceWhen.allCases.map(\.rawValue).joined(separator: ", ")

    static func decode(_ table: TableReader) -> AnycastSettings? {
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
        let grace = table.integer("withdraw_grace", 0...600_000, default: AnycastSettings.defaultWithdrawGraceMs,
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
