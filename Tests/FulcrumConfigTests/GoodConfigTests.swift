import FulcrumAddress
import FulcrumConfig
import XCTest

final class GoodConfigTests: XCTestCase {
    /// Every key the schema knows, set to something other than its default.
    private let full = """
        workers = 4
        shutdown_grace = 0        # ms: close at once
        pipe_size = 1_048_576
        [status]
        socket = "/run/fulcrum/other.sock"
        group = "adm"
        readonly_socket = "/run/fulcrum/other-ro.sock"
        metrics_listen = "[::1]:9469"

        [listener.web]
        protocol = "TCP"
        address = "192.0.2.10"
        protocol_port = 80
        default_pool = "web"
        connection_limit = 10_000
        timeout_client_data = 60000
        timeout_member_connect = 1000
        timeout_member_data = 70000
        allowed_cidrs = [
            "10.0.0.0/8",       # office
            "2001:db8::/32",
            "192.0.2.7",        # a bare address is a host prefix
        ]

        # Same port as web, different specific address: both can bind.
        [listener.admin]
        address = "192.0.2.11"
        protocol_port = 80
        default_pool = "api"
        connection_limit = -1

        # 0.0.0.0 covers only IPv4, so ::1 on the same port is fine.
        [listener.any4]
        protocol_port = 8443
        default_pool = "api"
        [listener."v6.local"]
        address = "::1"
        protocol_port = 8443
        default_pool = "api"

        [pool.web]
        lb_algorithm = "ROUND_ROBIN"
        retries = 0
        [pool.web.members.b]
        address = "10.0.0.12"
        protocol_port = 8080
        weight = 256
        backup = true
        admin_state_up = false
        [pool.web.members.a]
        address = "fd00::11"
        protocol_port = 65535
        weight = 0

        [pool.api]
        retries = 10
        members.only = { address = "127.0.0.1", protocol_port = 1 }
        """

    func testFullConfigDecodesToTheExpectedModel() throws {
        let loaded = try ConfigLoader.load(sources: [("fulcrum.toml", full)], onlineCPUs: 2)
        var expected = Config(
            workers: 4, shutdownGraceMs: 0, pipeSize: 1_048_576, statusSocket: "/run/fulcrum/other.sock",
            listeners: [
                Listener(name: "admin", address: IPAddress("192.0.2.11")!, port: 80, defaultPool: "api"),
                Listener(name: "any4", address: IPAddress("0.0.0.0")!, port: 8443, defaultPool: "api"),
                Listener(name: "v6.local", address: IPAddress("::1")!, port: 8443, defaultPool: "api"),
                Listener(name: "web", transport: .tcp, address: IPAddress("192.0.2.10")!, port: 80, defaultPool: "web",
                         connectionLimit: 10_000, timeoutClientDataMs: 60_000, timeoutMemberConnectMs: 1_000,
                         timeoutMemberDataMs: 70_000,
                         allowedCIDRs: [CIDR("10.0.0.0/8")!, CIDR("2001:db8::/32")!, CIDR("192.0.2.7/32")!]),
            ],
            pools: [
                Pool(name: "api", lbAlgorithm: .roundRobin, retries: 10, members: [
                    Member(name: "only", address: IPAddress("127.0.0.1")!, port: 1),
                ]),
                Pool(name: "web", lbAlgorithm: .roundRobin, retries: 0, members: [
                    Member(name: "a", address: IPAddress("fd00::11")!, port: 65535, weight: 0),
                    Member(name: "b", address: IPAddress("10.0.0.12")!, port: 8080, weight: 256, backup: true,
                           adminStateUp: false),
                ]),
            ])
        expected.statusGroup = "adm"
        expected.readonlySocket = "/run/fulcrum/other-ro.sock"
        expected.metricsListen = Endpoint(address: IPAddress("::1")!, port: 9469)
        XCTAssertEqual(loaded.config, expected)
        XCTAssertEqual(loaded.files, ["fulcrum.toml"])
        XCTAssertEqual(loaded.summary, "configuration OK: 4 listeners, 2 pools, 3 members, 4 workers (1 file)")
    }

    func testDefaultWorkersFollowOnlineCPUsWithinTheAllowedRange() throws {
        let minimal = webPool + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n"
        XCTAssertEqual(try ConfigLoader.load(sources: [("f", minimal)], onlineCPUs: 6).config.workers, 6)
        XCTAssertEqual(try ConfigLoader.load(sources: [("f", minimal)], onlineCPUs: 0).config.workers, 1)
        XCTAssertEqual(try ConfigLoader.load(sources: [("f", minimal)], onlineCPUs: 5000).config.workers, 1024)
    }

    func testBoundaryValuesAreAccepted() throws {
        let text = """
            workers = 1024
            shutdown_grace = 3_600_000
            pipe_size = 4096
            [listener.web]
            protocol_port = 65535
            default_pool = "web"
            connection_limit = 10_000_000
            timeout_client_data = 86_400_000
            timeout_member_connect = 1
            allowed_cidrs = ["0.0.0.0/0", "::/0"]
            [pool.web]
            retries = 10
            [pool.web.members.\(String(repeating: "m", count: 64))]
            address = "10.0.0.1"
            protocol_port = 1
            """
        let config = try ConfigLoader.load(sources: [("f", text)], onlineCPUs: 1).config
        XCTAssertEqual(config.workers, 1024)
        XCTAssertEqual(config.listeners.first?.connectionLimit, 10_000_000)
        XCTAssertEqual(config.pools.first?.members.first?.name.count, 64)
    }
}
