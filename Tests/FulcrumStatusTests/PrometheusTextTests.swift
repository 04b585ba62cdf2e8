import XCTest
@testable import FulcrumStatus

/// The exposition parsed back: families in order, each with HELP, TYPE and samples.
private struct Exposition {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: String
    }

    struct Family {
        var name: String
        var help: String?
        var type: String?
        var samples: [Sample] = []
    }

    var families: [Family] = []
    var problems: [String] = []

    init(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1)
                let name = String(parts[0])
                let rest = parts.count > 1 ? String(parts[1]) : ""
                if families.last?.name != name {
                    if families.contains(where: { $0.name == name }) { problems.append("family \(name) twice") }
                    families.append(Family(name: name))
                }
                let index = families.count - 1
                if line.hasPrefix("# HELP ") {
                    if families[index].help != nil { problems.append("HELP \(name) twice") }
                    if families[index].type != nil || !families[index].samples.isEmpty {
                        problems.append("HELP \(name) not first")
                    }
                    families[index].help = rest
                } else {
                    if families[index].type != nil { problems.append("TYPE \(name) twice") }
                    if !families[index].samples.isEmpty { problems.append("TYPE \(name) after samples") }
                    families[index].type = rest
                }
                continue
            }
            guard let sample = Exposition.parseSample(line) else {
                problems.append("unparsable line \(line)")
                continue
            }
            guard families.last?.name == sample.name else {
                problems.append("sample \(sample.name) outside its family block")
                continue
            }
            families[families.count - 1].samples.append(sample)
        }
    }

    /// `name{a="x",b="y\"z"} value` with the format's escapes undone.
    static func parseSample(_ line: Substring) -> Sample? {
        var i = line.startIndex
        var name = ""
        while i < line.endIndex, line[i] != "{", line[i] != " " {
            name.append(line[i])
            i = line.index(after: i)
        }
        var labels: [String: String] = [:]
        if i < line.endIndex, line[i] == "{" {
            i = line.index(after: i)
            while i < line.endIndex, line[i] != "}" {
                var key = ""
                while i < line.endIndex, line[i] != "=" {
                    key.append(line[i])
                    i = line.index(after: i)
                }
                i = line.index(after: i)  // =
                guard i < line.endIndex, line[i] == "\"" else { return nil }
                i = line.index(after: i)
                var value = ""
                while i < line.endIndex, line[i] != "\"" {
                    if line[i] == "\\" {
                        i = line.index(after: i)
                        guard i < line.endIndex else { return nil }
                        switch line[i] {
                        case "n": value.append("\n")
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        default: return nil
                        }
                    } else {
                        value.append(line[i])
                    }
                    i = line.index(after: i)
                }
                guard i < line.endIndex else { return nil }
                i = line.index(after: i)  // closing quote
                if labels[key] != nil { return nil }
                labels[key] = value
                if i < line.endIndex, line[i] == "," { i = line.index(after: i) }
            }
            guard i < line.endIndex else { return nil }
            i = line.index(after: i)  // }
        }
        guard i < line.endIndex, line[i] == " " else { return nil }
        let value = String(line[line.index(after: i)...])
        guard !value.isEmpty, !value.contains(" ") else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    func family(_ name: String) -> Family? { families.first { $0.name == name } }

    func value(_ name: String, _ labels: [String: String] = [:]) -> String? {
        family(name)?.samples.first { $0.labels == labels }?.value
    }
}

final class PrometheusTextTests: XCTestCase {
    private let requiredFamilies: [(String, String)] = [
        ("fulcrum_info", "gauge"), ("fulcrum_start_time_seconds", "gauge"), ("fulcrum_workers", "gauge"),
        ("fulcrum_config_reloads_total", "counter"), ("fulcrum_config_last_reload_successful", "gauge"),
        ("fulcrum_listener_connections_total", "counter"), ("fulcrum_listener_current_connections", "gauge"),
        ("fulcrum_listener_bytes_received_total", "counter"), ("fulcrum_listener_bytes_sent_total", "counter"),
        ("fulcrum_listener_denied_total", "counter"), ("fulcrum_listener_refused_total", "counter"),
        ("fulcrum_listener_idle_timeouts_total", "counter"),
        ("fulcrum_listener_udp_datagrams_received_total", "counter"),
        ("fulcrum_listener_udp_datagrams_sent_total", "counter"), ("fulcrum_listener_udp_sessions_total", "counter"),
        ("fulcrum_listener_udp_dropped_total", "counter"),
        ("fulcrum_member_connections_total", "counter"), ("fulcrum_member_current_connections", "gauge"),
        ("fulcrum_member_connect_failures_total", "counter"), ("fulcrum_member_bytes_sent_total", "counter"),
        ("fulcrum_member_bytes_received_total", "counter"), ("fulcrum_member_udp_sessions_total", "counter"),
        ("fulcrum_member_udp_datagrams_sent_total", "counter"),
        ("fulcrum_member_udp_datagrams_received_total", "counter"), ("fulcrum_member_up", "gauge"),
        ("fulcrum_member_weight", "gauge"), ("fulcrum_member_status", "gauge"),
        ("fulcrum_member_admin_state", "gauge"), ("fulcrum_member_check_failures_total", "counter"),
        ("fulcrum_member_down_transitions_total", "counter"),
        ("fulcrum_member_last_check_duration_seconds", "gauge"),
        ("fulcrum_member_downtime_seconds_total", "counter"), ("fulcrum_pool_status", "gauge"),
        ("fulcrum_pool_members", "gauge"),
    ]

