// The status socket and the HTTP endpoint of a running fulcrumd: the shape of every reply
// (CSV, JSON, Prometheus text checked by prometheus_client, the HTML page), exact counters
// while traffic has just passed, bad commands answered with one `error:` line on a
// connection that stays usable, the read-only socket, and the log line of every change.
//
// Shared by HostileClientTests and FulcrumctlTests: ControlHTTP (a one-request HTTP client),
// PrometheusCheck (the python3 prometheus_client parser) and MetricSamples (values by series).

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers for the control-plane tests

/// One HTTP/1.1 request on a fresh connection to the metrics endpoint, read until the server
/// closes (it answers one request per connection).
struct ControlHTTPResponse {
    let status: Int
    let statusLine: String
    let headers: [String: String]
    let body: String
    let raw: [UInt8]

    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

enum ControlHTTP {
    static func request(port: UInt16, _ text: String, timeout: Double = 10) throws -> ControlHTTPResponse {
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: timeout, ioTimeout: timeout)
        defer { socket.close() }
        try socket.send(text)
        let raw = try readAll(socket, timeout: timeout)
        return try parse(raw)
    }

    static func get(port: UInt16, _ path: String, method: String = "GET", timeout: Double = 10) throws -> ControlHTTPResponse {
        try request(port: port, "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n", timeout: timeout)
    }

    /// Everything the server sends until it closes. A reset after some bytes ends the read too.
    static func readAll(_ socket: TCPSocket, timeout: Double) throws -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = monotonicNow() + timeout
        while true {
            let n = recv(socket.fd, &buffer, buffer.count, 0)
            if n > 0 {
                out += buffer[0..<n]
            } else if n == 0 {
                return out
            } else {
                let err = errno
                if err == EINTR { continue }
                if (err == ECONNRESET || err == EPIPE) && !out.isEmpty { return out }
                throw SocketError("reading the HTTP response (\(out.count) bytes so far)", err)
            }
            if monotonicNow() > deadline { throw TestFailure("HTTP response not finished within \(timeout) s") }
        }
    }

    static func parse(_ raw: [UInt8]) throws -> ControlHTTPResponse {
        let crlf2: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = (0..<max(0, raw.count - 3)).first(where: { Array(raw[$0..<($0 + 4)]) == crlf2 }) else {
            throw TestFailure("HTTP response without a complete head: \(String(decoding: raw.prefix(300), as: UTF8.self).debugDescription)")
        }
        let head = String(decoding: raw[..<headEnd], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let statusLine = lines[0]
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw TestFailure("bad HTTP status line: \(statusLine.debugDescription)")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw TestFailure("bad HTTP header line: \(line.debugDescription)") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = String(decoding: raw[(headEnd + 4)...], as: UTF8.self)
        return ControlHTTPResponse(status: status, statusLine: statusLine, headers: headers, body: body, raw: raw)
    }
}

/// Tests/FulcrumIntegrationTests/metrics/prometheus_parse.py: prometheus_client's reference
/// parser plus the checks it lets through (duplicated series, split families).
enum PrometheusCheck {
    static var script: String {
        Paths.packageRoot.appendingPathComponent("Tests/FulcrumIntegrationTests/metrics/prometheus_parse.py").path
    }

    /// Nil when the text passes; else what the checker said.
    static func problems(_ text: String, require: [String] = []) throws -> String? {
        let process = Process()
        // Debian's python3 (where python3-prometheus-client installs), else whatever PATH has.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [script]
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script]
        }
        process.arguments! += require.flatMap { ["--require", $0] }
        let input = Pipe(), out = Pipe(), err = Pipe()
        process.standardInput = input
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let group = DispatchGroup()
        let outData = Locked(Data()), errData = Locked(Data())
        DispatchQueue.global().async(group: group) {
            let data = out.fileHandleForReading.readDataToEndOfFile()
            outData.withLock { $0 = data }
        }
        DispatchQueue.global().async(group: group) {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errData.withLock { $0 = data }
        }
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        guard group.wait(timeout: .now() + 30) == .success else {
            process.terminate()
            throw TestFailure("prometheus_parse.py did not finish within 30 s")
        }
        process.waitUntilExit()
        let stdout = String(decoding: outData.current, as: UTF8.self)
        let stderr = String(decoding: errData.current, as: UTF8.self)
        if stderr.contains("No module named 'prometheus_client'") {
            throw TestFailure("python3 has no prometheus_client: install python3-prometheus-client (Debian) or pip install prometheus_client")
        }
        if process.terminationStatus == 0 && stdout.hasPrefix("ok:") { return nil }
        return "exit \(process.terminationStatus): \(stderr)\(stdout)"
    }
}

