import FulcrumAddress
@testable import FulcrumNetlink
import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The rtnetlink requests byte for byte, and the reply parser on good, refused and broken
/// replies. Netlink integers are host-order; the expected bytes here are little-endian (x86_64,
/// arm64), which the first test checks.
final class NetlinkMessageTests: XCTestCase {
    func testHostIsLittleEndian() {
        XCTAssertEqual(UInt32(1).littleEndian, 1)
    }

    func testNewIPv4AddressRequest() throws {
        let vip = try XCTUnwrap(InterfaceAddress(interface: "vip0", "198.18.0.100/24"))
        XCTAssertEqual(RouteRequest.newAddress(vip, interfaceIndex: 7, sequence: 3), [
            40, 0, 0, 0, 20, 0, 0x05, 0x06, 3, 0, 0, 0, 0, 0, 0, 0,  // len, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE, seq, pid
            2, 24, 0, 0, 7, 0, 0, 0,                                   // AF_INET, /24, flags, scope universe, index 7
            8, 0, 2, 0, 198, 18, 0, 100,                               // IFA_LOCAL
            8, 0, 1, 0, 198, 18, 0, 100,                               // IFA_ADDRESS
        ])
    }

    func testNewIPv6AddressRequestSkipsDuplicateAddressDetection() throws {
        let vip = try XCTUnwrap(InterfaceAddress(interface: "vip0", "fd00:198:18::100/64"))
        let wire: [UInt8] = [0xFD, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0]
        XCTAssertEqual(RouteRequest.newAddress(vip, interfaceIndex: 7, sequence: 3), [
            52, 0, 0, 0, 20, 0, 0x05, 0x06, 3, 0, 0, 0, 0, 0, 0, 0,
            10, 64, 0x02, 0, 7, 0, 0, 0,                               // AF_INET6, /64, IFA_F_NODAD, universe, 7
            20, 0, 1, 0] + wire + [                                    // IFA_ADDRESS
            8, 0, 8, 0, 0x02, 0, 0, 0,                                 // IFA_FLAGS: IFA_F_NODAD
        ])
    }

    func testDeleteAddressRequestsNameTheExactPrefix() throws {
        let v4 = try XCTUnwrap(InterfaceAddress(interface: "vip0", "198.18.0.100/24"))
        XCTAssertEqual(RouteRequest.deleteAddress(v4, interfaceIndex: 7, sequence: 4), [
            40, 0, 0, 0, 21, 0, 0x05, 0x00, 4, 0, 0, 0, 0, 0, 0, 0,  // RTM_DELADDR, REQUEST|ACK
            2, 24, 0, 0, 7, 0, 0, 0,
            8, 0, 2, 0, 198, 18, 0, 100,
            8, 0, 1, 0, 198, 18, 0, 100,
        ])
        let v6 = try XCTUnwrap(InterfaceAddress(interface: "vip0", "fd00:198:18::100/64"))
        let request = RouteRequest.deleteAddress(v6, interfaceIndex: 7, sequence: 4)
        XCTAssertEqual(request.count, 44, "header, ifaddrmsg, IFA_ADDRESS; no flags on delete")
        XCTAssertEqual(Array(request[16..<24]), [10, 64, 0, 0, 7, 0, 0, 0])
    }

    func testLinkByNameRequestPadsTheName() {
        XCTAssertEqual(RouteRequest.link(named: "vip0", sequence: 1), [
            44, 0, 0, 0, 18, 0, 0x05, 0x00, 1, 0, 0, 0, 0, 0, 0, 0,  // RTM_GETLINK, REQUEST|ACK
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          // ifinfomsg: AF_UNSPEC, any
            9, 0, 3, 0, 0x76, 0x69, 0x70, 0x30, 0, 0, 0, 0,          // IFLA_IFNAME "vip0\0", padded to 12
        ])
    }

    func testDumpAddressesRequest() {
        XCTAssertEqual(RouteRequest.dumpAddresses(sequence: 2), [
            24, 0, 0, 0, 22, 0, 0x01, 0x03, 2, 0, 0, 0, 0, 0, 0, 0,  // RTM_GETADDR, REQUEST|DUMP
            0, 0, 0, 0, 0, 0, 0, 0,
        ])
    }

    // MARK: replies

    func testAcknowledgement() throws {
        let reply = message(type: 2, flags: 0x100, sequence: 5, payload: le32(0) + header(length: 40, type: 20, sequence: 5))
        let messages = try NetlinkReply.messages(in: reply[...])
        XCTAssertEqual(messages.count, 1)
        XCTAssertEqual(messages[0].sequence, 5)
        XCTAssertEqual(try NetlinkReply.acknowledgement(messages[0]), Acknowledgement(code: 0, kernelMessage: nil))
    }