    /// Required only when the snapshot has HA; absent otherwise.
    private let haFamilies: [(String, String)] = [
        ("fulcrum_ha_state", "gauge"), ("fulcrum_ha_priority", "gauge"), ("fulcrum_ha_transitions_total", "counter"),
        ("fulcrum_ha_became_master_total", "counter"), ("fulcrum_ha_adverts_sent_total", "counter"),
        ("fulcrum_ha_adverts_received_total", "counter"), ("fulcrum_ha_adverts_discarded_total", "counter"),
    ]

    /// Required only when the snapshot has anycast; absent otherwise.
    private let anycastFamilies: [(String, String)] = [
        ("fulcrum_anycast_vip_announced", "gauge"), ("fulcrum_anycast_vip_condition", "gauge"),
        ("fulcrum_anycast_vip_transitions_total", "counter"), ("fulcrum_anycast_vip_withdrawn_by_operator", "gauge"),
    ]

    func testStructure() throws {
        try checkStructure(SnapshotFixture.make(), required: requiredFamilies)
    }

    func testStructureWithAnycast() throws {
        var snapshot = SnapshotFixture.makeWithAnycast()
        snapshot.ha = SnapshotFixture.ha()
        try checkStructure(snapshot, required: requiredFamilies + haFamilies + anycastFamilies)
    }

    func testStructureWithHA() throws {
        try checkStructure(SnapshotFixture.makeWithHA(), required: requiredFamilies + haFamilies)
    }

    private func checkStructure(_ snapshot: StatusSnapshot, required: [(String, String)],
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let text = PrometheusText.render(snapshot)
        assertSocketSafe(text, file: file, line: line)
        let exposition = Exposition(text)
        XCTAssertEqual(exposition.problems, [])
        let namePattern = try Regex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")
        let labelPattern = try Regex("^[a-zA-Z_][a-zA-Z0-9_]*$")
        var series = Set<String>()
        for family in exposition.families {
            XCTAssertNotNil(try namePattern.wholeMatch(in: family.name), family.name)
            XCTAssertTrue(family.name.hasPrefix("fulcrum_"), family.name)
            XCTAssertFalse(family.help?.isEmpty ?? true, "\(family.name) has no HELP")
            XCTAssertTrue(family.type == "counter" || family.type == "gauge", "\(family.name): \(family.type ?? "-")")
            XCTAssertEqual(family.type == "counter", family.name.hasSuffix("_total"), family.name)
            for sample in family.samples {
                for key in sample.labels.keys { XCTAssertNotNil(try labelPattern.wholeMatch(in: key), key) }
                XCTAssertNotNil(Double(sample.value), "\(sample.name) \(sample.value)")
                let key = sample.name + "|" + sample.labels.sorted { $0.key < $1.key }
                    .map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                XCTAssertTrue(series.insert(key).inserted, "duplicate series \(key)")
            }
        }
        for (name, type) in required {
            XCTAssertEqual(exposition.family(name)?.type, type, name, file: file, line: line)
        }
    }

    func testNoHAFamiliesWithoutHA() {
        let text = PrometheusText.render(SnapshotFixture.make())
        XCTAssertFalse(text.contains("fulcrum_ha_"), "no [ha] section, no HA series")
    }

