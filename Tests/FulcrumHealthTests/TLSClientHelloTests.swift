import Foundation
import XCTest
@testable import FulcrumHealth
#if canImport(Glibc)
import Glibc
#endif

final class TLSClientHelloTests: XCTestCase {
    private let random: [UInt8] = (0..<32).map { UInt8($0) }
    private let keyShare: [UInt8] = (0..<32).map { UInt8(0xa0 + $0) }

    // MARK: encoding, field by field

    func testRecordAndHandshakeHeaders() throws {
        let bytes = TLSClientHello.encode(serverName: "backend.example", random: random, keyShare: keyShare)
        let hello = try ParsedClientHello(bytes)
        XCTAssertEqual(hello.recordType, 0x16, "handshake record")
        XCTAssertEqual(hello.recordVersion, 0x0301)
        XCTAssertEqual(hello.recordLength, bytes.count - 5)
        XCTAssertEqual(hello.handshakeType, 1, "client_hello")
        XCTAssertEqual(hello.handshakeLength, bytes.count - 9)
    }

    func testFixedClientHelloFields() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: "backend.example", random: random, keyShare: keyShare))
        XCTAssertEqual(hello.legacyVersion, 0x0303)
        XCTAssertEqual(hello.random, random)
        XCTAssertEqual(hello.sessionID, random, "32-byte legacy session id reuses the random")
        XCTAssertEqual(hello.cipherSuites, [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
                                            0xcca9, 0xcca8, 0x009c, 0x009d, 0x002f, 0x0035])
        XCTAssertEqual(hello.compressionMethods, [0])
    }

    func testExtensionsAndTheirOrder() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: "backend.example", random: random, keyShare: keyShare))
        XCTAssertEqual(hello.extensions.map(\.type), [0x0000, 0x000a, 0x000b, 0x000d, 0x002b, 0x002d, 0x0033])
    }

    func testServerNameExtension() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: "backend.example", random: random, keyShare: keyShare))
        var sni = Cursor(try hello.extensionData(0x0000))
        var list = Cursor(try sni.prefixed16())
        XCTAssertEqual(try list.uint8(), 0, "name_type host_name")
        XCTAssertEqual(try list.prefixed16(), Array("backend.example".utf8))
        XCTAssertTrue(list.isAtEnd, "one name only")
        XCTAssertTrue(sni.isAtEnd)
    }

    func testSupportedGroupsExtension() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare))
        var data = Cursor(try hello.extensionData(0x000a))
        XCTAssertEqual(try uint16List(try data.prefixed16()), [0x001d, 0x0017, 0x0018])
        XCTAssertTrue(data.isAtEnd)
    }

    func testECPointFormatsExtension() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare))
        XCTAssertEqual(try hello.extensionData(0x000b), [1, 0], "one format: uncompressed")
    }

    func testSignatureAlgorithmsExtension() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare))
        var data = Cursor(try hello.extensionData(0x000d))
        XCTAssertEqual(try uint16List(try data.prefixed16()),
                       [0x0804, 0x0805, 0x0806, 0x0403, 0x0503, 0x0603, 0x0401, 0x0501, 0x0601, 0x0201])
        XCTAssertTrue(data.isAtEnd)
    }

    func testSupportedVersionsExtension() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare))
        var data = Cursor(try hello.extensionData(0x002b))
        XCTAssertEqual(try uint16List(try data.prefixed8()), [0x0304, 0x0303, 0x0302, 0x0301])
        XCTAssertTrue(data.isAtEnd)
    }

    func testPSKKeyExchangeModesExtension() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare))
        XCTAssertEqual(try hello.extensionData(0x002d), [1, 1], "one mode: psk_dhe_ke")
    }

    func testKeyShareExtension() throws {
        let hello = try ParsedClientHello(TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare))
        var data = Cursor(try hello.extensionData(0x0033))
        var shares = Cursor(try data.prefixed16())
        XCTAssertEqual(try shares.uint16(), 0x001d, "x25519")
        XCTAssertEqual(try shares.prefixed16(), keyShare)
        XCTAssertTrue(shares.isAtEnd, "one key share")
        XCTAssertTrue(data.isAtEnd)
    }

    func testNoServerNameWhenNilOrEmpty() throws {
        let withoutName = TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare)
        XCTAssertEqual(TLSClientHello.encode(serverName: "", random: random, keyShare: keyShare), withoutName)
        let hello = try ParsedClientHello(withoutName)
        XCTAssertEqual(hello.extensions.map(\.type), [0x000a, 0x000b, 0x000d, 0x002b, 0x002d, 0x0033])
    }

    func testLengthsFollowTheServerName() throws {
        let base = TLSClientHello.encode(serverName: nil, random: random, keyShare: keyShare).count
        for length in [1, 63, 200, 255] {
            let name = String(repeating: "a", count: length)
            let bytes = TLSClientHello.encode(serverName: name, random: random, keyShare: keyShare)
            // type(2) + length(2) + list length(2) + name_type(1) + name length(2) + name.
            XCTAssertEqual(bytes.count, base + 9 + length, "name of \(length)")
            XCTAssertEqual(try ParsedClientHello(bytes).extensionData(0x0000).count, 5 + length)
        }
    }

    func testOwnHelloIsNotMistakenForAServerReply() {
        let bytes = TLSClientHello.encode(serverName: "x", random: random, keyShare: keyShare)
        XCTAssertEqual(TLSClientHello.classify(bytes), .notTLS("first TLS handshake message is type 1, not ServerHello (2)"))
    }

    // MARK: classify: server hellos

    func testTLS12ServerHelloWithoutSupportedVersions() {
        let reply = serverHelloRecord(legacyVersion: 0x0303, extensions: [(0xff01, [0])])
        XCTAssertEqual(TLSClientHello.classify(reply), .serverHello(version: 0x0303))
    }

    func testTLS12ServerHelloWithNoExtensionsAtAll() {
        let reply = serverHelloRecord(legacyVersion: 0x0303, extensions: nil)
        XCTAssertEqual(TLSClientHello.classify(reply), .serverHello(version: 0x0303))
    }

    func testTLS13ServerHelloReportsTheSelectedVersion() {
        let reply = serverHelloRecord(legacyVersion: 0x0303, extensions: [
            (0x0033, [0x00, 0x1d, 0x00, 0x20] + [UInt8](repeating: 7, count: 32)),
            (0x002b, [0x03, 0x04]),
        ])
        XCTAssertEqual(TLSClientHello.classify(reply), .serverHello(version: 0x0304))
    }

    func testHelloRetryRequestCountsAsServerHello() {
        // RFC 8446 4.1.3: a ServerHello whose random is SHA-256("HelloRetryRequest").
        let hrrRandom: [UInt8] = [0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65,
                                  0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2,
                                  0xc8, 0xa8, 0x33, 0x9c]
        let reply = serverHelloRecord(legacyVersion: 0x0303, random: hrrRandom, extensions: [
            (0x002b, [0x03, 0x04]),
            (0x0033, [0x00, 0x17]),  // HRR key_share names only the group it wants
        ])
        XCTAssertEqual(TLSClientHello.classify(reply), .serverHello(version: 0x0304))
    }

    func testEveryPrefixOfAServerHelloIsIncomplete() {
        let reply = serverHelloRecord(legacyVersion: 0x0303, extensions: [(0x002b, [0x03, 0x04])])
        for end in 0..<reply.count {
            XCTAssertEqual(TLSClientHello.classify(reply[0..<end]), .incomplete, "prefix of \(end) bytes")
        }
        XCTAssertEqual(TLSClientHello.classify(reply[...]), .serverHello(version: 0x0304))
    }

    func testBytesAfterTheFirstRecordAreIgnored() {
        let reply = serverHelloRecord(legacyVersion: 0x0303, extensions: [(0x002b, [0x03, 0x04])])
        XCTAssertEqual(TLSClientHello.classify(reply + [0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0xff]),
                       .serverHello(version: 0x0304))
    }

    func testServerHelloFragmentedOverRecordsReportsLegacyVersion() {
        let whole = serverHelloRecord(legacyVersion: 0x0303, extensions: [(0x002b, [0x03, 0x04])])
        // First record carries only the handshake header and 10 bytes of the body.
        let fragment = Array(whole[5..<(5 + 4 + 10)])
        let record: [UInt8] = [0x16, 0x03, 0x03, 0x00, UInt8(fragment.count)] + fragment
        XCTAssertEqual(TLSClientHello.classify(record[0..<10]), .incomplete, "legacy_version not there yet")
        XCTAssertEqual(TLSClientHello.classify(record), .serverHello(version: 0x0303))
    }

    func testSliceWithAnOffsetStartIndex() {
        let reply = [0xee, 0xee] + serverHelloRecord(legacyVersion: 0x0303, extensions: [(0x002b, [0x03, 0x04])])
        XCTAssertEqual(TLSClientHello.classify(reply[2...]), .serverHello(version: 0x0304))
    }

    // MARK: classify: alerts

    func testFatalAlert() {
        let alert: [UInt8] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40]
        XCTAssertEqual(TLSClientHello.classify(alert), .alert(level: 2, description: 40))
        for end in 0..<alert.count {
            XCTAssertEqual(TLSClientHello.classify(alert[0..<end]), .incomplete, "prefix of \(end) bytes")
        }
    }

    func testAlertWithRecordVersion0x0301() {
        XCTAssertEqual(TLSClientHello.classify([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 70]), .alert(level: 2, description: 70))
    }

    func testAlertRecordOfTheWrongLengthIsNotTLS() {
        XCTAssertEqual(TLSClientHello.classify([0x15, 0x03, 0x03, 0x00, 0x03, 0x02, 40, 0]),
                       .notTLS("TLS alert record of 3 bytes, expected 2"))
        XCTAssertEqual(TLSClientHello.classify([0x15, 0x03, 0x03, 0x00, 0x01, 0x02]),
                       .notTLS("TLS alert record of 1 bytes, expected 2"))
    }

    func testAlertWithABadLevelIsNotTLS() {
        XCTAssertEqual(TLSClientHello.classify([0x15, 0x03, 0x03, 0x00, 0x02, 0x07, 40]),
                       .notTLS("TLS alert level 7 is neither warning (1) nor fatal (2)"))
    }

    func testAlertNames() {
        XCTAssertEqual(TLSClientHello.alertName(40), "handshake failure")
        XCTAssertEqual(TLSClientHello.alertName(70), "protocol version")
        XCTAssertEqual(TLSClientHello.alertName(112), "unrecognized name")
        XCTAssertEqual(TLSClientHello.alertName(80), "internal error")
        XCTAssertEqual(TLSClientHello.alertName(0), "close notify")
        XCTAssertEqual(TLSClientHello.alertName(200), "alert 200")
    }

    // MARK: classify: not TLS

    func testHTTPIsNotTLSFromTheFirstByte() {
        XCTAssertEqual(TLSClientHello.classify(Array("H".utf8)), .notTLS("reply is not a TLS record (first byte 0x48)"))
        XCTAssertEqual(TLSClientHello.classify(Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8)),
                       .notTLS("reply is not a TLS record (first byte 0x48)"))
        XCTAssertEqual(TLSClientHello.classify([0x00]), .notTLS("reply is not a TLS record (first byte 0x00)"))
    }

    func testNothingYetIsIncomplete() {
        XCTAssertEqual(TLSClientHello.classify([]), .incomplete)
        XCTAssertEqual(TLSClientHello.classify([0x16]), .incomplete)
        XCTAssertEqual(TLSClientHello.classify([0x16, 0x03, 0x03, 0x00]), .incomplete)
    }

    func testRecordVersionMajorMustBe3() {
        XCTAssertEqual(TLSClientHello.classify([0x16, 0x02]),
                       .notTLS("reply is not a TLS record (record version major 0x02, expected 0x03)"))
    }

    func testOversizedRecordIsNotTLS() {
        XCTAssertEqual(TLSClientHello.classify([0x16, 0x03, 0x03, 0x48, 0x01]),
                       .notTLS("TLS record length 18433 exceeds 18432"))
        XCTAssertEqual(TLSClientHello.classify([0x16, 0x03, 0x03, 0x48, 0x00]), .incomplete, "18432 is allowed")
    }

    func testOtherRecordTypesFirstAreNotTLS() {
        XCTAssertEqual(TLSClientHello.classify([0x17, 0x03, 0x03, 0x00, 0x10]),
                       .notTLS("first TLS record is application_data (23), not a handshake or alert"))
        XCTAssertEqual(TLSClientHello.classify([0x14]),
                       .notTLS("first TLS record is change_cipher_spec (20), not a handshake or alert"))
    }

    func testOtherHandshakeMessageFirstIsNotTLS() {
        let certificate: [UInt8] = [0x16, 0x03, 0x03, 0x00, 0x08, 11, 0x00, 0x00, 0x04, 0, 0, 0, 0]
        XCTAssertEqual(TLSClientHello.classify(certificate), .notTLS("first TLS handshake message is type 11, not ServerHello (2)"))
    }

    func testHandshakeRecordTooShortForAHeaderIsNotTLS() {
        XCTAssertEqual(TLSClientHello.classify([0x16, 0x03, 0x03, 0x00, 0x03, 2, 0, 0]),
                       .notTLS("TLS handshake record of 3 bytes cannot hold a handshake header"))
        XCTAssertEqual(TLSClientHello.classify([0x16, 0x03, 0x03, 0x00, 0x00]),
                       .notTLS("TLS handshake record of 0 bytes cannot hold a handshake header"))
    }

    func testMalformedServerHellosAreNotTLS() {
        XCTAssertEqual(TLSClientHello.classify(handshakeRecord(type: 2, body: [0x03, 0x03] + [UInt8](repeating: 0, count: 10))),
                       .notTLS("malformed ServerHello: shorter than version and random"))
        let prefix: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0, count: 32)
        XCTAssertEqual(TLSClientHello.classify(handshakeRecord(type: 2, body: prefix + [33] + [UInt8](repeating: 0, count: 36))),
                       .notTLS("malformed ServerHello: bad session id"))
        XCTAssertEqual(TLSClientHello.classify(handshakeRecord(type: 2, body: prefix + [0, 0x13])),
                       .notTLS("malformed ServerHello: missing cipher suite or compression method"))
        let upToExtensions = prefix + [0, 0x13, 0x01, 0x00]
        XCTAssertEqual(TLSClientHello.classify(handshakeRecord(type: 2, body: upToExtensions + [0x00, 0x09, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04])),
                       .notTLS("malformed ServerHello: extensions length does not match message length"))
        XCTAssertEqual(TLSClientHello.classify(handshakeRecord(type: 2, body: upToExtensions + [0x00, 0x05, 0x00, 0x2b, 0x00, 0x02, 0x03])),
                       .notTLS("malformed ServerHello: truncated extension"))
        XCTAssertEqual(TLSClientHello.classify(handshakeRecord(type: 2, body: upToExtensions + [0x00, 0x05, 0x00, 0x2b, 0x00, 0x01, 0x03])),
                       .notTLS("malformed ServerHello: supported_versions of 1 bytes, expected 2"))
    }

    func testEveryTruncationAndCorruptionOfAServerHelloAnswersWithoutTrapping() {
        let reply = serverHelloRecord(legacyVersion: 0x0303, extensions: [(0x002b, [0x03, 0x04]), (0x0033, [0, 0x1d, 0, 1, 9])])
        for index in reply.indices {
            for value: UInt8 in [0x00, 0x01, 0x7f, 0xff] {
                var corrupted = reply
                corrupted[index] = value
                _ = TLSClientHello.classify(corrupted)  // any answer is fine; reaching here means no trap
            }
        }
    }

    // MARK: live servers

    func testLiveOpenSSLDefaultsAnswerWithTLS13ServerHello() throws {
        guard let live = try liveOpenSSLReply(serverOptions: [], serverName: "localhost") else { return }
        XCTAssertEqual(live.reply, .serverHello(version: 0x0304), live.serverLog)
    }

    func testLiveOpenSSLTLS12OnlyAnswersWithTLS12ServerHello() throws {
        guard let live = try liveOpenSSLReply(serverOptions: ["-tls1_2"], serverName: "localhost") else { return }
        XCTAssertEqual(live.reply, .serverHello(version: 0x0303), live.serverLog)
    }

    func testLiveOpenSSLTLS13OnlyAnswersWithTLS13ServerHello() throws {
        guard let live = try liveOpenSSLReply(serverOptions: ["-tls1_3"], serverName: "localhost") else { return }
        XCTAssertEqual(live.reply, .serverHello(version: 0x0304), live.serverLog)
    }

    func testLiveOpenSSLWithoutServerName() throws {
        guard let live = try liveOpenSSLReply(serverOptions: [], serverName: nil) else { return }
        XCTAssertEqual(live.reply, .serverHello(version: 0x0304), live.serverLog)
    }

    func testLiveOpenSSLWithNoCommonCipherAnswersHandshakeFailure() throws {
        // TLS 1.2 only, and only a CBC-SHA256 suite this hello does not offer.
        let options = ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"]
        guard let live = try liveOpenSSLReply(serverOptions: options, serverName: "localhost") else { return }
        XCTAssertEqual(live.reply, .alert(level: 2, description: 40), live.serverLog)
    }

    func testLivePlainHTTPServerIsNotTLS() throws {
        let server = try PlainHTTPServer()
        defer { server.stop() }
        let hello = TLSClientHello.encode(serverName: "localhost", random: random, keyShare: keyShare)
        let received = try exchange(hello, port: server.port)
        XCTAssertEqual(received.reply, .notTLS("reply is not a TLS record (first byte 0x48)"))
        XCTAssertEqual(HTTPStatusLine.parse(received.bytes).statusCode, 400, "the HTTP server's own answer")
        XCTAssertEqual(server.waitForRequest(), hello, "the server got the hello intact")
    }

    // MARK: helpers: building server replies

    private func serverHelloRecord(legacyVersion: UInt16, random: [UInt8]? = nil,
                                   extensions: [(type: UInt16, data: [UInt8])]?) -> [UInt8] {
        var body = bigEndian16(legacyVersion) + (random ?? [UInt8](repeating: 0x5a, count: 32))
        body += [32] + [UInt8](repeating: 0x33, count: 32)  // echoed session id
        body += [0x13, 0x01, 0x00]                          // cipher suite, compression
        if let extensions {
            let block = extensions.flatMap { bigEndian16($0.type) + bigEndian16(UInt16($0.data.count)) + $0.data }
            body += bigEndian16(UInt16(block.count)) + block
        }
        return handshakeRecord(type: 2, body: body)
    }

    private func handshakeRecord(type: UInt8, body: [UInt8]) -> [UInt8] {
        let message = [type, 0, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
        return [0x16, 0x03, 0x03] + bigEndian16(UInt16(message.count)) + message
    }

    private func bigEndian16(_ value: UInt16) -> [UInt8] {
        [UInt8(value >> 8), UInt8(value & 0xff)]
    }

    // MARK: helpers: live exchanges

    /// Starts `openssl s_server` with a throwaway self-signed RSA certificate, sends our hello,
    /// and classifies the answer, with the server's stderr for failure messages. openssl
    /// missing is a recorded failure (nil), never a skip.
    private func liveOpenSSLReply(serverOptions: [String], serverName: String?) throws -> (reply: TLSServerReply, serverLog: String)? {
        guard let openssl = findExecutable("openssl") else {
            XCTFail("openssl is not on PATH; the live TLS tests need it (apt-get install openssl)")
            return nil
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fulcrum-tls-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("key.pem").path
        let certificate = directory.appendingPathComponent("cert.pem").path
        try runToCompletion(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                                      "-days", "2", "-keyout", key, "-out", certificate])

        let server = try OpenSSLServer(openssl: openssl, arguments: ["s_server", "-key", key, "-cert", certificate,
                                                                     "-accept", "127.0.0.1:0"] + serverOptions)
        defer { server.stop() }
        let hello = TLSClientHello.encode(serverName: serverName, random: random, keyShare: keyShare)
        let received = try exchange(hello, port: server.port)
        return (received.reply, "openssl s_server \(serverOptions) stderr:\n\(server.stderrText())")
    }

    private func runToCompletion(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LiveTestError("\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                                + String(decoding: message, as: UTF8.self))
        }
    }

    private func findExecutable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }
}

