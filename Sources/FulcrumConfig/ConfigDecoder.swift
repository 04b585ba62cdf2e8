import FulcrumAddress

/// The schema's top level and the checks that span objects. Decoding never stops at the
/// first problem: everything is reported to `diagnostics`, and the Config is only returned
/// when nothing was wrong with it.
struct ConfigDecoder {
    static let topLevelKeys = ["workers", "shutdown_grace", "pipe_size", "copy_small_reads", "udp_max_sessions", "status", "listener", "pool"]

    let diagnostics: Diagnostics
    let onlineCPUs: Int
    /// Position of each file in load order, so "first defined" means the same as on disk.
    let fileOrder: [String: Int]

    func decode(_ root: TOMLNode) -> Config? {
        guard let top = TableReader(root, path: [], diagnostics: diagnostics) else { return nil }
        top.rejectUnknownKeys(allowed: Self.topLevelKeys)
        let workers = top.integer("workers", 1...1024, default: min(max(onlineCPUs, 1), 1024))
        let grace = top.integer("shutdown_grace", 0...3_600_000, default: Config.defaultShutdownGraceMs,
                                unit: " (milliseconds)")
        let pipeSize = top.integer("pipe_size", 4096...1_048_576, default: Config.defaultPipeSize, unit: " (bytes)")
        let copySmallReads = top.boolean("copy_small_reads", default: Config.defaultCopySmallReads)
        let udpMaxSessions = top.integer("udp_max_sessions", 1...10_000_000, default: Config.defaultUDPMaxSessions)
        let status = decodeStatus(top)

        let poolTables = top.namedTables("pool", kind: "pool", header: "pool.NAME")
        let pools = poolTables.map { PoolSchema.decode(name: $0.name, $0.reader) }
        let listeners = top.namedTables("listener", kind: "listener", header: "listener.NAME")
            .map { ListenerSchema.decode(name: $0.name, $0.reader) }
        if listeners.isEmpty, top.isEmpty("listener") {
            diagnostics.report(nil, [], "no listeners defined; define at least one [listener.NAME]",
                               needsWholeConfig: true)
        }
        // A pool defined wrongly is still defined: its own problem says what is wrong with it.
        var poolNames: [String] = []
        if case let .table(entries)? = top.entries["pool"]?.value { poolNames = Array(entries.keys) }
        checkDefaultPools(listeners, poolNames: poolNames)
        checkBindConflicts(listeners)
        checkPoolProtocols(listeners, pools: pools.compactMap { $0 })

        guard let workers, let grace, let pipeSize, let copySmallReads, let udpMaxSessions, let status else {
            return nil
        }
        let validPools = pools.compactMap { $0 }
        let validListeners = listeners.compactMap(\.listener)
        guard validPools.count == pools.count, validListeners.count == listeners.count else { return nil }
        var config = Config(workers: workers, shutdownGraceMs: grace, pipeSize: pipeSize, statusSocket: status.socket,
                            listeners: validListeners, pools: validPools)
        config.statusGroup = status.group
        config.readonlySocket = status.readonlySocket
        config.metricsListen = status.metricsListen
        config.copySmallReads = copySmallReads
        config.udpMaxSessions = udpMaxSessions
        return config
    }

    private struct StatusSettings {
        var socket: String
        var group: String?
        var readonlySocket: String?
        var metricsListen: Endpoint?
    }

    private func decodeStatus(_ top: TableReader) -> StatusSettings? {
        guard let status = top.table("status", expected: "a table [status]") else {
            return top.entries["status"] == nil ? StatusSettings(socket: Config.defaultStatusSocket) : nil
        }
        status.rejectUnknownKeys(allowed: ["socket", "group", "readonly_socket", "metrics_listen"])
        let socket = socketPath(status, "socket", default: Config.defaultStatusSocket)
        let readonly: String?? = status.entries["readonly_socket"] == nil ? .some(nil)
            : socketPath(status, "readonly_socket", default: nil).map { Optional($0) }
        let group: String?? = status.entries["group"] == nil ? .some(nil)
            : status.string("group", expected: "a group name string", default: nil) { name in
                guard (1...32).contains(name.utf8.count), name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                    return .invalid("\(quoted(name)) is not a group name; allowed: 1..32 printable characters without spaces or colons")
                }
                return .valid(name)
            }.map { Optional($0) }
        let metrics: Endpoint?? = status.entries["metrics_listen"] == nil ? .some(nil)
            : status.string("metrics_listen", expected: "an \"ADDRESS:PORT\" string", default: nil) { text in
                let allowed = "allowed: \"ADDRESS:PORT\" such as \"127.0.0.1:9469\" or \"[::1]:9469\", port 1..65535"
                guard let colon = text.lastIndex(of: ":") else { return .invalid("\(quoted(text)) has no port; \(allowed)") }
                var host = String(text[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                guard let address = IPAddress(host), let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
                    return .invalid("\(quoted(text)) is not an address and port; \(allowed)")
                }
                return .valid(Endpoint(address: address, port: port))
            }.map { Optional($0) }
        guard let socket, let readonly, let group, let metrics else { return nil }
        if let readonly, readonly == socket {
            status.report("readonly_socket", "\(quoted(readonly)) is the same path as socket; allowed: a different path")
            return nil
        }
        return StatusSettings(socket: socket, group: group, readonlySocket: readonly, metricsListen: metrics)
    }