    func testHAValues() {
        let e = Exposition(PrometheusText.render(SnapshotFixture.makeWithHA()))
        XCTAssertEqual(e.problems, [])
        let states = e.family("fulcrum_ha_state")?.samples ?? []
        XCTAssertEqual(states.map { $0.labels }, [["state": "INIT"], ["state": "BACKUP"], ["state": "MASTER"]])
        XCTAssertEqual(states.map(\.value), ["0", "1", "0"], "one-hot on BACKUP")
        XCTAssertEqual(e.value("fulcrum_ha_priority", ["kind": "configured"]), "150")
        XCTAssertEqual(e.value("fulcrum_ha_priority", ["kind": "effective"]), "100")
        XCTAssertEqual(e.family("fulcrum_ha_priority")?.samples.count, 2)
        XCTAssertEqual(e.value("fulcrum_ha_transitions_total"), "5")
        XCTAssertEqual(e.value("fulcrum_ha_became_master_total"), "2")
        XCTAssertEqual(e.value("fulcrum_ha_adverts_sent_total"), "1234")
        XCTAssertEqual(e.value("fulcrum_ha_adverts_received_total"), "5678")
        let discarded = e.family("fulcrum_ha_adverts_discarded_total")?.samples ?? []
        var byReason: [String: String] = [:]
        for sample in discarded { byReason[sample.labels["reason"] ?? "?"] = sample.value }
        XCTAssertEqual(byReason, [
            "wrong_version": "1", "wrong_type": "2", "wrong_ttl": "3", "bad_checksum": "4", "bad_length": "5",
            "wrong_vrid": "6", "wrong_family": "7", "not_a_peer": "8", "other": "9",
        ])
        XCTAssertEqual(discarded.count, 9)
    }

    func testHAStateOneHotForEveryState() {
        for state in HAStatus.State.allCases {
            var snapshot = SnapshotFixture.makeWithHA()
            snapshot.ha?.state = state
            let samples = Exposition(PrometheusText.render(snapshot)).family("fulcrum_ha_state")?.samples ?? []
            XCTAssertEqual(samples.filter { $0.value == "1" }.map { $0.labels["state"] }, [state.rawValue])
            XCTAssertEqual(samples.filter { $0.value == "0" }.count, HAStatus.State.allCases.count - 1)
        }
    }

