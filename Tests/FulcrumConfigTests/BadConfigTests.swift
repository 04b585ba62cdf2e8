import FulcrumConfig
import XCTest

private let main = "fulcrum.toml"

/// One bad configuration and every problem it must produce, in order.
private struct BadConfig {
    var name: String
    var sources: [(name: String, text: String)]
    var expected: [ExpectedProblem]

    init(_ name: String, _ text: String, _ expected: ExpectedProblem...) {
        self.name = name
        self.sources = [(main, text)]
        self.expected = expected
    }

    init(_ name: String, files: [(name: String, text: String)], _ expected: ExpectedProblem...) {
        self.name = name
        self.sources = files
        self.expected = expected
    }
}

/// `webPool` (lines 1-3) plus a listener on lines 4-6; a line appended lands at 7, inside
/// [listener.web].
private let valid = webPool + """
[listener.web]
protocol_port = 80
default_pool = "web"

"""

/// `webPool`, then [listener.web] on line 4 with `lines` after it from line 5.
private func listener(_ lines: String) -> String {
    webPool + "[listener.web]\n" + lines + "\n"
}

/// A member on lines 1-3 plus `lines` from line 4, then a valid listener.
private func member(_ lines: String) -> String {
    webPool + lines + "\n[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n"
}

private let cases: [BadConfig] = [
    // Unknown keys, at every level.
    BadConfig("unknown top-level key", "wrkers = 4\n" + valid,
              ExpectedProblem(main, 1, "wrkers",
                              "unknown key \"wrkers\" (did you mean workers?); allowed: anycast, busy_poll, copy_small_reads, ha, listener, pipe_size, pool, process, shutdown_grace, status, udp_max_sessions, workers")),
    BadConfig("unknown listener key", valid + "protcol = \"TCP\"\n",
              ExpectedProblem(main, 7, "listener.web.protcol", "unknown key \"protcol\" (did you mean protocol?); allowed: address, allowed_cidrs,")),
    BadConfig("unknown member key", member("wieght = 2"),
              ExpectedProblem(main, 4, "pool.web.members.app1.wieght",
                              "unknown key \"wieght\" (did you mean weight?); allowed: address, admin_state_up, backup, monitor_address, monitor_port, protocol_port, weight")),
    BadConfig("unknown pool key, no guess when nothing is close", "[pool.web]\nchecker = { type = \"HTTP\" }\n" + valid,
              ExpectedProblem(main, 2, "pool.web.checker", "unknown key \"checker\"; allowed: healthmonitor, lb_algorithm, members, on_member_down, protocol, retries, session_persistence")),
    BadConfig("unknown status key", "[status]\npath = \"/run/x.sock\"\n" + valid,
              ExpectedProblem(main, 2, "status.path", "unknown key \"path\"; allowed: group, metrics_listen, readonly_socket, socket")),

    // Wrong types.
    BadConfig("string for port", listener("protocol_port = \"80\"\ndefault_pool = \"web\""),
              ExpectedProblem(main, 5, "listener.web.protocol_port", "\"80\" is a string; expected an integer 1..65535")),
    BadConfig("float for int", listener("protocol_port = 80.0\ndefault_pool = \"web\""),
              ExpectedProblem(main, 5, "listener.web.protocol_port", "80.0 is a float; expected an integer 1..65535")),
    BadConfig("float for weight", member("weight = 1.5"),
              ExpectedProblem(main, 4, "pool.web.members.app1.weight", "1.5 is a float; expected an integer 0..256")),
    BadConfig("string for boolean", member("backup = \"yes\""),
              ExpectedProblem(main, 4, "pool.web.members.app1.backup", "\"yes\" is a string; expected a boolean (true or false)")),
    BadConfig("date for workers", "workers = 1979-05-27\n" + valid,
              ExpectedProblem(main, 1, "workers", "1979-05-27 is a local date; expected an integer 1..1024")),
    BadConfig("integer for pool name", listener("protocol_port = 80\ndefault_pool = 7"),
              ExpectedProblem(main, 6, "listener.web.default_pool", "7 is an integer; expected a pool name string")),
    BadConfig("listener that is not a table", "listener.web = 80\n" + webPool,
              ExpectedProblem(main, 1, "listener.web", "80 is an integer; expected a table [listener.web]")),

    // Ranges.
    BadConfig("port 0", listener("protocol_port = 0\ndefault_pool = \"web\""),
              ExpectedProblem(main, 5, "listener.web.protocol_port", "0 is out of range; allowed: 1..65535")),
    BadConfig("port 70000", listener("protocol_port = 70000\ndefault_pool = \"web\""),
              ExpectedProblem(main, 5, "listener.web.protocol_port", "70000 is out of range; allowed: 1..65535")),
    BadConfig("member port 0", "[pool.web.members.app1]\naddress = \"10.0.0.11\"\nprotocol_port = 0\n"
                  + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n",
              ExpectedProblem(main, 3, "pool.web.members.app1.protocol_port", "0 is out of range; allowed: 1..65535")),
    BadConfig("weight 300", member("weight = 300"),
              ExpectedProblem(main, 4, "pool.web.members.app1.weight", "300 is out of range; allowed: 0..256")),
    BadConfig("weight -1", member("weight = -1"),
              ExpectedProblem(main, 4, "pool.web.members.app1.weight", "-1 is out of range; allowed: 0..256")),
    BadConfig("retries 11", "[pool.web]\nretries = 11\n" + valid,
              ExpectedProblem(main, 2, "pool.web.retries", "11 is out of range; allowed: 0..10")),
    BadConfig("timeout 0", valid + "timeout_member_connect = 0\n",
              ExpectedProblem(main, 7, "listener.web.timeout_member_connect", "0 is out of range; allowed: 1..86400000 (milliseconds)")),
    BadConfig("connection_limit 0", valid + "connection_limit = 0\n",
              ExpectedProblem(main, 7, "listener.web.connection_limit", "0 is out of range; allowed: -1 (unlimited) or 1..10000000")),
    BadConfig("workers 0", "workers = 0\n" + valid,
              ExpectedProblem(main, 1, "workers", "0 is out of range; allowed: 1..1024")),
    BadConfig("busy_poll over a millisecond", "busy_poll = 1001\n" + valid,
              ExpectedProblem(main, 1, "busy_poll", "1001 is out of range; allowed: 0..1000 (microseconds)")),
    BadConfig("busy_poll as a boolean", "busy_poll = true\n" + valid,
              ExpectedProblem(main, 1, "busy_poll", "true is a boolean; expected an integer 0..1000")),
    BadConfig("shutdown_grace negative", "shutdown_grace = -5\n" + valid,
              ExpectedProblem(main, 1, "shutdown_grace", "-5 is out of range; allowed: 0..3600000 (milliseconds)")),
    BadConfig("pipe_size too small", "pipe_size = 1024\n" + valid,
              ExpectedProblem(main, 1, "pipe_size", "1024 is out of range; allowed: 4096..1048576 (bytes)")),

    // Missing required keys: reported at the object's header.
    BadConfig("missing protocol_port", listener("default_pool = \"web\""),
              ExpectedProblem(main, 4, "listener.web.protocol_port", "required key is missing; expected an integer 1..65535")),
    BadConfig("missing default_pool", listener("protocol_port = 80"),
              ExpectedProblem(main, 4, "listener.web.default_pool", "required key is missing; expected a pool name string")),
    BadConfig("missing member address", "[pool.web.members.app1]\nprotocol_port = 8080\n"
                  + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n",
              ExpectedProblem(main, 1, "pool.web.members.app1.address", "required key is missing; expected an IP address string")),

    // Values with the right type but the wrong content.
    BadConfig("listener naming an undefined pool", "[pool.api.members.a]\naddress = \"10.0.0.1\"\nprotocol_port = 80\n"
                  + listener("protocol_port = 80\ndefault_pool = \"nope\""),
              ExpectedProblem(main, 9, "listener.web.default_pool", "pool \"nope\" is not defined; defined pools: api, web")),
    BadConfig("empty pool", "[pool.empty]\nretries = 2\n" + valid,
              ExpectedProblem(main, 1, "pool.empty", "pool has no members; define at least one [pool.empty.members.NAME]")),
    BadConfig("empty members table", "[pool.empty.members]\n" + valid,
              ExpectedProblem(main, 1, "pool.empty", "pool has no members")),
    BadConfig("malformed listener address", listener("address = \"10.0.0.300\"\nprotocol_port = 80\ndefault_pool = \"web\""),
              ExpectedProblem(main, 5, "listener.web.address", "\"10.0.0.300\" is not an IP address; allowed: IPv4 or IPv6 text")),
    BadConfig("malformed member address", member("").replacingOccurrences(of: "10.0.0.11", with: "app1.example.com"),
              ExpectedProblem(main, 2, "pool.web.members.app1.address", "\"app1.example.com\" is not an IP address")),
    BadConfig("malformed CIDR", valid + "allowed_cidrs = [\"10.0.0/8\"]\n",
              ExpectedProblem(main, 7, "listener.web.allowed_cidrs", "\"10.0.0/8\" is not a CIDR; allowed: ADDRESS/PREFIX")),
    BadConfig("CIDR with host bits", valid + "allowed_cidrs = [\"10.0.0.0/8\", \"192.168.1.1/24\", \"fd00::1/64\"]\n",
              ExpectedProblem(main, 7, "listener.web.allowed_cidrs", "\"192.168.1.1/24\" has host bits set; allowed: the network address, \"192.168.1.0/24\""),
              ExpectedProblem(main, 7, "listener.web.allowed_cidrs", "\"fd00::1/64\" has host bits set; allowed: the network address, \"fd00::/64\"")),
    BadConfig("CIDR that is not a string", valid + "allowed_cidrs = [\n  \"10.0.0.0/8\",\n  8,\n]\n",
              ExpectedProblem(main, 7, "listener.web.allowed_cidrs", "8 is an integer; expected a CIDR string")),
    BadConfig("empty allowed_cidrs", valid + "allowed_cidrs = []\n",
              ExpectedProblem(main, 7, "listener.web.allowed_cidrs", "[] would refuse every client")),
    BadConfig("unknown lb_algorithm", "[pool.web]\nlb_algorithm = \"RANDOM\"\n" + valid,
              ExpectedProblem(main, 2, "pool.web.lb_algorithm",
                              "\"RANDOM\" is not a load-balancing algorithm; allowed: ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT")),
    BadConfig("lower-case algorithm", "[pool.web]\nlb_algorithm = \"least_connections\"\n" + valid,
              ExpectedProblem(main, 2, "pool.web.lb_algorithm", "\"least_connections\" is not a load-balancing algorithm")),
    BadConfig("unknown pool protocol", "[pool.web]\nprotocol = \"HTTP\"\n" + valid,
              ExpectedProblem(main, 2, "pool.web.protocol", "\"HTTP\" is not a pool protocol; allowed: TCP, UDP, PROXY, PROXYV2")),
    BadConfig("PROXY v1 pool behind a UDP listener", "[pool.web]\nprotocol = \"PROXY\"\n" + valid + "protocol = \"UDP\"\n",
              ExpectedProblem(main, 8, "listener.web.default_pool", "pool \"web\" has protocol PROXY, which cannot serve a UDP listener; allowed pool protocols: UDP, PROXYV2")),
    BadConfig("persistence type", "[pool.web]\nsession_persistence = { type = \"HTTP_COOKIE\" }\n" + valid,
              ExpectedProblem(main, 2, "pool.web.session_persistence.type", "\"HTTP_COOKIE\" is not supported; allowed: SOURCE_IP")),
    BadConfig("persistence timeout zero", "[pool.web]\nsession_persistence = { type = \"SOURCE_IP\", persistence_timeout = 0 }\n" + valid,
              ExpectedProblem(main, 2, "pool.web.session_persistence.persistence_timeout", "0 is out of range; allowed: 1..86400 (seconds)")),
    BadConfig("persistence granularity not contiguous", "[pool.web]\nsession_persistence = { type = \"SOURCE_IP\", persistence_granularity = \"255.0.255.0\" }\n" + valid,
              ExpectedProblem(main, 2, "pool.web.session_persistence.persistence_granularity", "\"255.0.255.0\" is not a netmask")),
    BadConfig("persistence without type", "[pool.web]\nsession_persistence = { persistence_timeout = 30 }\n" + valid,
              ExpectedProblem(main, 2, "pool.web.session_persistence.type", "required key is missing")),
    BadConfig("UDP protocol as a number", valid + "protocol = 17\n",
              ExpectedProblem(main, 7, "listener.web.protocol", "17 is an integer; expected a string (TCP or UDP)")),
    BadConfig("udp_max_sessions zero", "udp_max_sessions = 0\n" + valid,
              ExpectedProblem(main, 1, "udp_max_sessions", "0 is out of range; allowed: 1..10000000")),
    BadConfig("unknown protocol", valid + "protocol = \"tcp\"\n",
              ExpectedProblem(main, 7, "listener.web.protocol", "\"tcp\" is not a protocol; allowed: TCP, UDP")),
    BadConfig("relative status socket", "[status]\nsocket = \"run/fulcrum.sock\"\n" + valid,
              ExpectedProblem(main, 2, "status.socket", "\"run/fulcrum.sock\" is not an absolute path")),
    BadConfig("status socket too long for sun_path", "[status]\nsocket = \"/\(String(repeating: "s", count: 110))\"\n" + valid,
              ExpectedProblem(main, 2, "status.socket", "is 111 bytes long; allowed: at most 107 bytes")),
    BadConfig("relative read-only status socket", "[status]\nreadonly_socket = \"ro.sock\"\n" + valid,
              ExpectedProblem(main, 2, "status.readonly_socket", "\"ro.sock\" is not an absolute path")),
    BadConfig("read-only socket on the admin socket's path", "[status]\nsocket = \"/run/a.sock\"\nreadonly_socket = \"/run/a.sock\"\n" + valid,
              ExpectedProblem(main, 3, "status.readonly_socket", "is the same path as socket")),
    BadConfig("metrics_listen without a port", "[status]\nmetrics_listen = \"127.0.0.1\"\n" + valid,
              ExpectedProblem(main, 2, "status.metrics_listen", "\"127.0.0.1\" has no port; allowed: \"ADDRESS:PORT\"")),
    BadConfig("metrics_listen with a host name", "[status]\nmetrics_listen = \"localhost:9469\"\n" + valid,
              ExpectedProblem(main, 2, "status.metrics_listen", "\"localhost:9469\" is not an address and port")),
    BadConfig("metrics_listen as a number", "[status]\nmetrics_listen = 9469\n" + valid,
              ExpectedProblem(main, 2, "status.metrics_listen", "an \"ADDRESS:PORT\" string")),
    BadConfig("status group with a space", "[status]\ngroup = \"wheel users\"\n" + valid,
              ExpectedProblem(main, 2, "status.group", "is not a group name")),

    // Names.
    BadConfig("listener name with a space", webPool + "[listener.\"web server\"]\nprotocol_port = 80\ndefault_pool = \"web\"\n",
              ExpectedProblem(main, 4, "listener.\"web server\"",
                              "\"web server\" is not a valid listener name; allowed: 1..64 characters from A-Z a-z 0-9 _ . -")),
    BadConfig("member name too long", "[pool.web.members.\(String(repeating: "m", count: 65))]\naddress = \"10.0.0.1\"\nprotocol_port = 80\n"
                  + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n",
              ExpectedProblem(main, 1, "pool.web.members.\(String(repeating: "m", count: 65))", "is not a valid member name")),

    // Listeners that cannot both bind.
    BadConfig("same address and port", webPool + """
              [listener.a]
              address = "127.0.0.1"
              protocol_port = 80
              default_pool = "web"
              [listener.b]
              address = "127.0.0.1"
              protocol_port = 80
              default_pool = "web"
              """,
              ExpectedProblem(main, 8, "listener.b",
                              "TCP 127.0.0.1:80 conflicts with listener \"a\" on TCP 127.0.0.1:80 (fulcrum.toml:4); allowed: one listener per address and port")),
    BadConfig("0.0.0.0 and a specific IPv4 address on one port", webPool + """
              [listener.z-any]
              protocol_port = 80
              default_pool = "web"
              [listener.a-local]
              address = "127.0.0.1"
              protocol_port = 80
              default_pool = "web"
              """,
              ExpectedProblem(main, 7, "listener.a-local",
                              "TCP 127.0.0.1:80 conflicts with listener \"z-any\" on TCP 0.0.0.0:80 (fulcrum.toml:4): 0.0.0.0 covers every IPv4 address")),
    BadConfig(":: and an IPv4 address on one port", webPool + """
              [listener.v6]
              address = "::"
              protocol_port = 443
              default_pool = "web"
              [listener.v4]
              address = "192.0.2.10"
              protocol_port = 443
              default_pool = "web"
              """,
              ExpectedProblem(main, 8, "listener.v4", "conflicts with listener \"v6\" on TCP [::]:443 (fulcrum.toml:4): :: covers every address")),

    // Configs that are not there at all.
    BadConfig("TOML syntax error", listener("protocol_port = 80\ndefault_pool = \"web"),
              ExpectedProblem(main, 6, "", "TOML syntax error: found end of line in a string; expected a closing `\"`; hint: the string opened at column 16 is not closed on this line")),
    // The commonest slips get a hint that shows the fix.
    BadConfig("unquoted address", listener("protocol_port = 80\naddress = 127.0.0.1\ndefault_pool = \"web\""),
              ExpectedProblem(main, 6, "", "TOML syntax error: found `127.0.0.1`; expected a value: a quoted string, number, boolean, date, array or inline table; hint: strings need quotes: address = \"127.0.0.1\"")),
    BadConfig("space instead of a dot in a table header", "[listener web]\nprotocol_port = 80\n" + webPool,
              ExpectedProblem(main, 1, "", "hint: table names are joined with dots, not spaces: [listener.web]")),
    BadConfig("colon instead of equals", listener("protocol_port: 80"),
              ExpectedProblem(main, 5, "", "hint: TOML assigns with =, not :")),
    BadConfig("capitalised boolean", member("backup = True"),
              ExpectedProblem(main, 4, "", "hint: booleans are lowercase: true")),
    BadConfig("a header nested 20,000 levels deep is refused, not followed",
              "[" + Array(repeating: "a", count: 20_000).joined(separator: ".") + "]\n" + valid,
              ExpectedProblem(main, 1, "", "TOML syntax error: ")),
    BadConfig("a lone bracket (aborted the old parser)", "[\n" + valid,
              ExpectedProblem(main, 1, "", "TOML syntax error: ")),
    BadConfig("[.] (aborted the old parser)", "[.]\n" + valid,
              ExpectedProblem(main, 1, "", "TOML syntax error: ")),
    BadConfig("[!] (aborted the old parser)", "[!]\n" + valid,
              ExpectedProblem(main, 1, "", "TOML syntax error: ")),
    BadConfig("TOML syntax error in one file, the other file still checked", files: [
        (main, valid + "protcol = \"TCP\"\n"),
        ("conf.d/50-web.toml", "[pool.web.members.app2]\naddress = \"10.0.0.12\"\nprotocol_port = = 8080\n"),
    ],
    ExpectedProblem(main, 7, "listener.web.protcol", "unknown key"),
    ExpectedProblem("conf.d/50-web.toml", 3, "", "TOML syntax error: found a second `=`; expected a value")),

    // Everything wrong at once: all of it is reported, in file and line order.
    BadConfig("several problems at once", """
              workers = 0
              [listener.web]
              protocol_port = 70000
              default_pool = "nope"
              timeout_member_connect = 0
              [pool.web]
              lb_algorithm = "LEAST_CONN"
              [pool.web.members.app1]
              address = "10.0.0.300"
              weight = 300
              """,
              ExpectedProblem(main, 1, "workers", "0 is out of range"),
              ExpectedProblem(main, 3, "listener.web.protocol_port", "70000 is out of range"),
              ExpectedProblem(main, 4, "listener.web.default_pool", "pool \"nope\" is not defined; defined pools: web"),
              ExpectedProblem(main, 5, "listener.web.timeout_member_connect", "0 is out of range"),
              ExpectedProblem(main, 7, "pool.web.lb_algorithm", "is not a load-balancing algorithm"),
              ExpectedProblem(main, 8, "pool.web.members.app1.protocol_port", "required key is missing"),
              ExpectedProblem(main, 9, "pool.web.members.app1.address", "\"10.0.0.300\" is not an IP address"),
              ExpectedProblem(main, 10, "pool.web.members.app1.weight", "300 is out of range")),
]

