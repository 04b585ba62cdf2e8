import FulcrumAddress
@testable import FulcrumNetlink
import XCTest

/// The announcement frames, byte for byte against the ones keepalived sent for the same MAC and
/// VIP (captured on a veth: 36:70:6b:92:f2:b3, 198.18.0.100 / fd00:198:18::100).
final class FrameTests: XCTestCase {
    let mac = MACAddress("36:70:6b:92:f2:b3")!

    func testGratuitousARPIsKeepalivedsFrame() throws {
        let frame = ARPFrame.gratuitous(mac: mac, ip: IPAddress("198.18.0.100")!)
        XCTAssertEqual(hex(frame), try fixture("keepalived-gratuitous-arp"))
        XCTAssertEqual(frame.count, 42, "no padding: the NIC pads to 60 bytes, as for keepalived's frame")
    }

    func testGratuitousARPFields() {
        let frame = ARPFrame.gratuitous(mac: MACAddress("02:00:5e:00:01:2a")!, ip: IPAddress("10.1.2.3")!)
        XCTAssertEqual(Array(frame[0..<6]), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "broadcast")
        XCTAssertEqual(Array(frame[6..<12]), [0x02, 0x00, 0x5E, 0x00, 0x01, 0x2A], "from the interface's MAC")
        XCTAssertEqual(Array(frame[12..<14]), [0x08, 0x06], "ARP")
        XCTAssertEqual(Array(frame[20..<22]), [0x00, 0x01], "a request")
        XCTAssertEqual(Array(frame[22..<28]), [0x02, 0x00, 0x5E, 0x00, 0x01, 0x2A], "sender MAC")
        XCTAssertEqual(Array(frame[28..<32]), [10, 1, 2, 3], "sender IP is the VIP")
        XCTAssertEqual(Array(frame[38..<42]), [10, 1, 2, 3], "target IP is the VIP too")
    }

    func testUnsolicitedNeighborAdvertisementIsKeepalivedsFrame() throws {
        let frame = NeighborAdvertisement.unsolicited(mac: mac, ip: IPAddress("fd00:198:18::100")!)
        XCTAssertEqual(hex(frame), try fixture("keepalived-unsolicited-na"))
    }

    func testNeighborAdvertisementFields() {
        let vip = IPAddress("2001:db8:1:2::abcd")!
        let frame = NeighborAdvertisement.unsolicited(mac: MACAddress("02:00:5e:00:02:2a")!, ip: vip)
        XCTAssertEqual(Array(frame[0..<6]), [0x33, 0x33, 0, 0, 0, 1], "all-nodes multicast MAC")
        XCTAssertEqual(Array(frame[12..<14]), [0x86, 0xDD], "IPv6")
        XCTAssertEqual(frame[14] >> 4, 6)
        XCTAssertEqual(Int(frame[18]) << 8 | Int(frame[19]), 32, "payload: 24-byte NA and one 8-byte option")
        XCTAssertEqual(frame[20], 58, "ICMPv6")
        XCTAssertEqual(frame[21], 255, "hop limit 255, or receivers drop it")
        XCTAssertEqual(Array(frame[22..<38]), bytes(vip), "from the VIP")
        XCTAssertEqual(Array(frame[38..<54]), bytes(IPAddress("ff02::1")!), "to all nodes")
        XCTAssertEqual(frame[54], 136, "neighbour advertisement")
        XCTAssertEqual(frame[55], 0, "code 0")
        XCTAssertEqual(frame[58], 0x20, "Override only: not Router, not Solicited")
        XCTAssertEqual(Array(frame[59..<62]), [0, 0, 0])
        XCTAssertEqual(Array(frame[62..<78]), bytes(vip), "target is the VIP")
        XCTAssertEqual(Array(frame[78..<86]), [2, 1, 0x02, 0x00, 0x5E, 0x00, 0x02, 0x2A], "target link-layer address option")
        XCTAssertEqual(frame.count, 86)
    }

    /// The checksum verifies the way a receiver checks it: the one's-complement sum of the
    /// pseudo-header and the message, checksum included, is 0xFFFF. Checked with a summing
    /// loop written apart from the one that produced it, over many addresses.
    func testNeighborAdvertisementChecksumVerifies() {
        for _ in 0..<200 {
            let vip = IPAddress.v6(UInt64.random(in: 0...UInt64.max), UInt64.random(in: 0...UInt64.max))
            let mac = MACAddress(bytes: (0..<6).map { _ in UInt8.random(in: 0...255) })!
            let frame = NeighborAdvertisement.unsolicited(mac: mac, ip: vip)
            let icmp = Array(frame[54...])
            var words: [UInt32] = []
            let pseudo = Array(frame[22..<54]) + [0, 0, 0, UInt8(icmp.count), 0, 0, 0, 58]
            for chunk in stride(from: 0, to: pseudo.count, by: 2) { words.append(UInt32(pseudo[chunk]) << 8 | UInt32(pseudo[chunk + 1])) }
            for chunk in stride(from: 0, to: icmp.count, by: 2) { words.append(UInt32(icmp[chunk]) << 8 | UInt32(icmp[chunk + 1])) }
            var sum = words.reduce(0, +)
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            XCTAssertEqual(sum, 0xFFFF, "checksum for \(vip)")
        }
    }

    func testInternetChecksumOfRFC1071Example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
        var total: UInt32 = 0
        InternetChecksum.sum([0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7], into: &total)
        XCTAssertEqual(InternetChecksum.finish(total), ~UInt16(0xDDF2))
        var odd: UInt32 = 0
        InternetChecksum.sum([0x12, 0x34, 0x56], into: &odd)
        XCTAssertEqual(InternetChecksum.finish(odd), ~UInt16(0x1234 + 0x5600), "an odd byte is padded with zero")
    }

    func testMACAddressParsingAndPrinting() {
        XCTAssertEqual(MACAddress("36:70:6b:92:f2:b3")?.bytes, [0x36, 0x70, 0x6B, 0x92, 0xF2, 0xB3])
        XCTAssertEqual(MACAddress("02:00:5E:00:01:0a")?.description, "02:00:5e:00:01:0a")
        XCTAssertEqual(MACAddress("2:0:5e:0:1:a"), MACAddress("02:00:5e:00:01:0a"))
        for bad in ["", "36:70:6b:92:f2", "36:70:6b:92:f2:b3:00", "36:70:6b:92:f2:g3", "367:0:6b:92:f2:b3", "36-70-6b-92-f2-b3"] {
            XCTAssertNil(MACAddress(bad), bad)
        }
        XCTAssertNil(MACAddress(bytes: [1, 2, 3]))
        XCTAssertEqual(MACAddress.broadcast.description, "ff:ff:ff:ff:ff:ff")
    }

    private func bytes(_ address: IPAddress) -> [UInt8] {
        address.withIPv6Bytes { Array($0) }
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { $0 < 0x10 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// A captured frame: lowercase hex on one line.
func fixture(_ name: String) throws -> String {
    let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "hex", subdirectory: "Fixtures"), name)
    return try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
}
