// fulcrumd on the anycast world's nodes (AnycastSupport.swift): each node's config (the VIP on
// fulcrum0 through [anycast], a listener on VIP:8080, the three members on the backend), and
// starting, killing and reading nodes.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What a node's fulcrumd is configured with.
struct AnycastNodeOptions {
    var holdDownMs = 300
    var withdrawGraceMs = 1000
    var shutdownGraceMs = 10_000
    var algorithm = "ROUND_ROBIN"
    var timeoutClientDataMs = 50_000
    /// Members (by address) and, when set, an HTTP monitor sent to this address and port
    /// (every member's checks go there: the test switches its answers).
    var members = AnycastWorld.memberAddresses
    var monitor: (address: String, port: UInt16)?
}

extension AnycastTestCase {
    func anycastConfig(_ dir: ConfigDir, _ options: AnycastNodeOptions) -> String {
        var text = """
            workers = 1
            shutdown_grace = \(options.shutdownGraceMs)
            [process]
            user = "root"
            [status]
            socket = "\(dir.statusSocket)"
            [anycast]
            virtual_ips = ["\(AnycastWorld.vip)"]
            hold_down = \(options.holdDownMs)
            withdraw_grace = \(options.withdrawGraceMs)
            [listener.web]
            address = "\(AnycastWorld.vip)"
            protocol_port = \(AnycastWorld.servicePort)
            default_pool = "web"
            timeout_client_data = \(options.timeoutClientDataMs)
            [pool.web]
            lb_algorithm = "\(options.algorithm)"

            """
        if options.monitor != nil {
            text += """
                [pool.web.healthmonitor]
                type = "HTTP"
                delay = 0.2
                timeout = 0.1
                max_retries = 1
                max_retries_down = 1

                """
        }
        for address in options.members {
            text += """
                [pool.web.members.m\(address.split(separator: ".").last!)]
                address = "\(address)"
                protocol_port = \(AnycastWorld.memberPort)

                """
            if let monitor = options.monitor {
                text += "monitor_address = \"\(monitor.address)\"\nmonitor_port = \(monitor.port)\n\n"
            }
        }
        return text
    }

    /// Writes the node's config into a new directory and starts fulcrumd in the node's
    /// namespace; returns once it is ready (not yet announced: that takes hold_down).
    @discardableResult
    func startAnycastNode(_ w: AnycastWorld, _ node: Int, _ options: AnycastNodeOptions = AnycastNodeOptions(),
                          dir existing: ConfigDir? = nil) throws -> (process: FulcrumProcess, dir: ConfigDir) {
        let dir = try existing ?? makeConfigDir()
        if existing == nil { try dir.write("fulcrum.toml", anycastConfig(dir, options)) }
        let process = try launchFulcrum(configDir: dir, launcher: w.nodes[node].launcher)
        try process.waitReady(timeout: 30)
        return (process, dir)
    }

    /// A status-socket command to a node's fulcrumd.
    func statusCommand(_ dir: ConfigDir, _ command: String) throws -> String {
        let client = try StatusSocketClient(path: dir.statusSocket)
        defer { close(client.fd) }
        return try client.command(command)
    }
}

extension AnycastWorld {
    /// Which node carried a connection: the member's greeting names the node's backend address.
    static func node(of greeting: String) -> Int? {
        nodeBackendAddresses.firstIndex { greeting.hasSuffix(" from \($0)") }
    }

    /// The member that answered: "member 10.202.0.61 from …" → "10.202.0.61".
    static func member(of greeting: String) -> String? {
        let words = greeting.split(separator: " ")
        return words.count == 4 && words[0] == "member" ? String(words[1]) : nil
    }

    /// An open connection from the client to the VIP (from `source`), with its greeting read.
    func openConnection(from source: String?, timeout: Double = 3) throws -> (socket: TCPSocket, greeting: String) {
        try inNetns(client.name) {
            let s = try TCPSocket.connect(host: Self.vip, port: Self.servicePort, timeout: timeout, source: source,
                                          ioTimeout: timeout)
            return (s, try HAWorld.readLine(s))
        }
    }
}

/// Milliseconds of the day from a log line's time ("2026-12-03T13:08:11.597Z"): the gap
/// between two lines of one process, as fulcrumd measured it.
func logMilliseconds(_ line: LogLine) -> Double? {
    guard let t = line.time.split(separator: "T").last?.dropLast() else { return nil }
    let parts = t.split(separator: ":")
    guard parts.count == 3, let h = Double(parts[0]), let m = Double(parts[1]), let s = Double(parts[2]) else { return nil }
    return ((h * 60 + m) * 60 + s) * 1000
}

/// Median and maximum of measured durations.
func medianAndMax(_ values: [Double]) -> (median: Double, max: Double) {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    let median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    return (median, sorted.last ?? 0)
}
