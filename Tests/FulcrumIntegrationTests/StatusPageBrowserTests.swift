// The HTTP status page (`/`, StatusPage.swift) in a real headless browser: Debian's chromium
// driven by chromedriver through python3-selenium (browser/status_page_check.py). The page
// loads, shows every member, follows a member that dies from ONLINE to ERROR without a reload,
// draws its charts, and logs no console error. Its screenshot goes to .build/status-page.png, or
// to README's docs/status-page.png with FULCRUM_UPDATE_SCREENSHOT=1 (so a test run leaves the tree clean).
// Skips when the browser packages are missing, unless FULCRUM_REQUIRE_ROOT_TESTS=1 (CI), where
// it fails instead (scripts/test installs them).

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class StatusPageBrowserTests: UDPTestCase {
    static let python = "/usr/bin/python3"
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"

    static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("browser/status_page_check.py")
    }

    static var screenshot: URL {
        let update = ProcessInfo.processInfo.environment["FULCRUM_UPDATE_SCREENSHOT"] == "1"
        return Paths.packageRoot.appendingPathComponent(update ? "docs/status-page.png" : ".build/status-page.png")
    }

    /// TCP pool `web` (TCP monitor: checks every second, down after 2 failures) with three echo
    /// members and UDP pool `dns` with one unmonitored member, behind a TCP and a UDP listener,
    /// under steady traffic. The browser opens the page, then `charlie` is killed: its cell
    /// must turn ERROR while `alpha` and `bravo` stay ONLINE.
    func testStatusPageFollowsAMemberGoingDown() throws {
        try requireBrowserPackages()
        let testStart = Date()

        let alpha = try makeServer(), bravo = try makeServer(), charlie = try makeServer()
        let dns1 = try makeUDPMember("dns1")
        let tcpPort = try freePort(), udpPort = try freeUDPPort(), metricsPort = try freePort()
        let daemon = try startFulcrum(DaemonConfig(
            status: ["metrics_listen = \"127.0.0.1:\(metricsPort)\""],
            listeners: [ListenerSpec(name: "web", port: tcpPort, defaultPool: "web"),
                        udpListener(name: "dns", port: udpPort, pool: "dns")],
            pools: [PoolSpec(name: "web",
                             members: [MemberSpec(name: "alpha", port: alpha.port),
                                       MemberSpec(name: "bravo", port: bravo.port),
                                       MemberSpec(name: "charlie", port: charlie.port)],
                             healthMonitor: ["type = \"TCP\"", "delay = 1", "timeout = 0.5",
                                             "max_retries = 1", "max_retries_down = 2"]),
                    udpPool(name: "dns", [dns1])]))

        // Every monitored member ONLINE first, so the page starts from a known state.
        let watches = ["alpha", "bravo", "charlie"].map { StatusWatch(daemon, pool: "web", member: $0) }
        for watch in watches {
            guard let change = watch.next(timeout: 5), change.status == "ONLINE" else {
                throw TestFailure("\(watch.what) did not come ONLINE\n\(daemon.diagnostics)")
            }
        }

        // Traffic from before the page opens (for /history.json) until the browser is done.
        let traffic = TrafficGenerator(tcpPort: tcpPort, udpPort: udpPort)
        defer { traffic.stop() }
        traffic.start()
        XCTAssertTrue(waitUntil(timeout: 5) { traffic.tcpExchanges >= 10 && traffic.udpExchanges >= 5 },
                      "no traffic through the listeners: \(traffic.summary)\n\(daemon.diagnostics)")

        let members = ["member-web-alpha", "member-web-bravo", "member-web-charlie", "member-dns-dns1"]
        let browser = try BrowserScript(arguments: [
            Self.script.path, "--url", "http://127.0.0.1:\(metricsPort)/",
        ] + members.flatMap { ["--member", $0] } + [
            "--dying", "member-web-charlie", "--screenshot", Self.screenshot.path, "--timeout", "20",
        ])
        defer { browser.stop() }

        guard browser.waitForLine("READY", timeout: 30) else {
            browser.stop()
            XCTFail("the browser script never became READY\n\(browser.output)\n\(daemon.diagnostics)")
            return
        }
        let killed = monotonicNow()
        charlie.stop()  // its port now refuses connections, as a dead member's would
        browser.send("go\n")

        guard let status = browser.waitExit(timeout: 45) else {
            browser.stop()
            XCTFail("the browser script did not finish within 45 s of the kill\n\(browser.output)\n\(daemon.diagnostics)")
            return
        }
        traffic.stop()
        let charlieChanges = watches[2].all().map(\.raw).joined(separator: "\n")
        print("status page check: exit \(status) \(String(format: "%.1f", monotonicNow() - killed)) s after the kill; traffic \(traffic.summary)")
        print(browser.summaryLine ?? "(no SUMMARY line)")
        XCTAssertEqual(status, 0, """
            the status page check failed (exit \(status))
            \(browser.output)
            daemon's status changes for web/charlie (expected ERROR after the kill):
            \(charlieChanges)
            """)
        XCTAssertTrue(watches[2].all().contains { $0.message.contains(" is ERROR ") },
                      "fulcrumd itself never marked web/charlie ERROR\n\(daemon.diagnostics)")
        for watch in watches[0..<2] {
            XCTAssertEqual(watch.all().count, 1, "\(watch.what) changed status:\n\(watch.all().map(\.raw).joined(separator: "\n"))")
        }

        try checkScreenshot(newerThan: testStart, browser)
        try terminate(daemon)
    }

    // MARK: - Helpers

    /// Skips (or, with FULCRUM_REQUIRE_ROOT_TESTS=1, fails) when chromium, chromium-driver or
    /// python3-selenium is missing.
    private func requireBrowserPackages() throws {
        var missing: [String] = []
        let files = FileManager.default
        if !files.isExecutableFile(atPath: Self.chromium) { missing.append("chromium") }
        if !files.isExecutableFile(atPath: Self.chromedriver) { missing.append("chromium-driver") }
        if !files.isExecutableFile(atPath: Self.python) {
            missing.append("python3")
        } else if (try? runCommand([Self.python, "-c", "import selenium.webdriver"], timeout: 20)) == nil {
            missing.append("python3-selenium")
        }
        guard !missing.isEmpty else { return }
        let what = "the status page browser test needs \(missing.joined(separator: ", ")) (apt-get install chromium chromium-driver python3-selenium; scripts/test does)"
        if ProcessInfo.processInfo.environment["FULCRUM_REQUIRE_ROOT_TESTS"] == "1" {
            throw TestFailure("\(what), and FULCRUM_REQUIRE_ROOT_TESTS=1 requires it")
        }
        throw XCTSkip(what)
    }

    /// The PNG the script wrote during this test: a PNG signature, 1280x900, more than 10 KB.
    private func checkScreenshot(newerThan start: Date, _ browser: BrowserScript) throws {
        let path = Self.screenshot.path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let modified = attributes[.modificationDate] as? Date, modified >= start.addingTimeInterval(-1) else {
            XCTFail("no screenshot written to \(path) by this run\n\(browser.output)")
            return
        }
        let data = try Data(contentsOf: Self.screenshot)
        XCTAssertGreaterThan(data.count, 10_000, "screenshot \(path) is suspiciously small")
        let bytes = [UInt8](data.prefix(24))
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "\(path) is not a PNG")
        if bytes.count == 24 {
            func be32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
            XCTAssertEqual([be32(16), be32(20)], [1280, 900], "screenshot size (width, height)")
        }
    }
}