private struct LiveTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private extension HTTPStatusLine.Parse {
    var statusCode: Int? {
        if case .status(let code, _) = self { return code }
        return nil
    }
}

// MARK: - Parsing our own ClientHello back, strictly

/// Reads big-endian fields and throws on any shortfall, so a wrong length anywhere in the
/// hello fails the test instead of being skipped over.
private struct Cursor {
    private var bytes: ArraySlice<UInt8>
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }
    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { bytes.isEmpty }

    mutating func take(_ count: Int) throws -> [UInt8] {
        guard bytes.count >= count else { throw LiveTestError("wanted \(count) bytes, \(bytes.count) left") }
        defer { bytes = bytes.dropFirst(count) }
        return Array(bytes.prefix(count))
    }

    mutating func uint8() throws -> UInt8 { try take(1)[0] }
    mutating func uint16() throws -> UInt16 { try take(2).reduce(0) { $0 << 8 | UInt16($1) } }
    mutating func uint24() throws -> Int { try take(3).reduce(0) { $0 << 8 | Int($1) } }
    mutating func prefixed8() throws -> [UInt8] { try take(Int(try uint8())) }
    mutating func prefixed16() throws -> [UInt8] { try take(Int(try uint16())) }
}

/// A TLS vector of 16-bit values; an odd byte count is an error.
private func uint16List(_ bytes: [UInt8]) throws -> [UInt16] {
    guard bytes.count % 2 == 0 else { throw LiveTestError("odd length for a list of 16-bit values") }
    var cursor = Cursor(bytes)
    var values: [UInt16] = []
    while !cursor.isAtEnd { values.append(try cursor.uint16()) }
    return values
}

