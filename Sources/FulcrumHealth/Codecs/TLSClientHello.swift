/// What the first TLS record a server sent back says about its willingness to talk TLS.
///
/// - `incomplete`: a prefix of something that may still become a ServerHello or an alert;
///   read more.
/// - `serverHello(version:)`: the server answered the ClientHello with a ServerHello (a
///   HelloRetryRequest counts: it is a ServerHello with a special random). `version` is the
///   negotiated version: the supported_versions extension's selected_version when the
///   ServerHello carries one (0x0304 for TLS 1.3, also for a HelloRetryRequest), else the
///   ServerHello's legacy_version (0x0303 for TLS 1.2). It is never the record version, which
///   servers are free to set to 0x0301.
/// - `alert(level:description:)`: the server refused with a plaintext alert (level 2 fatal,
///   1 warning); `TLSClientHello.alertName` turns the description into words.
/// - `notTLS(reason)`: whatever answered is not a TLS server (or is a broken one).
public enum TLSServerReply: Equatable, Sendable {
    case incomplete
    case serverHello(version: UInt16)
    case alert(level: UInt8, description: UInt8)
    case notTLS(String)
}

/// The one ClientHello Fulcrum's TLS health check sends, and a classifier for what comes back.
///
/// The hello is shaped like a browser's so that any reasonable server, TLS 1.2-only or TLS
/// 1.3-only, finds something it accepts: TLS 1.3 suites and a x25519 key share for 1.3 servers,
/// ECDHE and plain RSA AES-GCM / CBC suites with the usual groups, point formats and signature
/// algorithms for 1.2 servers. Nothing after the ServerHello is ever processed, so the key share
/// only has to be a well-formed x25519 public value; no secret is needed.
public enum TLSClientHello {
    /// Also reachable as `TLSClientHello.TLSServerReply`, next to `classify`.
    public typealias TLSServerReply = FulcrumHealth.TLSServerReply

    /// Largest TLSCiphertext fragment (2^14 + 2048, RFC 8446 5.2). A first record claiming more
    /// is not from a TLS server.
    static let maxRecordLength = 16384 + 2048

    static let cipherSuites: [UInt16] = [
        0x1301, 0x1302, 0x1303,          // TLS 1.3: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305
        0xc02b, 0xc02f, 0xc02c, 0xc030,  // ECDHE-ECDSA/RSA with AES-GCM
        0xcca9, 0xcca8,                  // ECDHE-ECDSA/RSA with ChaCha20-Poly1305
        0x009c, 0x009d,                  // RSA key exchange with AES-GCM, for old servers
        0x002f, 0x0035,                  // RSA with AES-CBC-SHA, the TLS 1.2 mandatory floor
    ]
    static let supportedGroups: [UInt16] = [0x001d, 0x0017, 0x0018]  // x25519, P-256, P-384
    static let signatureAlgorithms: [UInt16] = [
        0x0804, 0x0805, 0x0806,  // rsa_pss_rsae_sha256/384/512 (what TLS 1.3 needs for RSA certs)
        0x0403, 0x0503, 0x0603,  // ecdsa_secp256r1_sha256 ... secp521r1_sha512
        0x0401, 0x0501, 0x0601,  // rsa_pkcs1_sha256/384/512 (TLS 1.2)
        0x0201,                  // rsa_pkcs1_sha1, for servers too old for anything else
    ]
    static let supportedVersions: [UInt16] = [0x0304, 0x0303, 0x0302, 0x0301]

    enum ExtensionType {
        static let serverName: UInt16 = 0x0000
        static let supportedGroups: UInt16 = 0x000a
        static let ecPointFormats: UInt16 = 0x000b
        static let signatureAlgorithms: UInt16 = 0x000d
        static let supportedVersions: UInt16 = 0x002b
        static let pskKeyExchangeModes: UInt16 = 0x002d
        static let keyShare: UInt16 = 0x0033
    }

