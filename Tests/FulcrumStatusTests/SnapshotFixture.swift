import XCTest
@testable import FulcrumStatus

/// A small daemon's snapshot: a TCP listener `web` on pool `web` (HTTP monitor, three members:
/// up, down, draining backup), a UDP listener `dns` on pool `dns` (no monitor, two members,
/// one in maint). Numbers are distinct so a wrong mapping shows.
enum SnapshotFixture {
    static let now: Int64 = 1_700_000_000

    static func make() -> StatusSnapshot {
        StatusSnapshot(info: info(), listeners: [webListener(), dnsListener()], pools: [dnsPool(), webPool()])
    }

    /// The fixture as a node of an HA pair: `make()` stays without `[ha]` (nil), as most
    /// daemons run, so the existing exact outputs do not change.
    static func makeWithHA() -> StatusSnapshot {
        var snapshot = make()
        snapshot.ha = ha()
        return snapshot
    }

    /// A backup that lost mastership because its tracked pool `web` went down (priority 150
    /// lowered to 100), unicast to one peer, one IPv4 and one IPv6 virtual IP. Each discard
    /// reason has its own count, so a swapped reason shows.
    static func ha() -> HAStatus {
        HAStatus(interface: "eth0", virtualRouterID: 51, state: .backup, configuredPriority: 150,
                 effectivePriority: 100, advertIntervalMs: 100, preempt: true, unicastPeers: ["198.18.0.11"],
                 virtualIPs: ["192.0.2.10/24", "2001:db8::10/64"], masterAddress: "198.18.0.11",
                 trackedPoolsDown: ["web"], advertsSent: 1234, advertsReceived: 5678,
                 discards: HAStatus.Discards(wrongVersion: 1, wrongType: 2, wrongTTL: 3, badChecksum: 4, badLength: 5,
                                             wrongVRID: 6, wrongFamily: 7, notAPeer: 8, other: 9),
                 transitions: 5, lastTransitionAt: now - 125,
                 lastTransitionReason: "higher priority advert from 198.18.0.11 (preempted)", becameMasterCount: 2)
    }

    /// The fixture as an anycast node: `make()` stays without `[anycast]` (nil).
    static func makeWithAnycast() -> StatusSnapshot {
        var snapshot = make()
        snapshot.anycast = anycast()
        return snapshot
    }

    /// Three VIPs in the three states an operator tells apart: announced and steady, drained by
    /// `anycast withdraw` (its condition still holds), and announced with a withdrawal pending
    /// (condition lost, hold_down not over). Transition counts differ so a swapped row shows.
    static func anycast() -> AnycastStatus {
        AnycastStatus(interface: "fulcrum0", interfaceKind: "dummy", announceWhen: "any_member_up", holdDownMs: 3000,
                      withdrawGraceMs: 2000, vips: [
                          AnycastStatus.VIP(address: "192.0.2.100", announced: true, conditionHolds: true,
                                            reason: "pool web: 1 of 3 members up", since: now - 3600,
                                            transitions: 3, pools: ["web"]),
                          AnycastStatus.VIP(address: "2001:db8::100", announced: false, conditionHolds: true,
                                            reason: "withdrawn by operator", since: now - 125, transitions: 4,
                                            withdrawnByOperator: true, pools: ["dns"]),
                          AnycastStatus.VIP(address: "198.51.100.7", announced: true, conditionHolds: false,
                                            reason: "pool api: 0 of 2 members up",
                                            pending: "withdraw in 1.4 s (hold_down 3000 ms)", since: now - 60,
                                            transitions: 1, pools: ["api", "web"]),
                      ])
    }

    static func info() -> DaemonInfo {
        var info = DaemonInfo(version: "1.4.0", pid: 4242, startedAt: now - 93_784, now: now, workers: 4,
                              configDirectory: "/etc/fulcrum",
                              configFiles: ["/etc/fulcrum/fulcrum.toml", "/etc/fulcrum/conf.d/10-web.toml"],
                              configLoadedAt: now - 600)
        info.reloadsApplied = 7
        info.reloadsRefused = 2
        info.lastReloadSucceeded = false
        return info
    }

    static func webListener() -> ListenerStatus {
        var tcp = ListenerCounters()
        tcp.accepted = 1000
        tcp.closed = 988
        tcp.refusedLimit = 3
        tcp.deniedCIDR = 5
        tcp.noMember = 7
        tcp.connectFailed = 11
        tcp.idleTimeouts = 13
        tcp.bytesIn = 123_456
        tcp.bytesOut = 654_321
        var sampled = Sampled()
        sampled.rate = 17
        sampled.rateMax = 42
        sampled.currentMax = 30
        sampled.bytesInRate = 1500
        sampled.bytesOutRate = 9000
        return ListenerStatus(name: "web", transport: .tcp, endpoint: "127.0.0.1:8080", pool: "web",
                              connectionLimit: 10_000, tcp: tcp, sampled: sampled)
    }

