import FulcrumAddress
import FulcrumNetlink
import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The room's anycast calls on a real kernel, in namespace A of a TwoNodeLink: the interface
/// made (dummy, or a port-less bridge where the kernel has no dummy driver) and set up, and
/// local routes that keep a VIP deliverable after it leaves the interface. Root only.
final class AnycastRoomTests: XCTestCase {
    private var link: TwoNodeLink!
    private let room = LinuxVirtualAddresses()

    override func setUpWithError() throws {
        try requireRoot("anycast interface and local routes in network namespaces")
        link = try TwoNodeLink()
    }

    override func tearDown() {
        link?.remove()
        link = nil
    }

    func testEnsureInterfaceCreatesItUpAndThenFindsIt() throws {
        let room = self.room
        let origin = try link.a.onThread { try room.ensureInterface("fulcrum0") }
        XCTAssertTrue(origin == .dummy || origin == .bridge, "\(origin)")
        let shown = try link.a.run("-d", "-o", "link", "show", "dev", "fulcrum0")
        XCTAssertTrue(shown.contains(origin == .dummy ? " dummy " : " bridge "), shown)
        XCTAssertTrue(shown.contains(",UP"), "set up: \(shown)")
        XCTAssertEqual(try link.a.onThread { try room.ensureInterface("fulcrum0") }, .existing)

        // An existing interface that is down is set up, and left otherwise as it was.
        try link.a.run("link", "set", "fulcrum0", "down")
        XCTAssertEqual(try link.a.onThread { try room.ensureInterface("fulcrum0") }, .existing)
        XCTAssertTrue(try link.a.run("-o", "link", "show", "dev", "fulcrum0").contains(",UP"))

        XCTAssertThrowsError(try link.a.onThread { try room.ensureInterface("bad/name") }) { error in
            XCTAssertEqual("\(error)", "create interface bad/name: not a valid interface name (1 to 15 characters without '/', ':' or spaces)")
        }
    }

    /// Taken off the interface, a VIP still reaches a socket bound to it, as long as the local
    /// route is there; without it, nothing on this host owns the address any more.
    func testALocalRouteKeepsAWithdrawnVIPDeliverable() throws {
        let room = self.room
        let vip = IPAddress("198.18.9.10")!
        let onInterface = InterfaceAddress(interface: "fulcrum0", address: vip, prefixLength: 32)!
        try link.a.onThread {
            _ = try room.ensureInterface("fulcrum0")
            try room.addLocalRoute(vip)
            try room.addLocalRoute(vip)  // idempotent
            try room.add(onInterface)
            try room.remove(onInterface)
        }
        let routes = try link.a.run("route", "show", "table", "local", "198.18.9.10")
        XCTAssertTrue(routes.contains("local 198.18.9.10 dev lo proto static scope host metric 1024"), routes)
        XCTAssertFalse(routes.contains("fulcrum0"), routes)
        XCTAssertTrue(try link.a.onThread { try Self.connects(to: "198.18.9.10") }, "delivered through the local route")

        try link.a.onThread {
            try room.removeLocalRoute(vip)
            try room.removeLocalRoute(vip)  // idempotent
        }
        XCTAssertEqual(try link.a.run("route", "show", "table", "local", "198.18.9.10"), "")
        XCTAssertFalse(try link.a.onThread { try Self.connects(to: "198.18.9.10") }, "no route, no delivery")

        let v6 = IPAddress("fd00:198:9::10")!
        try link.a.onThread { try room.addLocalRoute(v6) }
        XCTAssertTrue(try link.a.run("-6", "route", "show", "table", "local", "fd00:198:9::10").contains("dev lo"))
        try link.a.onThread { try room.removeLocalRoute(v6) }
        XCTAssertEqual(try link.a.run("-6", "route", "show", "table", "local", "fd00:198:9::10"), "")
    }

    /// An address with a lifetime: refreshing renews it (no second address, no error); left
    /// alone it is removed by the kernel, which is what takes a dead fulcrumd's VIPs away.
    func testAnAddressNotRefreshedExpires() throws {
        let room = self.room
        let vip = InterfaceAddress(interface: "fulcrum0", address: IPAddress("198.18.9.11")!, prefixLength: 32)!
        try link.a.onThread {
            _ = try room.ensureInterface("fulcrum0")
            try room.addOrRefresh(vip, lifetimeSeconds: 30)
            try room.addOrRefresh(vip, lifetimeSeconds: 2)
        }
        let shown = try link.a.run("-o", "addr", "show", "dev", "fulcrum0")
        XCTAssertEqual(shown.split(separator: "\n").filter { $0.contains("198.18.9.11/32") }.count, 1, shown)
        XCTAssertTrue(shown.contains("valid_lft 2sec") || shown.contains("valid_lft 1sec"), "the later refresh's lifetime: \(shown)")
        let start = Date()
        var gone = false
        while Date().timeIntervalSince(start) < 6 {
            if !(try link.a.run("-o", "addr", "show", "dev", "fulcrum0").contains("198.18.9.11")) { gone = true; break }
            usleep(50_000)
        }
        let seconds = Date().timeIntervalSince(start)
        print("anycast address with a 2 s lifetime removed by the kernel after \(String(format: "%.2f", seconds)) s")
        XCTAssertTrue(gone, "still there after 6 s")
        XCTAssertGreaterThan(seconds, 1.0, "not before its lifetime")
    }

    /// A listener bound to the address and a connect to it on loopback; false when the bind
    /// itself is refused (EADDRNOTAVAIL: the address is nobody's here).
    private static func connects(to address: String) throws -> Bool {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = UInt16(9999).bigEndian
        inet_pton(AF_INET, address, &sin.sin_addr)
        let bound = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return false }
        guard listen(listener, 1) == 0 else { throw TestFailure("listen: \(errno)") }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        let connected = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return connected == 0
    }
}
