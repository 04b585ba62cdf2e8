import FulcrumAddress
import FulcrumNetlink
import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The real room in the test's own network namespace, doing only what changes nothing: lookups,
/// and refusals that come before any change.
final class LinuxVirtualAddressesTests: XCTestCase {
    let room = LinuxVirtualAddresses()

    func testMissingInterfaceIsAClearError() {
        let vip = InterfaceAddress(interface: "fulcrum-nx9", "198.18.0.100/24")!
        XCTAssertThrowsError(try room.add(vip)) { error in
            XCTAssertEqual("\(error)", "add 198.18.0.100/24 on fulcrum-nx9: no such interface")
        }
        XCTAssertThrowsError(try room.remove(vip)) { error in
            XCTAssertEqual("\(error)", "remove 198.18.0.100/24 on fulcrum-nx9: no such interface")
        }
        XCTAssertThrowsError(try room.announce(vip)) { error in
            XCTAssertEqual("\(error)", "announce 198.18.0.100 on fulcrum-nx9: no such interface")
        }
        XCTAssertThrowsError(try room.addresses(on: "fulcrum-nx9")) { error in
            XCTAssertEqual("\(error)", "list addresses on fulcrum-nx9: no such interface")
        }
        XCTAssertThrowsError(try room.addresses(on: "no/such")) { error in
            XCTAssertEqual((error as? NetlinkError)?.cause, .noSuchInterface, "an impossible name is not asked about")
        }
    }

    func testListsLoopbackAddresses() throws {
        let addresses = try room.addresses(on: "lo")
        XCTAssertTrue(addresses.contains(InterfaceAddress(interface: "lo", "127.0.0.1/8")!), "\(addresses)")
        XCTAssertTrue(try room.hasAddress(InterfaceAddress(interface: "lo", "127.0.0.1/8")!))
        XCTAssertFalse(try room.hasAddress(InterfaceAddress(interface: "lo", "127.0.0.1/16")!), "the prefix length counts")
        XCTAssertFalse(try room.hasAddress(InterfaceAddress(interface: "lo", "127.0.0.2/8")!))
        XCTAssertTrue(addresses.allSatisfy { $0.interface == "lo" })
    }

    func testAnnouncingOnLoopbackIsRefusedBeforeSending() {
        XCTAssertThrowsError(try room.announce(InterfaceAddress(interface: "lo", "127.0.0.1/8")!)) { error in
            XCTAssertEqual((error as? NetlinkError)?.cause, .notEthernet(.loopback), "\(error)")
        }
    }

    /// Only meaningful without CAP_NET_ADMIN: the kernel's EPERM comes back named.
    func testUnprivilegedChangeIsRefusedWithEPERM() throws {
        guard geteuid() != 0 else { throw XCTSkip("root may change addresses; the namespace tests cover it") }
        let vip = InterfaceAddress(interface: "lo", "127.0.0.99/8")!
        XCTAssertThrowsError(try room.add(vip)) { error in
            XCTAssertEqual("\(error)", "add 127.0.0.99/8 on lo: RTM_NEWADDR: EPERM (Operation not permitted); needs CAP_NET_ADMIN")
        }
    }
}