/// Prometheus text as a map from series (`name{k="v",…}` with the labels sorted) to value.
struct MetricSamples {
    let values: [String: Double]

    init(_ text: String) throws {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw TestFailure("metrics line without a value: \(line)")
            }
            let series = line[..<space]
            let key: String
            if let brace = series.firstIndex(of: "{") {
                let name = series[..<brace]
                let labels = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                let pairs = labels.split(separator: ",").map(String.init).sorted()
                key = "\(name){\(pairs.joined(separator: ","))}"
            } else {
                key = String(series)
            }
            values[key] = value
        }
        self.values = values
    }

    /// The value of `name` with `labels`, failing clearly when the series is missing.
    func value(_ name: String, _ labels: [String: String] = [:]) throws -> Int {
        let key = labels.isEmpty ? name
            : "\(name){\(labels.map { "\($0.key)=\"\($0.value)\"" }.sorted().joined(separator: ","))}"
        guard let v = values[key] else {
            throw TestFailure("metrics have no series \(key); series of \(name): \(values.keys.filter { $0.hasPrefix(name) }.sorted())")
        }
        return Int(v)
    }
}

/// VmRSS of a process in KiB.
func procResidentKiB(_ pid: Int32) throws -> Int {
    let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else {
        throw TestFailure("no VmRSS in /proc/\(pid)/status")
    }
    return kib
}

/// Open descriptors of a process.
func procOpenDescriptors(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
}

/// What each open descriptor of a process is (socket:[inode], pipe:[inode], a path), for messages.
func procDescriptorTargets(_ pid: Int32) -> [String] {
    let dir = "/proc/\(pid)/fd"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return entries.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\($0)") }.sorted()
}

/// Reply lines without their "\n".
func statusReplyLines(_ reply: String) -> [String] {
    reply.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
}

// MARK: - Tests

final class StatusSocketTests: UDPTestCase {
    /// Two TCP listeners (web on 127.0.0.1, web6 on ::1) on pool web (a, b), one UDP listener
    /// on pool udp (u1), the read-only socket and the HTTP endpoint.
    private struct Setup {
        let daemon: FulcrumProcess
        let dir: ConfigDir
        let readOnly: String
        let httpPort: UInt16
        let webPort: UInt16
        let udpPort: UInt16
        let a: TestServer
        let u1: UDPMember
    }

    private func start(tcpMode: TestServer.Mode = .echo, udpMode: UDPMember.Mode = .echo) throws -> Setup {
        let a = try makeServer(mode: tcpMode)
        let b = try makeServer(mode: tcpMode)
        let u1 = try makeUDPMember("u1", mode: udpMode)
        let webPort = try freePort(), web6Port = try freePort(host: "::1"), udpPort = try freeUDPPort()
        let httpPort = try freePort()
        let dir = try makeConfigDir()
        let readOnly = dir.filePath("status-ro.sock")
        var config = DaemonConfig(
            listeners: [
                ListenerSpec(name: "web", port: webPort),
                ListenerSpec(name: "web6", address: "::1", port: web6Port),
                udpListener(port: udpPort),
            ],
            pools: [
                PoolSpec(members: [MemberSpec(name: "a", port: a.port), MemberSpec(name: "b", port: b.port, weight: 3)]),
                udpPool([u1]),
            ])
        config.status = ["readonly_socket = \(DaemonConfig.quoted(readOnly))",
                         "metrics_listen = \(DaemonConfig.quoted("127.0.0.1:\(httpPort)"))"]
        try config.write(to: dir)
        let daemon = try startFulcrum(configDir: dir)
        return Setup(daemon: daemon, dir: dir, readOnly: readOnly, httpPort: httpPort, webPort: webPort,
                     udpPort: udpPort, a: a, u1: u1)
    }