    func testValues() {
        let e = Exposition(PrometheusText.render(SnapshotFixture.make()))
        XCTAssertEqual(e.value("fulcrum_info", ["version": "1.4.0"]), "1")
        XCTAssertEqual(e.value("fulcrum_start_time_seconds"), "1699906216")
        XCTAssertEqual(e.value("fulcrum_workers"), "4")
        XCTAssertEqual(e.value("fulcrum_config_reloads_total", ["result": "applied"]), "7")
        XCTAssertEqual(e.value("fulcrum_config_reloads_total", ["result": "refused"]), "2")
        XCTAssertEqual(e.value("fulcrum_config_last_reload_successful"), "0")
        XCTAssertEqual(e.value("fulcrum_listener_connections_total", ["listener": "web"]), "1000")
        XCTAssertNil(e.value("fulcrum_listener_connections_total", ["listener": "dns"]), "TCP only")
        XCTAssertEqual(e.value("fulcrum_listener_current_connections", ["listener": "web"]), "12")
        XCTAssertEqual(e.value("fulcrum_listener_bytes_received_total", ["listener": "dns"]), "40000")
        XCTAssertEqual(e.value("fulcrum_listener_bytes_sent_total", ["listener": "web"]), "654321")
        XCTAssertEqual(e.value("fulcrum_listener_denied_total", ["listener": "web"]), "5")
        XCTAssertEqual(e.value("fulcrum_listener_denied_total", ["listener": "dns"]), "9")
        XCTAssertEqual(e.value("fulcrum_listener_refused_total", ["listener": "web", "reason": "connection_limit"]), "3")
        XCTAssertEqual(e.value("fulcrum_listener_refused_total", ["listener": "web", "reason": "no_member"]), "7")
        XCTAssertEqual(e.value("fulcrum_listener_refused_total", ["listener": "web", "reason": "connect_failed"]), "11")
        XCTAssertEqual(e.value("fulcrum_listener_idle_timeouts_total", ["listener": "web"]), "13")
        XCTAssertEqual(e.value("fulcrum_listener_udp_datagrams_received_total", ["listener": "dns"]), "500")
        XCTAssertEqual(e.value("fulcrum_listener_udp_datagrams_sent_total", ["listener": "dns"]), "480")
        XCTAssertEqual(e.value("fulcrum_listener_udp_sessions_total", ["listener": "dns"]), "60")
        XCTAssertEqual(e.value("fulcrum_listener_udp_sessions_ended_total", ["listener": "dns", "reason": "expired"]), "50")
        XCTAssertEqual(e.value("fulcrum_listener_udp_sessions_ended_total", ["listener": "dns", "reason": "evicted"]), "4")
        XCTAssertEqual(e.value("fulcrum_listener_udp_sessions_ended_total", ["listener": "dns", "reason": "other"]), "0")
        XCTAssertEqual(e.value("fulcrum_listener_udp_current_sessions", ["listener": "dns"]), "6")
        XCTAssertEqual(e.value("fulcrum_listener_udp_dropped_total", ["listener": "dns", "reason": "truncated"]), "2")
        XCTAssertEqual(e.value("fulcrum_listener_udp_dropped_total", ["listener": "dns", "reason": "undeliverable"]), "1")

        let web1 = ["pool": "web", "member": "web-1"]
        XCTAssertEqual(e.value("fulcrum_member_connections_total", web1), "700")
        XCTAssertEqual(e.value("fulcrum_member_current_connections", web1), "8")
        XCTAssertEqual(e.value("fulcrum_member_connect_failures_total", web1), "4")
        XCTAssertEqual(e.value("fulcrum_member_bytes_sent_total", web1), "100000")
        XCTAssertEqual(e.value("fulcrum_member_bytes_received_total", web1), "500000")
        XCTAssertEqual(e.value("fulcrum_member_up", web1), "1")
        XCTAssertEqual(e.value("fulcrum_member_weight", web1), "10")
        XCTAssertEqual(e.value("fulcrum_member_check_failures_total", web1), "2")
        XCTAssertEqual(e.value("fulcrum_member_down_transitions_total", web1), "1")
        XCTAssertEqual(e.value("fulcrum_member_downtime_seconds_total", web1), "30")
        XCTAssertEqual(Double(e.value("fulcrum_member_last_check_duration_seconds", web1) ?? "") ?? 0, 0.0124,
                       accuracy: 1e-12)
        XCTAssertEqual(e.value("fulcrum_member_up", ["pool": "web", "member": "web-2"]), "0")
        XCTAssertEqual(e.value("fulcrum_member_up", ["pool": "web", "member": "web-3"]), "0", "draining")
        XCTAssertNil(e.value("fulcrum_member_last_check_duration_seconds", ["pool": "web", "member": "web-3"]),
                     "no check yet")

        let dnsA = ["pool": "dns", "member": "dns-a"]
        XCTAssertEqual(e.value("fulcrum_member_up", dnsA), "1", "NO_MONITOR serves")
        XCTAssertEqual(e.value("fulcrum_member_udp_sessions_total", dnsA), "40")
        XCTAssertEqual(e.value("fulcrum_member_udp_datagrams_sent_total", dnsA), "300")
        XCTAssertEqual(e.value("fulcrum_member_udp_datagrams_received_total", dnsA), "290")
        XCTAssertEqual(e.value("fulcrum_member_bytes_sent_total", dnsA), "24000")
        XCTAssertNil(e.value("fulcrum_member_check_failures_total", dnsA), "no monitor")

        XCTAssertEqual(e.value("fulcrum_pool_members", ["pool": "web"]), "3")
        XCTAssertEqual(e.value("fulcrum_pool_status", ["pool": "web", "status": "DEGRADED"]), "1")
        XCTAssertEqual(e.value("fulcrum_pool_status", ["pool": "web", "status": "ONLINE"]), "0")
    }

    func testOneHotFamilies() {
        let e = Exposition(PrometheusText.render(SnapshotFixture.make()))
        let expected: [String: (status: String, state: String)] = [
            "web/web-1": ("ONLINE", "ready"), "web/web-2": ("ERROR", "ready"), "web/web-3": ("DRAINING", "drain"),
            "dns/dns-a": ("NO_MONITOR", "ready"), "dns/dns-b": ("OFFLINE", "maint"),
        ]
        for (key, want) in expected {
            let parts = key.split(separator: "/").map(String.init)
            let labels = ["pool": parts[0], "member": parts[1]]
            let statuses = e.family("fulcrum_member_status")?.samples.filter {
                $0.labels["pool"] == labels["pool"] && $0.labels["member"] == labels["member"]
            } ?? []
            XCTAssertEqual(Set(statuses.map { $0.labels["status"] ?? "" }), Set(OperatingStatus.allCases.map(\.rawValue)))
            XCTAssertEqual(statuses.filter { $0.value == "1" }.map { $0.labels["status"] }, [want.status], key)
            XCTAssertEqual(statuses.filter { $0.value != "1" }.allSatisfy { $0.value == "0" }, true)
            let states = e.family("fulcrum_member_admin_state")?.samples.filter {
                $0.labels["pool"] == labels["pool"] && $0.labels["member"] == labels["member"]
            } ?? []
            XCTAssertEqual(states.count, AdminState.allCases.count)
            XCTAssertEqual(states.filter { $0.value == "1" }.map { $0.labels["state"] }, [want.state], key)
        }
    }