    static func dnsListener() -> ListenerStatus {
        var udp = UDPListenerCounters()
        udp.datagramsIn = 500
        udp.bytesIn = 40_000
        udp.datagramsOut = 480
        udp.bytesOut = 90_000
        udp.sessionsCreated = 60
        udp.sessionsExpired = 50
        udp.sessionsEvicted = 4
        udp.sessionsClosed = 54
        udp.truncated = 2
        udp.denied = 9
        udp.dropped = 1
        return ListenerStatus(name: "dns", transport: .udp, endpoint: "[::1]:5353", pool: "dns",
                              connectionLimit: -1, udp: udp)
    }

    static func webPool() -> PoolStatus {
        var up = MemberStatus(name: "web-1", pool: "web", endpoint: "10.0.0.11:8080", backup: false,
                              adminStateUp: true, configWeight: 10, weight: 10, adminState: .ready,
                              health: MemberHealthStatus(verdict: .up, lastCheck: "L7OK", lastCheckDetail: "200 OK",
                                                         lastCheckDurationMs: 12.4, lastChange: now - 3600,
                                                         checksFailed: 2, downTransitions: 1, downtimeSeconds: 30))
        up.tcp.connections = 700
        up.tcp.closed = 692
        up.tcp.connectFailures = 4
        up.tcp.connectTimeouts = 1
        up.tcp.bytesToMember = 100_000
        up.tcp.bytesFromMember = 500_000
        up.sampled.rate = 12
        up.sampled.rateMax = 30
        up.sampled.currentMax = 20

        var down = MemberStatus(name: "web-2", pool: "web", endpoint: "10.0.0.12:8080", backup: false,
                                adminStateUp: true, configWeight: 5, weight: 5, adminState: .ready,
                                health: MemberHealthStatus(verdict: .down, lastCheck: "L7STS",
                                                           lastCheckDetail: "503 Service, \"Unavailable\"",
                                                           lastCheckDurationMs: 1003.6, lastChange: now - 120,
                                                           checksFailed: 9, downTransitions: 3, downtimeSeconds: 400))
        down.tcp.connections = 250
        down.tcp.closed = 250
        down.tcp.connectFailures = 8
        down.tcp.bytesToMember = 20_000
        down.tcp.bytesFromMember = 80_000

        var backup = MemberStatus(name: "web-3", pool: "web", endpoint: "10.0.0.13:8080", backup: true,
                                  adminStateUp: true, configWeight: 3, weight: 3, adminState: .drain,
                                  health: MemberHealthStatus(verdict: .unknown, lastChange: now - 600))
        backup.tcp.connections = 2
        backup.tcp.closed = 1
        return PoolStatus(name: "web", algorithm: "ROUND_ROBIN", monitor: "HTTP", transports: [.tcp],
                          members: [up, down, backup])
    }

    static func dnsPool() -> PoolStatus {
        var a = MemberStatus(name: "dns-a", pool: "dns", endpoint: "[fd00::1]:53", backup: false,
                             adminStateUp: true, configWeight: 1, weight: 2, adminState: .ready, health: nil)
        a.udp.sessions = 40
        a.udp.sessionsEnded = 35
        a.udp.datagramsTo = 300
        a.udp.bytesTo = 24_000
        a.udp.datagramsFrom = 290
        a.udp.bytesFrom = 60_000
        a.udp.refused = 6
        var b = MemberStatus(name: "dns-b", pool: "dns", endpoint: "[fd00::2]:53", backup: false,
                             adminStateUp: true, configWeight: 1, weight: 1, adminState: .maint, health: nil)
        b.udp.sessions = 20
        b.udp.sessionsEnded = 20
        b.udp.datagramsTo = 190
        b.udp.bytesTo = 15_000
        b.udp.datagramsFrom = 189
        b.udp.bytesFrom = 30_000
        return PoolStatus(name: "dns", algorithm: "SOURCE_IP", monitor: nil, transports: [.udp], members: [a, b])
    }
}

/// Output checks every renderer shares: lines end with "\n" and none is empty (an empty line
/// ends a status-socket reply).
func assertSocketSafe(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(text.hasSuffix("\n"), "does not end with a newline", file: file, line: line)
    XCTAssertFalse(text.contains("\n\n"), "has an empty line", file: file, line: line)
    XCTAssertFalse(text.hasPrefix("\n"), "starts with an empty line", file: file, line: line)
    XCTAssertFalse(text.contains("\r"), "has a CR", file: file, line: line)
}
