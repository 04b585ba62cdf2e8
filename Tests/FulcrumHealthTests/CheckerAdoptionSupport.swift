import FulcrumAddress
import FulcrumConfig
@testable import FulcrumHealth
import Glibc
import Logging
import XCTest

/// A TCP port on 127.0.0.1 that TCP checks find open. Nothing accepts on a thread: the test
/// drains the accept queue while it waits, so the backlog never fills and stalls checks.
final class CheckedPort {
    let fd: Int32
    let port: UInt16

    /// `backlog` 0 and no drain: one connection fills the accept queue, and every later check
    /// hangs in connect until its timeout (the kernel drops SYNs to a full queue).
    init(backlog: Int32 = 1024) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw XCTSkip("no socket: errno \(errno)") }
        port = try bindLoopback(fd)
        guard listen(fd, backlog) == 0 else { throw XCTSkip("listen: errno \(errno)") }
    }

    deinit { close(fd) }

    /// Accepts and closes whatever is queued.
    func drain() {
        while true {
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            close(c)
        }
    }
}

/// A port on 127.0.0.1 nothing listens on: a TCP check is refused (L4CON).
func closedPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    return try bindLoopback(fd)
}

private func bindLoopback(_ fd: Int32) throws -> UInt16 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw XCTSkip("bind: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

func loopbackMember(_ name: String, port: UInt16) -> Member {
    Member(name: name, address: .v4(0x7F00_0001), port: port)
}

func checkerConfig(_ pools: [Pool]) -> Config {
    Config(workers: 1, shutdownGraceMs: 0, pipeSize: 65536, statusSocket: "/run/x.sock",
           listeners: pools.map { Listener(name: "l-\($0.name)", address: .v4(0x7F00_0001), port: 1, defaultPool: $0.name) },
           pools: pools)
}

/// Polls `condition` every 10 ms (calling `tick` first) for up to `seconds`.
func waitUntil(seconds: Double, tick: () -> Void = {}, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNs() + UInt64(seconds * 1e9)
    while monotonicNs() < deadline {
        tick()
        if condition() { return true }
        usleep(10_000)
    }
    tick()
    return condition()
}

/// Entries of a /proc directory, "." and ".." left out.
func procEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Descriptors this process has open.
func openDescriptorCount() -> Int { procEntries("/proc/self/fd").count }

/// Threads of this process named `name` (a checker's thread is "fulcrum-health").
func threadCount(named name: String) -> Int {
    procEntries("/proc/self/task").filter { tid in
        let fd = open("/proc/self/task/\(tid)/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &buffer, buffer.count)
        return n > 0 && String(decoding: buffer[0..<n], as: UTF8.self) == name + "\n"
    }.count
}

let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
