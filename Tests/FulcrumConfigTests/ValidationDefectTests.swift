import FulcrumConfig
import XCTest
#if canImport(Glibc)
import Glibc
#endif

private let main = "fulcrum.toml"
private let dropIn = "conf.d/50-more.toml"

/// One bad configuration and every problem it must produce, in order (a local copy of
/// BadConfigTests' private table type).
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

/// A listener on lines 1-3 (after whatever precedes it).
private let webListener = "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n"

/// `webPool` (lines 1-3), `[pool.web.healthmonitor]` on line 4, `lines` from line 5, then a listener.
private func monitor(_ lines: String) -> String {
    webPool + "[pool.web.healthmonitor]\n" + lines + "\n" + webListener
}

/// `lines` from line 1, then `webPool` and a listener.
private func top(_ lines: String) -> String {
    lines + "\n" + webPool + webListener
}

private let hex70000 = String(repeating: "ab", count: 70_000)

/// NUL inside a string value (TOML "\\u0000"). The TOMLKit bridge ends strings at the NUL
/// before the schema sees them, so these run only once the parser keeps them (see the probe).
private let nulCases: [BadConfig] = [
    BadConfig("NUL in a member address", """
              [pool.web.members.app1]
              address = "10.0.0.11\\u0000junk"
              protocol_port = 8080
              """ + "\n" + webListener,
              ExpectedProblem(main, 2, "pool.web.members.app1.address", "\"10.0.0.11\\u0000junk\" contains the control character U+0000; allowed: an IP address string without control characters")),
    BadConfig("NUL in a listener address", webPool + """
              [listener.web]
              address = "127.0.0.1\\u0000junk"
              protocol_port = 80
              default_pool = "web"
              """,
              ExpectedProblem(main, 5, "listener.web.address", "contains the control character U+0000")),
    BadConfig("NUL in metrics_listen", top("[status]\nmetrics_listen = \"127.0.0.1\\u0000junk:9469\""),
              ExpectedProblem(main, 2, "status.metrics_listen", "contains the control character U+0000")),
    BadConfig("NUL in persistence_granularity", """
              [pool.web]
              session_persistence = { type = "SOURCE_IP", persistence_granularity = "255.255.255.0\\u0000junk" }
              """ + "\n" + webPool + webListener,
              ExpectedProblem(main, 2, "pool.web.session_persistence.persistence_granularity", "contains the control character U+0000")),
]

private let cases: [BadConfig] = [
    // Defect 4: control characters the current parser passes through.
    BadConfig("control character in the status socket path", top("[status]\nsocket = \"/run/fulcrum/st\\u001batus.sock\""),
              ExpectedProblem(main, 2, "status.socket", "control character")),
    BadConfig("newline in the readonly socket path", top("[status]\nreadonly_socket = \"/run/fulcrum/ro\\n.sock\""),
              ExpectedProblem(main, 2, "status.readonly_socket", "control character")),
    BadConfig("control character in tls_ca_file",
              monitor("type = \"HTTPS\"\ndelay = 5\ntimeout = 3\ntls_verify = true\ntls_ca_file = \"/etc/passwd\\u0007\""),
              ExpectedProblem(main, 9, "pool.web.healthmonitor.tls_ca_file", "control character")),

    // Defect 4: one datagram limit for text and hex payloads.
    BadConfig("udp_send_hex larger than a datagram",
              monitor("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_send_hex = \"\(hex70000)\""),
              ExpectedProblem(main, 8, "pool.web.healthmonitor.udp_send_hex",
                              "70000 bytes do not fit in one datagram; allowed: at most 65507")),
    BadConfig("udp_expect_hex larger than a datagram",
              monitor("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_expect_hex = \"\(hex70000)\""),
              ExpectedProblem(main, 8, "pool.web.healthmonitor.udp_expect_hex",
                              "70000 bytes do not fit in one datagram; allowed: at most 65507")),
    BadConfig("udp_send larger than a datagram (already refused)",
              monitor("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_send = \"\(String(repeating: "a", count: 70_000))\""),
              ExpectedProblem(main, 8, "pool.web.healthmonitor.udp_send",
                              "70000 bytes do not fit in one datagram; allowed: at most 65507")),

    // Defect 4: tls_ca_file must be a regular file.
    BadConfig("tls_ca_file is a directory",
              monitor("type = \"HTTPS\"\ndelay = 5\ntimeout = 3\ntls_verify = true\ntls_ca_file = \"/\""),
              ExpectedProblem(main, 9, "pool.web.healthmonitor.tls_ca_file", "\"/\" is a directory; allowed: a regular file")),
    BadConfig("tls_ca_file is a character device",
              monitor("type = \"HTTPS\"\ndelay = 5\ntimeout = 3\ntls_verify = true\ntls_ca_file = \"/dev/zero\""),
              ExpectedProblem(main, 9, "pool.web.healthmonitor.tls_ca_file", "\"/dev/zero\" is a character device; allowed: a regular file")),

    // Defect 8: two members on one endpoint.
    BadConfig("two members with the same address and port", webPool + """
              [pool.web.members.app2]
              address = "10.0.0.11"
              protocol_port = 8080
              """ + "\n" + webListener,
              ExpectedProblem(main, 4, "pool.web.members.app2",
                              "member \"app2\" on 10.0.0.11:8080 is the same endpoint as member \"app1\" (fulcrum.toml:1); "
                                  + "allowed: one member per address and port")),
    BadConfig("the duplicate defined later sorts first by name", files: [
        (main, "[pool.web.members.zed]\naddress = \"10.0.0.11\"\nprotocol_port = 8080\n" + webListener),
        (dropIn, "[pool.web.members.app1]\naddress = \"10.0.0.11\"\nprotocol_port = 8080\n"),
    ], ExpectedProblem(dropIn, 1, "pool.web.members.app1",
                       "member \"app1\" on 10.0.0.11:8080 is the same endpoint as member \"zed\" (fulcrum.toml:1)")),
    BadConfig("IPv6 duplicates, written differently", """
              [pool.web.members.a]
              address = "2001:db8::1"
              protocol_port = 53
              [pool.web.members.b]
              address = "2001:0db8:0:0::1"
              protocol_port = 53
              [pool.web.members.c]
              address = "2001:db8::1"
              protocol_port = 53
              """ + "\n" + webListener,
              ExpectedProblem(main, 4, "pool.web.members.b", "on [2001:db8::1]:53 is the same endpoint as member \"a\" (fulcrum.toml:1)"),
              ExpectedProblem(main, 7, "pool.web.members.c", "on [2001:db8::1]:53 is the same endpoint as member \"a\" (fulcrum.toml:1)")),

    // Defect 8 (session tables no machine can hold) is no longer a refusal under a finite
    // RLIMIT_NOFILE: sessions are capped by descriptors and tables grow on demand. The memory
    // refusal is kept for what the cap allows: testBudgetRefusesSessionTablesOverAQuarterOfMemory,
    // and the capped case: testBudgetCapsHugeSessionCountsByDescriptors.
]