    /// A complete TLS record (handshake, record version 0x0301 as RFC 8446 asks of a first
    /// ClientHello) carrying the ClientHello. `random` doubles as the 32-byte legacy session
    /// id: a non-empty session id makes TLS 1.3 servers answer in middlebox-compatibility mode,
    /// and its value is never looked at.
    ///
    /// `serverName` is sent as SNI when non-empty. It must be a DNS name of at most 255 bytes
    /// (RFC 6066 forbids IP literals in SNI); configuration validation is where that is enforced.
    /// `random` and `keyShare` must be 32 bytes each; other lengths are programming errors.
    public static func encode(serverName: String?, random: [UInt8], keyShare: [UInt8]) -> [UInt8] {
        precondition(random.count == 32, "TLS ClientHello random must be 32 bytes, got \(random.count)")
        precondition(keyShare.count == 32, "x25519 key share must be 32 bytes, got \(keyShare.count)")
        let hostName = Array((serverName ?? "").utf8)
        precondition(hostName.count <= 255, "TLS server name longer than 255 bytes")

        var out = TLSWriter()
        out.byte(0x16)        // record content type: handshake
        out.uint16(0x0301)    // record legacy_record_version
        out.lengthPrefixed(bytes: 2) { record in
            record.byte(0x01)  // handshake type: client_hello
            record.lengthPrefixed(bytes: 3) { hello in
                hello.uint16(0x0303)  // legacy_version: TLS 1.2; 1.3 is offered via supported_versions
                hello.bytes(random)
                hello.lengthPrefixed(bytes: 1) { $0.bytes(random) }  // legacy_session_id
                hello.lengthPrefixed(bytes: 2) { $0.uint16s(cipherSuites) }
                hello.lengthPrefixed(bytes: 1) { $0.byte(0x00) }     // compression: null only
                hello.lengthPrefixed(bytes: 2) { extensions in
                    writeExtensions(into: &extensions, hostName: hostName, keyShare: keyShare)
                }
            }
        }
        return out.buffer
    }

    private static func writeExtensions(into out: inout TLSWriter, hostName: [UInt8], keyShare: [UInt8]) {
        if !hostName.isEmpty {
            out.extensionBlock(ExtensionType.serverName) { ext in
                ext.lengthPrefixed(bytes: 2) { list in  // ServerNameList
                    list.byte(0x00)                      // name_type: host_name
                    list.lengthPrefixed(bytes: 2) { $0.bytes(hostName) }
                }
            }
        }
        out.extensionBlock(ExtensionType.supportedGroups) { ext in
            ext.lengthPrefixed(bytes: 2) { $0.uint16s(supportedGroups) }
        }
        out.extensionBlock(ExtensionType.ecPointFormats) { ext in
            ext.lengthPrefixed(bytes: 1) { $0.byte(0x00) }  // uncompressed
        }
        out.extensionBlock(ExtensionType.signatureAlgorithms) { ext in
            ext.lengthPrefixed(bytes: 2) { $0.uint16s(signatureAlgorithms) }
        }
        out.extensionBlock(ExtensionType.supportedVersions) { ext in
            ext.lengthPrefixed(bytes: 1) { $0.uint16s(supportedVersions) }
        }
        out.extensionBlock(ExtensionType.pskKeyExchangeModes) { ext in
            ext.lengthPrefixed(bytes: 1) { $0.byte(0x01) }  // psk_dhe_ke; required alongside key_share
        }
        out.extensionBlock(ExtensionType.keyShare) { ext in
            ext.lengthPrefixed(bytes: 2) { shares in  // client_shares
                shares.uint16(0x001d)                  // x25519
                shares.lengthPrefixed(bytes: 2) { $0.bytes(keyShare) }
            }
        }
    }
}

/// Appends big-endian integers and length-prefixed blocks whose lengths are filled in after
/// their contents are written, so no length in the hello is ever counted by hand.
private struct TLSWriter {
    var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(256) }

    mutating func byte(_ value: UInt8) { buffer.append(value) }

    mutating func bytes(_ values: [UInt8]) { buffer.append(contentsOf: values) }

    mutating func uint16(_ value: UInt16) {
        buffer.append(UInt8(truncatingIfNeeded: value >> 8))
        buffer.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func uint16s(_ values: [UInt16]) {
        for value in values { uint16(value) }
    }

    mutating func extensionBlock(_ type: UInt16, _ body: (inout TLSWriter) -> Void) {
        uint16(type)
        lengthPrefixed(bytes: 2, body)
    }

    /// Writes a `bytes`-wide big-endian length, then whatever `body` writes, then goes back and
    /// stores the length of that.
    mutating func lengthPrefixed(bytes width: Int, _ body: (inout TLSWriter) -> Void) {
        let lengthAt = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: width))
        body(&self)
        let length = buffer.count - lengthAt - width
        precondition(length < 1 << (8 * width), "TLS block of \(length) bytes overflows its \(width)-byte length")
        for index in 0..<width {
            buffer[lengthAt + index] = UInt8(truncatingIfNeeded: length >> (8 * (width - 1 - index)))
        }
    }
}