// MARK: - The python driver script as a child process

/// `/usr/bin/python3 status_page_check.py …` with stdin, stdout and stderr on pipes; stdout
/// and stderr captured by background threads.
private final class BrowserScript {
    private let process = Process()
    private let stdinPipe = Pipe(), stdoutPipe = Pipe(), stderrPipe = Pipe()
    private let cond = NSCondition()
    private var out: [UInt8] = []
    private var err: [UInt8] = []
    private var exit: Int32?

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: StatusPageBrowserTests.python)
        process.arguments = arguments
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        // Never let selenium-manager go looking for (or downloading) a driver.
        environment["SE_OFFLINE"] = "true"
        process.environment = environment
        let cond = self.cond
        process.terminationHandler = { [weak self] p in
            cond.lock()
            self?.exit = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
            cond.broadcast()
            cond.unlock()
        }
        try process.run()
        read(stdoutPipe.fileHandleForReading.fileDescriptor, isStdout: true)
        read(stderrPipe.fileHandleForReading.fileDescriptor, isStdout: false)
    }

    private func read(_ fd: Int32, isStdout: Bool) {
        startThread(name: "fulcrum-it-browser-\(isStdout ? "stdout" : "stderr")") { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = Glibc.read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                cond.lock()
                if isStdout { out += buffer[0..<n] } else { err += buffer[0..<n] }
                cond.broadcast()
                cond.unlock()
            }
        }
    }

    var stdoutText: String { cond.lock(); defer { cond.unlock() }; return String(decoding: out, as: UTF8.self) }
    var stderrText: String { cond.lock(); defer { cond.unlock() }; return String(decoding: err, as: UTF8.self) }
    var output: String { "--- script stdout ---\n\(stdoutText)\n--- script stderr ---\n\(stderrText)\n--- end ---" }
    var summaryLine: String? {
        stdoutText.split(separator: "\n").last { $0.hasPrefix("SUMMARY ") }.map(String.init)
    }

    /// Waits until stdout has a line equal to `line`; false on timeout or exit.
    func waitForLine(_ line: String, timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while true {
            if String(decoding: out, as: UTF8.self).split(separator: "\n").contains(where: { $0 == line }) { return true }
            if exit != nil { return false }
            if !cond.wait(until: deadline) { return false }
        }
    }

    func send(_ text: String) {
        try? stdinPipe.fileHandleForWriting.write(contentsOf: Data(text.utf8))
        try? stdinPipe.fileHandleForWriting.close()
    }

    /// The exit status (128 + signal when killed); nil if still running after `timeout`.
    func waitExit(timeout: Double) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        cond.lock()
        defer { cond.unlock() }
        while exit == nil {
            if !cond.wait(until: deadline) { break }
        }
        return exit
    }

    /// SIGTERM (the script then quits Chromium and chromedriver), SIGKILL if that is not enough.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        if waitExit(timeout: 10) == nil {
            kill(process.processIdentifier, SIGKILL)
            _ = waitExit(timeout: 5)
        }
    }
}

