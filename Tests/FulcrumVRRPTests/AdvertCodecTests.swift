import FulcrumAddress
import FulcrumVRRP
import XCTest

final class AdvertCodecTests: XCTestCase {
    /// Every field written where RFC 5798 §5.2 puts it, and the checksum summed by hand:
    ///
    ///     pseudo-header  c000 0201 | e000 0012 | 0070 | 0010     (src, dst, 0+proto 112, length 16)
    ///     packet         3107 6402 0064 0000 c000 020a c000 020b
    ///     sum = 0x3bc15 → fold 0xbc15 + 0x3 = 0xbc18 → complement 0x43e7
    func testIPv4LayoutAndChecksumByHand() {
        let advert = VRRPAdvert(virtualRouterID: 7, priority: 100, maxAdvertInterval: interval(100),
                                addresses: [ip("192.0.2.10"), ip("192.0.2.11")])
        let packet = advert.encode(source: ip("192.0.2.1"), destination: ip("224.0.0.18"))
        XCTAssertEqual(hex(packet), "31" + "07" + "64" + "02" + "0064" + "43e7" + "c000020a" + "c000020b")
    }

    /// IPv6 pseudo-header of RFC 8200 §8.1 (32-bit length, three zero bytes, next header 112):
    ///
    ///     fe80 0 0 0 0 0 0 0001 | ff02 0 0 0 0 0 0 0012 | 0000 0018 | 0000 0070
    ///     3109 fe01 0005 0000 2001 0db8 0 0 0 0 0 0010
    ///     sum = 0x35af5 → fold 0x5af8 → complement 0xa507
    func testIPv6LayoutAndChecksumByHand() {
        let advert = VRRPAdvert(virtualRouterID: 9, priority: 254, maxAdvertInterval: interval(5),
                                addresses: [ip("2001:db8::10")])
        let packet = advert.encode(source: ip("fe80::1"), destination: ip("ff02::12"))
        XCTAssertEqual(hex(packet), "3109fe01" + "0005" + "a507" + "20010db8000000000000000000000010")
        XCTAssertEqual(VRRPChecksum.compute(over: packet, source: ip("fe80::1"), destination: ip("ff02::12")), 0)
    }

    func testIPv4RoundTrip() throws {
        let source = ip("198.18.0.11")
        let destination = ip("198.18.0.12")  // unicast peer
        let advert = VRRPAdvert(virtualRouterID: 255, priority: 254, maxAdvertInterval: interval(4095),
                                addresses: (1...20).map { IPAddress.v4(0xC612_0000 + $0) })
        let packet = advert.encode(source: source, destination: destination)
        XCTAssertEqual(packet.count, 8 + 20 * 4)
        let decoded = try VRRPAdvert.decode(payload: packet, source: source, destination: destination,
                                            ttlOrHopLimit: 255, expectedVRID: 255, family: .ipv4).get()
        XCTAssertEqual(decoded, advert)
    }