extension TLSClientHello {
    public static func classify(_ bytes: [UInt8]) -> TLSServerReply {
        classify(bytes[...])
    }

    /// Classifies the first record of what a server sent after our ClientHello. Garbage is
    /// reported as soon as it is recognisable (one byte of HTTP is enough), so `.incomplete`
    /// always means "a prefix of a valid answer". A ServerHello is reported once the whole
    /// ServerHello message has arrived, so that its supported_versions extension can be read;
    /// only if the server fragments it over several records is the legacy_version reported
    /// from the first fragment. Bytes after the first record are not looked at.
    public static func classify(_ bytes: ArraySlice<UInt8>) -> TLSServerReply {
        var header = TLSReader(bytes)
        guard let contentType = header.uint8() else { return .incomplete }
        guard contentType == ContentType.handshake || contentType == ContentType.alert else {
            if let name = ContentType.name(contentType) {
                return .notTLS("first TLS record is \(name), not a handshake or alert")
            }
            return .notTLS("reply is not a TLS record (first byte \(hex(contentType)))")
        }
        guard let versionMajor = header.uint8() else { return .incomplete }
        guard versionMajor == 3 else {
            return .notTLS("reply is not a TLS record (record version major \(hex(versionMajor)), expected 0x03)")
        }
        guard header.skip(1), let recordLength = header.uint16().map(Int.init) else { return .incomplete }
        guard recordLength <= maxRecordLength else {
            return .notTLS("TLS record length \(recordLength) exceeds \(maxRecordLength)")
        }
        let fragment = header.remaining.prefix(recordLength)
        if contentType == ContentType.alert {
            return classifyAlert(fragment, recordLength: recordLength)
        }
        return classifyHandshake(fragment, recordLength: recordLength)
    }

    /// Plaintext alerts are exactly level + description. Anything longer in a first record would
    /// be an encrypted alert, which a server cannot send before it has sent a ServerHello.
    private static func classifyAlert(_ fragment: ArraySlice<UInt8>, recordLength: Int) -> TLSServerReply {
        guard recordLength == 2 else {
            return .notTLS("TLS alert record of \(recordLength) bytes, expected 2")
        }
        var alert = TLSReader(fragment)
        guard let level = alert.uint8(), let description = alert.uint8() else { return .incomplete }
        guard level == 1 || level == 2 else {
            return .notTLS("TLS alert level \(level) is neither warning (1) nor fatal (2)")
        }
        return .alert(level: level, description: description)
    }

    private static func classifyHandshake(_ fragment: ArraySlice<UInt8>, recordLength: Int) -> TLSServerReply {
        guard recordLength >= 4 else {
            return .notTLS("TLS handshake record of \(recordLength) bytes cannot hold a handshake header")
        }
        var handshake = TLSReader(fragment)
        guard let messageType = handshake.uint8(), let messageLength = handshake.uint24() else {
            return .incomplete
        }
        guard messageType == 2 else {
            return .notTLS("first TLS handshake message is type \(messageType), not ServerHello (2)")
        }
        let messageFitsInRecord = 4 + messageLength <= recordLength
        if messageFitsInRecord {
            guard let body = handshake.take(messageLength) else { return .incomplete }
            return negotiatedVersion(serverHello: body)
        }
        // Fragmented over records; the later fragments are not followed.
        guard let legacyVersion = handshake.uint16() else { return .incomplete }
        return .serverHello(version: legacyVersion)
    }