private struct ParsedClientHello {
    var recordType: UInt8, recordVersion: UInt16, recordLength: Int
    var handshakeType: UInt8, handshakeLength: Int
    var legacyVersion: UInt16, random: [UInt8], sessionID: [UInt8]
    var cipherSuites: [UInt16], compressionMethods: [UInt8]
    var extensions: [(type: UInt16, data: [UInt8])] = []

    init(_ bytes: [UInt8]) throws {
        var record = Cursor(bytes)
        recordType = try record.uint8()
        recordVersion = try record.uint16()
        recordLength = Int(try record.uint16())
        var fragment = Cursor(try record.take(recordLength))
        guard record.isAtEnd else { throw LiveTestError("bytes after the record") }

        handshakeType = try fragment.uint8()
        handshakeLength = try fragment.uint24()
        var hello = Cursor(try fragment.take(handshakeLength))
        guard fragment.isAtEnd else { throw LiveTestError("bytes after the handshake message") }

        legacyVersion = try hello.uint16()
        random = try hello.take(32)
        sessionID = try hello.prefixed8()
        cipherSuites = try uint16List(try hello.prefixed16())
        compressionMethods = try hello.prefixed8()
        var block = Cursor(try hello.prefixed16())
        guard hello.isAtEnd else { throw LiveTestError("bytes after the extensions") }
        while !block.isAtEnd {
            extensions.append((try block.uint16(), try block.prefixed16()))
        }
        let types = extensions.map(\.type)
        guard Set(types).count == types.count else { throw LiveTestError("duplicate extension in \(types)") }
    }

