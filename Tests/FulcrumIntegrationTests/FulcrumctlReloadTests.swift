// `fulcrumctl reload` against a stand-in status socket that answers with the daemon's reply
// contract, so fulcrumctl's side (what it sends, where each reply goes, its exit status) is
// checked without a daemon: success on stdout and 0; a refusal, every `error:` line of it, on
// stderr and 1; no daemon, a cut reply or no reply in time, 2.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class FulcrumctlReloadTests: FulcrumTestCase {
    func testSuccessPrintsTheWholeReplyAndExitsZero() throws {
        let reply = """
            reloaded in 12 ms: listeners +1 -0 ~0, pools +0 -0 ~1, members +2 -1 ~1
            listener added: web2 (TCP 127.0.0.1:8081)
            pool changed: web (members +2 -1 ~1)
            member removed: web/app3 (10.0.0.3:80)
            """
        let fake = try FakeStatusSocket(in: makeConfigDir(), .reply(reply + "\n\n"))
        defer { fake.stop() }
        let r = try Fulcrumctl.run(["reload", "--socket", fake.path])
        XCTAssertEqual(r.code, 0, "stderr: \(r.stderr)")
        XCTAssertEqual(r.stdout, reply + "\n")
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(fake.received, "reload\n", "one command line, as the daemon parses it")
    }

    func testRefusalPrintsEveryErrorOnStderrAndExitsOne() throws {
        let reply = """
            error: reload refused, nothing changed: 3 problems
            error: /etc/fulcrum/conf.d/50-web.toml:6:11: TOML syntax error: found `10.0.0.11`
            error: /etc/fulcrum/conf.d/70-api.toml:3: listener.api.default_pool: pool "wbe" is not defined
            error: listener.web2: bind TCP 127.0.0.1:8081: EADDRINUSE (Address already in use)
            """
        let fake = try FakeStatusSocket(in: makeConfigDir(), .reply(reply + "\n\n"))
        defer { fake.stop() }
        let r = try Fulcrumctl.run(["reload", "--socket", fake.path])
        XCTAssertEqual(r.code, 1, "stdout: \(r.stdout) stderr: \(r.stderr)")
        XCTAssertEqual(r.stderr, reply + "\n", "every error line, in order")
        XCTAssertEqual(r.stdout, "")
    }

    func testNoAnswerExitsTwo() throws {
        let dir = try makeConfigDir()
        let missing = dir.filePath("nosuch.sock")
        let absent = try Fulcrumctl.run(["reload", "--socket", missing])
        XCTAssertEqual(absent.code, 2, "no socket: \(absent.stderr)")
        XCTAssertTrue(absent.stderr.contains(missing) && absent.stderr.contains("ENOENT"), absent.stderr)

        let cut = try FakeStatusSocket(in: dir, .closeAfter("reloaded in 3 ms: listeners +0 -0 ~0\n"))
        defer { cut.stop() }
        let closed = try Fulcrumctl.run(["reload", "--socket", cut.path])
        XCTAssertEqual(closed.code, 2, "closed mid-reply: \(closed.stderr)")
        XCTAssertTrue(closed.stderr.contains("closed the connection before its reply ended"), closed.stderr)

        let silent = try FakeStatusSocket(in: dir, .silent)
        defer { silent.stop() }
        let started = monotonicNow()
        let waited = try Fulcrumctl.run(["reload", "--socket", silent.path, "--timeout", "1"])
        XCTAssertEqual(waited.code, 2, "no reply: \(waited.stderr)")
        XCTAssertTrue(waited.stderr.contains("no reply within 1 s"), waited.stderr)
        XCTAssertLessThan(monotonicNow() - started, 10, "gave up after its timeout")
        XCTAssertEqual(waited.stdout, "")
    }
}

/// A status socket that takes one connection, records the first line, and then answers,
/// closes part-way, or says nothing until stopped.
private final class FakeStatusSocket {
    enum Behaviour {
        case reply(String)
        case closeAfter(String)
        case silent
    }

    let path: String
    private let listener: Int32
    private let line = Locked<String?>(nil)
    private let stopped = DispatchSemaphore(value: 0)

    /// The line fulcrumctl sent, once it has arrived.
    var received: String? { line.current }

    init(in dir: ConfigDir, _ behaviour: Behaviour) throws {
        let path = dir.filePath("fake-\(UInt32.random(in: 0...UInt32.max)).sock")
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errnoDescription(errno))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(107).enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            close(fd)
            throw TestFailure("bind/listen \(path): \(errnoDescription(errno))")
        }
        listener = fd
        let line = line, stopped = stopped
        startThread(name: "fulcrum-it-fake") {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var bytes: [UInt8] = []
            var byte: UInt8 = 0
            while read(client, &byte, 1) == 1 {
                bytes.append(byte)
                if byte == UInt8(ascii: "\n") { break }
            }
            line.withLock { $0 = String(decoding: bytes, as: UTF8.self) }
            switch behaviour {
            case let .reply(text), let .closeAfter(text):
                _ = text.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            case .silent:
                _ = stopped.wait(timeout: .now() + 30)
            }
        }
    }

    func stop() {
        stopped.signal()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }
}