final class ValidationDefectTests: XCTestCase {
    func testEveryBadConfigReportsItsProblems() {
        for bad in cases {
            assertProblems(problems(bad.sources), bad.expected, bad.name)
        }
    }

    func testNULInsideStringsIsRefused() throws {
        // Probe the parser with a value whose truncation the schema cannot see: a pool name.
        let probe = webPool + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\\u0000x\"\n"
        let truncates = (try? ConfigLoader.load(sources: [(main, probe)], onlineCPUs: 2)) != nil
        try XCTSkipIf(truncates, "the TOML parser ends strings at NUL (\"web\\u0000x\" read as \"web\"); "
                      + "the schema refuses NUL once it sees one")
        for bad in nulCases {
            assertProblems(problems(bad.sources), bad.expected, bad.name)
        }
    }

    func testNearMissesStayValid() throws {
        let good: [(String, String)] = [
            ("same member address, different ports", webPool
                + "[pool.web.members.app2]\naddress = \"10.0.0.11\"\nprotocol_port = 8081\n" + webListener),
            ("same port, different member addresses", webPool
                + "[pool.web.members.app2]\naddress = \"10.0.0.12\"\nprotocol_port = 8080\n" + webListener),
            ("udp_send_hex at the datagram limit",
             monitor("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_send_hex = \"\(String(repeating: "ab", count: 65_507))\"")),
            ("tls_ca_file a regular file",
             monitor("type = \"HTTPS\"\ndelay = 5\ntimeout = 3\ntls_verify = true\ntls_ca_file = \"/etc/passwd\"")),
            ("tab-free printable socket path", top("[status]\nsocket = \"/run/fulcrum/status.sock\"")),
            // What the integration suite runs: defaults, a UDP listener, whatever RLIMIT_NOFILE this process has.
            ("defaults with a UDP listener", webPool
                + "[listener.dns]\nprotocol = \"UDP\"\nprotocol_port = 53\ndefault_pool = \"web\"\n"),
        ]
        for (name, text) in good {
            XCTAssertNoThrow(try ConfigLoader.load(sources: [(main, text)], onlineCPUs: 2), name)
        }
    }