    func extensionData(_ type: UInt16) throws -> [UInt8] {
        guard let found = extensions.first(where: { $0.type == type }) else {
            throw LiveTestError("no extension 0x\(String(type, radix: 16))")
        }
        return found.data
    }
}

// MARK: - Sockets and servers for the live tests

private func makeIPv4Address(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return address
}

private func errnoText(_ call: String) -> String {
    "\(call): \(String(cString: strerror(errno)))"
}

/// Sends `hello` to 127.0.0.1:`port` and reads until the reply is classified, the peer
/// closes, or 5 seconds pass.
private func exchange(_ hello: [UInt8], port: UInt16) throws -> (reply: TLSServerReply, bytes: [UInt8]) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw LiveTestError(errnoText("socket")) }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = makeIPv4Address(port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw LiveTestError(errnoText("connect to 127.0.0.1:\(port)")) }
    let sent = hello.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    guard sent == hello.count else { throw LiveTestError(errnoText("send (\(sent) of \(hello.count))")) }

    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 { throw LiveTestError(errnoText("recv after \(received.count) bytes")) }
        received += chunk[0..<count]
        let reply = TLSClientHello.classify(received)
        if reply != .incomplete || count == 0 { return (reply, received) }
    }
}

/// `openssl s_server` on 127.0.0.1 with a port the kernel picked, read from its
/// "ACCEPT 127.0.0.1:PORT" line so no port is ever guessed.
private final class OpenSSLServer {
    let port: UInt16
    private let process = Process()
    private let input = Pipe()   // held open: s_server treats EOF on stdin as "shut down"
    private let output = Pipe()
    private let errors: URL

