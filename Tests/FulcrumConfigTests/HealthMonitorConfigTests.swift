import FulcrumAddress
import FulcrumConfig
import XCTest

private let main = "fulcrum.toml"

/// `webPool` (lines 1-3), a listener (4-6), then `[pool.web.healthmonitor]` on line 7 and
/// `lines` from line 8.
private func monitor(_ lines: String) -> String {
    webPool + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n[pool.web.healthmonitor]\n" + lines + "\n"
}

private func load(_ text: String, dropIn: String? = nil) throws -> Config {
    var sources = [(name: main, text: text)]
    if let dropIn { sources.append((name: "conf.d/60-health.toml", text: dropIn)) }
    return try ConfigLoader.load(sources: sources, onlineCPUs: 1).config
}

final class HealthMonitorConfigTests: XCTestCase {
    func testOctaviaDefaults() throws {
        let config = try load(monitor("type = \"HTTP\"\ndelay = 5\ntimeout = 3"))
        let m = try XCTUnwrap(config.pools[0].healthMonitor)
        XCTAssertEqual(m.type, .http)
        XCTAssertEqual(m.delayMs, 5000)
        XCTAssertEqual(m.timeoutMs, 3000)
        XCTAssertEqual(m.maxRetries, 3)
        XCTAssertEqual(m.maxRetriesDown, 3)
        XCTAssertEqual(m.httpMethod, "GET")
        XCTAssertEqual(m.urlPath, "/")
        XCTAssertEqual(m.expectedCodes.ranges, [200...200])
        XCTAssertEqual(m.httpVersion, .v1_0)
        XCTAssertNil(m.domainName)
        XCTAssertFalse(m.tlsVerify)
        XCTAssertEqual(config.pools[0].onMemberDown, .keep)
    }

    func testEveryAttributeDecodes() throws {
        let text = monitor("""
            type = "HTTPS"
            delay = 0.5
            timeout = 0.25
            max_retries = 2
            max_retries_down = 4
            http_method = "HEAD"
            url_path = "/healthz?full=1"
            expected_codes = "200-204, 301,302"
            http_version = 1.1
            domain_name = "app.example.com"
            tls_verify = true
            tls_ca_file = "/etc/passwd"  # any readable file: the loader checks only that
            """) + "[pool.web]\non_member_down = \"shutdown_sessions\"\n"
        let config = try load(text, dropIn: "[pool.web.members.app1]\nmonitor_address = \"10.0.0.99\"\nmonitor_port = 9000\n")
        let m = try XCTUnwrap(config.pools[0].healthMonitor)
        XCTAssertEqual(m.type, .https)
        XCTAssertEqual(m.delayMs, 500)
        XCTAssertEqual(m.timeoutMs, 250)
        XCTAssertEqual(m.maxRetries, 2)
        XCTAssertEqual(m.maxRetriesDown, 4)
        XCTAssertEqual(m.httpMethod, "HEAD")
        XCTAssertEqual(m.urlPath, "/healthz?full=1")
        XCTAssertEqual(m.expectedCodes.ranges, [200...204, 301...301, 302...302])
        XCTAssertEqual(m.httpVersion, .v1_1)
        XCTAssertEqual(m.domainName, "app.example.com")
        XCTAssertTrue(m.tlsVerify)
        XCTAssertEqual(m.tlsCAFile, "/etc/passwd")
        let member = config.pools[0].members[0]
        XCTAssertEqual(member.monitorEndpoint, Endpoint(address: IPAddress("10.0.0.99")!, port: 9000))
        XCTAssertEqual(member.endpoint, Endpoint(address: IPAddress("10.0.0.11")!, port: 8080))
        XCTAssertEqual(config.pools[0].onMemberDown, .shutdownSessions)
    }

    func testMonitorPortAloneKeepsTheMemberAddress() throws {
        let config = try load(monitor("type = \"TCP\"\ndelay = 1\ntimeout = 0.5"),
                              dropIn: "[pool.web.members.app1]\nmonitor_port = 9000\n")
        XCTAssertEqual(config.pools[0].members[0].monitorEndpoint, Endpoint(address: IPAddress("10.0.0.11")!, port: 9000))
    }

