// Support for the control-plane tests: a status-socket client speaking the line protocol, and
// fulcrumctl run as a child process.

import Foundation
import Synchronization
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// One connection to a status socket. `send` writes a command line and reads the reply up to
/// the empty line that ends it.
final class StatusSocketClient {
    let fd: Int32
    private var pending: [UInt8] = []

    init(path: String, timeout: Double = 5) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(107).enumerated() { raw[i] = byte }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc == 0 { break }
            if Date() > deadline {
                close(fd)
                throw TestFailure("cannot connect to status socket \(path): errno \(errno)")
            }
            usleep(50_000)
        }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func write(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("status socket send: errno \(errno)") }
            offset += n
        }
    }

    /// Reads one reply: the text before the empty line that ends it (each line keeps its "\n").
    func readReply() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = Self.replyEnd(pending) {
                let reply = String(decoding: pending[..<end], as: UTF8.self)
                pending.removeFirst(end + 1)
                return reply
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw TestFailure("status socket closed or timed out before the reply ended (errno \(errno)); got: \(String(decoding: pending, as: UTF8.self).prefix(500))") }
            pending.append(contentsOf: buffer[0..<n])
        }
    }

    /// Index of the "\n" that is the empty line (a reply ends with "\n\n"; an empty reply is "\n").
    private static func replyEnd(_ bytes: [UInt8]) -> Int? {
        if bytes.first == UInt8(ascii: "\n") { return 0 }
        var i = 1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") && bytes[i - 1] == UInt8(ascii: "\n") { return i }
            i += 1
        }
        return nil
    }

    func command(_ command: String) throws -> String {
        try write(command + "\n")
        return try readReply()
    }
}

/// `show stat` parsed by its header: rows keyed by "pxname/svname".
struct StatRows {
    let header: [String]
    let rows: [String: [String: String]]

    init(_ csv: String) throws {
        let lines = csv.split(separator: "\n")
        guard let first = lines.first, first.hasPrefix("# ") else { throw TestFailure("show stat: no '# ' header: \(csv.prefix(200))") }
        header = first.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var rows: [String: [String: String]] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == header.count else { throw TestFailure("show stat row has \(fields.count) fields, header \(header.count): \(line)") }
            let row = Dictionary(uniqueKeysWithValues: zip(header, fields))
            rows["\(row["pxname"]!)/\(row["svname"]!)"] = row
        }
        self.rows = rows
    }

    func int(_ row: String, _ field: String) throws -> Int {
        guard let r = rows[row] else { throw TestFailure("show stat has no row \(row); rows: \(rows.keys.sorted())") }
        guard let text = r[field], let value = Int(text) else { throw TestFailure("show stat \(row) \(field) is not an integer: \(r[field] ?? "missing")") }
        return value
    }

    func text(_ row: String, _ field: String) -> String? { rows[row]?[field] }
}

enum Fulcrumctl {
    /// `FULCRUMCTL_BIN` if set, else the debug build next to fulcrumd.
    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["FULCRUMCTL_BIN"], !path.isEmpty { return path }
        let path = URL(fileURLWithPath: try Paths.fulcrumBinary()).deletingLastPathComponent()
            .appendingPathComponent("fulcrumctl").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("fulcrumctl not found at \(path): run swift build first")
        }
        return path
    }

    /// Runs fulcrumctl with `arguments`; its exit code and output.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 20) throws
        -> (code: Int32, stdout: String, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "FULCRUM_SOCKET")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes fully before waiting, so a big output cannot block the child.
        let group = DispatchGroup()
        let outData = Mutex(Data()), errData = Mutex(Data())
        DispatchQueue.global().async(group: group) { let d = out.fileHandleForReading.readDataToEndOfFile(); outData.withLock { $0 = d } }
        DispatchQueue.global().async(group: group) { let d = err.fileHandleForReading.readDataToEndOfFile(); errData.withLock { $0 = d } }
        guard group.wait(timeout: .now() + timeout) == .success else {
            process.terminate()
            throw TestFailure("fulcrumctl \(arguments) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData.withLock { $0 }, as: UTF8.self),
                String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }
}
