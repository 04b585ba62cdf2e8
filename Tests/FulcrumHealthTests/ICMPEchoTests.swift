import Foundation
import XCTest
@testable import FulcrumHealth

final class ICMPEchoTests: XCTestCase {
    // MARK: checksum

    func testChecksumMatchesRFC1071Example() {
        // RFC 1071 section 3: these words sum to 0xddf2, so the checksum is its complement.
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]
        XCTAssertEqual(ICMPEcho.checksum(bytes[...]), ~UInt16(0xddf2))
        XCTAssertEqual(ICMPEcho.checksum(bytes[...]), 0x220d)
    }

    func testChecksumOfDataWithItsChecksumAppendedIsZero() {
        // RFC 1071: the receiver's sum over data plus checksum is all ones, i.e. checksum 0.
        let bytes: [UInt8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0x22, 0x0d]
        XCTAssertEqual(ICMPEcho.checksum(bytes[...]), 0)
    }

    func testChecksumPadsAnOddLastByteWithZero() {
        XCTAssertEqual(ICMPEcho.checksum([0x01][...]), ~UInt16(0x0100))
        XCTAssertEqual(ICMPEcho.checksum([0x00, 0x01, 0xf2][...]), ~UInt16(0x0001 + 0xf200))
    }

    func testChecksumOfNothingAndOfZerosIsAllOnes() {
        XCTAssertEqual(ICMPEcho.checksum([][...]), 0xffff)
        XCTAssertEqual(ICMPEcho.checksum([UInt8](repeating: 0, count: 64)[...]), 0xffff)
    }

    func testChecksumFoldsEndAroundCarries() {
        // 0xffff + 0x0001 = 0x10000 -> folded 0x0001 -> checksum 0xfffe.
        XCTAssertEqual(ICMPEcho.checksum([0xff, 0xff, 0x00, 0x01][...]), 0xfffe)
    }

    func testChecksumAgreesWithWordByWordReferenceForManyLengths() {
        var generator = SplitMix64(seed: 0x1071)
        for length in [0, 1, 2, 3, 7, 64, 1499, 1500, 65_535, 300_001] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            XCTAssertEqual(ICMPEcho.checksum(bytes[...]), referenceChecksum(bytes), "length \(length)")
        }
        let allOnes = [UInt8](repeating: 0xff, count: 200_000)
        XCTAssertEqual(ICMPEcho.checksum(allOnes[...]), referenceChecksum(allOnes))
    }

    func testChecksumUsesTheSliceNotTheWholeArray() {
        let bytes: [UInt8] = [0xaa, 0xbb, 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0xcc]
        XCTAssertEqual(ICMPEcho.checksum(bytes[2..<10]), 0x220d)
    }

    func testChecksumVerifiesTheKernelsIPv4HeaderChecksum() throws {
        let packet = try fixture("icmp-v4-echo-request")
        XCTAssertEqual(ICMPEcho.checksum(packet[0..<20]), 0, "IPv4 header checksum computed by Linux")
    }

    func testChecksumVerifiesTheKernelsICMPv6ChecksumOverThePseudoHeader() throws {
        let packet = try fixture("icmp-v6-echo-request")
        let message = Array(packet[40...])
        // RFC 8200 8.1 pseudo-header: source, destination, upper-layer length, zeros, next header.
        var pseudo = Array(packet[8..<40])
        pseudo += [0, 0, UInt8(message.count >> 8), UInt8(message.count & 0xff), 0, 0, 0, 58]
        XCTAssertEqual(ICMPEcho.checksum((pseudo + message)[...]), 0)
    }

    // MARK: encodeRequest

    func testIPv4RequestLayout() {
        let request = ICMPEcho.encodeRequest(v6: false, identifier: 0xbeef, sequence: 0x0102, payload: [9, 8, 7])
        XCTAssertEqual(request.count, 11)
        XCTAssertEqual(request[0], 8, "type echo request")
        XCTAssertEqual(request[1], 0, "code")
        XCTAssertEqual(Array(request[4..<8]), [0xbe, 0xef, 0x01, 0x02], "identifier and sequence, big-endian")
        XCTAssertEqual(Array(request[8...]), [9, 8, 7])
        var zeroed = request
        zeroed[2] = 0
        zeroed[3] = 0
        let expected = ICMPEcho.checksum(zeroed[...])
        XCTAssertEqual(UInt16(request[2]) << 8 | UInt16(request[3]), expected)
        XCTAssertEqual(ICMPEcho.checksum(request[...]), 0)
    }

    func testIPv6RequestLayoutLeavesTheChecksumToTheKernel() {
        let request = ICMPEcho.encodeRequest(v6: true, identifier: 0x1234, sequence: 0xfffe, payload: [])
        XCTAssertEqual(request, [128, 0, 0, 0, 0x12, 0x34, 0xff, 0xfe])
    }

    func testIPv4RequestIsByteForByteWhatLinuxPingSent() throws {
        let packet = try fixture("icmp-v4-echo-request")
        let captured = Array(packet[20...])
        let request = ICMPEcho.encodeRequest(v6: false, identifier: 0x41df, sequence: 1, payload: Array(captured[8...]))
        XCTAssertEqual(request, captured)
    }

    func testIPv6RequestIsWhatLinuxPingSentExceptTheKernelFilledChecksum() throws {
        let packet = try fixture("icmp-v6-echo-request")
        var captured = Array(packet[40...])
        XCTAssertNotEqual(Array(captured[2..<4]), [0, 0], "capture should carry the kernel's checksum")
        captured[2] = 0
        captured[3] = 0
        let request = ICMPEcho.encodeRequest(v6: true, identifier: 0x41f4, sequence: 1, payload: Array(captured[8...]))
        XCTAssertEqual(request, captured)
    }

    // MARK: parseReply on captured packets

    func testCapturedIPv4ReplyAsARawSocketDeliversIt() throws {
        let packet = try fixture("icmp-v4-echo-reply")
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: false, includesIPHeader: true),
                       .echoReply(identifier: 0x41df, sequence: 1))
    }

    func testCapturedIPv4ReplyAsAPingSocketDeliversIt() throws {
        let packet = try fixture("icmp-v4-echo-reply")
        XCTAssertEqual(ICMPEcho.parseReply(packet[20...], v6: false, includesIPHeader: false),
                       .echoReply(identifier: 0x41df, sequence: 1))
    }

    func testOwnRequestSeenOnARawSocketIsOther() throws {
        let packet = try fixture("icmp-v4-echo-request")
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: false, includesIPHeader: true), .other(type: 8))
    }

    func testCapturedIPv6ReplyWithAndWithoutItsHeader() throws {
        let packet = try fixture("icmp-v6-echo-reply")
        XCTAssertEqual(ICMPEcho.parseReply(packet[40...], v6: true, includesIPHeader: false),
                       .echoReply(identifier: 0x41f4, sequence: 1))
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: true, includesIPHeader: true),
                       .echoReply(identifier: 0x41f4, sequence: 1))
        let request = try fixture("icmp-v6-echo-request")
        XCTAssertEqual(ICMPEcho.parseReply(request[40...], v6: true, includesIPHeader: false), .other(type: 128))
    }

    func testTypesAreReadPerFamily() throws {
        // ICMPv4 echo reply (type 0) read as ICMPv6 is not an echo reply, and vice versa.
        let v4Reply = Array(try fixture("icmp-v4-echo-reply")[20...])
        XCTAssertEqual(ICMPEcho.parseReply(v4Reply[...], v6: true, includesIPHeader: false), .other(type: 0))
        let v6Reply = Array(try fixture("icmp-v6-echo-reply")[40...])
        XCTAssertEqual(ICMPEcho.parseReply(v6Reply[...], v6: false, includesIPHeader: false), .other(type: 129))
    }

    // MARK: parseReply: checksum policy

    func testCorruptedIPv4ReplyOnARawSocketIsMalformed() throws {
        var packet = try fixture("icmp-v4-echo-reply")
        packet[40] ^= 0x01  // a payload byte
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: false, includesIPHeader: true), .malformed)
    }

    func testChecksumIsNotCheckedWhereTheKernelAlreadyDid() throws {
        var v4 = try fixture("icmp-v4-echo-reply")
        v4[40] ^= 0x01
        XCTAssertEqual(ICMPEcho.parseReply(v4[20...], v6: false, includesIPHeader: false),
                       .echoReply(identifier: 0x41df, sequence: 1))
        var v6 = try fixture("icmp-v6-echo-reply")
        v6[60] ^= 0x01
        XCTAssertEqual(ICMPEcho.parseReply(v6[40...], v6: true, includesIPHeader: false),
                       .echoReply(identifier: 0x41f4, sequence: 1))
    }

    // MARK: parseReply: unreachable

    func testIPv4PortUnreachableWithHeader() {
        let message = icmpMessage(type: 3, code: 3, rest: [0, 0, 0, 0] + [UInt8](repeating: 0x45, count: 28))
        let packet = ipv4Header(payloadLength: message.count) + message
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: false, includesIPHeader: true), .unreachable(code: 3))
    }

    func testIPv6AddressUnreachable() {
        let message = icmpMessage(type: 1, code: 3, rest: [0, 0, 0, 0])
        XCTAssertEqual(ICMPEcho.parseReply(message[...], v6: true, includesIPHeader: false), .unreachable(code: 3))
    }

    func testIPv4HeaderWithOptionsIsSkippedByIHL() {
        let message = icmpMessage(type: 0, code: 0, rest: [0x00, 0x07, 0x00, 0x2a])
        let header = ipv4Header(payloadLength: message.count, optionWords: 1)
        XCTAssertEqual(header[0], 0x46)
        let packet = header + message
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: false, includesIPHeader: true),
                       .echoReply(identifier: 7, sequence: 42))
    }

    func testTrailingBytesAfterTheIPv4TotalLengthAreIgnored() throws {
        let packet = try fixture("icmp-v4-echo-reply") + [0xde, 0xad]
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: false, includesIPHeader: true),
                       .echoReply(identifier: 0x41df, sequence: 1))
    }

    // MARK: parseReply: malformed input

    func testShortMessagesAreMalformed() throws {
        XCTAssertEqual(ICMPEcho.parseReply([][...], v6: false, includesIPHeader: false), .malformed)
        XCTAssertEqual(ICMPEcho.parseReply([0, 0, 0, 0, 0, 0, 0][...], v6: true, includesIPHeader: false), .malformed)
        let packet = try fixture("icmp-v4-echo-reply")
        XCTAssertEqual(ICMPEcho.parseReply(packet[0..<19], v6: false, includesIPHeader: true), .malformed)
        XCTAssertEqual(ICMPEcho.parseReply(packet[0..<27], v6: false, includesIPHeader: true), .malformed,
                       "truncated below the IPv4 total length")
        let v6 = try fixture("icmp-v6-echo-reply")
        XCTAssertEqual(ICMPEcho.parseReply(v6[0..<39], v6: true, includesIPHeader: true), .malformed)
        XCTAssertEqual(ICMPEcho.parseReply(v6[0..<100], v6: true, includesIPHeader: true), .malformed,
                       "truncated below the IPv6 payload length")
    }

    func testEveryTruncationOfACapturedPacketGivesAnAnswerWithoutTrapping() throws {
        for name in ["icmp-v4-echo-reply", "icmp-v4-echo-request"] {
            let packet = try fixture(name)
            for end in 0..<packet.count {
                XCTAssertEqual(ICMPEcho.parseReply(packet[0..<end], v6: false, includesIPHeader: true), .malformed)
            }
        }
    }

    func testBadIPv4HeadersAreMalformed() throws {
        let packet = try fixture("icmp-v4-echo-reply")
        func parsed(_ edit: (inout [UInt8]) -> Void) -> ICMPEcho.Reply {
            var copy = packet
            edit(&copy)
            return ICMPEcho.parseReply(copy[...], v6: false, includesIPHeader: true)
        }
        XCTAssertEqual(parsed { $0[0] = 0x65 }, .malformed, "version 6 in an IPv4 header")
        XCTAssertEqual(parsed { $0[0] = 0x44 }, .malformed, "IHL 4 is below the minimum")
        XCTAssertEqual(parsed { $0[2] = 0; $0[3] = 19 }, .malformed, "total length below the header")
        XCTAssertEqual(parsed { $0[2] = 0; $0[3] = 27 }, .malformed, "total length leaves less than an ICMP header")
        XCTAssertEqual(parsed { $0[2] = 0x01; $0[3] = 0 }, .malformed, "total length beyond what was received")
        XCTAssertEqual(parsed { $0[9] = 6 }, .malformed, "protocol TCP, not ICMP")
    }

    func testBadIPv6HeadersAreMalformed() throws {
        var packet = try fixture("icmp-v6-echo-reply")
        packet[6] = 0  // hop-by-hop options header, not followed
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: true, includesIPHeader: true), .malformed)
        packet = try fixture("icmp-v6-echo-reply")
        packet[0] = 0x40
        XCTAssertEqual(ICMPEcho.parseReply(packet[...], v6: true, includesIPHeader: true), .malformed)
    }

    func testSlicesWithAnOffsetStartIndexParse() throws {
        let packet = [0xff, 0xff, 0xff] + (try fixture("icmp-v4-echo-reply"))
        XCTAssertEqual(ICMPEcho.parseReply(packet[3...], v6: false, includesIPHeader: true),
                       .echoReply(identifier: 0x41df, sequence: 1))
        XCTAssertEqual(ICMPEcho.parseReply(packet[23...], v6: false, includesIPHeader: false),
                       .echoReply(identifier: 0x41df, sequence: 1))
    }

    // MARK: helpers

    private func fixture(_ name: String) throws -> [UInt8] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "hex", subdirectory: "Fixtures"),
                                "missing fixture \(name).hex")
        let text = try String(contentsOf: url, encoding: .utf8).filter { !$0.isWhitespace }
        let digits = Array(text.utf8)
        XCTAssertEqual(digits.count % 2, 0, "odd number of hex digits in \(name).hex")
        return try stride(from: 0, to: digits.count - 1, by: 2).map { index in
            try XCTUnwrap(UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16),
                          "bad hex in \(name).hex at \(index)")
        }
    }

    private func icmpMessage(type: UInt8, code: UInt8, rest: [UInt8]) -> [UInt8] {
        var message = [type, code, 0, 0] + rest
        let sum = ICMPEcho.checksum(message[...])
        message[2] = UInt8(sum >> 8)
        message[3] = UInt8(sum & 0xff)
        return message
    }

    private func ipv4Header(payloadLength: Int, optionWords: Int = 0) -> [UInt8] {
        let headerLength = 20 + 4 * optionWords
        let total = headerLength + payloadLength
        var header: [UInt8] = [0x45 + UInt8(optionWords), 0, UInt8(total >> 8), UInt8(total & 0xff),
                               0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
        header += [UInt8](repeating: 1, count: 4 * optionWords)  // NOP options
        return header
    }

    /// A plain word-at-a-time Internet checksum with the carry folded on every addition.
    private func referenceChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index < bytes.count {
            let high = UInt32(bytes[index])
            let low = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            sum += high << 8 | low
            sum = (sum & 0xffff) + (sum >> 16)
            index += 2
        }
        return ~UInt16(sum)
    }
}

/// Deterministic test data without Foundation's random sources.
private struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d1_049b_133b_94eb
        return z ^ (z >> 31)
    }
}