    /// A capped refusal with the kernel's explanation (NLM_F_CAPPED | NLM_F_ACK_TLVS).
    func testRefusalWithExtendedAcknowledgement() throws {
        let text = Array("ipv6: IPv6 is disabled on this device".utf8) + [0]
        let payload = le32(UInt32(bitPattern: -EACCES)) + header(length: 52, type: 20, sequence: 9)
            + attribute(1, text)
        let reply = message(type: 2, flags: 0x300, sequence: 9, payload: payload)
        let ack = try NetlinkReply.acknowledgement(try NetlinkReply.messages(in: reply[...])[0])
        XCTAssertEqual(ack, Acknowledgement(code: EACCES, kernelMessage: "ipv6: IPv6 is disabled on this device"))
    }

    /// Uncapped (an old kernel, or NETLINK_CAP_ACK refused): the request is echoed whole before
    /// the attributes, and the parser skips it.
    func testRefusalEchoingTheRequest() throws {
        let request = RouteRequest.link(named: "eth9", sequence: 1)
        let payload = le32(UInt32(bitPattern: -ENODEV)) + request + attribute(1, Array("no such device\0".utf8))
        let reply = message(type: 2, flags: 0x200, sequence: 1, payload: payload)
        let ack = try NetlinkReply.acknowledgement(try NetlinkReply.messages(in: reply[...])[0])
        XCTAssertEqual(ack, Acknowledgement(code: ENODEV, kernelMessage: "no such device"))
    }

    func testPlainRefusal() throws {
        let reply = message(type: 2, flags: 0, sequence: 1, payload: le32(UInt32(bitPattern: -EPERM)) + header(length: 40, type: 20, sequence: 1))
        XCTAssertEqual(try NetlinkReply.acknowledgement(try NetlinkReply.messages(in: reply[...])[0]),
                       Acknowledgement(code: EPERM, kernelMessage: nil))
    }

