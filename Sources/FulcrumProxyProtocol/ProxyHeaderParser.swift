import FulcrumAddress

/// What a PROXY protocol header said. `transport`, `client` and `listener` are nil for v2 LOCAL,
/// v1 UNKNOWN, and v2 UNSPEC / AF_UNIX families (addresses Fulcrum does not carry).
/// `length` is the number of header bytes to skip before the payload (v2: 16 + its length
/// field, TLVs included).
public struct ParsedProxyHeader: Equatable, Sendable {
    public var version: ProxyProtocolVersion
    public var transport: ProxyTransport?
    public var client: Endpoint?
    public var listener: Endpoint?
    public var length: Int

    public init(version: ProxyProtocolVersion, transport: ProxyTransport?,
                client: Endpoint?, listener: Endpoint?, length: Int) {
        self.version = version
        self.transport = transport
        self.client = client
        self.listener = listener
        self.length = length
    }
}

/// A strict PROXY protocol v1/v2 parser. It looks at the start of a byte stream and says
/// whether it holds a complete valid header, could still become one with more bytes, or can
/// never be one (with a message naming the problem). Bytes after the header are not looked at.
///
/// Strictness: v2 signature, version nibble 2, command LOCAL or PROXY, family/transport byte
/// one of 00 11 12 21 22 31 32, a PROXY length at least the address block, and TLVs after an
/// IPv4/IPv6 address block that exactly fill the length (TLV contents are not interpreted,
/// CRC32c is not verified). v1: "PROXY " then TCP4/TCP6/UNKNOWN, printable US-ASCII, CRLF
/// within 107 bytes (no bare CR or LF), single spaces, canonical dotted quads (no leading
/// zeros), IPv6 of the announced family, ports 0...65535 without leading zeros. Garbage is
/// reported as soon as it is seen, so a prefix of a valid header is always `.needMoreBytes`.
public enum ProxyHeaderParser {
    public enum Outcome: Equatable, Sendable {
        case complete(ParsedProxyHeader)
        case needMoreBytes
        case invalid(String)
    }

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    public static func parse(_ bytes: [UInt8]) -> Outcome {
        bytes.withUnsafeBytes { parse($0) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        guard let first = bytes.first else { return .needMoreBytes }
        do {
            switch first {
            case 0x0D: return try parseV2(bytes)
            case UInt8(ascii: "P"): return try parseV1(bytes)
            default:
                throw Invalid("not a PROXY protocol header: first byte \(hex(first)) is neither \"P\" (v1) nor 0x0d (v2)")
            }
        } catch let error as Invalid {
            return .invalid(error.message)
        } catch {
            return .invalid("\(error)")
        }
    }

    struct Invalid: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return "0x" + String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
    }

    private static func parseV2(_ bytes: UnsafeRawBufferPointer) throws -> Outcome {
        for index in 0..<min(bytes.count, v2Signature.count) where bytes[index] != v2Signature[index] {
            throw Invalid("bad v2 signature: byte \(index) is \(hex(bytes[index])), expected \(hex(v2Signature[index]))")
        }
        if bytes.count > 12 {
            let versionCommand = bytes[12]
            guard versionCommand >> 4 == 2 else {
                throw Invalid("v2 version nibble is \(versionCommand >> 4) (byte 12 = \(hex(versionCommand))), only 2 is defined")
            }
            guard versionCommand & 0xF <= 1 else {
                throw Invalid("v2 command nibble is \(versionCommand & 0xF) (byte 12 = \(hex(versionCommand))), only 0 (LOCAL) and 1 (PROXY) are defined")
            }
        }
        if bytes.count > 13 {
            let family = bytes[13]
            guard family >> 4 <= 3 else {
                throw Invalid("v2 address family nibble is \(family >> 4) (byte 13 = \(hex(family))), only 0-3 are defined")
            }
            guard family & 0xF <= 2 else {
                throw Invalid("v2 transport nibble is \(family & 0xF) (byte 13 = \(hex(family))), only 0-2 are defined")
            }
            guard [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32].contains(family) else {
                throw Invalid("v2 family/transport byte \(hex(family)) mixes UNSPEC with a defined value")
            }
        }
        guard bytes.count >= 16 else { return .needMoreBytes }

        let isProxy = bytes[12] & 0xF == 1
        let family = bytes[13]
        let declared = Int(bytes[14]) << 8 | Int(bytes[15])
        let addressBlock: Int
        switch family >> 4 {
        case 1: addressBlock = 12
        case 2: addressBlock = 36
        case 3: addressBlock = 216
        default: addressBlock = 0
        }
        if isProxy && declared < addressBlock {
            throw Invalid("v2 length \(declared) is shorter than the \(addressBlock)-byte address block of family/transport \(hex(family))")
        }
        let total = 16 + declared
        guard bytes.count >= total else { return .needMoreBytes }

        // LOCAL: the receiver uses the real endpoints and skips the whole block, whatever the
        // family says. UNSPEC and AF_UNIX under PROXY: accepted, addresses not carried.
        guard isProxy, family >> 4 == 1 || family >> 4 == 2 else {
            return .complete(ParsedProxyHeader(version: .v2, transport: nil, client: nil, listener: nil, length: total))
        }
        let transport: ProxyTransport = family & 0xF == 1 ? .stream : .datagram
        let client: IPAddress
        let listener: IPAddress
        let portsAt: Int
        if family >> 4 == 1 {
            client = .v4(bigEndian(bytes, at: 16, count: 4))
            listener = .v4(bigEndian(bytes, at: 20, count: 4))
            portsAt = 24
        } else {
            client = .v6(bigEndian(bytes, at: 16, count: 8), bigEndian(bytes, at: 24, count: 8))
            listener = .v6(bigEndian(bytes, at: 32, count: 8), bigEndian(bytes, at: 40, count: 8))
            portsAt = 48
        }
        let clientPort: UInt16 = bigEndian(bytes, at: portsAt, count: 2)
        let listenerPort: UInt16 = bigEndian(bytes, at: portsAt + 2, count: 2)

        // TLVs: type (1), length (2, big-endian), value; they must exactly fill the rest.
        var offset = 16 + addressBlock
        while offset < total {
            guard total - offset >= 3 else {
                throw Invalid("v2 TLV at offset \(offset) is cut short: \(total - offset) byte(s) left, a TLV header needs 3")
            }
            let valueLength = Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            guard offset + 3 + valueLength <= total else {
                throw Invalid("v2 TLV type \(hex(bytes[offset])) at offset \(offset) has length \(valueLength), past the header end at \(total)")
            }
            offset += 3 + valueLength
        }
        return .complete(ParsedProxyHeader(
            version: .v2, transport: transport,
            client: Endpoint(address: client, port: clientPort),
            listener: Endpoint(address: listener, port: listenerPort), length: total))
    }

    private static func bigEndian<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, at offset: Int, count: Int) -> T {
        var value: T = 0
        for index in offset..<offset + count { value = value << 8 | T(bytes[index]) }
        return value
    }
}
