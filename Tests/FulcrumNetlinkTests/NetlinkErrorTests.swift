import FulcrumNetlink
import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Every error names the operation, the address, the interface and the cause, in one line an
/// operator can act on.
final class NetlinkErrorTests: XCTestCase {
    let v4 = InterfaceAddress(interface: "eth0", "192.0.2.10/24")!
    let v6 = InterfaceAddress(interface: "eth9", "2001:db8::10/64")!

    func testDescriptions() {
        XCTAssertEqual(NetlinkError(.add, .address(v4), .refused(SystemError(code: EPERM, call: "RTM_NEWADDR"), kernelMessage: nil)).description,
                       "add 192.0.2.10/24 on eth0: RTM_NEWADDR: EPERM (Operation not permitted); needs CAP_NET_ADMIN")
        XCTAssertEqual(NetlinkError(.add, .address(v6), .noSuchInterface).description,
                       "add 2001:db8::10/64 on eth9: no such interface")
        XCTAssertEqual(NetlinkError(.remove, .address(v6), .refused(SystemError(code: EACCES, call: "RTM_DELADDR"),
                                                                     kernelMessage: "ipv6: IPv6 is disabled on this device")).description,
                       "remove 2001:db8::10/64 on eth9: RTM_DELADDR: EACCES (Permission denied): ipv6: IPv6 is disabled on this device")
        XCTAssertEqual(NetlinkError(.announce, .address(v4), .systemCall(SystemError(code: ENETDOWN, call: "sendto(AF_PACKET)"))).description,
                       "announce 192.0.2.10 on eth0: sendto(AF_PACKET): ENETDOWN (Network is down)")
        XCTAssertEqual(NetlinkError(.announce, .address(v4), .systemCall(SystemError(code: EPERM, call: "socket(AF_PACKET)"))).description,
                       "announce 192.0.2.10 on eth0: socket(AF_PACKET): EPERM (Operation not permitted); needs CAP_NET_RAW")
        XCTAssertEqual(NetlinkError(.list, .interface("eth0"), .systemCall(SystemError(code: EPERM, call: "socket(AF_NETLINK)"))).description,
                       "list addresses on eth0: socket(AF_NETLINK): EPERM (Operation not permitted)")
        XCTAssertEqual(NetlinkError(.announce, .address(v4), .notEthernet(.loopback)).description,
                       "announce 192.0.2.10 on eth0: not an Ethernet interface (loopback): nothing to announce with ARP or NDP")
        XCTAssertEqual(NetlinkError(.announce, .address(v4), .notEthernet(.other(768))).description,
                       "announce 192.0.2.10 on eth0: not an Ethernet interface (link type 768): nothing to announce with ARP or NDP")
        XCTAssertEqual(NetlinkError(.list, .interface("eth9"), .noSuchInterface).description,
                       "list addresses on eth9: no such interface")
        XCTAssertEqual(NetlinkError(.list, .interface("eth0"), .noReply).description,
                       "list addresses on eth0: no rtnetlink reply from the kernel")
        XCTAssertEqual(NetlinkError(.add, .address(v4), .malformedReply("stray bytes")).description,
                       "add 192.0.2.10/24 on eth0: malformed rtnetlink reply: stray bytes")
    }

    func testInterfaceOfEitherSubject() {
        XCTAssertEqual(NetlinkError(.add, .address(v6), .noSuchInterface).interface, "eth9")
        XCTAssertEqual(NetlinkError(.list, .interface("br0"), .noSuchInterface).interface, "br0")
    }
}
