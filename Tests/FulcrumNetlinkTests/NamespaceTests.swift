import FulcrumAddress
import FulcrumNetlink
import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The real room changing a real interface: in namespace A it adds, announces and removes VIPs;
/// namespace B, the neighbour, sees the frames and its neighbour table follow. Root only.
final class NamespaceTests: XCTestCase {
    private var link: TwoNodeLink!
    private let room = LinuxVirtualAddresses()
    private let v4 = InterfaceAddress(interface: TwoNodeLink.aInterface, "198.18.0.100/24")!
    private let v6 = InterfaceAddress(interface: TwoNodeLink.aInterface, "fd00:198:18::100/64")!

    override func setUpWithError() throws {
        try requireRoot("VIP changes in network namespaces")
        link = try TwoNodeLink()
    }

    override func tearDown() {
        // Removing the namespaces destroys the veth pair and every address with it.
        link?.remove()
        link = nil
    }

    /// `ip -o addr show dev vip0` in A, one line per address.
    private func addressLines() throws -> [Substring] {
        try link.a.run("-o", "addr", "show", "dev", TwoNodeLink.aInterface).split(separator: "\n")
    }

    private func lines(_ lines: [Substring], containing text: String) -> [Substring] {
        lines.filter { $0.contains(text) }
    }

    func testAddListsBothVIPsAndRemoveTakesThemAway() throws {
        let room = self.room, v4 = self.v4, v6 = self.v6
        try link.a.onThread {
            try room.add(v4)
            try room.add(v6)
        }
        var shown = try addressLines()
        XCTAssertEqual(lines(shown, containing: "inet 198.18.0.100/24 ").count, 1, "\(shown)")
        XCTAssertEqual(lines(shown, containing: "inet6 fd00:198:18::100/64 ").count, 1, "\(shown)")
        XCTAssertFalse(lines(shown, containing: "fd00:198:18::100/64").contains { $0.contains("tentative") },
                       "IFA_F_NODAD: usable at once, not tentative: \(shown)")
        XCTAssertTrue(lines(shown, containing: "198.18.0.100/24").contains { $0.contains("secondary") },
                      "in the primary's subnet the VIP is a secondary: \(shown)")
        XCTAssertTrue(try link.a.onThread { try room.hasAddress(v4) && room.hasAddress(v6) })
        let listed = try link.a.onThread { try room.addresses(on: TwoNodeLink.aInterface) }
        XCTAssertTrue(listed.contains(v4) && listed.contains(v6) && listed.contains(InterfaceAddress(interface: "vip0", "198.18.0.1/24")!),
                      "\(listed)")
        XCTAssertTrue(listed.contains { $0.address.description.hasPrefix("fe80::") && $0.prefixLength == 64 },
                      "the IPv6 link-local is listed too (VRRP sends IPv6 adverts from it): \(listed)")

        // Adding again is not an error and adds nothing.
        try link.a.onThread {
            try room.add(v4)
            try room.add(v6)
        }
        shown = try addressLines()
        XCTAssertEqual(lines(shown, containing: "198.18.0.100/").count, 1, "\(shown)")
        XCTAssertEqual(lines(shown, containing: "fd00:198:18::100/").count, 1, "\(shown)")

        // Removing names the exact prefix: another prefix length is "not there", not an error.
        try link.a.onThread { try room.remove(InterfaceAddress(interface: TwoNodeLink.aInterface, "198.18.0.100/25")!) }
        XCTAssertEqual(lines(try addressLines(), containing: "inet 198.18.0.100/24 ").count, 1)

        try link.a.onThread {
            try room.remove(v4)
            try room.remove(v6)
        }
        shown = try addressLines()
        XCTAssertEqual(lines(shown, containing: "198.18.0.100").count, 0, "\(shown)")
        XCTAssertEqual(lines(shown, containing: "fd00:198:18::100").count, 0, "\(shown)")
        XCTAssertEqual(lines(shown, containing: "inet 198.18.0.1/24 ").count, 1, "the primary stays: \(shown)")
        XCTAssertFalse(try link.a.onThread { try room.hasAddress(v4) || room.hasAddress(v6) })

        // Removing again is not an error.
        try link.a.onThread {
            try room.remove(v4)
            try room.remove(v6)
        }
    }