    func testIPv6RoundTrip() throws {
        let source = ip("fe80::1234:5678:9abc:def0")
        let advert = VRRPAdvert(virtualRouterID: 1, priority: 1, maxAdvertInterval: interval(1),
                                addresses: [ip("2001:db8::10"), ip("fd00::ffff:ffff"), ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")])
        let packet = advert.encode(source: source, destination: VRRPFamily.ipv6.multicastGroup)
        XCTAssertEqual(packet.count, 8 + 3 * 16)
        let decoded = try VRRPAdvert.decode(payload: packet, source: source, destination: VRRPFamily.ipv6.multicastGroup,
                                            ttlOrHopLimit: 255, expectedVRID: 1, family: .ipv6).get()
        XCTAssertEqual(decoded, advert)
    }

    func testAllPrioritiesAndIntervalsRoundTrip() throws {
        let source = ip("10.0.0.1")
        for priority in [UInt8(0), 1, 100, 254, 255] {
            for centiseconds in [1, 10, 100, 1000, 4095] {
                let advert = VRRPAdvert(virtualRouterID: 42, priority: priority, maxAdvertInterval: interval(centiseconds),
                                        addresses: [ip("10.0.0.100")])
                let packet = advert.encode(source: source, destination: VRRPFamily.ipv4.multicastGroup)
                XCTAssertEqual(try VRRPAdvert.decode(payload: packet, source: source, destination: VRRPFamily.ipv4.multicastGroup,
                                                     ttlOrHopLimit: 255, expectedVRID: 42, family: .ipv4).get(), advert)
            }
        }
    }

    /// Addresses of the other family are left out of the packet (one family per virtual
    /// router), and the count says what was written.
    func testEncodeWritesOnlyTheSourceFamily() throws {
        let advert = VRRPAdvert(virtualRouterID: 5, priority: 50, maxAdvertInterval: interval(100),
                                addresses: [ip("2001:db8::1"), ip("192.0.2.10"), ip("2001:db8::2")])
        let packet = advert.encode(source: ip("192.0.2.1"), destination: ip("224.0.0.18"))
        XCTAssertEqual(packet[3], 1)
        XCTAssertEqual(packet.count, 12)
        let decoded = try VRRPAdvert.decode(payload: packet, source: ip("192.0.2.1"), destination: ip("224.0.0.18"),
                                            ttlOrHopLimit: 255, expectedVRID: 5, family: .ipv4).get()
        XCTAssertEqual(decoded.addresses, [ip("192.0.2.10")])
    }

    /// §5.2.6: the reserved bits are ignored on receipt (the checksum still covers them).
    func testReservedBitsAreIgnoredOnReceipt() throws {
        let source = ip("192.0.2.1")
        let destination = ip("224.0.0.18")
        var packet = VRRPAdvert(virtualRouterID: 3, priority: 90, maxAdvertInterval: interval(100), addresses: [ip("192.0.2.9")])
            .encode(source: source, destination: destination)
        packet[4] |= 0xF0
        packet = rechecksummed(packet, source: source, destination: destination)
        let decoded = try VRRPAdvert.decode(payload: packet, source: source, destination: destination,
                                            ttlOrHopLimit: 255, expectedVRID: 3, family: .ipv4).get()
        XCTAssertEqual(decoded.maxAdvertInterval, interval(100))
    }

    /// The daemon can hand over a slice of its receive buffer without copying it out.
    func testDecodesASliceWithNonZeroStartIndex() throws {
        let source = ip("192.0.2.1")
        let destination = ip("224.0.0.18")
        let advert = VRRPAdvert(virtualRouterID: 3, priority: 90, maxAdvertInterval: interval(100), addresses: [ip("192.0.2.9")])
        let buffer = [0xEE, 0xEE, 0xEE] + advert.encode(source: source, destination: destination) + [0xEE]
        let slice = buffer[3..<(buffer.count - 1)]
        XCTAssertEqual(try VRRPAdvert.decode(payload: slice, source: source, destination: destination,
                                             ttlOrHopLimit: 255, expectedVRID: 3, family: .ipv4).get(), advert)
    }

    func testAdvertIntervalBounds() {
        XCTAssertNil(VRRPAdvertInterval(centiseconds: 0))
        XCTAssertNil(VRRPAdvertInterval(centiseconds: 4096))
        XCTAssertNil(VRRPAdvertInterval(centiseconds: -1))
        XCTAssertEqual(VRRPAdvertInterval(centiseconds: 4095)?.centiseconds, 4095)
        XCTAssertEqual(VRRPAdvertInterval(milliseconds: 100)?.centiseconds, 10)
        XCTAssertEqual(VRRPAdvertInterval(milliseconds: 40950)?.centiseconds, 4095)
        XCTAssertNil(VRRPAdvertInterval(milliseconds: 105), "not a multiple of 10 ms")
        XCTAssertNil(VRRPAdvertInterval(milliseconds: 0))
        XCTAssertNil(VRRPAdvertInterval(milliseconds: 40960))
        XCTAssertEqual(VRRPAdvertInterval.rfcDefault.duration, .milliseconds(1000))
    }

    func testMulticastGroups() {
        XCTAssertEqual(VRRPFamily.ipv4.multicastGroup, ip("224.0.0.18"))
        XCTAssertEqual(VRRPFamily.ipv6.multicastGroup, ip("ff02::12"))
    }
}
