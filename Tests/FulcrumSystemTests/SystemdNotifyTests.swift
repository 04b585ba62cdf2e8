import FulcrumSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// SystemdNotifier against real AF_UNIX datagram sockets standing in for systemd: the exact
/// bytes of each message, path and abstract sockets, NOTIFY_SOCKET from the environment, and
/// off (nothing sent, nothing failing) when it is unset.
final class SystemdNotifyTests: XCTestCase {
    private var dir = ""
    private var receivers: [Int32] = []

    override func setUpWithError() throws {
        dir = "/tmp/fulcrum-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(dir, 0o700), 0)
    }

    override func tearDown() {
        for fd in receivers { close(fd) }
        receivers = []
        if let entries = opendir(dir) {
            while let entry = readdir(entries) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(dir + "/" + name) }
            }
            closedir(entries)
        }
        rmdir(dir)
    }

    /// A datagram socket bound to `name` ("/path" or "@abstract"), built here rather than by
    /// the code under test, with a receive timeout so a lost message fails instead of hanging.
    private func receiver(_ name: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        receivers.append(fd)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        // An abstract name is exactly the bytes the length covers: no trailing NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else { throw SystemError(code: errno, call: "bind") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// The next datagram, or nil after the timeout.
    private func receive(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n < 0 ? nil : String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// Nothing waiting (checked without blocking).
    private func nothingWaiting(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) < 0 && errno == EAGAIN
    }

    func testPathSocketGetsExactMessages() throws {
        let path = dir + "/notify.sock"
        let fd = try receiver(path)
        let notifier = SystemdNotifier(socket: path)
        XCTAssertTrue(notifier.isEnabled)

        XCTAssertNil(notifier.ready(status: "serving 2 listeners, 3 members"))
        XCTAssertEqual(receive(fd), "READY=1\nSTATUS=serving 2 listeners, 3 members")
        XCTAssertNil(notifier.status("draining 4 connections"))
        XCTAssertEqual(receive(fd), "STATUS=draining 4 connections")
        XCTAssertNil(notifier.stopping())
        XCTAssertEqual(receive(fd), "STOPPING=1")
        try notifier.send("WATCHDOG=1\nEXTEND_TIMEOUT_USEC=5000000")
        XCTAssertEqual(receive(fd), "WATCHDOG=1\nEXTEND_TIMEOUT_USEC=5000000")
        XCTAssertTrue(nothingWaiting(fd), "one datagram per call")
    }

    func testAbstractSocketAndReloadingCarriesMonotonicTime() throws {
        let name = "@fulcrum-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = try receiver(name)
        let notifier = SystemdNotifier(socket: name)
        // Read here, not through the code under test: CLOCK_MONOTONIC is what systemd compares with.
        func monotonicMicroseconds() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        }
        let before = monotonicMicroseconds()
        XCTAssertNil(notifier.reloading(status: "reloading the configuration"))
        let after = monotonicMicroseconds()
        let message = try XCTUnwrap(receive(fd))
        let prefix = "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC="
        XCTAssertTrue(message.hasPrefix(prefix), message)
        let usec = try XCTUnwrap(UInt64(message.dropFirst(prefix.count)), message)
        XCTAssertTrue((before...after).contains(usec), "\(usec) not within \(before)...\(after)")

        XCTAssertNil(notifier.ready(status: "reloaded"))
        XCTAssertEqual(receive(fd), "READY=1\nSTATUS=reloaded")
    }

    /// A newline in a status would smuggle in another assignment.
    func testStatusIsOneLine() throws {
        let path = dir + "/notify.sock"
        let fd = try receiver(path)
        XCTAssertNil(SystemdNotifier(socket: path).status("file a\nREADY=1\r\tb"))
        XCTAssertEqual(receive(fd), "STATUS=file a READY=1  b")
    }

    func testNotifySocketFromTheEnvironment() throws {
        let saved = getenv("NOTIFY_SOCKET").map { String(cString: $0) }
        defer {
            if let saved { setenv("NOTIFY_SOCKET", saved, 1) } else { unsetenv("NOTIFY_SOCKET") }
        }
        let path = dir + "/env.sock"
        let fd = try receiver(path)
        setenv("NOTIFY_SOCKET", path, 1)
        let notifier = SystemdNotifier()
        XCTAssertEqual(notifier.socket, path)
        XCTAssertNil(notifier.ready(status: "up"))
        XCTAssertEqual(receive(fd), "READY=1\nSTATUS=up")

        for value in [nil, ""] as [String?] {
            if let value { setenv("NOTIFY_SOCKET", value, 1) } else { unsetenv("NOTIFY_SOCKET") }
            let off = SystemdNotifier()
            XCTAssertFalse(off.isEnabled, "NOTIFY_SOCKET=\(value ?? "unset")")
            XCTAssertNil(off.socket)
            XCTAssertNoThrow(try off.send("READY=1"))
            XCTAssertNil(off.ready(status: "up"))
            XCTAssertNil(off.reloading(status: "r"))
            XCTAssertNil(off.stopping())
            XCTAssertNil(off.status("s"))
        }
        XCTAssertTrue(nothingWaiting(fd), "nothing sent while off")
    }

    func testFailuresNameTheSocketAndTheCause() throws {
        let relative = SystemdNotifier(socket: "run/notify")
        XCTAssertEqual(relative.ready(status: "up")?.description,
                       "NOTIFY_SOCKET=run/notify: not an absolute path or @abstract socket name, so not an address this daemon can use")
        let long = "/" + String(repeating: "x", count: 107)
        XCTAssertEqual(SystemdNotifier(socket: long).stopping()?.cause,
                       "longer than the 107 bytes a socket path can have, or holds a NUL")
        // 107 bytes fit: the failure is then the missing socket, not the length.
        let longest = "/" + String(repeating: "x", count: 106)
        XCTAssertEqual(SystemdNotifier(socket: longest).stopping()?.cause, "sendto: ENOENT (No such file or directory)")

        let missing = dir + "/nobody.sock"
        XCTAssertEqual(SystemdNotifier(socket: missing).stopping(),
                       SystemdNotifier.Failure(socket: missing, cause: "sendto: ENOENT (No such file or directory)"))
        // A socket file whose owner has gone.
        let gone = dir + "/gone.sock"
        let fd = try receiver(gone)
        close(fd)
        receivers.removeAll { $0 == fd }
        XCTAssertEqual(SystemdNotifier(socket: gone).ready(status: "up")?.cause, "sendto: ECONNREFUSED (Connection refused)")
        XCTAssertThrowsError(try SystemdNotifier(socket: gone).send("READY=1")) { error in
            XCTAssertTrue("\(error)".hasPrefix("NOTIFY_SOCKET=\(gone): sendto: ECONNREFUSED"), "\(error)")
        }
    }
}