    func testUDPPayloadsAndExpectations() throws {
        var m = try XCTUnwrap(try load(monitor("type = \"UDP-CONNECT\"\ndelay = 1\ntimeout = 0.5\nudp_send = \"ping\"\nudp_expect = \"pong\""))
            .pools[0].healthMonitor)
        XCTAssertEqual(m.udpSend, Array("ping".utf8))
        XCTAssertEqual(m.udpExpect, .prefix(Array("pong".utf8)))
        m = try XCTUnwrap(try load(monitor("type = \"UDP-CONNECT\"\ndelay = 1\ntimeout = 0.5\nudp_send_hex = \"00 01:ff\"\nudp_expect_hex = \"8180\""))
            .pools[0].healthMonitor)
        XCTAssertEqual(m.udpSend, [0x00, 0x01, 0xFF])
        XCTAssertEqual(m.udpExpect, .prefix([0x81, 0x80]))
        m = try XCTUnwrap(try load(monitor("type = \"UDP-CONNECT\"\ndelay = 1\ntimeout = 0.5\nudp_expect_regex = \"^OK [0-9]+\""))
            .pools[0].healthMonitor)
        XCTAssertEqual(m.udpSend, [])
        XCTAssertEqual(m.udpExpect, .regex("^OK [0-9]+"))
    }

    func testTLSHelloTakesADomainNameForSNIWithoutHTTPVersion() throws {
        let m = try XCTUnwrap(try load(monitor("type = \"TLS-HELLO\"\ndelay = 1\ntimeout = 0.5\ndomain_name = \"localhost\""))
            .pools[0].healthMonitor)
        XCTAssertEqual(m.domainName, "localhost")
    }

    func testSwitchedOffMonitorMeansNoMonitor() throws {
        let config = try load(monitor("type = \"TCP\"\ndelay = 1\ntimeout = 0.5\nadmin_state_up = false"))
        XCTAssertNil(config.pools[0].healthMonitor)
    }

    func testExpectedCodesParsing() {
        func ranges(_ text: String) -> [ClosedRange<Int>]? {
            try? ExpectedCodes.parse(text).get().ranges
        }
        XCTAssertEqual(ranges("200"), [200...200])
        XCTAssertEqual(ranges("200,202"), [200...200, 202...202])
        XCTAssertEqual(ranges("200-204"), [200...204])
        XCTAssertEqual(ranges(" 200 - 204 , 404 "), [200...204, 404...404])
        let codes = try! ExpectedCodes.parse("200-204,302").get()
        XCTAssertTrue(codes.contains(200))
        XCTAssertTrue(codes.contains(204))
        XCTAssertTrue(codes.contains(302))
        XCTAssertFalse(codes.contains(205))
        XCTAssertFalse(codes.contains(503))
        for bad in ["", "20", "2000", "abc", "200-", "-200", "204-200", "200,,202", "200-202-204", "99", "600", "2x0", "+200"] {
            XCTAssertNil(ranges(bad), "\(bad) should be refused")
        }
        guard case let .failure(error) = ExpectedCodes.parse("204-200") else { return XCTFail("204-200 accepted") }
        XCTAssertEqual(error.description, "range 204-200 runs backwards")
    }