    func testOversizedCAFileIsRefused() throws {
        let path = "/tmp/fulcrum-validation-\(getpid())-big.pem"
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { unlink(path) }
        XCTAssertEqual(ftruncate(fd, 17 << 20), 0)  // sparse: takes no disk
        close(fd)
        let text = monitor("type = \"HTTPS\"\ndelay = 5\ntimeout = 3\ntls_verify = true\ntls_ca_file = \"\(path)\"")
        assertProblems(problems([(main, text)]),
                       [ExpectedProblem(main, 9, "pool.web.healthmonitor.tls_ca_file",
                                        "\"\(path)\" is 17825792 bytes; allowed: a readable PEM bundle of at most 16777216 bytes")])
        XCTAssertEqual(truncate(path, 0), 0)
        assertProblems(problems([(main, text)]),
                       [ExpectedProblem(main, 9, "pool.web.healthmonitor.tls_ca_file",
                                        "\"\(path)\" is empty; allowed: a readable PEM bundle")])
    }

    // MARK: Defect 8: the UDP session budget, with the system's limits passed in.

    private let gib = 1 << 30

    func testBudgetIgnoresConfigsWithoutUDPListeners() {
        let limits = SystemLimits(openFiles: 16, physicalMemory: gib)
        XCTAssertEqual(UDPSessionBudget.check(udpMaxSessions: 10_000_000, workers: 1024, listeners: 20_000,
                                              udpListeners: 0, limits: limits), .fits)
    }

    func testBudgetDefaultsFitTheSystemdUnit() {
        let limits = SystemLimits(openFiles: 1_048_576, physicalMemory: 2 * gib)
        XCTAssertEqual(UDPSessionBudget.check(udpMaxSessions: Config.defaultUDPMaxSessions, workers: 2, listeners: 3,
                                              udpListeners: 1, limits: limits), .fits)
    }

    func testBudgetDefaultsOverALowLimitAreCapped() {
        // 65,536 x 2 sessions cannot all be open under RLIMIT_NOFILE 20,000: the daemon runs with
        // the sessions capped so that half of what listeners and the reserve leave stays for TCP:
        // (20,000 - 3 x 2 - 64) / 2 / 2 workers = 4,982. A warning, not a refusal.
        let limits = SystemLimits(openFiles: 20_000, physicalMemory: 2 * gib)
        let verdict = UDPSessionBudget.check(udpMaxSessions: Config.defaultUDPMaxSessions, workers: 2, listeners: 3,
                                             udpListeners: 1, limits: limits)
        guard case let .warning(message) = verdict else { return XCTFail("expected a warning, got \(verdict)") }
        XCTAssertTrue(message.contains("udp_max_sessions 65536 per worker capped to 4982 by RLIMIT_NOFILE=20000"), message)
        XCTAssertTrue(message.contains("half of the rest is kept for TCP connections"), message)
        XCTAssertEqual(UDPSessionBudget.sessionsPerWorker(udpMaxSessions: 65_536, workers: 2, listeners: 3, tcpListeners: 2,
                                                          openFiles: 20_000), 4982)
        // Without TCP listeners the sessions get the whole rest.
        XCTAssertEqual(UDPSessionBudget.sessionsPerWorker(udpMaxSessions: 65_536, workers: 2, listeners: 3, tcpListeners: 0,
                                                          openFiles: 20_000), 9965)
        // Under a high limit nothing is capped, and an unlimited one caps nothing.
        XCTAssertEqual(UDPSessionBudget.sessionsPerWorker(udpMaxSessions: 65_536, workers: 2, listeners: 3, tcpListeners: 2,
                                                          openFiles: 1_048_576), 65_536)
        XCTAssertEqual(UDPSessionBudget.sessionsPerWorker(udpMaxSessions: 10_000_000, workers: 2, listeners: 3, tcpListeners: 2,
                                                          openFiles: Int.max), 10_000_000)
    }

    func testBudgetCapsHugeSessionCountsByDescriptors() {
        // 10,000,000 x 1,024 workers once refused for memory; under RLIMIT_NOFILE 20,000 each
        // worker can hold (20,000 - 1,024 - 64) / 1,024 = 18 sessions, which fits anywhere.
        let limits = SystemLimits(openFiles: 20_000, physicalMemory: 2 * gib)
        let verdict = UDPSessionBudget.check(udpMaxSessions: 10_000_000, workers: 1024, listeners: 1, udpListeners: 1,
                                             limits: limits)
        guard case let .warning(message) = verdict else { return XCTFail("expected a warning, got \(verdict)") }
        XCTAssertTrue(message.contains("udp_max_sessions 10000000 per worker capped to 18 by RLIMIT_NOFILE=20000"), message)
    }

    func testBudgetRefusesWhenNotEvenOneSessionPerWorkerFits() {
        let limits = SystemLimits(openFiles: 1024, physicalMemory: 64 * gib)
        let verdict = UDPSessionBudget.check(udpMaxSessions: 1, workers: 1024, listeners: 1, udpListeners: 1,
                                             limits: limits)
        guard case let .error(key, message) = verdict else { return XCTFail("expected an error, got \(verdict)") }
        XCTAssertEqual(key, "workers")
        XCTAssertTrue(message.contains("RLIMIT_NOFILE is 1024"), message)
        XCTAssertTrue(message.contains("lower workers or raise LimitNOFILE"), message)
    }

