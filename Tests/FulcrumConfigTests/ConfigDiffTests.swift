import FulcrumAddress
import FulcrumConfig
import XCTest

/// ConfigChanges: identity by name, a rebound listener as removed + added, a pool changed by its
/// members, a removed pool's members removed, globals split into applied and needing a restart.
final class ConfigDiffTests: XCTestCase {
    private func ip(_ text: String) -> IPAddress { IPAddress(text)! }

    private func member(_ name: String, _ address: String, _ port: UInt16 = 80, weight: Int = 1) -> Member {
        Member(name: name, address: ip(address), port: port, weight: weight)
    }

    private func listener(_ name: String, port: UInt16, pool: String = "web") -> Listener {
        Listener(name: name, address: ip("127.0.0.1"), port: port, defaultPool: pool)
    }

    /// One TCP listener on 127.0.0.1:8080 to pool web (app1, app2), and pool api (api1).
    private func base() -> Config {
        Config(workers: 2, shutdownGraceMs: 10_000, pipeSize: 65_536, statusSocket: "/run/fulcrum/status.sock",
               listeners: [listener("web", port: 8080)],
               pools: [Pool(name: "api", members: [member("api1", "10.0.1.1")]),
                       Pool(name: "web", members: [member("app1", "10.0.0.1"), member("app2", "10.0.0.2")])])
    }

    private func edit(_ config: Config, pool name: String, _ change: (inout Pool) -> Void) -> Config {
        var config = config
        let index = config.pools.firstIndex { $0.name == name }!
        change(&config.pools[index])
        return config
    }

    func testSameConfigIsEmpty() {
        let changes = ConfigChanges(from: base(), to: base())
        XCTAssertTrue(changes.isEmpty)
        XCTAssertEqual(changes.summary, "listeners +0 -0 ~0, pools +0 -0 ~0, members +0 -0 ~0")
        XCTAssertEqual(changes.lines, [])
    }

    func testOrderOfObjectsDoesNotMatter() {
        var shuffled = base()
        shuffled.pools.reverse()
        shuffled.pools[0].members.reverse()
        shuffled.listeners.append(listener("api", port: 9090, pool: "api"))
        var sorted = base()
        sorted.listeners.insert(listener("api", port: 9090, pool: "api"), at: 0)
        XCTAssertTrue(ConfigChanges(from: sorted, to: shuffled).isEmpty)
    }

    func testListenerAddedAndRemoved() {
        var new = base()
        new.listeners.append(Listener(name: "dns", transport: .udp, address: ip("::1"), port: 53, defaultPool: "api"))
        let added = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(added.listenersAdded, ["dns"])
        XCTAssertEqual(added.lines, ["listener added: dns (UDP [::1]:53)"])
        XCTAssertEqual(added.summary, "listeners +1 -0 ~0, pools +0 -0 ~0, members +0 -0 ~0")

        let removed = ConfigChanges(from: new, to: base())
        XCTAssertEqual(removed.listenersRemoved, ["dns"])
        XCTAssertEqual(removed.listenersAdded, [])
        XCTAssertEqual(removed.lines, ["listener removed: dns (UDP [::1]:53)"])
    }

    func testListenerRebindIsRemovedAndAdded() {
        let rebinds: [(String, (inout Listener) -> Void, String)] = [
            ("port", { $0.port = 8081 }, "TCP 127.0.0.1:8081"),
            ("address", { $0.address = IPAddress("127.0.0.2")! }, "TCP 127.0.0.2:8080"),
            ("protocol", { $0.transport = .udp }, "UDP 127.0.0.1:8080"),
        ]
        for (what, change, binding) in rebinds {
            var new = base()
            change(&new.listeners[0])
            new.listeners[0].timeoutClientDataMs = 1 // folded into the rebind, not a change of its own
            let changes = ConfigChanges(from: base(), to: new)
            XCTAssertEqual(changes.listenersAdded, ["web"], what)
            XCTAssertEqual(changes.listenersRemoved, ["web"], what)
            XCTAssertEqual(changes.listenersChanged, [], what)
            XCTAssertEqual(changes.summary, "listeners +1 -1 ~0, pools +0 -0 ~0, members +0 -0 ~0", what)
            XCTAssertEqual(changes.lines, [
                "listener added: web (\(binding), was TCP 127.0.0.1:8080)",
                "listener removed: web (TCP 127.0.0.1:8080, moves to \(binding))",
            ], what)
        }
    }

