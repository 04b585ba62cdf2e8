import XCTest
@testable import FulcrumStatus

final class AnycastTextTests: XCTestCase {
    func testDisabled() {
        let text = AnycastText.render(SnapshotFixture.make())
        XCTAssertEqual(text, "anycast: disabled (no [anycast] section in the configuration)\n")
        XCTAssertEqual(text, AnycastText.disabled)
        assertSocketSafe(text)
    }

    func testFixture() {
        let text = AnycastText.render(SnapshotFixture.makeWithAnycast())
        XCTAssertEqual(text, """
            anycast: interface fulcrum0 (dummy), announce_when any_member_up, hold_down 3000 ms, withdraw_grace 2000 ms
            VIP            ANNOUNCED  SINCE                 TRANSITIONS  OPERATOR   REASON                       PENDING
            192.0.2.100    yes        2023-11-14T21:13:20Z            3  -          pool web: 1 of 3 members up  -
            2001:db8::100  no         2023-11-14T22:11:15Z            4  withdrawn  withdrawn by operator        -
            198.51.100.7   yes        2023-11-14T22:12:20Z            1  -          pool api: 0 of 2 members up  withdraw in 1.4 s (hold_down 3000 ms)

            """)
        assertSocketSafe(text)
    }

    /// Configured but no VIP yet (every listener on another address): the settings and an
    /// empty table, not the "disabled" line.
    func testNoVIPs() {
        var snapshot = SnapshotFixture.make()
        snapshot.anycast = AnycastStatus(interface: "lo-anycast", interfaceKind: "existing", announceWhen: "always",
                                         holdDownMs: 0, withdrawGraceMs: 0, vips: [])
        let text = AnycastText.render(snapshot)
        XCTAssertEqual(text, """
            anycast: interface lo-anycast (existing), announce_when always, hold_down 0 ms, withdraw_grace 0 ms
            VIP  ANNOUNCED  SINCE  TRANSITIONS  OPERATOR  REASON  PENDING

            """)
        assertSocketSafe(text)
    }

    /// Reason, pending and interface come from the daemon and the config: a line break in any
    /// of them must not split the reply or end it early; an empty reason still fills its cell.
    func testLineBreaksInValuesAreEscaped() {
        var snapshot = SnapshotFixture.makeWithAnycast()
        snapshot.anycast?.interface = "any\n\ncast"
        snapshot.anycast?.vips[0].reason = "bad\r\nreason"
        snapshot.anycast?.vips[1].reason = ""
        snapshot.anycast?.vips[2].pending = "soon\n"
        let text = AnycastText.render(snapshot)
        XCTAssertTrue(text.hasPrefix("anycast: interface any\\n\\ncast (dummy), "), text)
        XCTAssertTrue(text.contains("  bad\\r\\nreason  "), text)
        XCTAssertTrue(text.contains("  soon\\n\n"), text)
        XCTAssertTrue(text.contains("  withdrawn  -  "), "empty reason shows as -: \(text)")
        XCTAssertEqual(text.split(separator: "\n").count, 5)
        assertSocketSafe(text)
    }
}

final class IPLiteralTests: XCTestCase {
    func testCanonicalText() {
        XCTAssertEqual(IPLiteral.canonical("192.0.2.10"), "192.0.2.10")
        XCTAssertEqual(IPLiteral.canonical("0.0.0.0"), "0.0.0.0")
        XCTAssertEqual(IPLiteral.canonical("2001:db8::10"), "2001:db8::10")
        XCTAssertEqual(IPLiteral.canonical("2001:DB8:0:0::0010"), "2001:db8::10", "as `show anycast` lists it")
        XCTAssertEqual(IPLiteral.canonical("::"), "::")
        XCTAssertEqual(IPLiteral.canonical("::ffff:192.0.2.1"), "::ffff:192.0.2.1")
        XCTAssertEqual(IPLiteral.canonical("0:0:0:0:0:0:0:1"), "::1")
    }

    func testRefused() {
        for text in ["", "192.0.2", "192.0.2.256", "192.0.2.1.5", "192.0.2.010", "192.0.2.1/32", "2001:db8::10/128",
                     "[2001:db8::10]", "fe80::1%eth0", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "gggg::1", "web",
                     "192.0.2.1 ", " 192.0.2.1", "192.0.2.1\u{0}", "١٩٢.0.2.1", "0x7f.0.0.1",
                     String(repeating: "0", count: 40) + "::1"] {
            XCTAssertNil(IPLiteral.canonical(text[...]), text.debugDescription)
        }
    }
}
