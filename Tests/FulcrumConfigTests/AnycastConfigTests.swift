import FulcrumAddress
import FulcrumConfig
import XCTest

/// A pool (lines 1-3) and a listener on 192.0.2.10 (lines 4-7), then [anycast] on line 8 and
/// `lines` from line 9.
private func withAnycast(_ lines: String) -> String {
    webPool + "[listener.web]\naddress = \"192.0.2.10\"\nprotocol_port = 80\ndefault_pool = \"web\"\n[anycast]\n" + lines + "\n"
}

final class AnycastConfigTests: XCTestCase {
    func testDefaults() throws {
        let loaded = try loadText(withAnycast("virtual_ips = [\"192.0.2.10\"]"))
        let anycast = try XCTUnwrap(loaded.config.anycast)
        XCTAssertEqual(anycast, AnycastSettings(interface: "fulcrum0", virtualIPs: [IPAddress("192.0.2.10")!],
                                                announceWhen: .anyMemberUp, holdDownMs: 2_000, withdrawGraceMs: 3_000))
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertTrue(loaded.summary.contains("anycast on fulcrum0 (1 VIP)"), loaded.summary)
    }

    func testEveryKey() throws {
        let anycast = try XCTUnwrap(loadText(withAnycast("""
            interface = "lb-vips"
            virtual_ips = ["192.0.2.10/32", "2001:db8::10/128", "2001:db8::11"]
            announce_when = "all_pools_up"
            hold_down = 0
            withdraw_grace = 60000
            """)).config.anycast)
        XCTAssertEqual(anycast.interface, "lb-vips")
        XCTAssertEqual(anycast.virtualIPs, ["192.0.2.10", "2001:db8::10", "2001:db8::11"].map { IPAddress($0)! })
        XCTAssertEqual(anycast.announceWhen, .allPoolsUp)
        XCTAssertEqual(anycast.holdDownMs, 0)
        XCTAssertEqual(anycast.withdrawGraceMs, 60_000)
    }

    func testNoSection() throws {
        XCTAssertNil(try loadText(webPool).config.anycast)
    }

    func testWrongValuesAreNamed() {
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"192.0.2.0/24\"]")), [
            "fulcrum.toml:9: anycast.virtual_ips: \"192.0.2.0/24\": an anycast VIP is one address; allowed: /32 or no prefix length",
        ])
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"2001:db8::10/64\"]")), [
            "fulcrum.toml:9: anycast.virtual_ips: \"2001:db8::10/64\": an anycast VIP is one address; allowed: /128 or no prefix length",
        ])
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"web\"]")), [
            "fulcrum.toml:9: anycast.virtual_ips: \"web\" is not an IP address; allowed: an address such as \"192.0.2.10\" "
                + "or \"2001:db8::10\", optionally with /32 or /128",
        ])
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"192.0.2.10\", \"192.0.2.10/32\"]")), [
            "fulcrum.toml:9: anycast.virtual_ips: 192.0.2.10 is listed twice",
        ])
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"127.0.0.1\"]")), [
            "fulcrum.toml:9: anycast.virtual_ips: \"127.0.0.1\": a loopback address; allowed: a unicast address",
        ])
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = []")), [
            "fulcrum.toml:9: anycast.virtual_ips: [] is not allowed; expected a non-empty array of IP address strings "
                + "such as [\"192.0.2.10\", \"2001:db8::10\"]",
        ])
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"192.0.2.10\"]\nannounce_when = \"sometimes\"")), [
            "fulcrum.toml:10: anycast.announce_when: \"sometimes\" is not allowed; allowed: any_member_up, all_pools_up, always",
        ])
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"192.0.2.10\"]\nhold_down = -1")).count, 1)
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"192.0.2.10\"]\ninterface = \"a/b\"")).count, 1)
        XCTAssertEqual(problemTexts(withAnycast("virtual_ips = [\"192.0.2.10\"]\nbgp_asn = 65001")), [
            "fulcrum.toml:10: anycast.bgp_asn: unknown key \"bgp_asn\"; allowed: announce_when, hold_down, interface, "
                + "virtual_ips, withdraw_grace",
        ])
        XCTAssertEqual(problemTexts(withAnycast("")).count, 1)
        XCTAssertTrue(problemTexts(withAnycast(""))[0].contains("anycast.virtual_ips: required key is missing"))
    }

    /// VRRP hands a VIP to one node, anycast announces it from all: one node, one model.
    func testRefusedBesideHA() {
        let text = withAnycast("virtual_ips = [\"192.0.2.10\"]")
            + "[ha]\ninterface = \"eth0\"\nvirtual_router_id = 1\nvirtual_ips = [\"192.0.2.20/24\"]\n"
        let found = problemTexts(text)
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertTrue(found.first?.contains("[anycast] and [ha] cannot both be set") ?? false, "\(found)")
    }

    func testVIPWithoutListenerIsAWarning() throws {
        let loaded = try loadText(withAnycast("virtual_ips = [\"192.0.2.10\", \"192.0.2.99\"]"))
        XCTAssertEqual(loaded.warnings.map(\.description), [
            "fulcrum.toml:8: anycast.virtual_ips: 192.0.2.99: no listener binds it (nor 0.0.0.0), so with "
                + "announce_when = \"any_member_up\" it is never announced",
        ])
        XCTAssertEqual(try loadText(withAnycast("virtual_ips = [\"192.0.2.99\"]\nannounce_when = \"always\"")).warnings, [])
    }

    func testPoolsOfAVIP() {
        let listeners = [
            Listener(name: "a", address: IPAddress("192.0.2.10")!, port: 80, defaultPool: "web"),
            Listener(name: "b", address: IPAddress("0.0.0.0")!, port: 53, defaultPool: "dns"),
            Listener(name: "c", address: IPAddress("192.0.2.10")!, port: 443, defaultPool: "web"),
            Listener(name: "d", address: IPAddress("::")!, port: 80, defaultPool: "v6"),
            Listener(name: "e", address: IPAddress("192.0.2.11")!, port: 80, defaultPool: "other"),
        ]
        XCTAssertEqual(AnycastSettings.pools(of: IPAddress("192.0.2.10")!, in: listeners), ["dns", "web"])
        XCTAssertEqual(AnycastSettings.pools(of: IPAddress("2001:db8::1")!, in: listeners), ["v6"])
        XCTAssertEqual(AnycastSettings.pools(of: IPAddress("192.0.2.12")!, in: listeners), ["dns"])
    }
}
