import XCTest
@testable import FulcrumStatus

final class HATextTests: XCTestCase {
    func testDisabled() {
        // The exact line the socket answered before HA existed: scripts may match it.
        let text = HAText.render(SnapshotFixture.make())
        XCTAssertEqual(text, "ha: disabled (no [ha] section in the configuration)\n")
        XCTAssertEqual(text, HAText.disabled)
        assertSocketSafe(text)
    }

    func testFixture() {
        let text = HAText.render(SnapshotFixture.makeWithHA())
        XCTAssertEqual(text, """
            state: BACKUP
            interface: eth0
            virtual_router_id: 51
            priority: 150
            effective_priority: 100
            advert_interval_ms: 100
            preempt: true
            master: 198.18.0.11
            virtual_ip: 192.0.2.10/24
            virtual_ip: 2001:db8::10/64
            mode: unicast
            unicast_peer: 198.18.0.11
            tracked_pools_down: web
            adverts_sent: 1234
            adverts_received: 5678
            discarded_wrong_version: 1
            discarded_wrong_type: 2
            discarded_wrong_ttl: 3
            discarded_bad_checksum: 4
            discarded_bad_length: 5
            discarded_wrong_vrid: 6
            discarded_wrong_family: 7
            discarded_not_a_peer: 8
            discarded_other: 9
            transitions: 5
            became_master: 2
            last_transition: 1699999875 (2023-11-14T22:11:15Z)
            last_transition_reason: higher priority advert from 198.18.0.11 (preempted)

            """)
        assertSocketSafe(text)
    }

    /// A node just started: multicast, nothing known yet, no transition, no tracked pool down.
    func testFreshMulticastNode() {
        var snapshot = SnapshotFixture.make()
        snapshot.ha = HAStatus(interface: "ens3", virtualRouterID: 7, state: .initialize, configuredPriority: 100,
                               effectivePriority: 100, advertIntervalMs: 1000, preempt: false, unicastPeers: [],
                               virtualIPs: ["192.0.2.10/24"])
        let text = HAText.render(snapshot)
        XCTAssertEqual(text, """
            state: INIT
            interface: ens3
            virtual_router_id: 7
            priority: 100
            effective_priority: 100
            advert_interval_ms: 1000
            preempt: false
            master: unknown
            virtual_ip: 192.0.2.10/24
            mode: multicast
            tracked_pools_down: none
            adverts_sent: 0
            adverts_received: 0
            discarded_wrong_version: 0
            discarded_wrong_type: 0
            discarded_wrong_ttl: 0
            discarded_bad_checksum: 0
            discarded_bad_length: 0
            discarded_wrong_vrid: 0
            discarded_wrong_family: 0
            discarded_not_a_peer: 0
            discarded_other: 0
            transitions: 0
            became_master: 0
            last_transition: none
            last_transition_reason: none

            """)
        XCTAssertFalse(text.contains("unicast_peer"))
        assertSocketSafe(text)
    }

    func testSeveralPeersAndPoolsDown() {
        var snapshot = SnapshotFixture.makeWithHA()
        snapshot.ha?.unicastPeers = ["198.18.0.11", "198.18.0.12"]
        snapshot.ha?.trackedPoolsDown = ["api", "web"]
        snapshot.ha?.state = .master
        let text = HAText.render(snapshot)
        XCTAssertTrue(text.hasPrefix("state: MASTER\n"), text)
        XCTAssertTrue(text.contains("mode: unicast\nunicast_peer: 198.18.0.11\nunicast_peer: 198.18.0.12\n"), text)
        XCTAssertTrue(text.contains("\ntracked_pools_down: api, web\n"), text)
    }

    /// The reason and interface come from the daemon and the config: a line break in either
    /// must not split the reply or end it early.
    func testLineBreaksInValuesAreEscaped() {
        var snapshot = SnapshotFixture.makeWithHA()
        snapshot.ha?.lastTransitionReason = "bad\n\nreason\r"
        snapshot.ha?.interface = "eth\t0"
        let text = HAText.render(snapshot)
        XCTAssertTrue(text.contains("\nlast_transition_reason: bad\\n\\nreason\\r\n"), text)
        XCTAssertTrue(text.contains("\ninterface: eth\\t0\n"), text)
        assertSocketSafe(text)
    }

    func testStateNames() {
        XCTAssertEqual(HAStatus.State.allCases.map(\.rawValue), ["INIT", "BACKUP", "MASTER"])
    }
}
