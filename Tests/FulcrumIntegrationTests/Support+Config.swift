// Support for the integration tests: they run real `fulcrumd` processes against real sockets on
// 127.0.0.1 / ::1 only. Everything here is blocking and thread based, with a timeout on every
// wait, so a hung daemon makes a test fail rather than hang.

import Crypto
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Configuration

/// A temporary config directory (with conf.d/), removed in tearDown.
final class ConfigDir {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-it-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(
            at: url.appendingPathComponent("conf.d", isDirectory: true), withIntermediateDirectories: true)
    }

    /// Writes `text` to a path relative to the directory ("fulcrum.toml", "conf.d/50-web.toml").
    func write(_ relativePath: String, _ text: String) throws {
        try text.write(to: url.appendingPathComponent(relativePath), atomically: true, encoding: .utf8)
    }

    func filePath(_ relativePath: String) -> String { url.appendingPathComponent(relativePath).path }

    /// The admin status socket every DaemonConfig written here names.
    var statusSocket: String { filePath("status.sock") }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

struct MemberSpec {
    var name: String
    var address: String = "127.0.0.1"
    var port: UInt16
    var weight: Int? = nil
    var adminStateUp: Bool? = nil
    /// Where health checks go instead of address/port (each written only when set).
    var monitorAddress: String? = nil
    var monitorPort: UInt16? = nil
}

struct PoolSpec {
    var name: String = "web"
    var algorithm: String = "ROUND_ROBIN"
    var retries: Int? = nil
    var members: [MemberSpec]
    /// Extra `key = value` lines for the [pool.NAME] table.
    var extra: [String] = []
    /// `key = value` lines for a [pool.NAME.healthmonitor] table (written only when set).
    var healthMonitor: [String]? = nil
}

struct ListenerSpec {
    var name: String = "web"
    /// "TCP" or "UDP" (written as the listener's `protocol` key).
    var `protocol`: String = "TCP"
    var address: String = "127.0.0.1"
    var port: UInt16
    var defaultPool: String = "web"
    var connectionLimit: Int? = nil
    var timeoutClientData: Int? = nil
    var timeoutMemberConnect: Int? = nil
    var timeoutMemberData: Int? = nil
    var allowedCIDRs: [String]? = nil
}

/// A whole daemon configuration: globals go to fulcrum.toml, listeners and pools to
/// conf.d/50-web.toml (exercising drop-in discovery every time).
struct DaemonConfig {
    var workers: Int = 2
    var shutdownGrace: Int? = 2000
    /// Extra top-level `key = value` lines for fulcrum.toml.
    var extraMain: [String] = []
    /// Extra `key = value` lines for the [status] table (its socket is always in the config dir).
    var status: [String] = []
    var listeners: [ListenerSpec]
    var pools: [PoolSpec]
    /// `key = value` lines for the [process] table; nil leaves the table out. Tests run
    /// fulcrumd as root from temp directories and must behave the same whether or not this
    /// machine has a `_fulcrum` account (CI's package test creates and purges one, a
    /// developer's machine may keep it), so they stay root unless a test asks otherwise.
    var process: [String]? = ["user = \"root\""]

    static func quoted(_ s: String) -> String { "\"\(s)\"" }

    var mainFile: String {
        var lines = ["# written by FulcrumIntegrationTests", "workers = \(workers)"]
        if let shutdownGrace { lines.append("shutdown_grace = \(shutdownGrace)") }
        lines += extraMain
        return lines.joined(separator: "\n") + "\n"
    }

    var dropInFile: String {
        var lines: [String] = []
        for l in listeners {
            lines.append("[listener.\(l.name)]")
            lines.append("protocol = \(Self.quoted(l.protocol))")
            lines.append("address = \(Self.quoted(l.address))")
            lines.append("protocol_port = \(l.port)")
            lines.append("default_pool = \(Self.quoted(l.defaultPool))")
            if let v = l.connectionLimit { lines.append("connection_limit = \(v)") }
            if let v = l.timeoutClientData { lines.append("timeout_client_data = \(v)") }
            if let v = l.timeoutMemberConnect { lines.append("timeout_member_connect = \(v)") }
            if let v = l.timeoutMemberData { lines.append("timeout_member_data = \(v)") }
            if let v = l.allowedCIDRs {
                lines.append("allowed_cidrs = [\(v.map(Self.quoted).joined(separator: ", "))]")
            }
            lines.append("")
        }
        for p in pools {
            lines.append("[pool.\(p.name)]")
            lines.append("lb_algorithm = \(Self.quoted(p.algorithm))")
            if let v = p.retries { lines.append("retries = \(v)") }
            lines += p.extra
            lines.append("")
            if let monitor = p.healthMonitor {
                lines.append("[pool.\(p.name).healthmonitor]")
                lines += monitor
                lines.append("")
            }
            for m in p.members {
                lines.append("[pool.\(p.name).members.\(m.name)]")
                lines.append("address = \(Self.quoted(m.address))")
                lines.append("protocol_port = \(m.port)")
                if let v = m.weight { lines.append("weight = \(v)") }
                if let v = m.adminStateUp { lines.append("admin_state_up = \(v)") }
                if let v = m.monitorAddress { lines.append("monitor_address = \(Self.quoted(v))") }
                if let v = m.monitorPort { lines.append("monitor_port = \(v)") }
                lines.append("")
            }
        }
        return lines.joined(separator: "\n")
    }

    func write(to dir: ConfigDir) throws {
        let statusTable = (["[status]", "socket = \(Self.quoted(dir.statusSocket))"] + status).joined(separator: "\n")
        let processTable = process.map { "\n[process]\n" + $0.joined(separator: "\n") + "\n" } ?? ""
        try dir.write("fulcrum.toml", mainFile + statusTable + "\n" + processTable)
        try dir.write("conf.d/50-web.toml", dropInFile)
    }
}

// MARK: - Log lines

/// One daemon log line: `<time> <level> <message> key=value key=value…`.
struct LogLine: CustomStringConvertible {
    let raw: String
    let time: String
    let level: String
    let message: String
    let metadata: [String: String]

    init?(_ raw: String) {
        let tokens = raw.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard tokens.count >= 3 else { return nil }
        self.raw = raw
        time = tokens[0]
        level = tokens[1]
        func isMetadata(_ token: String) -> Bool {
            guard let eq = token.firstIndex(of: "="), eq != token.startIndex else { return false }
            return token[..<eq].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
        }
        let firstMeta = tokens[2...].firstIndex(where: isMetadata) ?? tokens.count
        message = tokens[2..<firstMeta].joined(separator: " ")
        var meta: [String: String] = [:]
        for token in tokens[firstMeta...] {
            guard let eq = token.firstIndex(of: "=") else { continue }
            var value = String(token[token.index(after: eq)...])
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            meta[String(token[..<eq])] = value
        }
        metadata = meta
    }

    var description: String { raw }

    func int(_ key: String) -> Int? { metadata[key].flatMap { Int($0) } }
}