final class BadConfigTests: XCTestCase {
    func testEveryBadConfigReportsItsProblems() {
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for bad in cases {
            assertProblems(problems(bad.sources), bad.expected, bad.name)
        }
    }

    func testValidBaseIsValid() throws {
        // Every case above is `valid` plus one mistake; this proves the mistake is the cause.
        XCTAssertNoThrow(try ConfigLoader.load(sources: [(main, valid)], onlineCPUs: 1))
        XCTAssertNoThrow(try ConfigLoader.load(sources: [(main, member("weight = 2"))], onlineCPUs: 1))
    }

    func testDescriptionNamesFileLineKeyAndValue() {
        let found = problems([(main, listener("protocol_port = 70000\ndefault_pool = \"web\""))])
        XCTAssertEqual(found.map(\.description),
                       ["fulcrum.toml:5: listener.web.protocol_port: 70000 is out of range; allowed: 1..65535"])
    }

    func testSyntaxErrorSuppressesProblemsTheBrokenFileMightHaveFixed() {
        // The pool and listener live in the broken drop-in: without that rule the operator
        // would also read "no listeners defined", which only repeats the syntax error.
        let found = problems([
            (main, "workers = 2\n"),
            ("conf.d/50-web.toml", "[listener.web\nprotocol_port = 80\n"),
        ])
        assertProblems(found, [ExpectedProblem("conf.d/50-web.toml", 1, "", "TOML syntax error: found end of line in table header; expected `.` or `]`")])
    }

    /// A syntax error in one file does not hide the other files' problems: even "missing" ones
    /// are said, with the caveat that the unreadable file might have supplied the key.
    func testSyntaxErrorInOneFileLeavesTheOtherFilesProblemsReported() {
        let found = problems([
            (main, valid + "protcol = \"TCP\"\n[pool.web.members.app2]\nprotocol_port = 8081\n"),
            ("conf.d/50-web.toml", "[pool.web\n"),
        ])
        assertProblems(found, [
            ExpectedProblem(main, 7, "listener.web.protcol", "unknown key"),
            ExpectedProblem(main, 8, "pool.web.members.app2.address",
                            "(unless conf.d/50-web.toml defines it: that file could not be read)"),
            ExpectedProblem("conf.d/50-web.toml", 1, "", "TOML syntax error: found end of line in table header"),
        ])
    }

    func testNULByteIsASyntaxError() {
        let found = problems([(main, valid + "# a\u{0}b\n")])
        assertProblems(found, [ExpectedProblem(main, 7, "", "TOML syntax error: found a NUL byte (U+0000)")])
    }
}