    private func socketPath(_ status: TableReader, _ key: String, default fallback: String?) -> String? {
        let example = "such as \"\(Config.defaultStatusSocket)\""
        return status.string(key, expected: "an absolute path string", default: fallback) { path in
            guard path.hasPrefix("/"), !path.utf8.contains(0) else {
                return .invalid("\(quoted(path)) is not an absolute path; allowed: an absolute path \(example)")
            }
            // sun_path holds 108 bytes including the terminating NUL; longer paths cannot bind.
            guard path.utf8.count <= 107 else {
                return .invalid("\(quoted(path)) is \(path.utf8.count) bytes long; allowed: at most 107 bytes, "
                    + "the limit of a Unix socket path")
            }
            return .valid(path)
        }
    }

    /// A pool's protocol must suit every listener that uses it: PROXY v1 has no UDP form,
    /// and an explicit TCP/UDP pool serves only that transport.
    private func checkPoolProtocols(_ listeners: [DecodedListener], pools: [Pool]) {
        for decoded in listeners {
            guard let listener = decoded.listener, let (poolName, origin) = decoded.defaultPool,
                  let pool = pools.first(where: { $0.name == poolName }), let proto = pool.proxyProtocol else { continue }
            let ok: Bool
            switch (listener.transport, proto) {
            case (.tcp, .tcp), (.tcp, .proxy), (.tcp, .proxyV2), (.udp, .udp), (.udp, .proxyV2): ok = true
            default: ok = false
            }
            if !ok {
                let allowed = listener.transport == .tcp ? "TCP, PROXY, PROXYV2" : "UDP, PROXYV2"
                diagnostics.report(origin, ["listener", decoded.name, "default_pool"],
                                   "pool \(quoted(poolName)) has protocol \(proto.rawValue), which cannot serve a "
                                   + "\(listener.transport.rawValue) listener; allowed pool protocols: \(allowed)")
            }
        }
    }

    private func checkDefaultPools(_ listeners: [DecodedListener], poolNames: [String]) {
        let defined = poolNames.isEmpty ? "none" : poolNames.sorted().joined(separator: ", ")
        for listener in listeners {
            guard let (pool, origin) = listener.defaultPool, !poolNames.contains(pool) else { continue }
            diagnostics.report(origin, ["listener", listener.name, "default_pool"],
                               "pool \(quoted(pool)) is not defined; defined pools: \(defined)",
                               needsWholeConfig: true)
        }
    }

    /// Listeners whose sockets would collide. With SO_REUSEPORT a second bind to the same
    /// address may even succeed and silently split traffic, so overlaps are refused here.
    private func checkBindConflicts(_ listeners: [DecodedListener]) {
        let bound = listeners.filter { $0.binding != nil }
            .sorted { definitionOrder($0.origin, $0.name) < definitionOrder($1.origin, $1.name) }
        for (index, later) in bound.enumerated() {
            for earlier in bound[..<index] {
                guard let overlap = overlap(earlier.binding!, later.binding!) else { continue }
                let place = earlier.origin.line.map { "\(earlier.origin.file):\($0)" } ?? earlier.origin.file
                diagnostics.report(later.origin, ["listener", later.name],
                                   "\(later.binding!.description) conflicts with listener \(quoted(earlier.name)) "
                                       + "on \(earlier.binding!.description) (\(place))\(overlap); "
                                       + "allowed: one listener per address and port",
                                   needsWholeConfig: true)
            }
        }
    }

    /// nil when both can bind side by side; otherwise why not ("" for the same address).
    private func overlap(_ first: DecodedListener.Binding, _ second: DecodedListener.Binding) -> String? {
        guard first.transport == second.transport, first.port == second.port else { return nil }
        let a = first.address.unmapped, b = second.address.unmapped
        if a == b { return "" }
        for wildcard in [a, b] where wildcard.isUnspecified {
            // A dual-stack :: socket takes IPv4 too; 0.0.0.0 takes only IPv4.
            if !wildcard.isIPv4 { return ": :: covers every address" }
            if a.isIPv4 && b.isIPv4 { return ": 0.0.0.0 covers every IPv4 address" }
        }
        return nil
    }

    private func definitionOrder(_ origin: Origin, _ name: String) -> OrderKey {
        OrderKey(file: fileOrder[origin.file] ?? Int.max, line: origin.line ?? Int.max, name: name)
    }
}

/// Problems and definitions ordered as an operator reads them: by file, then line, then key.
struct OrderKey: Comparable {
    var file: Int
    var line: Int
    var name: String

    static func < (lhs: OrderKey, rhs: OrderKey) -> Bool {
        (lhs.file, lhs.line, lhs.name) < (rhs.file, rhs.line, rhs.name)
    }
}
