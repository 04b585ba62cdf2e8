import FulcrumAddress
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The schema's top level and the checks that span objects. Decoding never stops at the
/// first problem: everything is reported to `diagnostics`, and the Config is only returned
/// when nothing was wrong with it.
struct ConfigDecoder {
    static let topLevelKeys = ["workers", "shutdown_grace", "pipe_size", "copy_small_reads", "busy_poll", "udp_max_sessions", "status", "listener", "pool", "ha", "anycast", "process"]

    let diagnostics: Diagnostics
    let onlineCPUs: Int
    /// Position of each file in load order, so "first defined" means the same as on disk.
    let fileOrder: [String: Int]
    /// Descriptor and memory limits for the UDP session budget; read only when a UDP listener
    /// needs them. Tests of the budget call `UDPSessionBudget.check` with their own values.
    var systemLimits: () -> SystemLimits = SystemLimits.current
    /// When set, [process] user and group must exist (LoadOptions.accounts).
    var accounts: AccountDirectory? = nil

    func decode(_ root: TOMLNode) -> Config? {
        guard let top = TableReader(root, path: [], diagnostics: diagnostics) else { return nil }
        top.rejectUnknownKeys(allowed: Self.topLevelKeys)
        let workers = top.integer("workers", 1...1024, default: min(max(onlineCPUs, 1), 1024))
        let grace = top.integer("shutdown_grace", 0...3_600_000, default: Config.defaultShutdownGraceMs,
                                unit: " (milliseconds)")
        let pipeSize = top.integer("pipe_size", 4096...1_048_576, default: Config.defaultPipeSize, unit: " (bytes)")
        let copySmallReads = top.boolean("copy_small_reads", default: Config.defaultCopySmallReads)
        let busyPoll = top.integer("busy_poll", 0...1000, default: Config.defaultBusyPollMicroseconds, unit: " (microseconds)")
        let udpMaxSessions = top.integer("udp_max_sessions", 1...10_000_000, default: Config.defaultUDPMaxSessions)
        let status = decodeStatus(top)

        let pools = top.namedTables("pool", kind: "pool", header: "pool.NAME") { name, reader in
            PoolSchema.decode(name: name, reader, order: definitionOrder)
        }
        let listeners = top.namedTables("listener", kind: "listener", header: "listener.NAME") { name, reader in
            ListenerSchema.decode(name: name, reader)
        }
        // A fresh install has nothing to balance yet: the daemon starts with its status socket
        // (and [ha], if set) and a reload adds listeners, as HAProxy runs with no frontend.
        if listeners.isEmpty, top.isEmpty("listener") {
            diagnostics.warn(nil, [], "no listeners defined: fulcrumd serves only its status socket until a [listener.NAME] is added")
        }
        // A pool defined wrongly is still defined: its own problem says what is wrong with it.
        var poolNames: [String] = []
        if case let .table(entries)? = top.entries["pool"]?.value { poolNames = Array(entries.keys) }
        checkDefaultPools(listeners, poolNames: poolNames)
        checkBindConflicts(listeners)
        checkPoolProtocols(listeners, pools: pools.compactMap { $0 })
        if let workers, let udpMaxSessions {
            checkUDPSessionBudget(top, udpMaxSessions: udpMaxSessions, workers: workers, listeners: listeners)
        }
        let haTable = top.table("ha", expected: "a table [ha]")
        let ha = haTable.flatMap(HASchema.decode)
        if let ha, let haTable {
            for name in ha.trackPools where !poolNames.contains(name) {
                haTable.report("track_pools", "no pool \(quoted(name)); allowed: a pool defined as [pool.NAME]")
            }
        }

        let anycastTable = top.table("anycast", expected: "a table [anycast]")
        let anycast = anycastTable.flatMap {
            AnycastSchema.decode($0, haIsSet: top.entries["ha"] != nil, listeners: listeners.compactMap(\.listener))
        }

        let process: ProcessSettings? = top.table("process", expected: "a table [process]")
            .map { ProcessSchema.decode($0, accounts: accounts) } ?? (top.entries["process"] == nil ? ProcessSettings() : nil)

        guard let workers, let grace, let pipeSize, let copySmallReads, let busyPoll, let udpMaxSessions, let status, let process else {
            return nil
        }
        let validPools = pools.compactMap { $0 }
        let validListeners = listeners.compactMap(\.listener)
        guard validPools.count == pools.count, validListeners.count == listeners.count else { return nil }
        if top.entries["anycast"] != nil && anycast == nil { return nil }
        if top.entries["ha"] != nil {
            guard let ha, ha.trackPools.allSatisfy(poolNames.contains) else { return nil }
        }
        var config = Config(workers: workers, shutdownGraceMs: grace, pipeSize: pipeSize, statusSocket: status.socket,
                            listeners: validListeners, pools: validPools)
        config.statusGroup = status.group
        config.readonlySocket = status.readonlySocket
        config.metricsListen = status.metricsListen
        config.copySmallReads = copySmallReads
        config.busyPollMicroseconds = busyPoll
        config.udpMaxSessions = udpMaxSessions
        config.ha = ha
        config.anycast = anycast
        config.process = process
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
            : status.plainString("group", expected: "a group name string", default: nil) { name in
                guard (1...32).contains(name.utf8.count), name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                    return .invalid("\(quoted(name)) is not a group name; allowed: 1..32 printable characters without spaces or colons")
                }
                return .valid(name)
            }.map { Optional($0) }
        let metrics: Endpoint?? = status.entries["metrics_listen"] == nil ? .some(nil)
            : status.plainString("metrics_listen", expected: "an \"ADDRESS:PORT\" string", default: nil) { text in
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
        return status.plainString(key, expected: "an absolute path string", default: fallback) { path in
            guard path.hasPrefix("/") else {
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
        // By name, so thousands of listeners do not each scan thousands of pools.
        let protocols = Dictionary(pools.map { ($0.name, $0.proxyProtocol) }, uniquingKeysWith: { first, _ in first })
        for decoded in listeners {
            guard let listener = decoded.listener, let (poolName, origin) = decoded.defaultPool,
                  let proto = protocols[poolName] ?? nil else { continue }
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
        let known = Set(poolNames)
        // The list helps with a typo among a few pools; with thousands it would bury the problem.
        let shown = 20
        let sorted = poolNames.sorted()
        var defined = sorted.isEmpty ? "none" : sorted.prefix(shown).joined(separator: ", ")
        if sorted.count > shown { defined += ", … (\(sorted.count - shown) more)" }
        for listener in listeners {
            guard let (pool, origin) = listener.defaultPool, !known.contains(pool) else { continue }
            diagnostics.report(origin, ["listener", listener.name, "default_pool"],
                               "pool \(quoted(pool)) is not defined; defined pools: \(defined)",
                               needsWholeConfig: true)
        }
    }

    /// Listeners whose sockets would collide. With SO_REUSEPORT a second bind to the same
    /// address may even succeed and silently split traffic, so overlaps are refused here.
    /// Each listener is reported once, against the first-defined listener it collides with,
    /// in time linear in the number of listeners (one dictionary per transport and port).
    private func checkBindConflicts(_ listeners: [DecodedListener]) {
        struct PortKey: Hashable {
            var transport: TransportProtocol
            var port: UInt16
        }
        /// The first listener (index into `bound`) of each kind seen so far on one transport and port.
        struct Seen {
            var byAddress: [IPAddress: Int] = [:]
            var anyIPv4: Int?
            var any: Int?
            var wildcardIPv4: Int?
            var wildcardIPv6: Int?
        }
        // Positions in `listeners`, in definition order: sorting the listeners themselves copied
        // each (with all its strings) three times.
        let bound = listeners.indices.filter { listeners[$0].binding != nil }
            .map { (key: definitionOrder(listeners[$0].origin, listeners[$0].name), position: $0) }
            .sorted { $0.key < $1.key }
            .map(\.position)
        /// The earlier of two listeners (indices into `bound`), if any.
        func earliest(_ a: Int?, _ b: Int?) -> Int? {
            guard let a else { return b }
            guard let b else { return a }
            return min(a, b)
        }
        var seen: [PortKey: Seen] = [:]
        for (index, position) in bound.enumerated() {
            let binding = listeners[position].binding!
            let key = PortKey(transport: binding.transport, port: binding.port)
            // Taken out while it changes, so its dictionary is not copied on every insert
            // (all listeners on port 80 made that quadratic again).
            var slot = seen.removeValue(forKey: key) ?? Seen()
            let address = binding.address.unmapped
            // The earlier listeners that can overlap this one (see `overlap`): the same address;
            // a wildcard covering it; or, for a wildcard, whatever it covers. Compared one by one,
            // not gathered into an array, which cost two allocations per listener.
            var first = earliest(slot.byAddress[address], slot.wildcardIPv6)
            if address.isUnspecified {
                first = earliest(first, address.isIPv4 ? slot.anyIPv4 : slot.any)
            } else if address.isIPv4 {
                first = earliest(first, slot.wildcardIPv4)
            }
            if let first {
                let earlier = listeners[bound[first]], later = listeners[position]
                if let overlap = overlap(earlier.binding!, binding) {
                    let place = earlier.origin.line.map { "\(earlier.origin.file):\($0)" } ?? earlier.origin.file
                    diagnostics.report(later.origin, ["listener", later.name],
                                       "\(binding.description) conflicts with listener \(quoted(earlier.name)) "
                                           + "on \(earlier.binding!.description) (\(place))\(overlap); "
                                           + "allowed: one listener per address and port",
                                       needsWholeConfig: true)
                }
            }
            if slot.byAddress[address] == nil { slot.byAddress[address] = index }
            if slot.any == nil { slot.any = index }
            if address.isIPv4 && slot.anyIPv4 == nil { slot.anyIPv4 = index }
            if address.isUnspecified {
                if address.isIPv4 {
                    if slot.wildcardIPv4 == nil { slot.wildcardIPv4 = index }
                } else if slot.wildcardIPv6 == nil {
                    slot.wildcardIPv6 = index
                }
            }
            seen[key] = slot
        }
    }

    /// udp_max_sessions × workers against RLIMIT_NOFILE and memory (see `UDPSessionBudget`).
    private func checkUDPSessionBudget(_ top: TableReader, udpMaxSessions: Int, workers: Int,
                                       listeners: [DecodedListener]) {
        let bound = listeners.compactMap(\.binding)
        let udp = bound.filter { $0.transport == .udp }.count
        // Session tables and descriptors exist only in workers serving UDP listeners.
        guard udp > 0 else { return }
        switch UDPSessionBudget.check(udpMaxSessions: udpMaxSessions, workers: workers, listeners: bound.count,
                                      udpListeners: udp, limits: systemLimits()) {
        case .fits:
            break
        case let .warning(message):
            // Loads, but says so: --check-config prints it, the daemon logs it at start.
            diagnostics.warn(top.origin, ["udp_max_sessions"], message)
        case let .error(key, message):
            top.report(key, message)
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

    func definitionOrder(_ origin: Origin, _ name: String) -> OrderKey {
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

/// What the machine the loader runs on allows the daemon.
public struct SystemLimits: Sendable, Equatable {
    /// RLIMIT_NOFILE soft limit: how many descriptors the daemon may hold (Int.max when unlimited).
    public var openFiles: Int
    /// Physical memory, in bytes.
    public var physicalMemory: Int

    public init(openFiles: Int, physicalMemory: Int) {
        self.openFiles = openFiles
        self.physicalMemory = physicalMemory
    }

    /// The effectful part, kept to this one function: getrlimit and sysconf for this process.
    /// The daemon loads its config in the process that then serves (and never raises its soft
    /// limit), so the soft limit seen here is the workers' limit: systemd's LimitNOFILE under
    /// the unit. `--check-config` run from a shell sees that shell's limit instead.
    public static func current() -> SystemLimits {
        var limit = rlimit()
        var openFiles = Int.max
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        // RLIM_INFINITY is all ones, above Int.max: unlimited.
        if getrlimit(resource, &limit) == 0, limit.rlim_cur < rlim_t(Int.max) {
            openFiles = Int(limit.rlim_cur)
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        var memory = Int.max
        if pages > 0, pageSize > 0 {
            let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
            if !overflow { memory = bytes }
        }
        return SystemLimits(openFiles: openFiles, physicalMemory: memory)
    }
}

/// Whether `udp_max_sessions` per worker fits what the machine allows, and how many sessions
/// each worker may really hold. Pure functions of their arguments; `SystemLimits.current()`
/// supplies the real limits.
///
/// Each open session holds a connected socket, and session tables grow on demand up to their
/// maximum (about `bytesPerSession` each). The decisions:
/// - descriptors: sessions may use at most half of the descriptors left after the listener
///   sockets and a reserve of `reservedDescriptors` (status socket, health checks, epoll, logs).
///   The other half stays for TCP connections (two sockets each, plus pipes while data is in
///   flight). Measured before this cap: with the default 65,536 sessions per worker and
///   RLIMIT_NOFILE 20,000, a spoofed-source UDP flood took every descriptor and the TCP
///   listener of the same daemon stopped accepting for 60 s. So udp_max_sessions is capped per
///   worker (`sessionsPerWorker`); the daemon logs the cap at start and --check-config says it
///   as a warning. Configs without TCP listeners get the whole rest for sessions;
/// - an error only when not even one session per worker fits beside the listener sockets and
///   the reserve, since then no UDP client could ever be served;
/// - memory: tables that could grow past a quarter of physical memory are an error.
/// Configs without UDP listeners hold no sessions and are not checked.
public enum UDPSessionBudget {
    public enum Verdict: Sendable, Equatable {
        case fits
        /// Loads, but the operator should hear about it.
        case warning(String)
        /// `key` is the top-level key the problem is reported at.
        case error(key: String, message: String)
    }

    /// Session table bytes per session and worker (table, key, address, descriptor slot…).
    public static let bytesPerSession = 200
    /// Descriptors kept for everything else: standard streams, epoll and wake descriptors,
    /// status sockets, health checks.
    public static let reservedDescriptors = 64

    /// udp_max_sessions per worker as the descriptor budget allows (at least 1): see above.
    /// `listeners` counts TCP and UDP listeners, `tcpListeners` the TCP ones alone.
    public static func sessionsPerWorker(udpMaxSessions: Int, workers: Int, listeners: Int, tcpListeners: Int,
                                         openFiles: Int) -> Int {
        guard openFiles != Int.max, workers > 0 else { return udpMaxSessions }
        let fixed = saturatingProduct(listeners, workers) &+ reservedDescriptors
        let left = max(0, openFiles - fixed)
        let forSessions = tcpListeners > 0 ? left / 2 : left
        return max(1, min(udpMaxSessions, forSessions / workers))
    }

    public static func check(udpMaxSessions: Int, workers: Int, listeners: Int, udpListeners: Int,
                             limits: SystemLimits) -> Verdict {
        guard udpListeners > 0, udpMaxSessions > 0, workers > 0 else { return .fits }
        // One listening socket per listener in each worker.
        let fixed = saturatingProduct(listeners, workers) &+ reservedDescriptors
        let minimum = fixed &+ workers
        if minimum > limits.openFiles {
            return .error(key: "workers", message:
                "workers × (listeners + 1) + \(reservedDescriptors) reserved = \(workers) × (\(listeners) + 1) + "
                    + "\(reservedDescriptors) = \(minimum) descriptors at the least (a socket per listener in each worker, "
                    + "and one UDP session); RLIMIT_NOFILE is \(limits.openFiles): lower workers or raise LimitNOFILE")
        }
        let capped = sessionsPerWorker(udpMaxSessions: udpMaxSessions, workers: workers, listeners: listeners,
                                       tcpListeners: listeners - udpListeners, openFiles: limits.openFiles)
        let sessions = saturatingProduct(capped, workers)
        let product = "udp_max_sessions × workers = \(capped) × \(workers) = \(sessions) sessions"
        let bytes = saturatingProduct(sessions, bytesPerSession)
        let allowedBytes = limits.physicalMemory / 4
        if bytes > allowedBytes {
            let perWorker = max(1, allowedBytes / bytesPerSession / workers)
            return .error(key: "udp_max_sessions", message:
                "\(product), each taking up to \(bytesPerSession) bytes of table: \(mebibytes(bytes)) MiB, "
                    + "over a quarter of the \(mebibytes(limits.physicalMemory)) MiB of physical memory; "
                    + "lower udp_max_sessions or workers (at most \(perWorker) sessions per worker with \(workers) workers)")
        }
        if capped < udpMaxSessions {
            return .warning(
                "udp_max_sessions \(udpMaxSessions) per worker capped to \(capped) by RLIMIT_NOFILE=\(limits.openFiles) "
                    + "(each session needs a descriptor; \(fixed) go to listener sockets and a reserve, and "
                    + (listeners > udpListeners ? "half of the rest is kept for TCP connections" : "the rest is for sessions")
                    + "): a full table evicts its least recently used session; raise LimitNOFILE for more")
        }
        return .fits
    }

    private static func saturatingProduct(_ a: Int, _ b: Int) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? Int.max : product
    }

    private static func mebibytes(_ bytes: Int) -> Int { bytes >> 20 }
}