    init(openssl: String, arguments: [String]) throws {
        errors = FileManager.default.temporaryDirectory.appendingPathComponent("fulcrum-s_server-\(UUID().uuidString).err")
        guard FileManager.default.createFile(atPath: errors.path, contents: nil) else {
            throw LiveTestError("cannot create \(errors.path)")
        }
        process.executableURL = URL(fileURLWithPath: openssl)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        do {
            port = try OpenSSLServer.readAcceptedPort(output.fileHandleForReading.fileDescriptor)
        } catch {
            let detail = "\(error); stderr:\n\(String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self))"
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: errors)
            throw LiveTestError("openssl \(arguments.joined(separator: " ")) did not start: \(detail)")
        }
    }

    func stderrText() -> String {
        String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self)
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: errors)
    }

    private static func readAcceptedPort(_ fd: Int32) throws -> UInt16 {
        let deadline = Date().addingTimeInterval(10)
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 1024)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw LiveTestError("stdout closed after \"\(text)\"") }
            text += String(decoding: buffer[0..<count], as: UTF8.self)
            let completeLines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            for line in completeLines where line.hasPrefix("ACCEPT ") {
                if let portText = line.split(separator: ":").last, let port = UInt16(portText) { return port }
            }
        }
        throw LiveTestError("no ACCEPT line within 10 s; stdout so far: \"\(text)\"")
    }
}

/// Accepts one connection on 127.0.0.1, reads the hello, answers like an HTTP server given
/// bytes it cannot parse, and closes. `request` is written by the server thread before
/// `finished` is signalled and read only after waiting on it, hence the unchecked Sendable.
private final class PlainHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let finished = DispatchSemaphore(value: 0)
    private var request: [UInt8] = []

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw LiveTestError(errnoText("socket")) }
        self.listener = listener
        var address = makeIPv4Address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw LiveTestError(errnoText("bind/listen/getsockname"))
        }
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in
            let connection = accept(listener, nil, nil)
            if connection >= 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
                request = count > 0 ? Array(buffer[0..<count]) : []
                let response = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
                _ = response.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(connection)
            }
            finished.signal()
        }.start()
    }

    /// What the server received, once it has answered (or [] after 5 s).
    func waitForRequest() -> [UInt8] {
        guard finished.wait(timeout: .now() + 5) == .success else { return [] }
        finished.signal()
        return request
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))  // wakes a thread still blocked in accept
        _ = finished.wait(timeout: .now() + 5)
        close(listener)
    }
}
