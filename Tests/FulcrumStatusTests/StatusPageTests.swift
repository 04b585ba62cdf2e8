import XCTest
@testable import FulcrumStatus

/// The page's behaviour is checked in a browser by the integration tests; these pin what the
/// server and those tests rely on, and what would break the page's self-containment.
final class StatusPageTests: XCTestCase {
    private let html = StatusPage.html

    func testSelfContained() {
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>\n"))
        XCTAssertTrue(html.hasSuffix("</html>\n"))
        XCTAssertTrue(html.contains("<link rel=\"icon\" href=\"data:,\">"), "no favicon request")
        XCTAssertFalse(html.contains("http://"))
        XCTAssertFalse(html.contains("https://"))
        XCTAssertFalse(html.contains("src="), "no external script or image")
        XCTAssertFalse(html.contains("@import"))
        XCTAssertEqual(html.components("<script>"), 1)
        XCTAssertEqual(html.components("</script>"), 1)
    }

    func testUsesTheEndpointsAndPolls() {
        XCTAssertTrue(html.contains("\"/status.json\""))
        XCTAssertTrue(html.contains("\"/history.json\""))
        XCTAssertTrue(html.contains("POLL_MS = 1000"))
        XCTAssertTrue(html.contains("AbortController"), "fetches time out")
        XCTAssertTrue(html.contains("id=\"banner\""))
    }

    func testNamesNeverBecomeMarkup() {
        XCTAssertFalse(html.contains("innerHTML"))
        XCTAssertFalse(html.contains("outerHTML"))
        XCTAssertFalse(html.contains("insertAdjacentHTML"))
        XCTAssertFalse(html.contains("document.write"))
        XCTAssertFalse(html.contains("eval("))
        XCTAssertTrue(html.contains("textContent"))
    }

    func testHooksTheBrowserTestReads() {
        XCTAssertTrue(html.contains("\"member-\" + p.name + \"-\" + m.name"))
        XCTAssertTrue(html.contains("setAttribute(\"data-status\""))
        XCTAssertTrue(html.contains("id=\"chart-connections\""))
        XCTAssertTrue(html.contains("id=\"chart-bytes\""))
        XCTAssertTrue(html.contains("canvas.dataset.points = String(drawn)"))
        for status in OperatingStatus.allCases {
            XCTAssertTrue(html.contains(".st-\(status.rawValue) {"), "no colour for \(status.rawValue)")
        }
    }

    func testHighAvailabilitySection() {
        // Hidden in the markup, so a daemon without [ha] never shows it, not even before the
        // first poll; shown only when status.json's ha is an object.
        XCTAssertTrue(html.contains("<section id=\"ha\" hidden>"))
        XCTAssertTrue(html.contains("<h2>High availability"))
        XCTAssertTrue(html.contains("renderHA(status.ha || null, now)"))
        XCTAssertTrue(html.contains("section.hidden = !ha || typeof ha !== \"object\""))
        for id in ["ha-state", "ha-instance", "ha-priority", "ha-master", "ha-vips", "ha-adverts-sent",
                   "ha-adverts-received", "ha-adverts-discarded", "ha-transitions", "ha-last-transition",
                   "ha-reason"] {
            XCTAssertEqual(html.components("id=\"\(id)\""), 1, id)
            XCTAssertTrue(html.contains("\"\(id)\""), "\(id) is never filled")
        }
        XCTAssertTrue(html.contains("setAttribute(\"data-state\""))
        for state in HAStatus.State.allCases {
            XCTAssertTrue(html.contains(".st-\(state.rawValue) {"), "no colour for \(state.rawValue)")
            XCTAssertTrue(html.contains("\"\(state.rawValue)\""), "\(state.rawValue) not known to the script")
        }
        // The JSON fields the script reads: renaming one in StatJSON must fail here.
        for field in ["state", "interface", "virtual_router_id", "mode", "unicast_peers", "advert_interval_ms",
                      "preempt", "tracked_pools_down", "priority", "effective_priority", "master", "virtual_ips",
                      "adverts_sent", "adverts_received", "discards", "transitions", "became_master",
                      "last_transition_at", "last_transition_reason"] {
            XCTAssertTrue(html.contains("ha.\(field)"), field)
            XCTAssertTrue(StatJSON.render(SnapshotFixture.makeWithHA()).contains("\"\(field)\":"), field)
        }
    }

    func testAnycastSection() {
        // Hidden in the markup like the HA section: a node without [anycast] never shows it.
        XCTAssertTrue(html.contains("<section id=\"anycast\" hidden>"))
        XCTAssertTrue(html.contains("<h2>Anycast"))
        XCTAssertTrue(html.contains("renderAnycast(status.anycast || null, now)"))
        XCTAssertTrue(html.contains("section.hidden = !anycast || typeof anycast !== \"object\""))
        for id in ["anycast-settings", "anycast-table"] {
            XCTAssertEqual(html.components("id=\"\(id)\""), 1, id)
            XCTAssertTrue(html.contains("\"\(id)\""), "\(id) is never filled")
        }
        // The hooks a browser test would read: a badge per VIP, by address.
        XCTAssertTrue(html.contains("\"anycast-vip-\" + v.address"))
        XCTAssertTrue(html.contains("setAttribute(\"data-announced\""))
        for word in ["ANNOUNCED", "WITHDRAWN"] {
            XCTAssertTrue(html.contains(".st-\(word) {"), "no colour for \(word)")
        }
        // The JSON fields the script reads: renaming one in StatJSON must fail here.
        let json = StatJSON.render(SnapshotFixture.makeWithAnycast())
        for field in ["interface", "interface_kind", "announce_when", "hold_down_ms", "withdraw_grace_ms", "vips"] {
            XCTAssertTrue(html.contains("anycast.\(field)"), field)
            XCTAssertTrue(json.contains("\"\(field)\":"), field)
        }
        for field in ["address", "announced", "since", "transitions", "withdrawn_by_operator", "reason", "pending",
                      "pools"] {
            XCTAssertTrue(html.contains("v.\(field)"), field)
            XCTAssertTrue(json.contains("\"\(field)\":"), field)
        }
    }
}

extension String {
    /// How many times `needle` occurs.
    func components(_ needle: String) -> Int {
        var count = 0
        var rest = self[...]
        while let range = rest.firstRange(of: needle) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }
}