    func testListenerAttributesAreChanges() {
        var new = base()
        new.listeners[0].timeoutClientDataMs = 1000
        let one = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(one.listenersChanged, ["web"])
        XCTAssertEqual(one.listenersAdded + one.listenersRemoved, [])
        XCTAssertEqual(one.lines, ["listener changed: web (timeout_client_data 50000 -> 1000)"])

        new.listeners[0].defaultPool = "api"
        new.listeners[0].connectionLimit = 100
        new.listeners[0].timeoutMemberConnectMs = 2
        new.listeners[0].timeoutMemberDataMs = 3
        new.listeners[0].allowedCIDRs = [CIDR("10.0.0.0/8")!, CIDR("fd00::/64")!]
        let all = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(all.lines, [
            "listener changed: web (default_pool web -> api, connection_limit -1 -> 100, "
                + "timeout_client_data 50000 -> 1000, timeout_member_connect 5000 -> 2, timeout_member_data 50000 -> 3, "
                + "allowed_cidrs all -> [\"10.0.0.0/8\", \"fd00::/64\"])",
        ])
        XCTAssertEqual(all.summary, "listeners +0 -0 ~1, pools +0 -0 ~0, members +0 -0 ~0")
    }

    func testPoolAttributeChangeLeavesMembersAlone() {
        let new = edit(base(), pool: "web") { pool in
            pool.lbAlgorithm = .leastConnections
            pool.retries = 0
            pool.proxyProtocol = .proxyV2
            pool.onMemberDown = .shutdownSessions
        }
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.poolsChanged, ["web"])
        XCTAssertEqual(changes.membersChanged + changes.membersAdded + changes.membersRemoved, [])
        XCTAssertEqual(changes.lines, [
            "pool changed: web (lb_algorithm ROUND_ROBIN -> LEAST_CONNECTIONS, retries 3 -> 0, protocol plain -> PROXYV2, "
                + "on_member_down keep -> shutdown_sessions)",
        ])
    }

    func testMemberChangeChangesItsPool() {
        let new = edit(base(), pool: "web") { $0.members[0].weight = 5 }
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.membersChanged, ["web/app1"])
        XCTAssertEqual(changes.poolsChanged, ["web"])
        XCTAssertEqual(changes.lines, ["pool changed: web (members +0 -0 ~1)", "member changed: web/app1 (weight 1 -> 5)"])

        let every = edit(base(), pool: "web") { pool in
            pool.members[1].address = IPAddress("10.0.0.9")!
            pool.members[1].port = 81
            pool.members[1].backup = true
            pool.members[1].adminStateUp = false
            pool.members[1].monitorAddress = IPAddress("10.0.9.9")!
            pool.members[1].monitorPort = 9000
        }
        XCTAssertEqual(ConfigChanges(from: base(), to: every).lines, [
            "pool changed: web (members +0 -0 ~1)",
            "member changed: web/app2 (address 10.0.0.2 -> 10.0.0.9, protocol_port 80 -> 81, backup false -> true, "
                + "admin_state_up true -> false, monitor_address unset -> 10.0.9.9, monitor_port unset -> 9000)",
        ])
    }

    /// The example of the reply: one listener added, two members added, one removed, one changed.
    func testMembersAddedRemovedAndChanged() {
        var new = edit(base(), pool: "web") { pool in
            pool.members = [member("app1", "10.0.0.1", weight: 5), member("app3", "10.0.0.3"), member("app4", "10.0.0.4", 8080)]
        }
        new.listeners.append(listener("web2", port: 8081))
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.summary, "listeners +1 -0 ~0, pools +0 -0 ~1, members +2 -1 ~1")
        XCTAssertEqual(changes.membersAdded, ["web/app3", "web/app4"])
        XCTAssertEqual(changes.membersRemoved, ["web/app2"])
        XCTAssertEqual(changes.membersChanged, ["web/app1"])
        XCTAssertEqual(changes.lines, [
            "listener added: web2 (TCP 127.0.0.1:8081)",
            "pool changed: web (members +2 -1 ~1)",
            "member added: web/app3 (10.0.0.3:80)",
            "member added: web/app4 (10.0.0.4:8080)",
            "member removed: web/app2 (10.0.0.2:80)",
            "member changed: web/app1 (weight 1 -> 5)",
        ])
    }

    func testRemovedPoolRemovesItsMembersAndAddedPoolAddsThem() {
        var new = base()
        new.pools.removeAll { $0.name == "api" }
        new.pools.append(Pool(name: "db", lbAlgorithm: .sourceIP, members: [member("db1", "10.0.2.1", 5432),
                                                                            member("db2", "10.0.2.2", 5432)]))
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.poolsAdded, ["db"])
        XCTAssertEqual(changes.poolsRemoved, ["api"])
        XCTAssertEqual(changes.poolsChanged, [])
        XCTAssertEqual(changes.membersAdded, ["db/db1", "db/db2"])
        XCTAssertEqual(changes.membersRemoved, ["api/api1"])
        XCTAssertEqual(changes.summary, "listeners +0 -0 ~0, pools +1 -1 ~0, members +2 -1 ~0")
        XCTAssertEqual(changes.lines, [
            "pool added: db (SOURCE_IP, 2 members)",
            "pool removed: api (1 member)",
            "member added: db/db1 (10.0.2.1:5432)",
            "member added: db/db2 (10.0.2.2:5432)",
            "member removed: api/api1 (10.0.1.1:80)",
        ])
    }

    /// A member's identity includes its pool: the same name moving pools is removed + added.
    func testMemberIdentityIsPoolAndName() {
        var new = base()
        new.pools[0].members.append(member("app2", "10.0.0.2"))
        new.pools[1].members.removeAll { $0.name == "app2" }
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.membersAdded, ["api/app2"])
        XCTAssertEqual(changes.membersRemoved, ["web/app2"])
        XCTAssertEqual(changes.membersChanged, [])
        XCTAssertEqual(changes.poolsChanged, ["api", "web"])
    }

    func testHealthMonitorAndPersistence() {
        var monitor = HealthMonitor(type: .http, delayMs: 5000, timeoutMs: 3000)
        let withMonitor = edit(base(), pool: "web") { $0.healthMonitor = monitor }
        XCTAssertEqual(ConfigChanges(from: base(), to: withMonitor).lines, ["pool changed: web (healthmonitor none -> HTTP)"])
        XCTAssertEqual(ConfigChanges(from: withMonitor, to: base()).lines, ["pool changed: web (healthmonitor HTTP -> none)"])

        monitor.delayMs = 500
        monitor.timeoutMs = 250
        monitor.urlPath = "/healthz"
        monitor.expectedCodes = try! ExpectedCodes.parse("200-204").get()
        monitor.domainName = "example.org"
        let tuned = edit(base(), pool: "web") { pool in
            pool.healthMonitor = monitor
            pool.sessionPersistence = SessionPersistence(timeoutSeconds: 60, granularity: 0xFFFF_FF00)
        }
        XCTAssertEqual(ConfigChanges(from: withMonitor, to: tuned).lines, [
            "pool changed: web (session_persistence none -> SOURCE_IP, healthmonitor.delay 5 -> 0.5, "
                + "healthmonitor.timeout 3 -> 0.25, healthmonitor.url_path \"/\" -> \"/healthz\", "
                + "healthmonitor.expected_codes \"200\" -> \"200-204\", healthmonitor.domain_name none -> \"example.org\")",
        ])
        let persistence = edit(tuned, pool: "web") { $0.sessionPersistence = SessionPersistence(timeoutSeconds: 360) }
        XCTAssertEqual(ConfigChanges(from: tuned, to: persistence).lines, [
            "pool changed: web (session_persistence.persistence_timeout 60 -> 360, "
                + "session_persistence.persistence_granularity 255.255.255.0 -> 255.255.255.255)",
        ])
    }

    func testUDPPayloadsAreShownShort() {
        var monitor = HealthMonitor(type: .udpConnect, delayMs: 5000, timeoutMs: 3000)
        let before = edit(base(), pool: "api") { $0.healthMonitor = monitor }
        monitor.udpSend = [0x00, 0xFF]
        monitor.udpExpect = .regex("^pong")
        let after = edit(base(), pool: "api") { $0.healthMonitor = monitor }
        XCTAssertEqual(ConfigChanges(from: before, to: after).lines, [
            "pool changed: api (healthmonitor.udp_send \"\" -> hex \"00 ff\", healthmonitor.udp_expect none -> regex \"^pong\")",
        ])
        var big = monitor
        big.udpSend = Array(repeating: 1, count: 1000)
        var other = big
        other.udpSend[999] = 2
        let one = edit(base(), pool: "api") { $0.healthMonitor = big }
        let two = edit(base(), pool: "api") { $0.healthMonitor = other }
        XCTAssertEqual(ConfigChanges(from: one, to: two).lines,
                       ["pool changed: api (healthmonitor.udp_send changed (1000 bytes))"])
    }

    func testGlobalsNeedingARestart() {
        var new = base()
        new.workers = 4
        new.udpMaxSessions = 1000
        new.pipeSize = 131_072
        new.statusSocket = "/run/other.sock"
        new.statusGroup = "adm"
        new.readonlySocket = "/run/ro.sock"
        new.metricsListen = Endpoint(address: IPAddress("::1")!, port: 9469)
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.needsRestart, [
            "workers: 2 -> 4 needs a restart",
            "udp_max_sessions: 65536 -> 1000 needs a restart",
            "pipe_size: 65536 -> 131072 bytes needs a restart",
            "status.socket: \"/run/fulcrum/status.sock\" -> \"/run/other.sock\" needs a restart",
            "status.group: none -> \"adm\" needs a restart",
            "status.readonly_socket: none -> \"/run/ro.sock\" needs a restart",
            "status.metrics_listen: off -> \"[::1]:9469\" needs a restart",
        ])
        XCTAssertEqual(changes.settingsChanged, [])
        XCTAssertFalse(changes.isEmpty)
        XCTAssertEqual(changes.summary, "listeners +0 -0 ~0, pools +0 -0 ~0, members +0 -0 ~0")
        XCTAssertEqual(changes.lines, changes.needsRestart.map { "not applied: \($0)" })
    }

    /// Adding, removing or moving [anycast] waits for a restart; within its interface, the VIP
    /// list and the timings are applied by the reload.
    func testAnycastChanges() {
        var with = base()
        with.anycast = AnycastSettings(virtualIPs: [IPAddress("192.0.2.10")!, IPAddress("192.0.2.11")!])
        XCTAssertEqual(ConfigChanges(from: base(), to: with).needsRestart, ["anycast: added needs a restart"])
        XCTAssertEqual(ConfigChanges(from: with, to: base()).needsRestart, ["anycast: removed needs a restart"])
        var moved = with
        moved.anycast?.interface = "any1"
        XCTAssertEqual(ConfigChanges(from: with, to: moved).needsRestart,
                       ["anycast.interface: \"fulcrum0\" -> \"any1\" needs a restart"])

        var changed = with
        changed.anycast?.virtualIPs = [IPAddress("192.0.2.11")!, IPAddress("2001:db8::12")!]
        changed.anycast?.announceWhen = .allPoolsUp
        changed.anycast?.holdDownMs = 5000
        changed.anycast?.withdrawGraceMs = 0
        let changes = ConfigChanges(from: with, to: changed)
        XCTAssertEqual(changes.needsRestart, [])
        XCTAssertEqual(changes.settingsChanged, [
            "anycast.virtual_ips: +2001:db8::12 -192.0.2.10",
            "anycast.announce_when: any_member_up -> all_pools_up",
            "anycast.hold_down: 2000 -> 5000 ms",
            "anycast.withdraw_grace: 3000 -> 0 ms",
        ])
        XCTAssertFalse(changes.isEmpty)
        XCTAssertEqual(ConfigChanges(from: with, to: with).needsRestart, [])
        XCTAssertTrue(ConfigChanges(from: with, to: with).isEmpty)
    }

    func testGlobalsAppliedByTheReload() {
        var new = base()
        new.shutdownGraceMs = 5000
        new.copySmallReads = false
        new.busyPollMicroseconds = 50
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.settingsChanged, ["shutdown_grace: 10000 -> 5000 ms", "copy_small_reads: true -> false",
                                                 "busy_poll: 0 -> 50 us"])
        XCTAssertEqual(changes.needsRestart, [])
        XCTAssertFalse(changes.isEmpty)
        XCTAssertEqual(changes.lines, ["setting changed: shutdown_grace: 10000 -> 5000 ms",
                                       "setting changed: copy_small_reads: true -> false",
                                       "setting changed: busy_poll: 0 -> 50 us"])
    }

    /// Hand-built configs may repeat a name; the diff must not trap (last one wins).
    func testDuplicateNamesDoNotTrap() {
        var new = base()
        new.listeners.append(listener("web", port: 8080))
        new.pools[1].members.append(member("app1", "10.0.0.1", weight: 3))
        let changes = ConfigChanges(from: base(), to: new)
        XCTAssertEqual(changes.membersChanged, ["web/app1"])
        XCTAssertEqual(changes.listenersChanged, [])
    }
}
