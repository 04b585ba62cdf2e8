import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The lookups and the capability reading the privilege drop relies on; the drop itself is
/// exercised by the root integration tests (it cannot be undone inside a test process).
final class AccountsAndCapabilitiesTests: XCTestCase {
    func testRootAndAMissingUser() throws {
        let root = try XCTUnwrap(try Accounts.user(named: "root"))
        XCTAssertEqual(root.uid, 0)
        XCTAssertEqual(root.gid, 0)
        XCTAssertNil(try Accounts.user(named: "fulcrum-no-such-user"))
        XCTAssertEqual(try Accounts.group(named: "root"), 0)
        XCTAssertNil(try Accounts.group(named: "fulcrum-no-such-group"))
    }

    func testNamesOfIdsFallBackToNumbers() {
        XCTAssertEqual(Accounts.userName(0), "root")
        XCTAssertEqual(Accounts.groupName(0), "root")
        XCTAssertEqual(Accounts.userName(4_000_000_123), "4000000123")
    }

    func testGroupsIncludeThePrimary() throws {
        XCTAssertTrue(try Accounts.groups(of: "root", primary: 0).contains(0))
        // The primary given is included even when the user is not a member of it.
        XCTAssertTrue(try Accounts.groups(of: "root", primary: 4_000_000_123).contains(4_000_000_123))
    }

    func testCapabilityNames() {
        XCTAssertEqual(CapabilitySets.names(0), "none")
        XCTAssertEqual(CapabilitySets.names(1 << 10), "cap_net_bind_service")
        XCTAssertEqual(CapabilitySets.names(1 << 10 | 1 << 12 | 1 << 13), "cap_net_bind_service,cap_net_admin,cap_net_raw")
        XCTAssertEqual(CapabilitySets.names(CapabilitySets.all), "all")
    }

    func testCurrentSetsAreConsistent() throws {
        let sets = try CapabilitySets.current()
        // Effective is always within permitted, and the ambient set within permitted too.
        XCTAssertEqual(sets.effective & ~sets.permitted, 0)
        XCTAssertEqual(sets.ambient & ~sets.permitted, 0)
        if geteuid() == 0 {
            XCTAssertEqual(sets.effective, sets.bounding, "root's effective set is its bounding set")
        }
    }
}
