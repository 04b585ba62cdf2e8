import FulcrumAddress
import FulcrumVRRP
import XCTest

/// Every reason a packet is discarded, each provoked on its own (the checksum rewritten where
/// the test changes other bytes), and thousands of broken packets that must never trap.
final class AdvertDiscardTests: XCTestCase {
    private let source = ip("198.18.0.11")
    private let destination = ip("224.0.0.18")
    private var good: [UInt8] {
        VRRPAdvert(virtualRouterID: 42, priority: 200, maxAdvertInterval: interval(10), addresses: [ip("198.18.0.100")])
            .encode(source: source, destination: destination)
    }

    private func decode(_ payload: [UInt8], source: IPAddress? = nil, destination: IPAddress? = nil,
                        ttl: UInt8 = 255, vrid: UInt8 = 42, family: VRRPFamily = .ipv4) -> Result<VRRPAdvert, VRRPDiscard> {
        VRRPAdvert.decode(payload: payload, source: source ?? self.source, destination: destination ?? self.destination,
                          ttlOrHopLimit: ttl, expectedVRID: vrid, family: family)
    }

    private func changed(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
        var packet = good
        change(&packet)
        return rechecksummed(packet, source: source, destination: destination)
    }

    func testTheGoodPacketDecodes() {
        XCTAssertNotNil(decode(good).successValue)
    }

    func testTooShort() {
        for length in 0..<8 {
            XCTAssertEqual(decode(Array(good[0..<length])).failureValue, .tooShort, "\(length) bytes")
        }
    }

    func testWrongFamily() {
        XCTAssertEqual(decode(good, family: .ipv6).failureValue, .wrongFamily)
        XCTAssertEqual(decode(good, destination: ip("ff02::12")).failureValue, .wrongFamily, "mixed families")
        XCTAssertEqual(decode(good, source: ip("fe80::1"), destination: ip("ff02::12")).failureValue, .wrongFamily)
    }

    func testWrongTTL() {
        for ttl: UInt8 in [0, 1, 64, 254] {
            XCTAssertEqual(decode(good, ttl: ttl).failureValue, .wrongTTL, "TTL \(ttl)")
        }
    }

    func testWrongVersion() {
        XCTAssertEqual(decode(changed { $0[0] = 0x21 }).failureValue, .wrongVersion, "VRRPv2")
        XCTAssertEqual(decode(changed { $0[0] = 0x41 }).failureValue, .wrongVersion)
        XCTAssertEqual(decode(changed { $0[0] = 0x01 }).failureValue, .wrongVersion)
    }

    func testWrongType() {
        XCTAssertEqual(decode(changed { $0[0] = 0x30 }).failureValue, .wrongType)
        XCTAssertEqual(decode(changed { $0[0] = 0x32 }).failureValue, .wrongType)
        XCTAssertEqual(decode(changed { $0[0] = 0x3F }).failureValue, .wrongType)
    }

    func testNoAddresses() {
        let empty = rechecksummed([0x31, 42, 200, 0, 0, 10, 0, 0], source: source, destination: destination)
        XCTAssertEqual(decode(empty).failureValue, .noAddresses)
    }

    func testAddressCountMismatch() {
        XCTAssertEqual(decode(changed { $0[3] = 2 }).failureValue, .addressCountMismatch, "count says two, one present")
        XCTAssertEqual(decode(changed { $0[3] = 255 }).failureValue, .addressCountMismatch)
        XCTAssertEqual(decode(Array(good.dropLast())).failureValue, .addressCountMismatch, "truncated address")
        XCTAssertEqual(decode(rechecksummed(good + [0, 0, 0, 0], source: source, destination: destination)).failureValue,
                       .addressCountMismatch, "trailing bytes")
        let v6Source = ip("fe80::1")
        let v6Destination = ip("ff02::12")
        let v4SizedOverIPv6 = VRRPAdvert(virtualRouterID: 42, priority: 200, maxAdvertInterval: interval(10),
                                         addresses: [ip("2001:db8::1")]).encode(source: v6Source, destination: v6Destination)
        let cut = rechecksummed(Array(v4SizedOverIPv6[0..<12]), source: v6Source, destination: v6Destination)
        XCTAssertEqual(decode(cut, source: v6Source, destination: v6Destination, family: .ipv6).failureValue,
                       .addressCountMismatch, "an IPv4-sized address list in an IPv6 advert")
    }

    func testBadChecksum() {
        var flipped = good
        flipped[11] ^= 0x01
        XCTAssertEqual(decode(flipped).failureValue, .badChecksum)
        var zeroed = good
        zeroed[6] = 0
        zeroed[7] = 0
        XCTAssertEqual(decode(zeroed).failureValue, .badChecksum, "checksum left out")
        // The pseudo-header covers the addresses: the same bytes from another source fail.
        XCTAssertEqual(decode(good, source: ip("198.18.0.99")).failureValue, .badChecksum)
        XCTAssertEqual(decode(good, destination: ip("198.18.0.12")).failureValue, .badChecksum)
    }

    func testWrongVRID() {
        XCTAssertEqual(decode(good, vrid: 43).failureValue, .wrongVRID)
        XCTAssertEqual(decode(changed { $0[1] = 0 }).failureValue, .wrongVRID, "VRID 0 never matches a configured one")
    }

    func testZeroInterval() {
        XCTAssertEqual(decode(changed { $0[4] = 0; $0[5] = 0 }).failureValue, .zeroInterval)
        XCTAssertEqual(decode(changed { $0[4] = 0xF0; $0[5] = 0 }).failureValue, .zeroInterval, "only reserved bits set")
    }

