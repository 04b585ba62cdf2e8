import XCTest
@testable import FulcrumStatus

final class MembersTableTests: XCTestCase {
    func testAllPools() {
        let text = MembersTable.render(SnapshotFixture.make())
        XCTAssertEqual(text, """
            POOL  MEMBER  ADDRESS         STATUS      ADMIN  WEIGHT  CUR  TOTAL  BYTES_IN  BYTES_OUT  CHECK
            dns   dns-a   [fd00::1]:53    NO_MONITOR  ready       2    5     40     24000      60000  -
            dns   dns-b   [fd00::2]:53    OFFLINE     maint       1    0     20     15000      30000  -
            web   web-1   10.0.0.11:8080  ONLINE      ready      10    8    700    100000     500000  L7OK 12ms
            web   web-2   10.0.0.12:8080  ERROR       ready       5    0    250     20000      80000  L7STS 1004ms
            web   web-3   10.0.0.13:8080  DRAINING    drain       3    1      2         0          0  -

            """)
        assertSocketSafe(text ?? "")
    }

    func testOnePool() {
        let text = MembersTable.render(SnapshotFixture.make(), pool: "dns") ?? ""
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].hasPrefix("POOL  MEMBER  ADDRESS       STATUS"), String(lines[0]))
        XCTAssertTrue(lines.dropFirst().allSatisfy { $0.hasPrefix("dns ") })
    }

    func testUnknownPool() {
        XCTAssertNil(MembersTable.render(SnapshotFixture.make(), pool: "nope"))
    }

    func testConfigAdminDownAndNoLineBreaks() {
        var snapshot = SnapshotFixture.make()
        snapshot.pools[1].members[0].adminStateUp = false
        snapshot.pools[1].members[1].health?.lastCheck = "L7RSP\nbad"
        let text = MembersTable.render(snapshot, pool: "web") ?? ""
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 5)
        XCTAssertTrue(lines[1].contains(" OFFLINE   disabled "), String(lines[1]))
        XCTAssertTrue(lines[2].hasSuffix("L7RSP\\nbad 1004ms"), String(lines[2]))
        assertSocketSafe(text)
    }

    func testNoPoolsGivesHeaderOnly() {
        let snapshot = StatusSnapshot(info: SnapshotFixture.info(), listeners: [], pools: [])
        XCTAssertEqual(MembersTable.render(snapshot),
                       "POOL  MEMBER  ADDRESS  STATUS  ADMIN  WEIGHT  CUR  TOTAL  BYTES_IN  BYTES_OUT  CHECK\n")
    }
}