    /// Walks a complete ServerHello body (RFC 8446 4.1.3; RFC 5246 7.4.1.3 has the same
    /// prefix) to its supported_versions extension.
    private static func negotiatedVersion(serverHello body: ArraySlice<UInt8>) -> TLSServerReply {
        var hello = TLSReader(body)
        guard let legacyVersion = hello.uint16(), hello.skip(32) else {
            return .notTLS("malformed ServerHello: shorter than version and random")
        }
        guard let sessionIDLength = hello.uint8(), sessionIDLength <= 32, hello.skip(Int(sessionIDLength)) else {
            return .notTLS("malformed ServerHello: bad session id")
        }
        guard hello.skip(2 + 1) else {  // cipher_suite, legacy_compression_method
            return .notTLS("malformed ServerHello: missing cipher suite or compression method")
        }
        if hello.remaining.isEmpty { return .serverHello(version: legacyVersion) }  // no extensions (TLS 1.2)
        guard let extensionsLength = hello.uint16(), extensionsLength == hello.remaining.count else {
            return .notTLS("malformed ServerHello: extensions length does not match message length")
        }
        while !hello.remaining.isEmpty {
            guard let type = hello.uint16(), let length = hello.uint16(), let data = hello.take(Int(length)) else {
                return .notTLS("malformed ServerHello: truncated extension")
            }
            if type == ExtensionType.supportedVersions {
                var selected = TLSReader(data)
                guard length == 2, let version = selected.uint16() else {
                    return .notTLS("malformed ServerHello: supported_versions of \(length) bytes, expected 2")
                }
                return .serverHello(version: version)
            }
        }
        return .serverHello(version: legacyVersion)
    }

    /// Words for an alert description (RFC 8446 6 and RFC 5246 7.2), for health-check logs.
    public static func alertName(_ description: UInt8) -> String {
        switch description {
        case 0: return "close notify"
        case 10: return "unexpected message"
        case 20: return "bad record mac"
        case 21: return "decryption failed"
        case 22: return "record overflow"
        case 40: return "handshake failure"
        case 42: return "bad certificate"
        case 43: return "unsupported certificate"
        case 44: return "certificate revoked"
        case 45: return "certificate expired"
        case 46: return "certificate unknown"
        case 47: return "illegal parameter"
        case 48: return "unknown ca"
        case 49: return "access denied"
        case 50: return "decode error"
        case 51: return "decrypt error"
        case 70: return "protocol version"
        case 71: return "insufficient security"
        case 80: return "internal error"
        case 86: return "inappropriate fallback"
        case 90: return "user canceled"
        case 100: return "no renegotiation"
        case 109: return "missing extension"
        case 110: return "unsupported extension"
        case 112: return "unrecognized name"
        case 113: return "bad certificate status response"
        case 115: return "unknown psk identity"
        case 116: return "certificate required"
        case 120: return "no application protocol"
        default: return "alert \(description)"
        }
    }

    enum ContentType {
        static let changeCipherSpec: UInt8 = 20
        static let alert: UInt8 = 21
        static let handshake: UInt8 = 22
        static let applicationData: UInt8 = 23
        static let heartbeat: UInt8 = 24

        static func name(_ type: UInt8) -> String? {
            switch type {
            case changeCipherSpec: return "change_cipher_spec (20)"
            case alert: return "alert (21)"
            case handshake: return "handshake (22)"
            case applicationData: return "application_data (23)"
            case heartbeat: return "heartbeat (24)"
            default: return nil
            }
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        (byte < 0x10 ? "0x0" : "0x") + String(byte, radix: 16)
    }
}

/// Bounds-checked big-endian reads from untrusted bytes: every read returns nil instead of
/// trapping when the bytes run out, and consumes nothing in that case.
private struct TLSReader {
    private(set) var remaining: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { remaining = bytes }

    mutating func uint8() -> UInt8? {
        remaining.popFirst()
    }

    mutating func uint16() -> UInt16? {
        take(2).map { UInt16($0[$0.startIndex]) << 8 | UInt16($0[$0.startIndex + 1]) }
    }

    mutating func uint24() -> Int? {
        take(3).map { Int($0[$0.startIndex]) << 16 | Int($0[$0.startIndex + 1]) << 8 | Int($0[$0.startIndex + 2]) }
    }

    mutating func skip(_ count: Int) -> Bool {
        take(count) != nil
    }

    mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, remaining.count >= count else { return nil }
        defer { remaining = remaining.dropFirst(count) }
        return remaining.prefix(count)
    }
}