    func testBudgetRefusesSessionTablesOverAQuarterOfMemory() {
        let limits = SystemLimits(openFiles: 100_000_000, physicalMemory: 4 * gib)
        // 65,536 x 128 x 200 bytes = 1.6 GiB > 1 GiB.
        let verdict = UDPSessionBudget.check(udpMaxSessions: 65_536, workers: 128, listeners: 1, udpListeners: 1,
                                             limits: limits)
        guard case let .error(key, message) = verdict else { return XCTFail("expected an error, got \(verdict)") }
        XCTAssertEqual(key, "udp_max_sessions")
        XCTAssertTrue(message.contains("udp_max_sessions × workers = 65536 × 128 = 8388608 sessions"), message)
        XCTAssertTrue(message.contains("lower udp_max_sessions or workers"), message)
        // Half as many workers fit.
        XCTAssertEqual(UDPSessionBudget.check(udpMaxSessions: 65_536, workers: 64, listeners: 1, udpListeners: 1,
                                              limits: limits), .fits)
    }

    func testSystemLimitsAreRead() {
        let limits = SystemLimits.current()
        XCTAssertGreaterThan(limits.openFiles, 3)
        XCTAssertGreaterThan(limits.physicalMemory, 1 << 20)
    }

    // MARK: Defect 3: validation time with 20,000 listeners and 20,000 pools.

    /// 20,000 pools with one member each and 20,000 listeners on 127.0.0.1:1..20000; `extra`
    /// is appended (at line 20000 * 7 + 1).
    private func bigConfig(_ extra: String = "") -> String {
        var text = ""
        text.reserveCapacity(2_000_000)
        for i in 0..<20_000 {
            text += "[pool.p\(i).members.m]\naddress = \"10.\(i >> 16).\((i >> 8) & 255).\(i & 255)\"\nprotocol_port = 8080\n"
        }
        for i in 0..<20_000 {
            text += "[listener.l\(i)]\naddress = \"127.0.0.1\"\nprotocol_port = \(i + 1)\ndefault_pool = \"p\(i)\"\n"
        }
        return text + extra
    }

    func testTwentyThousandListenersAndPools() throws {
        let text = bigConfig()
        let clock = ContinuousClock()
        var loaded: LoadedConfig?
        let elapsed = try clock.measure {
            loaded = try ConfigLoader.load(sources: [(main, text)], onlineCPUs: 2)
        }
        print("ValidationDefectTests: 20,000 listeners + 20,000 pools loaded in \(elapsed)")
        XCTAssertEqual(loaded?.config.listeners.count, 20_000)
        XCTAssertEqual(loaded?.config.pools.count, 20_000)
    }

    func testBindConflictAmongTwentyThousandIsFound() {
        // The conflict is defined last; listener l1233 is on 127.0.0.1:1234 at line 60000 + 1233 * 4 + 1.
        let extra = "[listener.again]\naddress = \"0.0.0.0\"\nprotocol_port = 1234\ndefault_pool = \"p7\"\n"
            + "[listener.wild6]\naddress = \"::\"\nprotocol_port = 20000\ndefault_pool = \"p8\"\n"
        let text = bigConfig(extra)
        let clock = ContinuousClock()
        var found: [ConfigProblem] = []
        let elapsed = clock.measure { found = problems([(main, text)]) }
        print("ValidationDefectTests: 20,000 listeners + 20,000 pools with two conflicts checked in \(elapsed)")
        let listenerLine = 20_000 * 3 + 1
        assertProblems(found, [
            ExpectedProblem(main, listenerLine + 20_000 * 4, "listener.again",
                            "TCP 0.0.0.0:1234 conflicts with listener \"l1233\" on TCP 127.0.0.1:1234 "
                                + "(fulcrum.toml:\(listenerLine + 1233 * 4)): 0.0.0.0 covers every IPv4 address"),
            ExpectedProblem(main, listenerLine + 20_000 * 4 + 4, "listener.wild6",
                            "TCP [::]:20000 conflicts with listener \"l19999\" on TCP 127.0.0.1:20000 "
                                + "(fulcrum.toml:\(listenerLine + 19_999 * 4)): :: covers every address"),
        ])
    }

    func testUndefinedPoolAmongTwentyThousandKeepsTheMessageShort() {
        let text = bigConfig("[listener.lost]\nprotocol_port = 30000\ndefault_pool = \"p20000\"\n")
        let found = problems([(main, text)])
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found.first?.message.hasPrefix("pool \"p20000\" is not defined; defined pools: p0, p1, p10, ") ?? false,
                      found.first?.message ?? "")
        XCTAssertLessThan(found.first?.message.utf8.count ?? 0, 400)
    }
}