    /// `show stat`: HAProxy's header, as many fields in every row as in the header, exactly
    /// one FRONTEND row per listener, one row per member and one BACKEND row per pool. JSON,
    /// Prometheus text (socket and HTTP, through prometheus_client), /status.json, the page,
    /// 404 and 405.
    func testRepliesHaveTheirShapeOnSocketAndHTTP() throws {
        let s = try start()
        let control = try StatusSocketClient(path: s.dir.statusSocket)

        let csv = try control.command("show stat")
        let lines = csv.split(separator: "\n").map(String.init)
        let prefix = "# pxname,svname,scur,smax,slim,stot,bin,bout,ereq,econ,eresp,status,weight,act,bck,chkfail,chkdown,lastchg,downtime"
        XCTAssertTrue(lines.first?.hasPrefix(prefix + ",") ?? false, "show stat header: \(lines.first ?? "none")")
        let header = try StatRows(csv)
        XCTAssertTrue(header.header.contains("udp_din") && header.header.contains("udp_dout"), "UDP fields in the header: \(header.header)")
        let keys = lines.dropFirst().map { line -> String in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            XCTAssertEqual(fields.count, header.header.count, "fields in row \(line)")
            return "\(fields[0])/\(fields.count > 1 ? fields[1] : "")"
        }
        XCTAssertEqual(keys.sorted(), ["udp/BACKEND", "udp/FRONTEND", "udp/u1", "web/BACKEND", "web/FRONTEND",
                                       "web/a", "web/b", "web6/FRONTEND"],
                       "one FRONTEND per listener, a row per member, a BACKEND per pool:\n\(csv)")
        XCTAssertEqual(header.text("web/b", "weight"), "3", "weight of web/b")
        XCTAssertEqual(header.text("web/a", "admin_state"), "ready")
        XCTAssertEqual(header.text("udp/FRONTEND", "proto"), "UDP")
        XCTAssertEqual(header.text("web6/FRONTEND", "proto"), "TCP")
        XCTAssertEqual(header.text("web/FRONTEND", "status"), "OPEN")

        let json = try control.command("show stat json")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertNotNil(parsed?["info"] as? [String: Any], "show stat json has an info object: \(json.prefix(300))")
        XCTAssertEqual((parsed?["listeners"] as? [Any])?.count, 3, "show stat json listeners")
        XCTAssertEqual((parsed?["pools"] as? [Any])?.count, 2, "show stat json pools")

        let required = ["fulcrum_info", "fulcrum_listener_connections_total", "fulcrum_member_bytes_sent_total",
                        "fulcrum_listener_udp_datagrams_received_total", "fulcrum_member_weight"]
        let metrics = try control.command("show metrics")
        if let problems = try PrometheusCheck.problems(metrics, require: required) {
            XCTFail("show metrics is not valid Prometheus text: \(problems)\n\(metrics)")
        }
        XCTAssertEqual(try MetricSamples(metrics).value("fulcrum_member_weight", ["pool": "web", "member": "b"]), 3)

        let http = try ControlHTTP.get(port: s.httpPort, "/metrics")
        XCTAssertEqual(http.status, 200, http.statusLine)
        XCTAssertTrue(http.header("content-type")?.hasPrefix("text/plain") ?? false, "content-type \(http.headers)")
        XCTAssertEqual(http.header("content-length").flatMap(Int.init), http.body.utf8.count, "Content-Length of /metrics")
        if let problems = try PrometheusCheck.problems(http.body, require: required) {
            XCTFail("GET /metrics is not valid Prometheus text: \(problems)\n\(http.body)")
        }

        let head = try ControlHTTP.get(port: s.httpPort, "/metrics", method: "HEAD")
        XCTAssertEqual(head.status, 200, head.statusLine)
        XCTAssertEqual(head.body, "", "HEAD has no body")

        let statusJSON = try ControlHTTP.get(port: s.httpPort, "/status.json")
        XCTAssertEqual(statusJSON.status, 200, statusJSON.statusLine)
        XCTAssertTrue(statusJSON.header("content-type")?.hasPrefix("application/json") ?? false, "\(statusJSON.headers)")
        let status = try JSONSerialization.jsonObject(with: Data(statusJSON.body.utf8)) as? [String: Any]
        XCTAssertEqual((status?["listeners"] as? [Any])?.count, 3, "/status.json listeners: \(statusJSON.body.prefix(300))")
        XCTAssertEqual((status?["pools"] as? [Any])?.count, 2, "/status.json pools")
        XCTAssertNotNil(status?["info"] as? [String: Any], "/status.json info")
        XCTAssertTrue(status?["anycast"] is NSNull, "/status.json anycast is null without [anycast]")

        let page = try ControlHTTP.get(port: s.httpPort, "/")
        XCTAssertEqual(page.status, 200, page.statusLine)
        XCTAssertTrue(page.header("content-type")?.hasPrefix("text/html") ?? false, "\(page.headers)")
        XCTAssertTrue(page.body.contains("<canvas"), "the page draws charts on a canvas")

        let query = try ControlHTTP.get(port: s.httpPort, "/metrics?name=x")
        XCTAssertEqual(query.status, 200, "a query string is ignored: \(query.statusLine)")
        let missing = try ControlHTTP.get(port: s.httpPort, "/nosuch")
        XCTAssertEqual(missing.status, 404, missing.statusLine)
        let post = try ControlHTTP.request(port: s.httpPort,
            "POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(post.status, 405, post.statusLine)

        // Both sockets are srw-rw---- (the contract's 0660).
        for path in [s.dir.statusSocket, s.readOnly] {
            var st = Glibc.stat()
            XCTAssertEqual(lstat(path, &st), 0, "lstat \(path)")
            XCTAssertEqual(st.st_mode & S_IFMT, S_IFSOCK, "\(path) is a socket")
            XCTAssertEqual(st.st_mode & 0o777, 0o660, "mode of \(path): \(String(st.st_mode & 0o777, radix: 8))")
        }

        // The socket still answers after all that.
        XCTAssertTrue(try control.command("show info").contains("pid: \(s.daemon.pid)\n"))
    }

    /// 20 TCP connections of known sizes to a member that answers 3,333 bytes after EOF, and
    /// 50 UDP datagrams from 5 clients to a member that prefixes "u1|": while the daemon runs,
    /// `show stat` and `show metrics` give exactly those connections, bytes and datagrams.
    func testCountersAreExactWhileRunning() throws {
        let reply = 3333
        let s = try start(tcpMode: .replyAfterEOF(bytes: reply), udpMode: .tagged)
        let control = try StatusSocketClient(path: s.dir.statusSocket)
        // Only member a takes traffic, so its row must carry every connection.
        XCTAssertFalse(try control.command("set member web/b state maint").hasPrefix("error:"))

        let sizes = (0..<20).map { $0 == 7 ? 300_000 : 1 + $0 * 997 }
        for (i, size) in sizes.enumerated() {
            let socket = try connect(port: s.webPort, ioTimeout: 10)
            let stream = PayloadStream(seed: UInt64(i + 1), total: size)
            while let chunk = stream.nextChunk() { try socket.send(chunk) }
            socket.shutdownWrite()
            let got = try socket.readToEOF(limit: reply, totalTimeout: 10)
            XCTAssertEqual(got.count, reply, "connection \(i): bytes back")
            socket.close()
        }
        let bytesIn = sizes.reduce(0, +)
        let bytesOut = sizes.count * reply

        var udpIn = 0, udpOut = 0
        for c in 0..<5 {
            let client = try makeUDPClient(port: s.udpPort)
            for q in 0..<10 {
                let payload = udpPayload(client: c, sequence: q, size: 40 + c * 100 + q * 37)
                try client.send(payload)
                guard let back = try client.receive() else { throw TestFailure("UDP client \(c) datagram \(q): no reply") }
                XCTAssertEqual(back, Array("u1|".utf8) + payload, "UDP client \(c) datagram \(q)")
                udpIn += payload.count
                udpOut += payload.count + 3
            }
        }
        XCTAssertEqual(s.a.waitFinished(count: sizes.count, timeout: 5)?.map(\.receivedBytes).reduce(0, +), bytesIn,
                       "what member a received")

        let expected: [(String, String, Int)] = [
            ("web/FRONTEND", "stot", 20), ("web/FRONTEND", "bin", bytesIn), ("web/FRONTEND", "bout", bytesOut),
            ("web/FRONTEND", "scur", 0),
            ("web/a", "stot", 20), ("web/a", "bin", bytesIn), ("web/a", "bout", bytesOut), ("web/a", "scur", 0),
            ("web/a", "econ", 0), ("web/b", "stot", 0), ("web/b", "bin", 0),
            ("web/BACKEND", "stot", 20), ("web/BACKEND", "bin", bytesIn), ("web/BACKEND", "bout", bytesOut),
            ("web6/FRONTEND", "stot", 0),
            ("udp/FRONTEND", "udp_din", 50), ("udp/FRONTEND", "udp_dout", 50), ("udp/FRONTEND", "bin", udpIn),
            ("udp/FRONTEND", "bout", udpOut), ("udp/FRONTEND", "stot", 5), ("udp/FRONTEND", "udp_sess_tot", 5),
            ("udp/u1", "udp_din", 50), ("udp/u1", "udp_dout", 50), ("udp/u1", "bin", udpIn), ("udp/u1", "bout", udpOut),
            ("udp/u1", "stot", 5),
        ]
        var rows = try StatRows(try control.command("show stat"))
        let deadline = monotonicNow() + 3
        while monotonicNow() < deadline, !expected.allSatisfy({ (try? rows.int($0.0, $0.1)) == $0.2 }) {
            sleepSeconds(0.1)
            rows = try StatRows(try control.command("show stat"))
        }
        for (row, field, value) in expected {
            XCTAssertEqual(try rows.int(row, field), value, "show stat \(row) \(field)")
        }

        let m = try MetricSamples(try control.command("show metrics"))
        let web = ["listener": "web"], udp = ["listener": "udp"]
        let a = ["pool": "web", "member": "a"], u1 = ["pool": "udp", "member": "u1"]
        XCTAssertEqual(try m.value("fulcrum_listener_connections_total", web), 20)
        XCTAssertEqual(try m.value("fulcrum_listener_current_connections", web), 0)
        XCTAssertEqual(try m.value("fulcrum_listener_bytes_received_total", web), bytesIn)
        XCTAssertEqual(try m.value("fulcrum_listener_bytes_sent_total", web), bytesOut)
        XCTAssertEqual(try m.value("fulcrum_member_connections_total", a), 20)
        XCTAssertEqual(try m.value("fulcrum_member_bytes_sent_total", a), bytesIn)
        XCTAssertEqual(try m.value("fulcrum_member_bytes_received_total", a), bytesOut)
        XCTAssertEqual(try m.value("fulcrum_member_connections_total", ["pool": "web", "member": "b"]), 0)
        XCTAssertEqual(try m.value("fulcrum_listener_udp_datagrams_received_total", udp), 50)
        XCTAssertEqual(try m.value("fulcrum_listener_udp_datagrams_sent_total", udp), 50)
        XCTAssertEqual(try m.value("fulcrum_listener_udp_sessions_total", udp), 5)
        XCTAssertEqual(try m.value("fulcrum_listener_bytes_received_total", udp), udpIn)
        XCTAssertEqual(try m.value("fulcrum_listener_bytes_sent_total", udp), udpOut)
        XCTAssertEqual(try m.value("fulcrum_member_udp_datagrams_sent_total", u1), 50)
        XCTAssertEqual(try m.value("fulcrum_member_udp_datagrams_received_total", u1), 50)
        XCTAssertEqual(try m.value("fulcrum_member_udp_sessions_total", u1), 5)
        XCTAssertEqual(try m.value("fulcrum_member_bytes_sent_total", u1), udpIn)
        XCTAssertEqual(try m.value("fulcrum_member_bytes_received_total", u1), udpOut)

        // A connection still open: counted in scur, its bytes counted as they pass.
        let open = try connect(port: s.webPort, ioTimeout: 10)
        try open.send([UInt8](repeating: 0x5A, count: 50_000))
        let live: [(String, String, Int)] = [
            ("web/FRONTEND", "scur", 1), ("web/FRONTEND", "stot", 21), ("web/FRONTEND", "bin", bytesIn + 50_000),
            ("web/a", "scur", 1), ("web/a", "stot", 21), ("web/a", "bin", bytesIn + 50_000), ("web/a", "bout", bytesOut),
        ]
        _ = waitUntil(timeout: 3, interval: 0.1) {
            guard let r = try? StatRows(try control.command("show stat")) else { return false }
            return live.allSatisfy { (try? r.int($0.0, $0.1)) == $0.2 }
        }
        rows = try StatRows(try control.command("show stat"))
        for (row, field, value) in live {
            XCTAssertEqual(try rows.int(row, field), value, "show stat \(row) \(field) with a connection open")
        }
        XCTAssertEqual(try MetricSamples(try control.command("show metrics")).value("fulcrum_listener_current_connections", web), 1)
        open.shutdownWrite()
        XCTAssertEqual(try open.readToEOF(limit: reply, totalTimeout: 10).count, reply)
        open.close()
        _ = waitUntil(timeout: 3, interval: 0.1) { (try? StatRows(try control.command("show stat")).int("web/a", "scur")) == 0 }
        rows = try StatRows(try control.command("show stat"))
        XCTAssertEqual(try rows.int("web/a", "scur"), 0, "web/a scur after the last close")
        XCTAssertEqual(try rows.int("web/a", "bout"), bytesOut + reply, "web/a bout after the last close")

        let info = try control.command("show info")
        XCTAssertTrue(info.contains("total_connections: 26\n"), "show info counts 21 connections + 5 sessions:\n\(info)")
        XCTAssertTrue(info.contains("bytes_in: \(bytesIn + 50_000 + udpIn)\n"), "show info bytes_in:\n\(info)")
    }

    /// Unknown commands, unknown pools, weight and state out of range, an empty line: each is
    /// one `error:` line, nothing changes, and the same connection answers `show info` after.
    /// The read-only socket refuses changes and answers `show stat`.
    func testBadCommandsGetOneErrorLineAndTheConnectionStaysUsable() throws {
        let s = try start()
        let control = try StatusSocketClient(path: s.dir.statusSocket)
        for command in ["frobnicate", "set member nosuch/x state drain", "set member web/nosuch state drain",
                        "set member web/a weight 300", "set member web/a weight -1", "set member web/a state down",
                        "", "show", "show stat xml", "shutdown sessions member web", "set member web/a/b state drain",
                        "show members nosuch", "SHOW INFO", "help me", "anycast", "anycast withdraw 192.0.2.1/32",
                        "anycast withdraw", "anycast announce 192.0.2.1", "show anycast now"] {
            let reply = try control.command(command)
            let lines = statusReplyLines(reply)
            XCTAssertEqual(lines.count, 1, "\(command.debugDescription) → one line: \(reply.debugDescription)")
            XCTAssertTrue(lines.first?.hasPrefix("error: ") ?? false, "\(command.debugDescription) → \(reply.debugDescription)")
        }
        let info = try control.command("show info")
        XCTAssertTrue(info.contains("pid: \(s.daemon.pid)\n"), "show info after the errors:\n\(info)")
        XCTAssertFalse(try control.command("help").hasPrefix("error:"))
        XCTAssertTrue(try control.command("show info\r").contains("pid: \(s.daemon.pid)\n"), "a telnet-style CRLF line")
        XCTAssertTrue(try control.command(" \tshow  \t info ").contains("pid: \(s.daemon.pid)\n"), "blanks around words")

        // Several commands in one write are answered in order.
        try control.write("frobnicate\nshow info\n\nshow stat\n")
        XCTAssertTrue(try control.readReply().hasPrefix("error: "))
        XCTAssertTrue(try control.readReply().contains("pid: \(s.daemon.pid)\n"))
        XCTAssertTrue(try control.readReply().hasPrefix("error: "))
        XCTAssertTrue(try control.readReply().hasPrefix("# pxname,"))

        var rows = try StatRows(try control.command("show stat"))
        XCTAssertEqual(rows.text("web/a", "admin_state"), "ready", "nothing changed web/a")
        XCTAssertEqual(try rows.int("web/a", "weight"), 1, "nothing changed web/a's weight")

        let readOnly = try StatusSocketClient(path: s.readOnly)
        for command in ["set member web/a state drain", "set member web/a weight 5", "shutdown sessions member web/a",
                        "anycast withdraw", "anycast announce 192.0.2.1"] {
            let reply = try readOnly.command(command)
            XCTAssertEqual(statusReplyLines(reply).count, 1, "read-only \(command): \(reply)")
            XCTAssertTrue(reply.hasPrefix("error: ") && reply.contains("read-only"), "read-only \(command): \(reply)")
        }
        let roRows = try StatRows(try readOnly.command("show stat"))
        XCTAssertEqual(roRows.text("web/b", "weight"), "3", "show stat on the read-only socket")
        XCTAssertTrue(try readOnly.command("show info").contains("pid: \(s.daemon.pid)\n"))
        XCTAssertFalse(try readOnly.command("show metrics").hasPrefix("error:"))
        XCTAssertEqual(try readOnly.command("show anycast"), "anycast: disabled (no [anycast] section in the configuration)\n",
                       "show anycast on the read-only socket")
        rows = try StatRows(try control.command("show stat"))
        XCTAssertEqual(rows.text("web/a", "admin_state"), "ready", "the read-only socket changed nothing")
        XCTAssertEqual(try rows.int("web/a", "weight"), 1, "the read-only socket changed nothing")

        // quit closes after an empty reply.
        try control.write("quit\n")
        XCTAssertEqual(try control.readReply(), "")
        var byte: UInt8 = 0
        XCTAssertEqual(recv(control.fd, &byte, 1, 0), 0, "quit closes the connection")
    }

    /// A change through the admin socket is logged with pool, member and the peer's uid and pid.
    func testChangesAreLoggedWithThePeer() throws {
        let s = try start()
        let control = try StatusSocketClient(path: s.dir.statusSocket)
        let reply = try control.command("set member web/a state drain")
        XCTAssertEqual(statusReplyLines(reply), ["member web/a: state drain (was ready)"])
        let line = s.daemon.waitForLog(timeout: 5) {
            $0.metadata["pool"] == "web" && $0.metadata["member"] == "a" && $0.metadata["peer_pid"] != nil
        }
        XCTAssertNotNil(line, "a log line for the change\n\(s.daemon.diagnostics)")
        XCTAssertEqual(line?.metadata["peer_pid"], "\(getpid())", "peer_pid: \(line?.raw ?? "")")
        XCTAssertEqual(line?.metadata["peer_uid"], "\(getuid())", "peer_uid: \(line?.raw ?? "")")
        XCTAssertEqual(line?.metadata["state"], "drain", "state: \(line?.raw ?? "")")

        XCTAssertEqual(statusReplyLines(try control.command("set member web/b weight 9")), ["member web/b: weight 9 (was 3)"])
        let weightLine = s.daemon.waitForLog(timeout: 5) { $0.metadata["member"] == "b" && $0.metadata["weight"] == "9" }
        XCTAssertEqual(weightLine?.metadata["pool"], "web", "weight change log: \(weightLine?.raw ?? "none")")
        XCTAssertEqual(weightLine?.metadata["peer_uid"], "\(getuid())")

        let rows = try StatRows(try control.command("show stat"))
        XCTAssertEqual(rows.text("web/a", "admin_state"), "drain")
        XCTAssertEqual(rows.text("web/b", "weight"), "9")
    }

    /// A client that sends its commands and half-closes (as `printf … | socat - UNIX-CONNECT:…`
    /// does) still gets every reply, also when they are far more than a socket buffer holds.
    func testHalfClosingClientGetsEveryReply() throws {
        let s = try start()
        let control = try StatusSocketClient(path: s.dir.statusSocket)
        let single = try control.command("show metrics")
        try control.write(String(repeating: "show metrics\n", count: 200))
        XCTAssertEqual(shutdown(control.fd, Int32(SHUT_WR)), 0)
        for i in 0..<200 {
            XCTAssertEqual(try control.readReply(), single,
                           "reply \(i) of 200 after the half-close (\(200 * single.utf8.count) bytes in all)")
        }
    }
}
