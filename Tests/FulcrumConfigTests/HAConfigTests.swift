import FulcrumAddress
import FulcrumConfig
import XCTest

/// A pool and a listener (lines 1-6), then [ha] on line 7 and `lines` from line 8.
private func withHA(_ lines: String) -> String {
    webPool + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n[ha]\n" + lines + "\n"
}

final class HAConfigTests: XCTestCase {
    func testDefaults() throws {
        let ha = try XCTUnwrap(loadText(withHA("interface = \"eth0\"\nvirtual_router_id = 42\nvirtual_ips = [\"192.0.2.10/24\"]")).config.ha)
        XCTAssertEqual(ha.interface, "eth0")
        XCTAssertEqual(ha.virtualRouterID, 42)
        XCTAssertEqual(ha.priority, 100)
        XCTAssertEqual(ha.advertIntervalMs, 100)
        XCTAssertTrue(ha.preempt)
        XCTAssertEqual(ha.preemptDelayMs, 0)
        XCTAssertEqual(ha.unicastPeers, [])
        XCTAssertEqual(ha.virtualIPs, [HASettings.VirtualIP(address: IPAddress("192.0.2.10")!, prefixLength: 24)])
        XCTAssertNil(ha.notify)
        XCTAssertEqual(ha.trackPools, [])
        XCTAssertEqual(ha.trackWeight, 253)
        XCTAssertTrue(ha.advertIsIPv4)
    }

    func testNoHASection() throws {
        XCTAssertNil(try loadText(withHA("").replacingOccurrences(of: "[ha]\n", with: "")).config.ha)
    }

    func testEveryKey() throws {
        let ha = try XCTUnwrap(loadText(withHA("""
            interface = "br-ha"
            virtual_router_id = 7
            priority = 200
            advert_interval = 1000
            preempt = false
            preempt_delay = 5000
            unicast_peers = ["2001:db8::12"]
            virtual_ips = ["2001:db8::10/64", "192.0.2.10/24"]
            notify = "/usr/local/bin/fulcrum-notify"
            track_pools = ["web"]
            track_weight = 60
            """)).config.ha)
        XCTAssertEqual(ha.priority, 200)
        XCTAssertEqual(ha.advertIntervalMs, 1000)
        XCTAssertFalse(ha.preempt)
        XCTAssertEqual(ha.preemptDelayMs, 5000)
        XCTAssertEqual(ha.unicastPeers, [IPAddress("2001:db8::12")!])
        XCTAssertFalse(ha.advertIsIPv4, "adverts take the first VIP's family")
        XCTAssertEqual(ha.virtualIPs.map(\.description), ["2001:db8::10/64", "192.0.2.10/24"])
        XCTAssertEqual(ha.notify, "/usr/local/bin/fulcrum-notify")
        XCTAssertEqual(ha.trackPools, ["web"])
        XCTAssertEqual(ha.trackWeight, 60)
    }

    /// Each bad value: the error names the file, the line and the key, and says what is allowed.
    func testBadValues() {
        let base = "interface = \"eth0\"\nvirtual_router_id = 42\nvirtual_ips = [\"192.0.2.10/24\"]\n"
        let cases: [(String, String)] = [
            ("interface = \"eth0\"\nvirtual_ips = [\"192.0.2.10/24\"]",
             "fulcrum.toml:7: ha.virtual_router_id: required key is missing"),
            (base + "priority = 255", "fulcrum.toml:11: ha.priority: 255 is out of range; allowed: 1..254"),
            (base + "advert_interval = 105",
             "fulcrum.toml:11: ha.advert_interval: 105 is not allowed; allowed: 10..40950 milliseconds in steps of 10"),
            (base + "advert_interval = 50000", "ha.advert_interval: 50000 is not allowed"),
            ("interface = \"a-very-long-interface-name\"\nvirtual_router_id = 1\nvirtual_ips = [\"192.0.2.10/24\"]",
             "ha.interface: \"a-very-long-interface-name\" is not an interface name"),
            ("interface = \"eth0\"\nvirtual_router_id = 1\nvirtual_ips = []", "ha.virtual_ips: [] is not allowed"),
            ("interface = \"eth0\"\nvirtual_router_id = 1\nvirtual_ips = [\"192.0.2.10\"]",
             "ha.virtual_ips: \"192.0.2.10\" is not ADDRESS/PREFIX"),
            ("interface = \"eth0\"\nvirtual_router_id = 1\nvirtual_ips = [\"224.0.0.18/32\"]",
             "ha.virtual_ips: \"224.0.0.18/32\": a multicast address"),
            ("interface = \"eth0\"\nvirtual_router_id = 1\nvirtual_ips = [\"192.0.2.10/24\", \"192.0.2.10/32\"]",
             "ha.virtual_ips: 192.0.2.10 is listed twice"),
            (base + "unicast_peers = [\"2001:db8::12\"]", "ha.unicast_peers: 2001:db8::12 is not of the adverts' family"),
            (base + "unicast_peers = [\"192.0.2.999\"]", "ha.unicast_peers: \"192.0.2.999\" is not an IP address"),
            (base + "track_pools = [\"nosuch\"]", "ha.track_pools: no pool \"nosuch\""),
            (base + "track_weight = 0", "ha.track_weight: 0 is out of range; allowed: 1..253"),
            (base + "notify = \"notify.sh\"", "ha.notify: \"notify.sh\" is not an absolute path"),
            (base + "vrid = 3", "ha.vrid: unknown key \"vrid\""),
        ]
        for (lines, expected) in cases {
            let found = problemTexts(withHA(lines))
            XCTAssertTrue(found.contains { $0.contains(expected) }, "expected \(expected) in \(found)")
        }
    }

    func testHAChangesNeedARestart() throws {
        let a = try loadText(withHA("interface = \"eth0\"\nvirtual_router_id = 42\nvirtual_ips = [\"192.0.2.10/24\"]")).config
        var b = a
        b.ha?.priority = 150
        XCTAssertEqual(ConfigChanges(from: a, to: b).needsRestart, ["ha: changed needs a restart"])
        b.ha = nil
        XCTAssertEqual(ConfigChanges(from: a, to: b).needsRestart, ["ha: removed needs a restart"])
    }
}

/// A fresh install ships no listeners: the configuration loads, with a warning saying what runs.
final class NoListenersConfigTests: XCTestCase {
    func testNoListenersLoadsWithAWarning() throws {
        let loaded = try ConfigLoader.load(sources: [(name: "fulcrum.toml", text: "[status]\nsocket = \"/run/fulcrum/status.sock\"\n")],
                                           onlineCPUs: 1)
        XCTAssertEqual(loaded.config.listeners, [])
        XCTAssertEqual(loaded.warnings.map(\.description),
                       ["no listeners defined: fulcrumd serves only its status socket until a [listener.NAME] is added"])
        XCTAssertTrue(loaded.summary.hasPrefix("configuration OK: 0 listeners, 0 pools, 0 members"), loaded.summary)
    }
}
