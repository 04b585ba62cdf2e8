// Root-only support: two network namespaces joined by a veth pair, made and removed by each
// test, with private addresses only (198.18.0.0/24, fd00:198:18::/64). The room under test
// runs inside namespace A on a thread that entered it with setns (network namespaces are per
// thread), so the test process itself never leaves its own namespace.

import CFulcrumLinux
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Root tests skip when not root, unless FULCRUM_REQUIRE_ROOT_TESTS=1 (set by .ci/run), where
/// they must fail instead: a CI run that silently skipped them would prove nothing.
func requireRoot(_ what: String) throws {
    guard geteuid() != 0 else { return }
    if ProcessInfo.processInfo.environment["FULCRUM_REQUIRE_ROOT_TESTS"] == "1" {
        throw TestFailure("\(what) needs root, and FULCRUM_REQUIRE_ROOT_TESTS=1 requires it")
    }
    throw XCTSkip("\(what) needs root")
}

/// `ip` from iproute2.
func ipCommand() throws -> String {
    for path in ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] where FileManager.default.isExecutableFile(atPath: path) {
        return path
    }
    throw TestFailure("iproute2's ip command not found (scripts/test installs iproute2)")
}

/// Runs a command to completion; throws with its output when it fails.
@discardableResult
func runCommand(_ argv: [String], timeout: Double = 20) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0])
    process.arguments = Array(argv.dropFirst())
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let deadline = Date(timeIntervalSinceNow: timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    if process.isRunning {
        process.terminate()
        throw TestFailure("\(argv.joined(separator: " ")) did not finish within \(timeout) s")
    }
    // ip's output is a few lines, far below a pipe's capacity, so reading after exit is safe.
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw TestFailure("\(argv.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
    }
    return text
}

/// A network namespace with loopback up, removed by `remove()` (idempotent) or on deinit.
final class NetworkNamespace {
    let name: String
    let ip: String
    private var removed = false

    init(prefix: String) throws {
        ip = try ipCommand()
        name = "\(prefix)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        try runCommand([ip, "netns", "add", name])
        do {
            try run("link", "set", "lo", "up")
        } catch {
            remove()
            throw error
        }
    }

    /// `ip -n NAME args…`
    @discardableResult
    func run(_ args: String...) throws -> String {
        try runCommand([ip, "-n", name] + args)
    }

    /// `sh -c SCRIPT` inside the namespace (sysctls under /proc/sys/net are per namespace).
    @discardableResult
    func shell(_ script: String) throws -> String {
        try runCommand([ip, "netns", "exec", name, "/bin/sh", "-c", script])
    }

    /// Runs `body` on a new thread that has entered this namespace, and waits for it. Sockets
    /// made there stay in the namespace and may be used from any thread afterwards. The thread
    /// ends with the body, so no other work ever runs in the namespace by accident.
    func onThread<T>(_ body: @escaping () throws -> T) throws -> T {
        let outcome = ThreadOutcome<T>()
        let done = DispatchSemaphore(value: 0)
        let path = "/run/netns/\(name)"
        let thread = Thread {
            defer { done.signal() }
            guard cfl_enter_network_namespace(path) == 0 else {
                outcome.result = .failure(TestFailure("setns(\(path)): \(String(cString: strerror(errno)))"))
                return
            }
            outcome.result = Result { try body() }
        }
        thread.start()
        done.wait()
        return try outcome.result!.get()
    }

    func remove() {
        guard !removed else { return }
        removed = true
        _ = try? runCommand([ip, "netns", "del", name])
    }

    deinit { remove() }
}

/// What a namespace thread produced, handed back to the waiting test thread (the semaphore
/// orders the write before the read).
final class ThreadOutcome<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

/// Namespace A (where the VIPs go, interface vip0 with keepalived's captured MAC so announcements
/// can be compared with its frames) and namespace B (the neighbour, interface peer0), joined
/// by a veth pair made directly inside them: nothing is created in the test's own namespace.
final class TwoNodeLink {
    let a: NetworkNamespace
    let b: NetworkNamespace
    static let aInterface = "vip0"
    static let bInterface = "peer0"
    static let aMAC = "36:70:6b:92:f2:b3"

    init() throws {
        a = try NetworkNamespace(prefix: "fnl-a")
        do {
            b = try NetworkNamespace(prefix: "fnl-b")
        } catch {
            a.remove()
            throw error
        }
        do {
            try a.run("link", "add", TwoNodeLink.aInterface, "type", "veth", "peer", "name", TwoNodeLink.bInterface, "netns", b.name)
            try a.run("link", "set", TwoNodeLink.aInterface, "address", TwoNodeLink.aMAC)
            try a.run("link", "set", TwoNodeLink.aInterface, "up")
            try b.run("link", "set", TwoNodeLink.bInterface, "up")
            // A has a primary address in the subnet, so its VIPs are secondaries as on a real node.
            try a.run("addr", "add", "198.18.0.1/24", "dev", TwoNodeLink.aInterface)
            try a.run("addr", "add", "fd00:198:18::1/64", "dev", TwoNodeLink.aInterface, "nodad")
            try b.run("addr", "add", "198.18.0.2/24", "dev", TwoNodeLink.bInterface)
            try b.run("addr", "add", "fd00:198:18::2/64", "dev", TwoNodeLink.bInterface, "nodad")
        } catch {
            remove()
            throw error
        }
    }

    func remove() {
        a.remove()
        b.remove()
    }
}

/// An AF_PACKET socket on B's end of the link receiving every frame that arrives there.
final class FrameCapture {
    let fd: Int32

    init(in namespace: NetworkNamespace, interface: String) throws {
        fd = try namespace.onThread { () throws -> Int32 in
            let index = if_nametoindex(interface)
            guard index != 0 else { throw TestFailure("no \(interface) in \(namespace.name)") }
            let fd = cfl_packet_socket(CFL_ETH_P_ALL)
            guard fd >= 0 else { throw TestFailure("socket(AF_PACKET): \(String(cString: strerror(errno)))") }
            guard cfl_packet_bind(fd, Int32(index), CFL_ETH_P_ALL) == 0 else {
                close(fd)
                throw TestFailure("bind(AF_PACKET): \(String(cString: strerror(errno)))")
            }
            return fd
        }
    }

    /// The first frame that `matches`, or nil when none came within `timeout` seconds.
    func next(timeout: Double, where matches: ([UInt8]) -> Bool) -> [UInt8]? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        var buffer = [UInt8](repeating: 0, count: 2048)
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0, matches(Array(buffer[0..<count])) { return Array(buffer[0..<count]) }
        }
        return nil
    }

    deinit { close(fd) }
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Double, _ check: () throws -> Bool) rethrows -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    repeat {
        if try check() { return true }
        usleep(20_000)
    } while Date() < deadline
    return try check()
}
