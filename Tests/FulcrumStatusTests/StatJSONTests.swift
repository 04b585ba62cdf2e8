import Foundation
import XCTest
@testable import FulcrumStatus

final class StatJSONTests: XCTestCase {
    private func parsed(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        do {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [])
            guard let dictionary = object as? [String: Any] else {
                XCTFail("not an object", file: file, line: line)
                return [:]
            }
            return dictionary
        } catch {
            XCTFail("invalid JSON: \(error)\n\(text)", file: file, line: line)
            return [:]
        }
    }

    func testOneLine() {
        let text = StatJSON.render(SnapshotFixture.make())
        XCTAssertFalse(text.contains("\n"))
        XCTAssertTrue(text.hasPrefix("{\"info\":{\"version\":\"1.4.0\",\"pid\":4242,"), text)
    }

    func testInfo() {
        let info = parsed(StatJSON.render(SnapshotFixture.make()))["info"] as? [String: Any] ?? [:]
        XCTAssertEqual(info["version"] as? String, "1.4.0")
        XCTAssertEqual(info["pid"] as? Int, 4242)
        XCTAssertEqual(info["started_at"] as? Int, 1_699_906_216)
        XCTAssertEqual(info["now"] as? Int, 1_700_000_000)
        XCTAssertEqual(info["uptime_seconds"] as? Int, 93_784)
        XCTAssertEqual(info["workers"] as? Int, 4)
        XCTAssertEqual(info["config_dir"] as? String, "/etc/fulcrum")
        XCTAssertEqual(info["config_files"] as? [String], ["/etc/fulcrum/fulcrum.toml", "/etc/fulcrum/conf.d/10-web.toml"])
        XCTAssertEqual(info["config_loaded_at"] as? Int, 1_699_999_400)
        XCTAssertEqual(info["reloads"] as? Int, 7)
        XCTAssertEqual(info["reloads_refused"] as? Int, 2)
        XCTAssertEqual(info["last_reload_succeeded"] as? Bool, false)
        XCTAssertEqual(info.count, 12)
    }

    func testListeners() {
        let listeners = parsed(StatJSON.render(SnapshotFixture.make()))["listeners"] as? [[String: Any]] ?? []
        XCTAssertEqual(listeners.count, 2)
        let web = listeners[0], dns = listeners[1]
        XCTAssertEqual(web["name"] as? String, "web")
        XCTAssertEqual(web["protocol"] as? String, "TCP")
        XCTAssertEqual(web["address"] as? String, "127.0.0.1:8080")
        XCTAssertEqual(web["pool"] as? String, "web")
        XCTAssertEqual(web["connection_limit"] as? Int, 10_000)
        XCTAssertEqual(web["current"] as? Int, 12)
        XCTAssertEqual(web["current_max"] as? Int, 30)
        XCTAssertEqual(web["total"] as? Int, 1000)
        XCTAssertEqual(web["bytes_in"] as? Int, 123_456)
        XCTAssertEqual(web["bytes_out"] as? Int, 654_321)
        XCTAssertEqual(web["rate"] as? Int, 17)
        XCTAssertEqual(web["rate_max"] as? Int, 42)
        XCTAssertEqual(web["bytes_in_rate"] as? Int, 1500)
        XCTAssertEqual(web["bytes_out_rate"] as? Int, 9000)
        XCTAssertTrue(web["udp"] is NSNull)
        let tcp = web["tcp"] as? [String: Int] ?? [:]
        XCTAssertEqual(tcp, ["accepted": 1000, "refused_limit": 3, "denied_cidr": 5, "no_member": 7,
                             "connect_failed": 11, "idle_timeouts": 13, "closed": 988, "bytes_in": 123_456,
                             "bytes_out": 654_321])

        XCTAssertTrue(dns["connection_limit"] is NSNull, "unlimited")
        XCTAssertTrue(dns["tcp"] is NSNull)
        let udp = dns["udp"] as? [String: Int] ?? [:]
        XCTAssertEqual(udp, ["datagrams_in": 500, "bytes_in": 40_000, "datagrams_out": 480, "bytes_out": 90_000,
                             "sessions_created": 60, "sessions_expired": 50, "sessions_evicted": 4, "sessions_closed": 54,
                             "truncated": 2, "denied": 9, "dropped": 1])
        XCTAssertEqual(dns["current"] as? Int, 6)
    }

    func testPoolsAndMembers() {
        let pools = parsed(StatJSON.render(SnapshotFixture.make()))["pools"] as? [[String: Any]] ?? []
        XCTAssertEqual(pools.map { $0["name"] as? String }, ["dns", "web"])
        let dns = pools[0], web = pools[1]
        XCTAssertTrue(dns["monitor"] is NSNull)
        XCTAssertEqual(web["monitor"] as? String, "HTTP")
        XCTAssertEqual(web["algorithm"] as? String, "ROUND_ROBIN")
        XCTAssertEqual(web["status"] as? String, "DEGRADED")
        XCTAssertEqual(web["transports"] as? [String], ["TCP"])
        XCTAssertEqual(web["current"] as? Int, 9)

        let members = web["members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.count, 3)
        let web2 = members[1]
        XCTAssertEqual(web2["name"] as? String, "web-2")
        XCTAssertEqual(web2["address"] as? String, "10.0.0.12:8080")
        XCTAssertEqual(web2["backup"] as? Bool, false)
        XCTAssertEqual(web2["admin_state_up"] as? Bool, true)
        XCTAssertEqual(web2["admin_state"] as? String, "ready")
        XCTAssertEqual(web2["config_weight"] as? Int, 5)
        XCTAssertEqual(web2["weight"] as? Int, 5)
        XCTAssertEqual(web2["status"] as? String, "ERROR")
        XCTAssertEqual(web2["haproxy_status"] as? String, "DOWN")
        XCTAssertEqual(web2["current"] as? Int, 0)
        for key in ["current_max", "rate", "rate_max", "bytes_in_rate", "bytes_out_rate"] {
            XCTAssertEqual(web2[key] as? Int, 0, key)
        }
        let health = web2["health"] as? [String: Any] ?? [:]
        XCTAssertEqual(health["verdict"] as? String, "down")
        XCTAssertEqual(health["last_check"] as? String, "L7STS")
        XCTAssertEqual(health["last_check_detail"] as? String, "503 Service, \"Unavailable\"")
        XCTAssertEqual(health["last_check_duration_ms"] as? Double ?? 0, 1003.6, accuracy: 1e-9)
        XCTAssertEqual(health["last_change"] as? Int, 1_699_999_880)
        XCTAssertEqual(health["checks_failed"] as? Int, 9)
        XCTAssertEqual(health["down_transitions"] as? Int, 3)
        XCTAssertEqual(health["downtime_seconds"] as? Int, 400)
        XCTAssertEqual(web2["tcp"] as? [String: Int], [
            "connections": 250, "connect_failures": 8, "connect_timeouts": 0, "bytes_to_member": 20_000,
            "bytes_from_member": 80_000, "shut_down_on_down": 0, "closed": 250,
        ])
        XCTAssertTrue((members[2]["health"] as? [String: Any])?["last_check"] is NSNull, "no check yet")

        let dnsA = (dns["members"] as? [[String: Any]] ?? [])[0]
        XCTAssertTrue(dnsA["health"] is NSNull)
        XCTAssertEqual(dnsA["status"] as? String, "NO_MONITOR")
        XCTAssertEqual(dnsA["udp"] as? [String: Int], [
            "sessions": 40, "sessions_ended": 35, "datagrams_to": 300, "bytes_to": 24_000,
            "datagrams_from": 290, "bytes_from": 60_000, "refused": 6,
        ])
    }

    func testHANullWithoutSection() {
        let object = parsed(StatJSON.render(SnapshotFixture.make()))
        XCTAssertTrue(object["ha"] is NSNull, "present and null: the page tells off from missing")
        XCTAssertTrue(StatJSON.render(SnapshotFixture.make()).hasSuffix(",\"ha\":null,\"anycast\":null}"))
    }

    func testAnycastNullWithoutSection() {
        let object = parsed(StatJSON.render(SnapshotFixture.makeWithHA()))
        XCTAssertTrue(object["anycast"] is NSNull, "present and null, like ha")
        XCTAssertNotNil(object["ha"] as? [String: Any])
    }

    func testAnycast() {
        let anycast = parsed(StatJSON.render(SnapshotFixture.makeWithAnycast()))["anycast"] as? [String: Any] ?? [:]
        XCTAssertEqual(anycast["interface"] as? String, "fulcrum0")
        XCTAssertEqual(anycast["interface_kind"] as? String, "dummy")
        XCTAssertEqual(anycast["announce_when"] as? String, "any_member_up")
        XCTAssertEqual(anycast["hold_down_ms"] as? Int, 3000)
        XCTAssertEqual(anycast["withdraw_grace_ms"] as? Int, 2000)
        XCTAssertEqual(anycast.count, 6)
        let vips = anycast["vips"] as? [[String: Any]] ?? []
        XCTAssertEqual(vips.map { $0["address"] as? String }, ["192.0.2.100", "2001:db8::100", "198.51.100.7"])
        guard vips.count == 3 else { return }
        let steady = vips[0], drained = vips[1], pending = vips[2]
        XCTAssertEqual(steady["announced"] as? Bool, true)
        XCTAssertEqual(steady["condition_holds"] as? Bool, true)
        XCTAssertEqual(steady["reason"] as? String, "pool web: 1 of 3 members up")
        XCTAssertTrue(steady["pending"] is NSNull, "nothing pending is null, not \"-\"")
        XCTAssertEqual(steady["since"] as? Int, 1_699_996_400)
        XCTAssertEqual(steady["transitions"] as? Int, 3)
        XCTAssertEqual(steady["withdrawn_by_operator"] as? Bool, false)
        XCTAssertEqual(steady["pools"] as? [String], ["web"])
        XCTAssertEqual(steady.count, 9)
        XCTAssertEqual(drained["announced"] as? Bool, false)
        XCTAssertEqual(drained["condition_holds"] as? Bool, true)
        XCTAssertEqual(drained["withdrawn_by_operator"] as? Bool, true)
        XCTAssertEqual(drained["since"] as? Int, 1_699_999_875)
        XCTAssertEqual(pending["condition_holds"] as? Bool, false)
        XCTAssertEqual(pending["pending"] as? String, "withdraw in 1.4 s (hold_down 3000 ms)")
        XCTAssertEqual(pending["pools"] as? [String], ["api", "web"])
    }

    func testAnycastHostileReasonStaysValidJSON() {
        var snapshot = SnapshotFixture.makeWithAnycast()
        let nasty = "q\"b\\s\u{0}\n\u{2028}😀"
        snapshot.anycast?.vips[0].reason = nasty
        snapshot.anycast?.vips[0].pending = nasty
        let text = StatJSON.render(snapshot)
        XCTAssertFalse(text.contains("\n"))
        let vip = ((parsed(text)["anycast"] as? [String: Any])?["vips"] as? [[String: Any]])?.first
        XCTAssertEqual(vip?["reason"] as? String, nasty)
        XCTAssertEqual(vip?["pending"] as? String, nasty)
    }

    func testHA() {
        let ha = parsed(StatJSON.render(SnapshotFixture.makeWithHA()))["ha"] as? [String: Any] ?? [:]
        XCTAssertEqual(ha["state"] as? String, "BACKUP")
        XCTAssertEqual(ha["interface"] as? String, "eth0")
        XCTAssertEqual(ha["virtual_router_id"] as? Int, 51)
        XCTAssertEqual(ha["priority"] as? Int, 150)
        XCTAssertEqual(ha["effective_priority"] as? Int, 100)
        XCTAssertEqual(ha["advert_interval_ms"] as? Int, 100)
        XCTAssertEqual(ha["preempt"] as? Bool, true)
        XCTAssertEqual(ha["master"] as? String, "198.18.0.11")
        XCTAssertEqual(ha["virtual_ips"] as? [String], ["192.0.2.10/24", "2001:db8::10/64"])
        XCTAssertEqual(ha["mode"] as? String, "unicast")
        XCTAssertEqual(ha["unicast_peers"] as? [String], ["198.18.0.11"])
        XCTAssertEqual(ha["tracked_pools_down"] as? [String], ["web"])
        XCTAssertEqual(ha["adverts_sent"] as? Int, 1234)
        XCTAssertEqual(ha["adverts_received"] as? Int, 5678)
        XCTAssertEqual(ha["discards"] as? [String: Int], [
            "wrong_version": 1, "wrong_type": 2, "wrong_ttl": 3, "bad_checksum": 4, "bad_length": 5,
            "wrong_vrid": 6, "wrong_family": 7, "not_a_peer": 8, "other": 9,
        ])
        XCTAssertEqual(ha["transitions"] as? Int, 5)
        XCTAssertEqual(ha["became_master"] as? Int, 2)
        XCTAssertEqual(ha["last_transition_at"] as? Int, 1_699_999_875)
        XCTAssertEqual(ha["last_transition_reason"] as? String, "higher priority advert from 198.18.0.11 (preempted)")
        XCTAssertEqual(ha.count, 19)
    }

    func testHAUnknownsAreNull() {
        var snapshot = SnapshotFixture.make()
        snapshot.ha = HAStatus(interface: "ens3", virtualRouterID: 7, state: .initialize, configuredPriority: 100,
                               effectivePriority: 100, advertIntervalMs: 1000, preempt: false, unicastPeers: [],
                               virtualIPs: ["192.0.2.10/24"])
        let ha = parsed(StatJSON.render(snapshot))["ha"] as? [String: Any] ?? [:]
        XCTAssertEqual(ha["state"] as? String, "INIT")
        XCTAssertEqual(ha["mode"] as? String, "multicast")
        XCTAssertEqual(ha["unicast_peers"] as? [String], [])
        XCTAssertEqual(ha["tracked_pools_down"] as? [String], [])
        XCTAssertEqual(ha["preempt"] as? Bool, false)
        XCTAssertTrue(ha["master"] is NSNull)
        XCTAssertTrue(ha["last_transition_at"] is NSNull)
        XCTAssertTrue(ha["last_transition_reason"] is NSNull)
        XCTAssertEqual((ha["discards"] as? [String: Int])?.values.allSatisfy { $0 == 0 }, true)
    }

    func testHostileStringsStayValidJSON() {
        var snapshot = SnapshotFixture.make()
        let nasty = "q\"b\\s/\u{0}\u{1}\u{1F}\n\r\t\u{08}\u{0C}\u{7F}\u{2028}é😀"
        snapshot.info.version = nasty
        snapshot.pools[1].members[1].health?.lastCheckDetail = nasty
        snapshot.pools[1].members[0].health?.lastCheckDurationMs = .nan
        snapshot.ha = SnapshotFixture.ha()
        snapshot.ha?.lastTransitionReason = nasty
        let text = StatJSON.render(snapshot)
        XCTAssertFalse(text.contains("\n"))
        let object = parsed(text)
        XCTAssertEqual((object["info"] as? [String: Any])?["version"] as? String, nasty)
        let web = (object["pools"] as? [[String: Any]])?[1]["members"] as? [[String: Any]]
        XCTAssertTrue((web?[0]["health"] as? [String: Any])?["last_check_duration_ms"] is NSNull, "NaN → null")
        XCTAssertEqual((object["ha"] as? [String: Any])?["last_transition_reason"] as? String, nasty)
        XCTAssertTrue(text.contains(#""q\"b\\s/\u0000\u0001\u001f\n\r\t\b\f\u007f\u2028é😀""#), text)
    }

    func testEmptySnapshot() {
        let text = StatJSON.render(StatusSnapshot(info: SnapshotFixture.info(), listeners: [], pools: []))
        let object = parsed(text)
        XCTAssertEqual((object["listeners"] as? [Any])?.count, 0)
        XCTAssertEqual((object["pools"] as? [Any])?.count, 0)
    }
}

final class JSONWriterTests: XCTestCase {
    func testNestingAndCommas() {
        var json = JSONWriter()
        json.object { json in
            json.field("a", 1)
            json.array("b") { json in
                json.int(1)
                json.object { _ in }
                json.beginArray()
                json.endArray()
                json.null()
                json.bool(true)
                json.double(0.5)
                json.double(-.infinity)
            }
            json.field("c", nil as String?)
            json.object("d") { $0.field("e", "f") }
        }
        XCTAssertEqual(json.output, #"{"a":1,"b":[1,{},[],null,true,0.5,null],"c":null,"d":{"e":"f"}}"#)
    }

    func testDoublesParseAsJSON() throws {
        for value in [0.0, -0.0, 1e-7, 123456789.125, 1e300, .leastNonzeroMagnitude, 12.4] {
            var json = JSONWriter()
            json.beginArray()
            json.double(value)
            json.endArray()
            let parsed = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [Double]
            XCTAssertEqual(parsed?.first, value, json.output)
        }
    }
}