    /// A datagram from B reaches each VIP right after the add: A answers ARP and neighbour
    /// solicitations for it (no duplicate address detection delay for IPv6), and B's
    /// neighbour entry for the VIP is A's MAC.
    func testVIPsAreReachableFromTheNeighbourAtOnce() throws {
        let room = self.room, v4 = self.v4, v6 = self.v6
        for vip in [v4, v6] {
            let endpoint = Endpoint(address: vip.address, port: 9999)
            let receiver = try link.a.onThread { () throws -> Int32 in
                try room.add(vip)
                return try Datagram.makeListener(endpoint)
            }
            defer { close(receiver) }
            let sender = try link.b.onThread { try Datagram.connectedSocket(to: SocketAddress(endpoint)) }
            defer { close(sender) }
            let payload = Array("hello \(vip.address)".utf8)
            XCTAssertEqual(payload.withUnsafeBytes { send(sender, $0.baseAddress, $0.count, 0) }, payload.count)
            var poller = pollfd(fd: receiver, events: Int16(POLLIN), revents: 0)
            XCTAssertEqual(poll(&poller, 1, 3000), 1, "a datagram to \(vip.address) arrives within 3 s")
            var buffer = [UInt8](repeating: 0, count: 256)
            let count = recv(receiver, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            XCTAssertEqual(count > 0 ? Array(buffer[0..<count]) : [], payload)
            let neighbour = try link.b.run("neigh", "show", "\(vip.address)", "dev", TwoNodeLink.bInterface)
            XCTAssertTrue(neighbour.contains("lladdr \(TwoNodeLink.aMAC)"), "B's entry for \(vip.address): \(neighbour)")
        }
    }

    /// B caches a wrong MAC for the VIP (an old master's); A's gratuitous ARP arrives as
    /// keepalived's frame exactly, and B's entry follows it to A's MAC.
    func testGratuitousARPReachesTheNeighbourAndMovesItsEntry() throws {
        let room = self.room, v4 = self.v4
        try link.a.onThread { try room.add(v4) }
        try link.b.run("neigh", "replace", "198.18.0.100", "lladdr", "02:00:00:00:00:01", "dev", TwoNodeLink.bInterface, "nud", "stale")
        XCTAssertTrue(try link.b.run("neigh", "show", "198.18.0.100", "dev", TwoNodeLink.bInterface).contains("lladdr 02:00:00:00:00:01"),
                      "adding the VIP alone told B nothing")
        let capture = try FrameCapture(in: link.b, interface: TwoNodeLink.bInterface)
        try link.a.onThread { try room.announce(v4) }
        let frame = capture.next(timeout: 3) { $0.count >= 14 && $0[12] == 0x08 && $0[13] == 0x06 }
        XCTAssertEqual(frame.map(hex), try fixture("keepalived-gratuitous-arp"), "B received the gratuitous ARP as sent")
        let moved = try eventually(timeout: 3) {
            try link.b.run("neigh", "show", "198.18.0.100", "dev", TwoNodeLink.bInterface).contains("lladdr \(TwoNodeLink.aMAC)")
        }
        XCTAssertTrue(moved, "B's entry moved to A: \((try? link.b.run("neigh", "show", "dev", TwoNodeLink.bInterface)) ?? "?")")
    }

    /// The same for IPv6: the unsolicited NA (Override set) replaces B's cached MAC.
    func testUnsolicitedNeighborAdvertisementReachesTheNeighbourAndMovesItsEntry() throws {
        let room = self.room, v6 = self.v6
        try link.a.onThread { try room.add(v6) }
        try link.b.run("neigh", "replace", "fd00:198:18::100", "lladdr", "02:00:00:00:00:01", "dev", TwoNodeLink.bInterface, "nud", "stale")
        XCTAssertTrue(try link.b.run("neigh", "show", "fd00:198:18::100", "dev", TwoNodeLink.bInterface).contains("lladdr 02:00:00:00:00:01"),
                      "adding the VIP alone told B nothing")
        let capture = try FrameCapture(in: link.b, interface: TwoNodeLink.bInterface)
        try link.a.onThread { try room.announce(v6) }
        // A's own multicast listener reports and router solicitations come by too; take the NA.
        let frame = capture.next(timeout: 3) { $0.count >= 55 && $0[12] == 0x86 && $0[13] == 0xDD && $0[20] == 58 && $0[54] == 136 }
        XCTAssertEqual(frame.map(hex), try fixture("keepalived-unsolicited-na"), "B received the advertisement as sent")
        let moved = try eventually(timeout: 3) {
            try link.b.run("neigh", "show", "fd00:198:18::100", "dev", TwoNodeLink.bInterface).contains("lladdr \(TwoNodeLink.aMAC)")
        }
        XCTAssertTrue(moved, "B's entry moved to A: \((try? link.b.run("-6", "neigh", "show", "dev", TwoNodeLink.bInterface)) ?? "?")")
    }

    func testMissingInterfaceInTheNamespace() throws {
        let room = self.room
        let vip = InterfaceAddress(interface: "eth9", "198.18.0.100/24")!
        for (operation, expected) in [("add", "add 198.18.0.100/24 on eth9: no such interface"),
                                      ("remove", "remove 198.18.0.100/24 on eth9: no such interface"),
                                      ("announce", "announce 198.18.0.100 on eth9: no such interface")] {
            let error = try link.a.onThread { () -> NetlinkError? in
                do {
                    switch operation {
                    case "add": try room.add(vip)
                    case "remove": try room.remove(vip)
                    default: try room.announce(vip)
                    }
                    return nil
                } catch {
                    return error as? NetlinkError
                }
            }
            XCTAssertEqual(error?.description, expected)
        }
    }

    /// A refusal carries the kernel's errno under the request's name and its own explanation.
    func testKernelRefusalCarriesTheKernelsReason() throws {
        let room = self.room, v6 = self.v6
        try link.a.shell("echo 1 > /proc/sys/net/ipv6/conf/\(TwoNodeLink.aInterface)/disable_ipv6")
        let error = try link.a.onThread { () -> NetlinkError? in
            do { try room.add(v6); return nil } catch { return error as? NetlinkError }
        }
        guard case let .refused(systemError, kernelMessage)? = error?.cause else {
            return XCTFail("expected a refusal, got \(String(describing: error))")
        }
        XCTAssertEqual(systemError, SystemError(code: EACCES, call: "RTM_NEWADDR"))
        XCTAssertTrue(kernelMessage?.contains("IPv6 is disabled") == true, "\(String(describing: kernelMessage))")
        XCTAssertTrue(error!.description.hasPrefix("add fd00:198:18::100/64 on vip0: RTM_NEWADDR: EACCES (Permission denied): "),
                      error!.description)
    }

    /// Announcing on an interface that is down fails with the send's errno, named.
    func testAnnouncingOnADownInterfaceIsAnError() throws {
        let room = self.room, v4 = self.v4
        try link.a.run("link", "set", TwoNodeLink.aInterface, "down")
        let error = try link.a.onThread { () -> NetlinkError? in
            do { try room.announce(v4); return nil } catch { return error as? NetlinkError }
        }
        XCTAssertEqual(error?.description, "announce 198.18.0.100 on vip0: sendto(AF_PACKET): ENETDOWN (Network is down)")
    }
}
