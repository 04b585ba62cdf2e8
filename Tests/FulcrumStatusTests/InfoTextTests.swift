import XCTest
@testable import FulcrumStatus

final class InfoTextTests: XCTestCase {
    func testFixture() {
        let text = InfoText.render(SnapshotFixture.make())
        XCTAssertEqual(text, """
            version: 1.4.0
            pid: 4242
            started_at: 1699906216 (2023-11-13T20:10:16Z)
            uptime: 93784 (1d 2h 3m 4s)
            workers: 4
            config_dir: /etc/fulcrum
            config_file: /etc/fulcrum/fulcrum.toml
            config_file: /etc/fulcrum/conf.d/10-web.toml
            config_loaded_at: 1699999400 (2023-11-14T22:03:20Z)
            reloads: 7
            reloads_refused: 2
            last_reload: refused
            listeners: 2
            pools: 2
            members: 5
            current_connections: 18
            total_connections: 1060
            bytes_in: 163456
            bytes_out: 744321

            """)
        assertSocketSafe(text)
    }

    func testLineBreaksInValuesAreEscaped() {
        var snapshot = SnapshotFixture.make()
        snapshot.info.configFiles = ["/etc/fulcrum/evil\n\nname.toml"]
        snapshot.info.version = "1.0\r\n"
        let text = InfoText.render(snapshot)
        XCTAssertTrue(text.contains("config_file: /etc/fulcrum/evil\\n\\nname.toml\n"), text)
        XCTAssertTrue(text.contains("version: 1.0\\r\\n\n"), text)
        assertSocketSafe(text)
    }

    func testEmptySnapshot() {
        let snapshot = StatusSnapshot(info: SnapshotFixture.info(), listeners: [], pools: [])
        let text = InfoText.render(snapshot)
        XCTAssertTrue(text.contains("\nlisteners: 0\npools: 0\nmembers: 0\ncurrent_connections: 0\n"), text)
        assertSocketSafe(text)
    }
}

final class TimeTextTests: XCTestCase {
    func testISO8601() {
        XCTAssertEqual(UTCTime.iso8601(0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(UTCTime.iso8601(1_700_000_000), "2023-11-14T22:13:20Z")
        XCTAssertEqual(UTCTime.iso8601(951_782_400), "2000-02-29T00:00:00Z")  // leap day of a /400 year
        XCTAssertEqual(UTCTime.iso8601(4_107_542_399), "2100-02-28T23:59:59Z")  // 2100 is not leap
        XCTAssertEqual(UTCTime.iso8601(4_107_542_400), "2100-03-01T00:00:00Z")
        XCTAssertEqual(UTCTime.iso8601(-1), "1969-12-31T23:59:59Z")
        XCTAssertEqual(UTCTime.iso8601(2_147_483_648), "2038-01-19T03:14:08Z")
    }

    func testHumanDuration() {
        XCTAssertEqual(DurationText.human(0), "0s")
        XCTAssertEqual(DurationText.human(59), "59s")
        XCTAssertEqual(DurationText.human(60), "1m 0s")
        XCTAssertEqual(DurationText.human(3600), "1h 0m 0s")
        XCTAssertEqual(DurationText.human(86_400 * 3 + 5), "3d 0h 0m 5s")
        XCTAssertEqual(DurationText.human(-5), "0s")
    }
}