    /// Every reason decode can give is provoked above; `unknownSource` belongs to the daemon.
    func testEveryDecodeReasonIsCovered() {
        let provoked = Set([
            decode(Array(good[0..<3])), decode(good, family: .ipv6), decode(good, ttl: 1),
            decode(changed { $0[0] = 0x21 }), decode(changed { $0[0] = 0x32 }),
            decode(rechecksummed([0x31, 42, 200, 0, 0, 10, 0, 0], source: source, destination: destination)),
            decode(changed { $0[3] = 2 }), decode(changed { $0[1] = 7 }), decode(good, vrid: 1),
            decode(changed { $0[5] = 0 }), decode(good, source: ip("198.18.0.99")),
        ].compactMap(\.failureValue))
        XCTAssertEqual(provoked.union([.unknownSource]), Set(VRRPDiscard.allCases))
        XCTAssertEqual(VRRPDiscard.wrongTTL.description, "wrong_ttl")
    }

    /// Any single flipped bit is caught: the Internet checksum detects every one-bit error,
    /// and the fields checked before it catch their own.
    func testEverySingleBitFlipIsDiscarded() {
        for v6 in [false, true] {
            let source = v6 ? ip("fe80::1") : self.source
            let destination = v6 ? ip("ff02::12") : self.destination
            let packet = VRRPAdvert(virtualRouterID: 42, priority: 200, maxAdvertInterval: interval(10),
                                    addresses: v6 ? [ip("2001:db8::1"), ip("2001:db8::2")] : [ip("198.18.0.100"), ip("198.18.0.101")])
                .encode(source: source, destination: destination)
            for bit in 0..<(packet.count * 8) {
                var flipped = packet
                flipped[bit / 8] ^= 1 << UInt8(bit % 8)
                let result = VRRPAdvert.decode(payload: flipped, source: source, destination: destination, ttlOrHopLimit: 255,
                                               expectedVRID: 42, family: v6 ? .ipv6 : .ipv4)
                XCTAssertNotNil(result.failureValue, "bit \(bit) flipped was accepted")
            }
        }
    }

    /// Random bytes, truncations, bit flips, lying counts, random TTLs and families: decode and
    /// the IPv4 header parser must answer every one without trapping.
    func testFuzzNeverTraps() {
        var random = SplitMix64(state: 0x5798)
        let v6Source = ip("fe80::3470:6bff:fe92:f2b3")
        let v6Destination = ip("ff02::12")
        let seeds: [(packet: [UInt8], source: IPAddress, destination: IPAddress, family: VRRPFamily)] = [
            (good, source, destination, .ipv4),
            (VRRPAdvert(virtualRouterID: 42, priority: 150, maxAdvertInterval: interval(10),
                        addresses: [ip("fd00:198:18::100"), ip("fd00::2")]).encode(source: v6Source, destination: v6Destination),
             v6Source, v6Destination, .ipv6),
        ]
        let ipv4Frame = bytes(hex: "45c0002000010000ff70147dc612000be0000012312ac801000a99a6c6120064")
        var outcomes: [String: Int] = [:]
        for round in 0..<20_000 {
            let seed = seeds[round % seeds.count]
            var packet: [UInt8]
            switch round % 5 {
            case 0:
                packet = (0..<Int.random(in: 0...80, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            case 1:
                packet = Array(seed.packet.prefix(Int.random(in: 0...seed.packet.count, using: &random)))
            case 2:
                packet = seed.packet
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let bit = Int.random(in: 0..<(packet.count * 8), using: &random)
                    packet[bit / 8] ^= 1 << UInt8(bit % 8)
                }
            case 3:
                packet = seed.packet
                packet[3] = UInt8.random(in: 0...255, using: &random)
                packet += (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                packet = rechecksummed(packet, source: seed.source, destination: seed.destination)
            default:
                packet = seed.packet
                packet[Int.random(in: 0..<8, using: &random)] = UInt8.random(in: 0...255, using: &random)
                packet = rechecksummed(packet, source: seed.source, destination: seed.destination)
            }
            let family = Int.random(in: 0..<10, using: &random) == 0 ? (seed.family == .ipv4 ? VRRPFamily.ipv6 : .ipv4) : seed.family
            let ttl: UInt8 = Int.random(in: 0..<10, using: &random) == 0 ? UInt8.random(in: 0...254, using: &random) : 255
            let result = VRRPAdvert.decode(payload: packet, source: seed.source, destination: seed.destination,
                                           ttlOrHopLimit: ttl, expectedVRID: 42, family: family)
            switch result {
            case let .success(advert):
                outcomes["accepted", default: 0] += 1
                XCTAssertEqual(advert.virtualRouterID, 42)
                XCTAssertFalse(advert.addresses.isEmpty)
                XCTAssertTrue(advert.addresses.allSatisfy { VRRPFamily(of: $0) == family })
            case let .failure(reason):
                outcomes[reason.rawValue, default: 0] += 1
            }

            var header = ipv4Frame
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                header[Int.random(in: 0..<20, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            let cut = Array(header.prefix(Int.random(in: 0...header.count, using: &random)))
            if let parsed = IPv4Header.parse(cut) {
                XCTAssertTrue(parsed.payload.lowerBound >= 20 && parsed.payload.upperBound <= cut.count)
            }
        }
        // The generator reached the deep checks too, not only the first guard.
        for reason in ["too_short", "wrong_version", "address_count_mismatch", "bad_checksum", "wrong_vrid", "accepted"] {
            XCTAssertGreaterThan(outcomes[reason, default: 0], 0, "\(reason) never reached: \(outcomes)")
        }
    }
}
