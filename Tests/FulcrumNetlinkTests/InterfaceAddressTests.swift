import FulcrumAddress
import FulcrumNetlink
import XCTest

final class InterfaceAddressTests: XCTestCase {
    func testParsesAddressWithPrefix() throws {
        let v4 = try XCTUnwrap(InterfaceAddress(interface: "eth0", "192.0.2.10/24"))
        XCTAssertEqual(v4.address, IPAddress("192.0.2.10"))
        XCTAssertEqual(v4.prefixLength, 24)
        XCTAssertEqual(v4.description, "192.0.2.10/24 on eth0")
        XCTAssertEqual(v4.addressWithPrefix, "192.0.2.10/24")
        let v6 = try XCTUnwrap(InterfaceAddress(interface: "bond0.42", "2001:db8::10/64"))
        XCTAssertEqual(v6.description, "2001:db8::10/64 on bond0.42")
    }

    func testBareAddressIsAHostPrefix() {
        XCTAssertEqual(InterfaceAddress(interface: "eth0", "192.0.2.10")?.prefixLength, 32)
        XCTAssertEqual(InterfaceAddress(interface: "eth0", "2001:db8::10")?.prefixLength, 128)
    }

    func testRefusesWhatCannotBeAnInterfaceAddress() {
        for bad in ["192.0.2.10/33", "2001:db8::10/129", "192.0.2.10/", "192.0.2.10/-1", "192.0.2.10/+8",
                    "192.0.2.10/24/1", "192.0.2.300/24", "eth0", "", "/24", "192.0.2.10/0024"] {
            XCTAssertNil(InterfaceAddress(interface: "eth0", bad), bad)
        }
        XCTAssertNil(InterfaceAddress(interface: "eth0", address: .v4(1), prefixLength: -1))
        XCTAssertNotNil(InterfaceAddress(interface: "eth0", address: .v4(1), prefixLength: 0))
    }

    func testInterfaceNamesFollowTheKernelsRule() {
        for good in ["eth0", "enp3s0f1", "bond0.42", "br-lan", "a", "fifteen-bytes15", "vlan@x"] {
            XCTAssertTrue(InterfaceAddress.isValidInterfaceName(good), good)
        }
        for bad in ["", ".", "..", "sixteen-bytes-16", "eth0:1", "a/b", "a b", "a\tb", "a\nb", "a\0b"] {
            XCTAssertFalse(InterfaceAddress.isValidInterfaceName(bad), bad.debugDescription)
            XCTAssertNil(InterfaceAddress(interface: bad, "192.0.2.10/24"), bad.debugDescription)
        }
    }
}