    func testLabelAndHelpEscaping() {
        var snapshot = SnapshotFixture.make()
        snapshot.info.version = "1.0 \"beta\"\n\\x"
        let text = PrometheusText.render(snapshot)
        XCTAssertTrue(text.contains("fulcrum_info{version=\"1.0 \\\"beta\\\"\\n\\\\x\"} 1\n"), text)
        XCTAssertEqual(Exposition(text).value("fulcrum_info", ["version": "1.0 \"beta\"\n\\x"]), "1")
        var family = PrometheusFamily("x", .gauge, "a\\b\nc")
        family.add([], .infinity)
        family.add([("l", "v")], .nan)
        var out = ""
        family.render(into: &out)
        XCTAssertEqual(out, "# HELP x a\\\\b\\nc\n# TYPE x gauge\nx +Inf\nx{l=\"v\"} NaN\n")
    }

    func testNoPools() {
        let text = PrometheusText.render(StatusSnapshot(info: SnapshotFixture.info(), listeners: [], pools: []))
        let e = Exposition(text)
        XCTAssertEqual(e.problems, [])
        XCTAssertEqual(e.value("fulcrum_workers"), "4")
        XCTAssertEqual(e.value("fulcrum_config_reloads_total", ["result": "applied"]), "7")
        XCTAssertEqual(e.value("fulcrum_config_reloads_total", ["result": "refused"]), "2")
        XCTAssertEqual(e.value("fulcrum_config_last_reload_successful"), "0")
        XCTAssertEqual(e.family("fulcrum_member_up")?.samples.count, 0)
    }
}

/// `[anycast]`: one series per VIP in each family, present only when configured.
extension PrometheusTextTests {
    func testNoAnycastFamiliesWithoutAnycast() {
        let text = PrometheusText.render(SnapshotFixture.makeWithHA())
        XCTAssertFalse(text.contains("fulcrum_anycast_"), "no [anycast] section, no anycast series")
    }

    func testAnycastValues() {
        let e = Exposition(PrometheusText.render(SnapshotFixture.makeWithAnycast()))
        XCTAssertEqual(e.problems, [])
        let steady = ["vip": "192.0.2.100"], drained = ["vip": "2001:db8::100"], pending = ["vip": "198.51.100.7"]
        XCTAssertEqual(e.value("fulcrum_anycast_vip_announced", steady), "1")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_announced", drained), "0")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_announced", pending), "1", "withdrawal still pending")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_condition", steady), "1")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_condition", drained), "1", "a drain, not a failure")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_condition", pending), "0")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_transitions_total", steady), "3")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_transitions_total", drained), "4")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_transitions_total", pending), "1")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_withdrawn_by_operator", steady), "0")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_withdrawn_by_operator", drained), "1")
        XCTAssertEqual(e.value("fulcrum_anycast_vip_withdrawn_by_operator", pending), "0")
        for name in anycastFamilies.map(\.0) {
            XCTAssertEqual(e.family(name)?.samples.map { $0.labels["vip"] ?? "" },
                           ["192.0.2.100", "2001:db8::100", "198.51.100.7"], "\(name): one series per VIP, config order")
        }
    }

    /// Configured without VIPs: the families are there (HELP and TYPE, no samples), so a
    /// dashboard tells "anycast on, nothing to announce" from "anycast off".
    func testAnycastWithoutVIPs() {
        var snapshot = SnapshotFixture.make()
        snapshot.anycast = AnycastStatus(interface: "fulcrum0", interfaceKind: "dummy", announceWhen: "always",
                                         holdDownMs: 0, withdrawGraceMs: 0, vips: [])
        let e = Exposition(PrometheusText.render(snapshot))
        XCTAssertEqual(e.problems, [])
        for (name, type) in anycastFamilies {
            XCTAssertEqual(e.family(name)?.type, type, name)
            XCTAssertEqual(e.family(name)?.samples.count, 0, name)
        }
    }
}
