import FulcrumConfig
import XCTest

private func plan(_ text: String) throws -> PrivilegePlan {
    PrivilegePlan(config: try ConfigLoader.load(sources: [(name: "fulcrum.toml", text: text)], onlineCPUs: 1).config)
}

private let listener = "[listener.web]\nprotocol_port = 8080\ndefault_pool = \"web\"\n"
private let ha = "[ha]\ninterface = \"eth0\"\nvirtual_router_id = 7\nvirtual_ips = [\"192.0.2.10/24\"]\n"

/// Which capabilities fulcrumd keeps after dropping root, per configuration: the masks are
/// the bits /proc/PID/status shows (NET_BIND_SERVICE 10, NET_ADMIN 12, NET_RAW 13).
final class PrivilegePlanTests: XCTestCase {
    func testPlainTCPKeepsOnlyBindService() throws {
        let p = try plan(webPool + listener)
        XCTAssertEqual(p.capabilities, [.netBindService])
        XCTAssertEqual(p.mask, 0x400)
    }

    func testNoListenersStillKeepsBindServiceForAReloadThatAddsOne() throws {
        let p = try plan("")
        XCTAssertEqual(p.capabilities, [.netBindService])
        XCTAssertEqual(p.mask, 0x400)
    }

    func testUDPListenersNeedNoNetAdmin() throws {
        // SO_RCVBUFFORCE falls back to SO_RCVBUF: not worth CAP_NET_ADMIN.
        let p = try plan(webPool + "[listener.dns]\nprotocol = \"UDP\"\nprotocol_port = 5353\ndefault_pool = \"web\"\n"
                         + "[pool.web]\nprotocol = \"UDP\"\n")
        XCTAssertEqual(p.mask, 0x400)
    }

    func testPingMonitorAddsNetRaw() throws {
        let p = try plan(webPool + listener + "[pool.web.healthmonitor]\ntype = \"PING\"\ndelay = 1\ntimeout = 0.5\n")
        XCTAssertEqual(p.capabilities, [.netBindService, .netRaw])
        XCTAssertEqual(p.mask, 0x2400)
        XCTAssertEqual(p.needs[.netRaw], ["PING health monitor (pool web)"])
    }

    func testOtherMonitorsAddNothing() throws {
        let p = try plan(webPool + listener + "[pool.web.healthmonitor]\ntype = \"TCP\"\ndelay = 1\ntimeout = 0.5\n")
        XCTAssertEqual(p.mask, 0x400)
    }

    func testHAAddsNetAdminAndNetRaw() throws {
        let p = try plan(webPool + listener + ha)
        XCTAssertEqual(p.capabilities, [.netBindService, .netAdmin, .netRaw])
        XCTAssertEqual(p.mask, 0x3400)
        XCTAssertEqual(p.needs[.netAdmin], ["[ha] virtual IPs via rtnetlink"])
    }

    func testHAAndPingNameBothReasons() throws {
        let p = try plan(webPool + listener + "[pool.web.healthmonitor]\ntype = \"PING\"\ndelay = 1\ntimeout = 0.5\n" + ha)
        XCTAssertEqual(p.mask, 0x3400)
        XCTAssertEqual(p.needs[.netRaw], ["PING health monitor (pool web)", "[ha] VRRP adverts and gratuitous ARP/NDP"])
    }

    func testCapabilityNamesAreTheKernels() {
        XCTAssertEqual(Capability.allCases.map(\.description), ["CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW"])
        XCTAssertEqual(Capability.allCases.map(\.rawValue), [10, 12, 13])
    }
}
