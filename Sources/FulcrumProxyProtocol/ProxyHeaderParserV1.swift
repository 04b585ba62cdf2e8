import FulcrumAddress

/// The human-readable v1 line: "PROXY TCP4|TCP6 src dst sport dport\r\n" or
/// "PROXY UNKNOWN[ anything]\r\n", at most 107 bytes including the CRLF.
extension ProxyHeaderParser {
    static let v1MaxLength = 107
    private static let v1Prefix = Array("PROXY ".utf8)

    static func parseV1(_ bytes: UnsafeRawBufferPointer) throws -> Outcome {
        for index in 0..<min(bytes.count, v1Prefix.count) where bytes[index] != v1Prefix[index] {
            throw Invalid("bad v1 signature: expected \"PROXY \", byte \(index) is \(hex(bytes[index]))")
        }
        // Find the CRLF; reject what can never become a line as soon as it is seen.
        var carriageReturn = -1
        var index = 0
        while index < min(bytes.count, v1MaxLength) {
            let byte = bytes[index]
            if byte == 0x0D {
                guard index + 1 < v1MaxLength else {
                    throw Invalid("v1 line is longer than \(v1MaxLength) bytes including CRLF")
                }
                guard index + 1 < bytes.count else { return .needMoreBytes }
                guard bytes[index + 1] == 0x0A else {
                    throw Invalid("v1 line: CR at offset \(index) is followed by \(hex(bytes[index + 1])), not LF")
                }
                carriageReturn = index
                break
            }
            if byte == 0x0A { throw Invalid("v1 line: LF at offset \(index) without CR") }
            guard byte >= 0x20 && byte < 0x7F else {
                throw Invalid("v1 line: byte \(hex(byte)) at offset \(index) is not printable US-ASCII")
            }
            index += 1
        }
        guard carriageReturn >= 0 else {
            if bytes.count >= v1MaxLength { throw Invalid("v1 line: no CRLF within the first \(v1MaxLength) bytes") }
            return .needMoreBytes
        }
        let length = carriageReturn + 2

        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[v1Prefix.count..<carriageReturn]), as: UTF8.self)
        let fields = text.split(separator: " ", omittingEmptySubsequences: false)
        let proto = fields[0]
        if proto == "UNKNOWN" {  // the receiver must ignore the rest of the line
            return .complete(ParsedProxyHeader(version: .v1, transport: nil, client: nil, listener: nil, length: length))
        }
        guard proto == "TCP4" || proto == "TCP6" else {
            throw Invalid("v1 protocol \"\(proto)\" is not TCP4, TCP6 or UNKNOWN")
        }
        guard fields.count == 5, !fields.contains(where: { $0.isEmpty }) else {
            throw Invalid("v1 \(proto) line needs exactly \"src dst sport dport\" separated by single spaces, got \"\(text)\"")
        }
        let isIPv4 = proto == "TCP4"
        let client = try address(fields[1], ipv4: isIPv4, role: "source")
        let listener = try address(fields[2], ipv4: isIPv4, role: "destination")
        let clientPort = try port(fields[3], role: "source")
        let listenerPort = try port(fields[4], role: "destination")
        return .complete(ParsedProxyHeader(
            version: .v1, transport: .stream,
            client: Endpoint(address: client, port: clientPort),
            listener: Endpoint(address: listener, port: listenerPort), length: length))
    }

    private static func address(_ text: Substring, ipv4: Bool, role: String) throws -> IPAddress {
        if ipv4 {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { throw Invalid("v1 TCP4 \(role) address \"\(text)\" is not a dotted quad") }
            var value: UInt32 = 0
            for part in parts {
                guard let octet = decimal(part), octet <= 255 else {
                    throw Invalid("v1 TCP4 \(role) address \"\(text)\": \"\(part)\" is not a number 0-255 without leading zeros")
                }
                value = value << 8 | octet
            }
            return .v4(value)
        }
        let allowed = text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
                || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
        }
        guard allowed, text.contains(":"), let parsed = IPAddress(String(text)), case .v6 = parsed else {
            throw Invalid("v1 TCP6 \(role) address \"\(text)\" is not an IPv6 address")
        }
        return parsed
    }

    private static func port(_ text: Substring, role: String) throws -> UInt16 {
        guard let value = decimal(text) else {
            throw Invalid("v1 \(role) port \"\(text)\" is not a decimal number without leading zeros")
        }
        guard value <= 65535 else { throw Invalid("v1 \(role) port \(value) is greater than 65535") }
        return UInt16(value)
    }

    /// Decimal digits only, no sign, no leading zero (except "0"), at most 9 digits (so
    /// an out-of-range port gets a range message, not a syntax one).
    private static func decimal(_ text: Substring) -> UInt32? {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if digits.count > 1 && digits.first == UInt8(ascii: "0") { return nil }
        return digits.reduce(0) { $0 * 10 + UInt32($1 - 0x30) }
    }
}