    func testLinkReply() throws {
        let info: [UInt8] = [0, 0, 1, 0] + le32(7) + le32(0x1003) + le32(0)   // ARPHRD_ETHER, index 7, UP|BROADCAST|MULTICAST
        let payload = info + attribute(3, Array("vip0\0".utf8)) + attribute(1, [0x36, 0x70, 0x6B, 0x92, 0xF2, 0xB3])
            + attribute(2, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        let reply = message(type: 16, flags: 0, sequence: 1, payload: payload)
        let link = try NetlinkReply.link(try NetlinkReply.messages(in: reply[...])[0])
        XCTAssertEqual(link, LinkInfo(index: 7, linkLayer: .ethernet, mac: MACAddress("36:70:6b:92:f2:b3")))
    }

    func testLinkWithoutMAC() throws {
        let info: [UInt8] = [0, 0, 0xFE, 0xFF] + le32(9) + le32(0) + le32(0)  // ARPHRD_NONE (tun)
        let reply = message(type: 16, flags: 0, sequence: 1, payload: info + attribute(3, Array("tun0\0".utf8)))
        XCTAssertEqual(try NetlinkReply.link(try NetlinkReply.messages(in: reply[...])[0]),
                       LinkInfo(index: 9, linkLayer: .none, mac: nil))
    }

    func testAddressDumpMessages() throws {
        let v4 = message(type: 20, flags: 2, sequence: 2, payload: [2, 24, 0x80, 0] + le32(7)
                         + attribute(1, [198, 18, 0, 100]) + attribute(2, [198, 18, 0, 100]) + attribute(3, Array("vip0\0".utf8)))
        let v6Wire: [UInt8] = [0xFD, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0]
        let v6 = message(type: 20, flags: 2, sequence: 2, payload: [10, 64, 0x82, 0] + le32(7) + attribute(1, v6Wire))
        // A point-to-point IPv4 address: IFA_LOCAL is ours, IFA_ADDRESS the peer's.
        let peer = message(type: 20, flags: 2, sequence: 2, payload: [2, 32, 0, 0] + le32(8)
                           + attribute(1, [10, 0, 0, 2]) + attribute(2, [10, 0, 0, 1]))
        let done = message(type: 3, flags: 2, sequence: 2, payload: le32(0))
        let messages = try NetlinkReply.messages(in: (v4 + v6 + peer + done)[...])
        XCTAssertEqual(messages.map(\.type), [20, 20, 20, 3])
        XCTAssertEqual(try NetlinkReply.address(messages[0]), ListedAddress(interfaceIndex: 7, address: IPAddress("198.18.0.100")!, prefixLength: 24))
        XCTAssertEqual(try NetlinkReply.address(messages[1]), ListedAddress(interfaceIndex: 7, address: IPAddress("fd00:198:18::100")!, prefixLength: 64))
        XCTAssertEqual(try NetlinkReply.address(messages[2]), ListedAddress(interfaceIndex: 8, address: IPAddress("10.0.0.1")!, prefixLength: 32))
    }

    func testMalformedRepliesAreErrors() {
        let good = message(type: 2, flags: 0, sequence: 1, payload: le32(0) + header(length: 40, type: 20, sequence: 1))
        var tooLong = good
        tooLong[0] = 200
        XCTAssertThrowsError(try NetlinkReply.messages(in: tooLong[...]))
        var tooShort = good
        tooShort[0] = 8
        XCTAssertThrowsError(try NetlinkReply.messages(in: tooShort[...]))
        XCTAssertThrowsError(try NetlinkReply.messages(in: (good + [1, 2, 3])[...]), "stray bytes")
        let shortError = message(type: 2, flags: 0, sequence: 1, payload: le32(0))
        XCTAssertThrowsError(try NetlinkReply.acknowledgement(try NetlinkReply.messages(in: shortError[...])[0]))
        let badAttribute = message(type: 20, flags: 0, sequence: 1, payload: [2, 24, 0, 0] + le32(1) + [60, 0, 1, 0, 1, 2, 3, 4])
        XCTAssertThrowsError(try NetlinkReply.address(try NetlinkReply.messages(in: badAttribute[...])[0]))
        let wrongSize = message(type: 20, flags: 0, sequence: 1, payload: [2, 24, 0, 0] + le32(1) + attribute(1, [1, 2, 3]))
        XCTAssertThrowsError(try NetlinkReply.address(try NetlinkReply.messages(in: wrongSize[...])[0]))
        let noAddress = message(type: 20, flags: 0, sequence: 1, payload: [2, 24, 0, 0] + le32(1))
        XCTAssertThrowsError(try NetlinkReply.address(try NetlinkReply.messages(in: noAddress[...])[0]))
        let echoTooLong = message(type: 2, flags: 0x200, sequence: 1, payload: le32(UInt32(bitPattern: -EPERM)) + header(length: 400, type: 20, sequence: 1))
        XCTAssertThrowsError(try NetlinkReply.acknowledgement(try NetlinkReply.messages(in: echoTooLong[...])[0]))
    }

    /// Cut and flipped replies never crash the parser: each one parses or is a MalformedReply.
    func testDamagedRepliesNeverCrash() {
        let samples: [[UInt8]] = [
            message(type: 2, flags: 0x300, sequence: 9, payload: le32(UInt32(bitPattern: -EACCES)) + header(length: 52, type: 20, sequence: 9)
                    + attribute(1, Array("some words\0".utf8))),
            message(type: 16, flags: 0, sequence: 1, payload: [0, 0, 1, 0] + le32(7) + le32(0) + le32(0) + attribute(1, [1, 2, 3, 4, 5, 6])),
            message(type: 20, flags: 2, sequence: 2, payload: [10, 64, 0, 0] + le32(7) + attribute(1, Array(repeating: 1, count: 16))),
        ]
        var generator = SystemRandomNumberGenerator()
        for sample in samples {
            for cut in 0...sample.count { exercise(Array(sample[0..<cut])) }
            for _ in 0..<2000 {
                var damaged = sample
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    damaged[Int.random(in: 0..<damaged.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                exercise(damaged)
            }
        }
    }

    private func exercise(_ bytes: [UInt8]) {
        guard let messages = try? NetlinkReply.messages(in: bytes[...]) else { return }
        for message in messages {
            _ = try? NetlinkReply.acknowledgement(message)
            _ = try? NetlinkReply.link(message)
            _ = try? NetlinkReply.address(message)
        }
    }
}

// MARK: hand-built netlink bytes (little-endian)

func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

func header(length: UInt32, type: UInt16, flags: UInt16 = 5, sequence: UInt32) -> [UInt8] {
    le32(length) + le16(type) + le16(flags) + le32(sequence) + le32(0)
}

func message(type: UInt16, flags: UInt16, sequence: UInt32, payload: [UInt8]) -> [UInt8] {
    var bytes = header(length: UInt32(16 + payload.count), type: type, flags: flags, sequence: sequence) + payload
    while bytes.count % 4 != 0 { bytes.append(0) }
    return bytes
}

func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
    var bytes = le16(UInt16(4 + payload.count)) + le16(type) + payload
    while bytes.count % 4 != 0 { bytes.append(0) }
    return bytes
}
