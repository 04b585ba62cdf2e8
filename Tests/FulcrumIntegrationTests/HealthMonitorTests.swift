// Health monitors, one type at a time: a member really goes down and comes back (listener
// closed and reopened, HTTP status switched, a server that never answers, a TLS server killed
// and restarted, a UDP port closed, a wrong UDP reply), and the status the daemon logs follows
// within the bounds delay, timeout, max_retries and max_retries_down allow — and not sooner
// than max_retries_down (or max_retries) checks could have run.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class HealthMonitorTests: HealthTestCase {
    /// Extra time allowed on top of what the monitor's own timing allows (slow CI machines).
    let slack = 2.5

    struct Timing {
        var delay: Double
        var timeout: Double
        var up: Int
        var down: Int

        /// Latest a change to ERROR may come after the member broke: `down` checks, each
        /// started at most delay + 5 % after the previous one, the last one taking `timeout`.
        func downWithin(_ slack: Double) -> Double { Double(down) * delay * 1.05 + timeout + slack }
        /// Earliest: the first failing check may start at once, the others follow ≥ 95 % of
        /// a delay apart (0.9 leaves room for a check that started just before the break).
        var downNotBefore: Double { Double(down - 1) * delay * 0.9 }
        func upWithin(_ slack: Double) -> Double { Double(up) * delay * 1.05 + timeout + slack }
        var upNotBefore: Double { Double(up - 1) * delay * 0.9 }
        /// From start: first check at a random offset within one delay, then `up` successes.
        func firstWithin(_ slack: Double) -> Double { delay + Double(max(up, down)) * delay * 1.05 + timeout + slack }
    }

    /// A TCP listener for `pool` (a config needs one; these tests only watch the checks).
    private func listener(for pool: String) throws -> ListenerSpec {
        ListenerSpec(name: "l-\(pool)", port: try freePort(), defaultPool: pool)
    }

    private func monitor(_ type: String, _ t: Timing, _ extra: [String] = []) -> [String] {
        monitor(type, delay: t.delay, timeout: t.timeout, up: t.up, down: t.down, extra)
    }

    // MARK: TCP

    /// TCP monitor, down after 3 failures, up after 3 successes: the member's listener closes
    /// (connects refused) -> ERROR by L4CON, pool DEGRADED; it listens again on the same port
    /// -> ONLINE, pool ONLINE. The other member never changes.
    func testTCPMonitorRefusedMemberGoesDownAndComesBack() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 3, down: 3)
        let flaky = try makeHTTPHealthServer()
        let steady = try makeHTTPHealthServer()
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "flaky", port: flaky.port),
                                       MemberSpec(name: "steady", port: steady.port)],
                             healthMonitor: monitor("TCP", t))]))
        let flakyWatch = StatusWatch(daemon, pool: "web", member: "flaky")
        let steadyWatch = StatusWatch(daemon, pool: "web", member: "steady")
        let poolWatch = StatusWatch(daemon, pool: "web")

        try expectChange(flakyWatch, to: "ONLINE", check: "L4OK", within: t.firstWithin(slack), "at start")
        try expectChange(steadyWatch, to: "ONLINE", check: "L4OK", within: t.firstWithin(slack), "at start")

        let broke = monotonicNow()
        try flaky.refuse()
        try expectChange(flakyWatch, to: "ERROR", check: "L4CON", contains: "refused", since: broke,
                         within: t.downWithin(slack), notBefore: t.downNotBefore, "after its listener closed")
        try expectChange(poolWatch, to: "DEGRADED", within: 2, "with one member in ERROR")

        let fixed = monotonicNow()
        try flaky.listenAgain()
        try expectChange(flakyWatch, to: "ONLINE", check: "L4OK", since: fixed,
                         within: t.upWithin(slack), notBefore: t.upNotBefore, "after listening again")
        try expectChange(poolWatch, to: "ONLINE", within: 2, "with both members up again")

        sleepSeconds(0.5)
        XCTAssertEqual(steadyWatch.all().count, 1, "the steady member changed status:\n\(steadyWatch.all().map(\.raw).joined(separator: "\n"))")
        XCTAssertEqual(flakyWatch.all().count, 3, "one line per transition:\n\(flakyWatch.all().map(\.raw).joined(separator: "\n"))")
        try terminate(daemon)
    }

    // MARK: HTTP

    /// HTTP monitor with defaults (GET / HTTP/1.0, expect 200): 200 -> ONLINE; 503 -> ERROR by
    /// L7STS naming 503; 200 -> ONLINE; accepts but never answers -> ERROR by L7TOUT; 200 ->
    /// ONLINE. The server saw "GET / HTTP/1.0" without a Host header.
    func testHTTPMonitorFollowsStatusCodeAndSilence() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 3, down: 3)
        let app = try makeHTTPHealthServer(.status(200))
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "app", port: app.port)], healthMonitor: monitor("HTTP", t))]))
        let watch = StatusWatch(daemon, pool: "web", member: "app")

        try expectChange(watch, to: "ONLINE", check: "L7OK", contains: "200", within: t.firstWithin(slack), "at start")
        XCTAssertEqual(app.lastRequestLine, "GET / HTTP/1.0", "default request line")
        XCTAssertNil(app.lastHost, "an HTTP/1.0 check without domain_name sends no Host header")

        var since = monotonicNow()
        app.setStatus(503)
        try expectChange(watch, to: "ERROR", check: "L7STS", contains: "503", since: since,
                         within: t.downWithin(slack), notBefore: t.downNotBefore, "after answering 503")

        since = monotonicNow()
        app.setStatus(200)
        try expectChange(watch, to: "ONLINE", check: "L7OK", since: since,
                         within: t.upWithin(slack), notBefore: t.upNotBefore, "after answering 200 again")

        since = monotonicNow()
        app.set(.silent)
        try expectChange(watch, to: "ERROR", check: "L7TOUT", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore + t.timeout * 0.9, "after going silent")

        since = monotonicNow()
        app.setStatus(200)
        try expectChange(watch, to: "ONLINE", check: "L7OK", since: since,
                         within: t.upWithin(slack), notBefore: t.upNotBefore, "after answering again")
        XCTAssertGreaterThanOrEqual(app.requestCount, 2 * (t.up + t.down), "requests the member saw")
        try terminate(daemon)
    }

    /// expected_codes as a range ("200-204") and as a list ("200,202"): 204 and 202 pass, 503
    /// and 201 fail by L7STS; then 503 -> 202 comes up (inside the range), 204 -> 205 goes down
    /// (outside it), and 201 -> 200 comes up (in the list).
    func testHTTPExpectedCodesRangeAndList() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 2, down: 2)
        let r204 = try makeHTTPHealthServer(.status(204))
        let r503 = try makeHTTPHealthServer(.status(503))
        let l202 = try makeHTTPHealthServer(.status(202))
        let l201 = try makeHTTPHealthServer(.status(201))
        let rangePort = try freePort(), listPort = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(name: "range", port: rangePort, defaultPool: "range"),
                        ListenerSpec(name: "list", port: listPort, defaultPool: "list")],
            pools: [
                PoolSpec(name: "range", members: [MemberSpec(name: "r204", port: r204.port), MemberSpec(name: "r503", port: r503.port)],
                         healthMonitor: monitor("HTTP", t, ["expected_codes = \"200-204\""])),
                PoolSpec(name: "list", members: [MemberSpec(name: "l202", port: l202.port), MemberSpec(name: "l201", port: l201.port)],
                         healthMonitor: monitor("HTTP", t, ["expected_codes = \"200,202\""])),
            ]))
        let w204 = StatusWatch(daemon, pool: "range", member: "r204")
        let w503 = StatusWatch(daemon, pool: "range", member: "r503")
        let w202 = StatusWatch(daemon, pool: "list", member: "l202")
        let w201 = StatusWatch(daemon, pool: "list", member: "l201")

        try expectChange(w204, to: "ONLINE", check: "L7OK", contains: "204", within: t.firstWithin(slack), "(204 in 200-204)")
        try expectChange(w503, to: "ERROR", check: "L7STS", contains: "503", within: t.firstWithin(slack), "(503 outside 200-204)")
        try expectChange(w202, to: "ONLINE", check: "L7OK", contains: "202", within: t.firstWithin(slack), "(202 in 200,202)")
        try expectChange(w201, to: "ERROR", check: "L7STS", contains: "201", within: t.firstWithin(slack), "(201 not in 200,202)")

        let since = monotonicNow()
        r503.setStatus(202)
        r204.setStatus(205)
        l201.setStatus(200)
        try expectChange(w503, to: "ONLINE", check: "L7OK", contains: "202", since: since, within: t.upWithin(slack),
                         notBefore: t.upNotBefore, "(now 202, inside 200-204)")
        try expectChange(w204, to: "ERROR", check: "L7STS", contains: "205", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore, "(now 205, outside 200-204)")
        try expectChange(w201, to: "ONLINE", check: "L7OK", contains: "200", since: since, within: t.upWithin(slack),
                         notBefore: t.upNotBefore, "(now 200, in 200,202)")
        sleepSeconds(0.5)
        XCTAssertEqual(w202.all().count, 1, "l202 changed status again:\n\(w202.all().map(\.raw).joined(separator: "\n"))")
        try terminate(daemon)
    }

    /// What the member sees: http_version 1.1 with domain_name sends that name as Host, with
    /// the configured method and url_path; 1.1 (as a TOML float) without domain_name still
    /// sends a Host; the defaults send "GET / HTTP/1.0" and no Host.
    func testHTTPRequestLineAndHostHeader() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 1, down: 2)
        let named = try makeHTTPHealthServer()
        let plain11 = try makeHTTPHealthServer()
        let plain10 = try makeHTTPHealthServer()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [try listener(for: "named")],
            pools: [
                PoolSpec(name: "named", members: [MemberSpec(name: "m", port: named.port)],
                         healthMonitor: monitor("HTTP", t, ["http_version = \"1.1\"", "domain_name = \"health.example.org\"",
                                                            "http_method = \"HEAD\"", "url_path = \"/status/health?probe=1\""])),
                PoolSpec(name: "v11", members: [MemberSpec(name: "m", port: plain11.port)],
                         healthMonitor: monitor("HTTP", t, ["http_version = 1.1", "url_path = \"/ping\""])),
                PoolSpec(name: "v10", members: [MemberSpec(name: "m", port: plain10.port)],
                         healthMonitor: monitor("HTTP", t)),
            ]))
        for pool in ["named", "v11", "v10"] {
            try expectChange(StatusWatch(daemon, pool: pool, member: "m"), to: "ONLINE", check: "L7OK",
                             within: t.firstWithin(slack), "(pool \(pool))")
        }
        XCTAssertEqual(named.lastRequestLine, "HEAD /status/health?probe=1 HTTP/1.1")
        XCTAssertEqual(named.lastHost, "health.example.org", "Host header from domain_name")
        XCTAssertEqual(plain11.lastRequestLine, "GET /ping HTTP/1.1")
        // RFC 9110 7.2: the checked address, with the port since it is not 80.
        XCTAssertEqual(plain11.lastHost, "127.0.0.1:\(plain11.port)", "an HTTP/1.1 request must carry a Host header")
        XCTAssertEqual(plain10.lastRequestLine, "GET / HTTP/1.0")
        XCTAssertNil(plain10.lastHost)
        try terminate(daemon)
    }

    /// monitor_port (and monitor_address) send the checks elsewhere: the members' data ports
    /// (echo servers) stay up the whole time and never see a check, while their health ports
    /// are toggled; clients follow the health ports' verdicts.
    func testMonitorPortRedirectsChecks() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 2, down: 2)
        let dataA = try makeServer(mode: .echo)
        let dataB = try makeServer(mode: .echo)
        let healthA = try makeHTTPHealthServer()
        let healthB = try makeHTTPHealthServer(host: "127.0.0.2")
        let port = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [
                MemberSpec(name: "a", port: dataA.port, monitorPort: healthA.port),
                MemberSpec(name: "b", port: dataB.port, monitorAddress: "127.0.0.2", monitorPort: healthB.port),
            ], healthMonitor: monitor("HTTP", t))]))
        let watchA = StatusWatch(daemon, pool: "web", member: "a")
        let watchB = StatusWatch(daemon, pool: "web", member: "b")
        try expectChange(watchA, to: "ONLINE", check: "L7OK", within: t.firstWithin(slack), "at start")
        try expectChange(watchB, to: "ONLINE", check: "L7OK", within: t.firstWithin(slack), "at start")
        XCTAssertGreaterThan(healthA.requestCount, 0, "checks of a reach its monitor port")
        XCTAssertGreaterThan(healthB.requestCount, 0, "checks of b reach its monitor address and port")
        XCTAssertEqual(dataA.acceptedCount, 0, "a check reached a's data port")
        XCTAssertEqual(dataB.acceptedCount, 0, "a check reached b's data port")

        let broke = monotonicNow()
        try healthB.refuse()
        try expectChange(watchB, to: "ERROR", check: "L4CON", since: broke, within: t.downWithin(slack),
                         notBefore: t.downNotBefore, "after its health port closed")
        // b's data port is fine, but the daemon sends nobody there.
        let direct = try connect(port: dataB.port, ioTimeout: 5)
        try direct.exchange("b's data port is up")
        direct.close()
        let beforeA = dataA.acceptedCount
        for i in 0..<6 {
            let client = try connect(port: port, ioTimeout: 5)
            try client.exchange("while b is down \(i)")
            client.close()
        }
        XCTAssertTrue(waitUntil(timeout: 5) { dataA.acceptedCount >= beforeA + 6 }, "a took the connections")
        XCTAssertEqual(dataB.acceptedCount, 1, "b (ERROR) got a client connection, or a check reached its data port")

        let fixed = monotonicNow()
        try healthB.listenAgain()
        try expectChange(watchB, to: "ONLINE", check: "L7OK", since: fixed, within: t.upWithin(slack),
                         notBefore: t.upNotBefore, "after its health port listens again")
        for i in 0..<6 {
            let client = try connect(port: port, ioTimeout: 5)
            try client.exchange("b is back \(i)")
            client.close()
        }
        XCTAssertTrue(waitUntil(timeout: 5) { dataB.acceptedCount >= 2 }, "b takes connections again")
        XCTAssertEqual(watchA.all().count, 1, "a changed status:\n\(watchA.all().map(\.raw).joined(separator: "\n"))")
        try terminate(daemon)
    }

    // MARK: HTTPS

    /// HTTPS monitor (no verification) against python's TLS server: 200 -> ONLINE; 503 ->
    /// ERROR by L7STS; 200 -> ONLINE; server killed -> ERROR by L4CON; restarted on the same
    /// port -> ONLINE.
    func testHTTPSMonitorFollowsStatusAndProcess() throws {
        let t = Timing(delay: 0.5, timeout: 0.4, up: 2, down: 2)
        let certificate = try makeCertificate()
        let https = try makeHTTPSServer(certificate, status: 200)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [try listener(for: "web")],
            pools: [PoolSpec(members: [MemberSpec(name: "secure", port: https.port)], healthMonitor: monitor("HTTPS", t))]))
        let watch = StatusWatch(daemon, pool: "web", member: "secure")
        try expectChange(watch, to: "ONLINE", check: "L7OK", contains: "200", within: t.firstWithin(slack), "at start")

        var since = monotonicNow()
        try https.setStatus(503)
        try expectChange(watch, to: "ERROR", check: "L7STS", contains: "503", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore, "after answering 503")

        since = monotonicNow()
        try https.setStatus(200)
        try expectChange(watch, to: "ONLINE", check: "L7OK", since: since, within: t.upWithin(slack),
                         notBefore: t.upNotBefore, "after answering 200")

        since = monotonicNow()
        https.kill()
        try expectChange(watch, to: "ERROR", check: "L4CON", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore, "after the server was killed")

        try https.start()
        since = monotonicNow()
        try expectChange(watch, to: "ONLINE", check: "L7OK", since: since, within: t.upWithin(slack), "after the restart")
        try terminate(daemon)
    }

    /// tls_verify = true: with the server's own certificate as tls_ca_file and domain_name
    /// "localhost" -> ONLINE; a domain_name the certificate does not name, or a CA file that
    /// did not sign it -> ERROR by L6RSP. Without verification the mismatched name passes.
    func testHTTPSCertificateVerification() throws {
        let t = Timing(delay: 0.5, timeout: 0.4, up: 2, down: 2)
        let certificate = try makeCertificate()
        let otherCA = try makeCertificate()
        let https = try makeHTTPSServer(certificate, status: 200)
        let dnsOnly = try makeCertificate(subjectAltName: "DNS:localhost")
        let dnsOnlyServer = try makeHTTPSServer(dnsOnly, status: 200)
        func pool(_ name: String, _ extra: [String], port: UInt16? = nil) -> PoolSpec {
            PoolSpec(name: name, members: [MemberSpec(name: "m", port: port ?? https.port)], healthMonitor: monitor("HTTPS", t, extra))
        }
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [try listener(for: "trusted")],
            pools: [
                pool("trusted", ["http_version = \"1.1\"", "tls_verify = true", "tls_ca_file = \"\(certificate.certPath)\"", "domain_name = \"localhost\""]),
                pool("wrongname", ["http_version = \"1.1\"", "tls_verify = true", "tls_ca_file = \"\(certificate.certPath)\"", "domain_name = \"wrong.example\""]),
                pool("otherca", ["http_version = \"1.1\"", "tls_verify = true", "tls_ca_file = \"\(otherCA.certPath)\"", "domain_name = \"localhost\""]),
                pool("unverified", ["http_version = \"1.1\"", "domain_name = \"wrong.example\""]),
                // No domain_name: the certificate must name the checked address, 127.0.0.1.
                // The first one does (IP SAN); the second (DNS:localhost only) does not, though
                // its chain verifies: a verified chain alone is not enough.
                pool("byip", ["tls_verify = true", "tls_ca_file = \"\(certificate.certPath)\""]),
                pool("noip", ["tls_verify = true", "tls_ca_file = \"\(dnsOnly.certPath)\""], port: dnsOnlyServer.port),
            ]))
        try expectChange(StatusWatch(daemon, pool: "trusted", member: "m"), to: "ONLINE", check: "L7OK",
                         within: t.firstWithin(slack), "(verified against its own certificate)")
        try expectChange(StatusWatch(daemon, pool: "wrongname", member: "m"), to: "ERROR", check: "L6RSP",
                         within: t.firstWithin(slack), "(certificate does not name wrong.example)")
        try expectChange(StatusWatch(daemon, pool: "otherca", member: "m"), to: "ERROR", check: "L6RSP",
                         within: t.firstWithin(slack), "(certificate not signed by the configured CA)")
        try expectChange(StatusWatch(daemon, pool: "unverified", member: "m"), to: "ONLINE", check: "L7OK",
                         within: t.firstWithin(slack), "(tls_verify = false)")
        try expectChange(StatusWatch(daemon, pool: "byip", member: "m"), to: "ONLINE", check: "L7OK",
                         within: t.firstWithin(slack), "(certificate names 127.0.0.1)")
        try expectChange(StatusWatch(daemon, pool: "noip", member: "m"), to: "ERROR", check: "L6RSP",
                         within: t.firstWithin(slack), "(certificate does not name 127.0.0.1)")
        try terminate(daemon)
    }

    // MARK: TLS-HELLO

    /// TLS-HELLO monitor: openssl s_server -> ONLINE by L6OK (a ServerHello); a plain HTTP
    /// server -> ERROR by L6RSP; s_server killed -> ERROR by L4CON; restarted on the same port
    /// -> ONLINE.
    func testTLSHelloMonitor() throws {
        let t = Timing(delay: 0.3, timeout: 0.25, up: 2, down: 2)
        let certificate = try makeCertificate()
        let tls = try makeTLSServer(certificate)
        let plain = try makeHTTPHealthServer()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [try listener(for: "tls")],
            pools: [PoolSpec(name: "tls", members: [MemberSpec(name: "s", port: tls.port), MemberSpec(name: "plain", port: plain.port)],
                             healthMonitor: monitor("TLS-HELLO", t))]))
        let watch = StatusWatch(daemon, pool: "tls", member: "s")
        let plainWatch = StatusWatch(daemon, pool: "tls", member: "plain")
        try expectChange(watch, to: "ONLINE", check: "L6OK", contains: "ServerHello", within: t.firstWithin(slack), "at start")
        try expectChange(plainWatch, to: "ERROR", check: "L6RSP", within: t.firstWithin(slack), "(plain HTTP, not TLS)")
        XCTAssertGreaterThan(plain.garbageCount, 0, "the plain server saw the ClientHello")

        var since = monotonicNow()
        tls.kill()
        try expectChange(watch, to: "ERROR", check: "L4CON", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore, "after s_server was killed")

        try tls.start()
        since = monotonicNow()
        try expectChange(watch, to: "ONLINE", check: "L6OK", since: since, within: t.upWithin(slack), "after the restart")
        XCTAssertEqual(plainWatch.all().count, 1, "the plain member changed status again")
        try terminate(daemon)
    }

    /// TLS-HELLO with domain_name sends it as SNI: against an s_server that answers a fatal
    /// unrecognized_name alert to any other server name (and a ServerHello to none or the
    /// right one), domain_name "localhost" -> ONLINE by L6OK, "other.example" -> ERROR by L6RSP.
    func testTLSHelloSendsDomainNameAsSNI() throws {
        let t = Timing(delay: 0.3, timeout: 0.25, up: 2, down: 2)
        let certificate = try makeCertificate()
        let tls = try makeTLSServer(certificate, extraArguments: [
            "-servername", "localhost", "-servername_fatal", "-cert2", certificate.certPath, "-key2", certificate.keyPath,
        ])
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [try listener(for: "right")],
            pools: [
                PoolSpec(name: "right", members: [MemberSpec(name: "s", port: tls.port)],
                         healthMonitor: monitor("TLS-HELLO", t, ["domain_name = \"localhost\""])),
                PoolSpec(name: "wrong", members: [MemberSpec(name: "s", port: tls.port)],
                         healthMonitor: monitor("TLS-HELLO", t, ["domain_name = \"other.example\""])),
            ]))
        try expectChange(StatusWatch(daemon, pool: "right", member: "s"), to: "ONLINE", check: "L6OK",
                         within: t.firstWithin(slack), "(SNI localhost)")
        try expectChange(StatusWatch(daemon, pool: "wrong", member: "s"), to: "ERROR", check: "L6RSP",
                         contains: "alert", within: t.firstWithin(slack), "(SNI other.example: fatal alert)")
        try terminate(daemon)
    }

    // MARK: UDP-CONNECT

    /// UDP-CONNECT without an expected reply: the port closes -> ERROR by L4CON "ICMP port
    /// unreachable"; reopened -> ONLINE. The other member stays ONLINE.
    func testUDPConnectClosedPortGoesDownAndComesBack() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 3, down: 3)
        let flaky = try makeUDPResponder(.echo)
        let steady = try makeUDPResponder(.silent)  // no ICMP error is a pass without udp_expect
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(port: port)],
            pools: [PoolSpec(name: "udp", members: [MemberSpec(name: "flaky", port: flaky.port),
                                                    MemberSpec(name: "steady", port: steady.port)],
                             healthMonitor: monitor("UDP-CONNECT", t))]))
        let watch = StatusWatch(daemon, pool: "udp", member: "flaky")
        let steadyWatch = StatusWatch(daemon, pool: "udp", member: "steady")
        try expectChange(watch, to: "ONLINE", check: "L4OK", within: t.firstWithin(slack), "at start")
        try expectChange(steadyWatch, to: "ONLINE", check: "L4OK", within: t.firstWithin(slack), "at start (silent)")

        var since = monotonicNow()
        try flaky.close()
        try expectChange(watch, to: "ERROR", check: "L4CON", contains: "ICMP port unreachable", since: since,
                         within: t.downWithin(slack), notBefore: t.downNotBefore, "after its port closed")

        since = monotonicNow()
        try flaky.reopen()
        try expectChange(watch, to: "ONLINE", check: "L4OK", since: since, within: t.upWithin(slack),
                         notBefore: t.upNotBefore, "after its port reopened")
        XCTAssertEqual(steadyWatch.all().count, 1, "the steady member changed status again")
        try terminate(daemon)
    }

    /// UDP-CONNECT with udp_send / udp_expect: the member gets the configured payload; the
    /// right reply -> ONLINE (L7OK); a wrong one -> ERROR (L7RSP); right again -> ONLINE; no
    /// reply -> ERROR (L7TOUT). A second pool matches udp_expect_regex against a hex payload.
    func testUDPConnectExpectedReply() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 2, down: 3)
        let responder = try makeUDPResponder(.fixed(Array("pong from member".utf8)))
        // CR LF and a byte above 0x7F: the pattern must see one character per byte.
        let regexResponder = try makeUDPResponder(.fixed(Array("STATUS 42\r\nok".utf8) + [0xFF]))
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [udpListener(port: port)],
            pools: [
                PoolSpec(name: "udp", members: [MemberSpec(name: "m", port: responder.port)],
                         healthMonitor: monitor("UDP-CONNECT", t, ["udp_send = \"ping?\"", "udp_expect = \"pong\""])),
                PoolSpec(name: "rx", members: [MemberSpec(name: "m", port: regexResponder.port)],
                         healthMonitor: monitor("UDP-CONNECT", t, ["udp_send_hex = \"00ff5354\"",
                                                                   "udp_expect_regex = \"^STATUS [0-9]+\\\\r[\\\\n]ok\\\\xFF$\""])),
            ]))
        let watch = StatusWatch(daemon, pool: "udp", member: "m")
        let rxWatch = StatusWatch(daemon, pool: "rx", member: "m")
        try expectChange(watch, to: "ONLINE", check: "L7OK", within: t.firstWithin(slack), "(expected reply)")
        try expectChange(rxWatch, to: "ONLINE", check: "L7OK", within: t.firstWithin(slack), "(reply matches the pattern)")
        XCTAssertEqual(responder.lastDatagram.map { String(decoding: $0, as: UTF8.self) }, "ping?", "udp_send payload")
        XCTAssertEqual(regexResponder.lastDatagram, [0x00, 0xFF, 0x53, 0x54], "udp_send_hex payload")

        var since = monotonicNow()
        responder.setReply(.fixed(Array("nope".utf8)))
        regexResponder.setReply(.fixed(Array("STATUS x\r\nok".utf8) + [0xFF]))
        try expectChange(watch, to: "ERROR", check: "L7RSP", contains: "nope", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore, "after a wrong reply")
        try expectChange(rxWatch, to: "ERROR", check: "L7RSP", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore, "after a reply that does not match")

        since = monotonicNow()
        responder.setReply(.fixed(Array("pong".utf8)))
        try expectChange(watch, to: "ONLINE", check: "L7OK", since: since, within: t.upWithin(slack),
                         notBefore: t.upNotBefore, "after the right reply again")

        since = monotonicNow()
        responder.setReply(.silent)
        try expectChange(watch, to: "ERROR", check: "L7TOUT", since: since, within: t.downWithin(slack),
                         notBefore: t.downNotBefore + t.timeout * 0.9, "after falling silent")
        try terminate(daemon)
    }

    // MARK: PING

    /// PING monitor on 127.0.0.1 and ::1: both ONLINE by L3OK (loopback always answers, so
    /// only the way up can be tested here).
    func testPingMonitorOnLoopback() throws {
        let t = Timing(delay: 0.3, timeout: 0.2, up: 2, down: 2)
        let daemon = try startFulcrum(DaemonConfig(
            listeners: [try listener(for: "icmp")],
            pools: [PoolSpec(name: "icmp", members: [MemberSpec(name: "v4", address: "127.0.0.1", port: 9),
                                                      MemberSpec(name: "v6", address: "::1", port: 9)],
                             healthMonitor: monitor("PING", t))]))
        for member in ["v4", "v6"] {
            try expectChange(StatusWatch(daemon, pool: "icmp", member: member), to: "ONLINE", check: "L3OK",
                             contains: "echo reply", within: t.firstWithin(slack), "(\(member))")
        }
        try terminate(daemon)
    }
}
