import FulcrumNetlink
import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The fake the daemon's tests drive: it records calls in order, keeps addresses like the
/// kernel does (idempotent add and remove, unknown interfaces refused), and fails on request.
final class FakeVirtualAddressesTests: XCTestCase {
    let v4 = InterfaceAddress(interface: "eth0", "192.0.2.10/24")!
    let v6 = InterfaceAddress(interface: "eth0", "2001:db8::10/64")!

    func testRecordsCallsAndKeepsAddresses() throws {
        let fake = FakeVirtualAddresses(interfaces: ["eth0"])
        try fake.add(v4)
        try fake.add(v6)
        try fake.announce(v4)
        try fake.announce(v4)
        XCTAssertTrue(try fake.hasAddress(v4))
        XCTAssertEqual(try fake.addresses(on: "eth0"), [v4, v6])
        try fake.remove(v4)
        XCTAssertFalse(try fake.hasAddress(v4))
        XCTAssertEqual(fake.currentAddresses, [v6])
        XCTAssertEqual(fake.calls, [.add(v4), .add(v6), .announce(v4), .announce(v4), .list(interface: "eth0"),
                                    .list(interface: "eth0"), .remove(v4), .list(interface: "eth0")])
        XCTAssertEqual(fake.announcements(of: v4), 2)
        XCTAssertEqual(fake.announcements(of: v6), 0)
        fake.forgetCalls()
        XCTAssertEqual(fake.calls, [])
    }

    func testAddAndRemoveAreIdempotentLikeTheKernel() throws {
        let fake = FakeVirtualAddresses(addresses: [v4])
        try fake.add(v4)
        XCTAssertEqual(fake.currentAddresses, [v4], "added once")
        // IPv6 knows an address by itself: another prefix length is the same address.
        try fake.add(v6)
        try fake.add(InterfaceAddress(interface: "eth0", "2001:db8::10/128")!)
        XCTAssertEqual(fake.currentAddresses, [v4, v6])
        // IPv4 with another prefix length is a second address, as in the kernel.
        let v4Narrow = InterfaceAddress(interface: "eth0", "192.0.2.10/32")!
        try fake.add(v4Narrow)
        XCTAssertEqual(fake.currentAddresses, [v4, v6, v4Narrow])
        // Removal names the exact prefix; anything else is "not there", which is fine.
        try fake.remove(InterfaceAddress(interface: "eth0", "192.0.2.10/25")!)
        XCTAssertEqual(fake.currentAddresses, [v4, v6, v4Narrow])
        try fake.remove(v4Narrow)
        try fake.remove(v4Narrow)
        XCTAssertEqual(fake.currentAddresses, [v4, v6])
    }

    func testUnknownInterfaceIsRefused() {
        let fake = FakeVirtualAddresses(interfaces: ["eth0"])
        let elsewhere = InterfaceAddress(interface: "eth9", "192.0.2.10/24")!
        XCTAssertThrowsError(try fake.add(elsewhere)) { error in
            XCTAssertEqual("\(error)", "add 192.0.2.10/24 on eth9: no such interface")
        }
        XCTAssertThrowsError(try fake.addresses(on: "eth9")) { error in
            XCTAssertEqual((error as? NetlinkError)?.cause, .noSuchInterface)
        }
        XCTAssertEqual(fake.currentAddresses, [])
        XCTAssertEqual(fake.calls, [.add(elsewhere), .list(interface: "eth9")], "failed calls are recorded too")
    }

    func testInjectedFailuresUntilCleared() throws {
        let fake = FakeVirtualAddresses()
        let refusal = NetlinkError.Cause.refused(SystemError(code: EPERM, call: "RTM_NEWADDR"), kernelMessage: nil)
        fake.setFailure(refusal, for: .add)
        for _ in 0..<2 {
            XCTAssertThrowsError(try fake.add(v4)) { error in
                XCTAssertEqual(error as? NetlinkError, NetlinkError(.add, .address(self.v4), refusal))
            }
        }
        XCTAssertEqual(fake.currentAddresses, [], "a failed add changes nothing")
        try fake.announce(v4)
        fake.setFailure(nil, for: .add)
        try fake.add(v4)
        XCTAssertEqual(fake.currentAddresses, [v4])
    }

    func testInterfaceDisappearingTakesItsAddresses() throws {
        let fake = FakeVirtualAddresses(addresses: [v4, v6])
        fake.setInterface("eth0", present: false)
        XCTAssertEqual(fake.currentAddresses, [])
        XCTAssertThrowsError(try fake.remove(v4))
        fake.setInterface("eth0", present: true)
        try fake.remove(v4)
    }

    /// Any thread may call it: the HA thread and a test's checking thread at once.
    func testConcurrentCallers() throws {
        let fake = FakeVirtualAddresses()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let vip = InterfaceAddress(interface: "eth0", "192.0.2.\(i)/24")!
            for _ in 0..<100 {
                try? fake.add(vip)
                try? fake.announce(vip)
                try? fake.remove(vip)
            }
        }
        XCTAssertEqual(fake.calls.count, 8 * 300)
        XCTAssertEqual(fake.currentAddresses, [])
    }
}
