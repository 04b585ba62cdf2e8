import FulcrumAddress
import XCTest

final class AddressTests: XCTestCase {
    func testParsesAndPrintsIPv4AndIPv6() {
        XCTAssertEqual(IPAddress("192.0.2.1"), .v4(0xC000_0201))
        XCTAssertEqual(IPAddress("192.0.2.1")?.description, "192.0.2.1")
        XCTAssertEqual(IPAddress("::1"), .v6(0, 1))
        XCTAssertEqual(IPAddress("fd00::1:2")?.description, "fd00::1:2")
        XCTAssertEqual(Endpoint(address: IPAddress("::1")!, port: 80).description, "[::1]:80")
        XCTAssertEqual(Endpoint(address: IPAddress("10.0.0.1")!, port: 8080).description, "10.0.0.1:8080")
    }

    func testRejectsMalformedAddresses() {
        for bad in ["", "1.2.3", "256.1.1.1", "1.2.3.4.5", "::g", "[::1]", "localhost", "10.0.0.1/8", " 1.2.3.4"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testCIDRContainment() {
        let net = CIDR("10.1.0.0/16")!
        XCTAssertTrue(net.contains(IPAddress("10.1.255.7")!))
        XCTAssertFalse(net.contains(IPAddress("10.2.0.1")!))
        XCTAssertFalse(net.contains(IPAddress("::1")!), "an IPv4 prefix never matches a native IPv6 peer")
        XCTAssertTrue(net.contains(IPAddress("::ffff:10.1.2.3")!), "IPv4-mapped peers match IPv4 prefixes")
        XCTAssertTrue(CIDR("0.0.0.0/0")!.contains(IPAddress("203.0.113.9")!))
        XCTAssertTrue(CIDR("::/0")!.contains(IPAddress("2001:db8::1")!))
        let v6 = CIDR("2001:db8:aa00::/40")!
        XCTAssertTrue(v6.contains(IPAddress("2001:db8:aaff::1")!))
        XCTAssertFalse(v6.contains(IPAddress("2001:db8:ab00::1")!))
        XCTAssertTrue(CIDR("fd00::1/128")!.contains(IPAddress("fd00::1")!))
        XCTAssertTrue(CIDR("127.0.0.2")!.contains(IPAddress("127.0.0.2")!), "a bare address is a host prefix")
        XCTAssertFalse(CIDR("127.0.0.2")!.contains(IPAddress("127.0.0.3")!))
    }

    func testRejectsMalformedCIDRs() {
        for bad in ["10.0.0.0/33", "10.0.0.1/8", "10.0.0.0/", "10.0.0.0/-1", "/8", "fd00::/129", "fd00::1/64",
                    "10.0.0.0/8/8", "10.0.0.0/+8", "x/8"] {
            XCTAssertNil(CIDR(bad), bad)
        }
    }
}