// MARK: - Background traffic

/// New TCP connections (a short echo each) and new UDP sessions (a datagram each) at a few per
/// second, with a burst now and then, so the charts and counters have something to show.
/// Errors are ignored: a connection may land on the member being killed.
private final class TrafficGenerator {
    let tcpPort: UInt16
    let udpPort: UInt16
    private let state = Locked<(stop: Bool, done: Bool, tcp: Int, udp: Int, failed: Int)>((false, true, 0, 0, 0))

    init(tcpPort: UInt16, udpPort: UInt16) {
        self.tcpPort = tcpPort
        self.udpPort = udpPort
    }

    var tcpExchanges: Int { state.current.tcp }
    var udpExchanges: Int { state.current.udp }
    var summary: String {
        let s = state.current
        return "\(s.tcp) TCP echoes, \(s.udp) UDP echoes, \(s.failed) failed"
    }

    func start() {
        state.withLock { $0.done = false }
        startThread(name: "fulcrum-it-status-page-traffic") { [self] in
            var round = 0
            while !state.current.stop {
                round += 1
                let connections = round % 8 < 3 ? 6 : 2
                for i in 0..<connections { tcpOnce(size: 200 + 300 * ((round + i) % 7)) }
                udpOnce(round)
                sleepSeconds(0.15)
            }
            state.withLock { $0.done = true }
        }
    }

    private func tcpOnce(size: Int) {
        do {
            let socket = try TCPSocket.connect(host: "127.0.0.1", port: tcpPort, timeout: 2, ioTimeout: 2)
            defer { socket.close() }
            try socket.exchange(String(repeating: "x", count: size))
            state.withLock { $0.tcp += 1 }
        } catch {
            state.withLock { $0.failed += 1 }
        }
    }

    private func udpOnce(_ round: Int) {
        do {
            let client = try UDPClient(to: "127.0.0.1", port: udpPort, receiveTimeout: 0.5)
            defer { client.stop() }
            let payload = udpPayload(client: 1, sequence: round, size: 64 + round % 200)
            if try client.exchange(payload, retries: 1, isReply: { $0 == payload }) != nil {
                state.withLock { $0.udp += 1 }
            } else {
                state.withLock { $0.failed += 1 }
            }
        } catch {
            state.withLock { $0.failed += 1 }
        }
    }

    func stop() {
        state.withLock { $0.stop = true }
        waitUntil(timeout: 5) { state.current.done }
    }
}
