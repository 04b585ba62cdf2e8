import FulcrumAddress
import FulcrumVRRP
import Foundation
import XCTest

/// Builds an address from text in tests, where a typo should fail loudly.
func ip(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> IPAddress {
    guard let address = IPAddress(text) else {
        XCTFail("bad test address \(text)", file: file, line: line)
        return .v4(0)
    }
    return address
}

func ms(_ value: Int64) -> VRRPInstant { .milliseconds(value) }

func interval(_ centiseconds: Int) -> VRRPAdvertInterval { VRRPAdvertInterval(centiseconds: centiseconds)! }

/// Lowercase hex on one line, as the captured frames are stored.
func bytes(hex: String) -> [UInt8] {
    let digits = Array(hex.utf8.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd hex")
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

private extension UInt8 {
    var isWhitespace: Bool { self == 0x20 || self == 0x0A || self == 0x0D || self == 0x09 }
}

/// One captured Ethernet frame from Fixtures/, cut into what the daemon would see.
struct CapturedFrame {
    let frame: [UInt8]
    let source: IPAddress
    let destination: IPAddress
    let ttlOrHopLimit: UInt8
    let protocolNumber: UInt8
    let family: VRRPFamily
    /// The VRRP packet: the IP payload.
    let payload: [UInt8]

    init(fixture name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "hex", subdirectory: "Fixtures"),
                                name, file: file, line: line)
        frame = bytes(hex: try String(contentsOf: url, encoding: .utf8))
        let etherType = UInt16(frame[12]) << 8 | UInt16(frame[13])
        let ip = Array(frame[14...])
        switch etherType {
        case 0x0800:
            let header = try XCTUnwrap(IPv4Header.parse(ip), "IPv4 header of \(name)", file: file, line: line)
            source = header.source
            destination = header.destination
            ttlOrHopLimit = header.ttl
            protocolNumber = header.protocolNumber
            family = .ipv4
            payload = Array(ip[header.payload])
        case 0x86DD:
            // The fixed IPv6 header (RFC 8200 §3); keepalived's adverts carry no extension headers.
            XCTAssertEqual(ip[0] >> 4, 6, file: file, line: line)
            let payloadLength = Int(ip[4]) << 8 | Int(ip[5])
            protocolNumber = ip[6]
            ttlOrHopLimit = ip[7]
            source = ip[8..<24].withUnsafeBytes { IPAddress(ipv6Bytes: $0) }
            destination = ip[24..<40].withUnsafeBytes { IPAddress(ipv6Bytes: $0) }
            family = .ipv6
            payload = Array(ip[40..<(40 + payloadLength)])
        default:
            throw XCTSkip("unexpected ethertype \(etherType)")
        }
    }

    func decode(expectedVRID: UInt8) -> Result<VRRPAdvert, VRRPDiscard> {
        VRRPAdvert.decode(payload: payload, source: source, destination: destination,
                          ttlOrHopLimit: ttlOrHopLimit, expectedVRID: expectedVRID, family: family)
    }
}

/// Deterministic pseudo-random numbers (SplitMix64), so a failing fuzz case replays.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Rewrites the checksum of a VRRP packet after a test changed other bytes, so the check the
/// test aims at is the one that fires.
func rechecksummed(_ packet: [UInt8], source: IPAddress, destination: IPAddress) -> [UInt8] {
    var packet = packet
    packet[6] = 0
    packet[7] = 0
    let checksum = VRRPChecksum.compute(over: packet, source: source, destination: destination)
    packet[6] = UInt8(checksum >> 8)
    packet[7] = UInt8(checksum & 0xFF)
    return packet
}

extension Result {
    var failureValue: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }

    var successValue: Success? {
        if case let .success(value) = self { return value }
        return nil
    }
}
