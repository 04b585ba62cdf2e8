import FulcrumAddress

/// What the cross-object checks need to know about a listener, even one with problems.
struct DecodedListener {
    struct Binding {
        var transport: TransportProtocol
        var address: IPAddress
        var port: UInt16

        var description: String { "\(transport.rawValue) \(Endpoint(address: address, port: port))" }
    }

    var name: String
    var origin: Origin
    /// The pool it names and where, when default_pool is a string.
    var defaultPool: (name: String, origin: Origin)?
    /// Where it would bind, when protocol, address and port are all valid.
    var binding: Binding?
    /// The finished listener, when every key is valid.
    var listener: Listener?
}

enum ListenerSchema {
    static let keys = [
        "protocol", "address", "protocol_port", "default_pool", "connection_limit",
        "timeout_client_data", "timeout_member_connect", "timeout_member_data", "allowed_cidrs",
    ]

    static func decode(name: String, _ table: TableReader) -> DecodedListener {
        table.rejectUnknownKeys(allowed: keys)
        let transport = table.plainString("protocol", expected: "a string (TCP or UDP)", default: TransportProtocol.tcp) { text in
            switch TransportProtocol(rawValue: text) {
            case let known?: return .valid(known)
            case nil: return .invalid("\(quoted(text)) is not a protocol; allowed: TCP, UDP")
            }
        }
        let address = table.plainString("address", expected: "an IP address string", default: IPAddress.v4(0), parseAddress)
        let port = table.integer("protocol_port", 1...65535, default: nil).map { UInt16($0) }
        let defaultPool = table.plainString("default_pool", expected: "a pool name string", default: nil) { .valid($0) }
        let limit = table.value("connection_limit", expected: "an integer -1 (unlimited) or 1..10000000",
                                default: -1) { node -> Check<Int> in
            guard case let .integer(number) = node.value else { return .wrongType }
            guard number == -1 || (1...10_000_000).contains(number) else {
                return .invalid("\(number) is out of range; allowed: -1 (unlimited) or 1..10000000")
            }
            return .valid(Int(number))
        }
        let clientData = timeout(table, "timeout_client_data", default: Listener.defaultTimeoutClientDataMs)
        let memberConnect = timeout(table, "timeout_member_connect", default: Listener.defaultTimeoutMemberConnectMs)
        let memberData = timeout(table, "timeout_member_data", default: Listener.defaultTimeoutMemberDataMs)
        let cidrs = allowedCIDRs(table)

        var decoded = DecodedListener(name: name, origin: table.origin)
        if let defaultPool, let origin = table.entries["default_pool"]?.origin {
            decoded.defaultPool = (defaultPool, origin)
        }
        if let transport, let address, let port {
            decoded.binding = DecodedListener.Binding(transport: transport, address: address, port: port)
        }
        if let transport, let address, let port, let defaultPool, let limit, let clientData,
           let memberConnect, let memberData, let cidrs {
            decoded.listener = Listener(
                name: name, transport: transport, address: address, port: port, defaultPool: defaultPool,
                connectionLimit: limit == -1 ? nil : limit, timeoutClientDataMs: clientData,
                timeoutMemberConnectMs: memberConnect, timeoutMemberDataMs: memberData, allowedCIDRs: cidrs)
        }
        return decoded
    }

    private static func timeout(_ table: TableReader, _ key: String, default fallback: Int) -> Int? {
        table.integer(key, 1...86_400_000, default: fallback, unit: " (milliseconds)")
    }

    /// Absent means every source is allowed; an empty array would refuse every client,
    /// which is never what someone meant to write.
    private static func allowedCIDRs(_ table: TableReader) -> [CIDR]? {
        table.stringArray("allowed_cidrs", expected: "an array of CIDR strings such as [\"10.0.0.0/8\"]",
                          item: "a CIDR string such as \"10.0.0.0/8\"",
                          ifEmpty: "[] would refuse every client; allowed: a non-empty array of CIDR strings, "
                              + "or no allowed_cidrs key to accept every source", parseCIDR)
    }
}

func parseAddress(_ text: String) -> Check<IPAddress> {
    // The usual case read directly; IPAddress(String) makes a C string first: two allocations
    // per address, 200,000 for a config of 100,000 members. Anything else goes to it.
    if let quad = dottedQuad(text) { return .valid(.v4(quad)) }
    // IPAddress(String) hands the text to inet_pton as a C string, which stops at a NUL, so
    // "10.0.0.1\0junk" would otherwise pass. Callers use plainString, which says so first;
    // this guard keeps any other caller safe.
    if controlCharacterProblem(text, expected: "") == nil, let address = IPAddress(text) { return .valid(address) }
    return .invalid("\(quoted(text)) is not an IP address; "
        + "allowed: IPv4 or IPv6 text such as \"192.0.2.10\" or \"2001:db8::10\"")
}

/// IPv4 text exactly as inet_pton(AF_INET) accepts it — four decimal parts 0-255 without
/// leading zeros, separated by single dots — as a number (192.0.2.1 is 0xC000_0201); nil for
/// anything else, which is left to IPAddress(String).
func dottedQuad(_ text: String) -> UInt32? {
    // Over the bytes in place: iterating `text.utf8` took three times the instructions.
    text.utf8.withContiguousStorageIfAvailable(dottedQuad) ?? dottedQuad(Array(text.utf8))
}

private func dottedQuad(_ utf8: some Collection<UInt8>) -> UInt32? {
    var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0
    for byte in utf8 {
        if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
            if digits > 0 && part == 0 { return nil }  // a leading zero
            part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
            if part > 255 { return nil }
            if digits == 0 { parts += 1 }
            digits += 1
        } else if byte == UInt8(ascii: ".") && digits > 0 && parts < 4 {
            value = value << 8 | part
            part = 0
            digits = 0
        } else {
            return nil
        }
    }
    guard parts == 4, digits > 0 else { return nil }
    return value << 8 | part
}

func parseCIDR(_ text: String) -> Check<CIDR> {
    if let problem = controlCharacterProblem(text, expected: "a CIDR string such as \"10.0.0.0/8\"") {
        return .invalid(problem)
    }
    if let cidr = CIDR(text) { return .valid(cidr) }
    // CIDR(String) refuses host bits without saying so; tell the typo apart from garbage.
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    if parts.count == 2, let address = IPAddress(String(parts[0])),
       parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
       let length = Int(parts[1]), length <= (address.isIPv4 ? 32 : 128) {
        let network = "\(networkAddress(address, length))/\(length)"
        return .invalid("\(quoted(text)) has host bits set; allowed: the network address, \(quoted(network))")
    }
    return .invalid("\(quoted(text)) is not a CIDR; allowed: ADDRESS/PREFIX such as \"10.0.0.0/8\" or \"fd00::/64\"")
}

private func networkAddress(_ address: IPAddress, _ length: Int) -> IPAddress {
    func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - bits) }
    switch address {
    case let .v4(value):
        return .v4(value & UInt32(truncatingIfNeeded: mask(length) >> 32))
    case let .v6(high, low):
        return .v6(high & mask(length), low & mask(length - 64))
    }
}