    func testBadMonitorsReportClearErrors() {
        let cases: [(String, [ExpectedProblem])] = [
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 5",
             [ExpectedProblem(main, 10, "pool.web.healthmonitor.timeout", "5 s is not less than delay 5 s")]),
            ("type = \"HTTP\"\ndelay = 1\ntimeout = 3",
             [ExpectedProblem(main, 10, "pool.web.healthmonitor.timeout", "3 s is not less than delay 1 s")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nexpected_codes = \"200-\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.expected_codes",
                              "\"200-\" is not a list of status codes: \"\" is not an HTTP status code 100..599; allowed: a code, a list \"200,202\" or a range \"200-204\"")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nexpected_codes = \"2xx\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.expected_codes", "\"2xx\" is not an HTTP status code")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nexpected_codes = 200",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.expected_codes", "200 is an integer; expected a string such as \"200\"")]),
            ("type = \"HTTPX\"\ndelay = 5\ntimeout = 3",
             [ExpectedProblem(main, 8, "pool.web.healthmonitor.type",
                              "\"HTTPX\" is not a health monitor type; allowed: PING, TCP, HTTP, HTTPS, TLS-HELLO, UDP-CONNECT")]),
            ("delay = 5\ntimeout = 3",
             [ExpectedProblem(main, 7, "pool.web.healthmonitor.type", "required key is missing")]),
            ("type = \"TCP\"",
             [ExpectedProblem(main, 7, "pool.web.healthmonitor.delay", "required key is missing"),
              ExpectedProblem(main, 7, "pool.web.healthmonitor.timeout", "required key is missing")]),
            ("type = \"TCP\"\ndelay = 0\ntimeout = 3",
             [ExpectedProblem(main, 9, "pool.web.healthmonitor.delay", "0 is out of range; allowed: 0.01..86400 seconds")]),
            ("type = \"TCP\"\ndelay = \"5s\"\ntimeout = 3",
             [ExpectedProblem(main, 9, "pool.web.healthmonitor.delay", "\"5s\" is a string; expected a number")]),
            ("type = \"TCP\"\ndelay = 5\ntimeout = 3\nmax_retries = 0\nmax_retries_down = 11",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.max_retries", "0 is out of range; allowed: 1..10"),
              ExpectedProblem(main, 12, "pool.web.healthmonitor.max_retries_down", "11 is out of range; allowed: 1..10")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nhttp_method = \"FETCH\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.http_method", "\"FETCH\" is not an HTTP method; allowed: CONNECT, DELETE, GET")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nurl_path = \"health check\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.url_path", "\"health check\" is not a URL path")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nhttp_version = 2.0",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.http_version", "2.0 is not a supported HTTP version; allowed: 1.0, 1.1")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\ndomain_name = \"app.example.com\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.domain_name", "needs http_version 1.1")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nhttp_version = \"1.1\"\ndomain_name = \"bad_name!\"",
             [ExpectedProblem(main, 12, "pool.web.healthmonitor.domain_name", "\"bad_name!\" is not a host name")]),
            ("type = \"TCP\"\ndelay = 5\ntimeout = 3\nurl_path = \"/x\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.url_path", "url_path applies only to HTTP and HTTPS monitors, not TCP")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nudp_expect = \"x\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.udp_expect", "udp_expect applies only to UDP-CONNECT monitors, not HTTP")]),
            ("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_send = \"a\"\nudp_send_hex = \"61\"",
             [ExpectedProblem(main, 12, "pool.web.healthmonitor.udp_send_hex", "udp_send and udp_send_hex are both set")]),
            ("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_expect_hex = \"6\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.udp_expect_hex", "\"6\" is not hex")]),
            ("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_expect_regex = \"(unclosed\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.udp_expect_regex", "\"(unclosed\" is not a valid regular expression")]),
            ("type = \"UDP-CONNECT\"\ndelay = 5\ntimeout = 3\nudp_expect = \"\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.udp_expect", "an empty expectation matches any reply")]),
            ("type = \"HTTPS\"\ndelay = 5\ntimeout = 3\ntls_ca_file = \"/etc/passwd\"",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.tls_ca_file", "only used when tls_verify = true")]),
            ("type = \"TLS-HELLO\"\ndelay = 5\ntimeout = 3\ntls_verify = true",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.tls_verify", "tls_verify applies only to HTTPS monitors, not TLS-HELLO")]),
            ("type = \"HTTPS\"\ndelay = 5\ntimeout = 3\ntls_verify = true\ntls_ca_file = \"/nonexistent/ca.pem\"",
             [ExpectedProblem(main, 12, "pool.web.healthmonitor.tls_ca_file",
                              "\"/nonexistent/ca.pem\" cannot be read: No such file or directory; allowed: a readable PEM bundle")]),
            ("type = \"HTTP\"\ndelay = 5\ntimeout = 3\nintervall = 2",
             [ExpectedProblem(main, 11, "pool.web.healthmonitor.intervall", "unknown key \"intervall\"")]),
        ]
        for (lines, expected) in cases {
            assertProblems(problems([(main, monitor(lines))]), expected, lines)
        }
    }

    func testBadMemberMonitorKeysAndPoolOption() {
        let base = monitor("type = \"TCP\"\ndelay = 1\ntimeout = 0.5")
        let dropIn = "conf.d/60-health.toml"
        assertProblems(problems([(main, base), (dropIn, "[pool.web.members.app1]\nmonitor_port = 0\n")]),
                       [ExpectedProblem(dropIn, 2, "pool.web.members.app1.monitor_port", "0 is out of range; allowed: 1..65535")])
        assertProblems(problems([(main, base), (dropIn, "[pool.web.members.app1]\nmonitor_address = \"10.0.0\"\n")]),
                       [ExpectedProblem(dropIn, 2, "pool.web.members.app1.monitor_address", "\"10.0.0\" is not an IP address")])
        assertProblems(problems([(main, base + "[pool.web]\non_member_down = \"kill\"\n")]),
                       [ExpectedProblem(main, 12, "pool.web.on_member_down", "\"kill\" is not an action; allowed: keep, shutdown_sessions")])
    }
}
