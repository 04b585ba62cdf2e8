import FulcrumAddress

// What changed inside one object, written with the TOML key an operator edits and the values as
// they would write them ("timeout_client_data 50000 -> 1000", "healthmonitor.delay 5 -> 0.5"),
// so a reload's reply can be matched against the drop-in that caused it.

/// "key old -> new" for every attribute that differs, in the order compared.
struct AttributeDifferences {
    private(set) var items: [String] = []

    mutating func compare<T: Equatable>(_ key: String, _ old: T, _ new: T, _ show: (T) -> String) {
        guard old != new else { return }
        let before = show(old), after = show(new)
        // Long values are shortened; two that then read the same still differ.
        items.append(before == after ? "\(key) changed (\(after))" : "\(key) \(before) -> \(after)")
    }

    mutating func compare<T: Equatable & CustomStringConvertible>(_ key: String, _ old: T, _ new: T) {
        compare(key, old, new) { $0.description }
    }

    mutating func append(_ item: String) { items.append(item) }
}

/// Protocol, address and port are not here: a change to them rebinds the listener.
func listenerDifferences(_ old: Listener, _ new: Listener) -> String {
    var d = AttributeDifferences()
    d.compare("default_pool", old.defaultPool, new.defaultPool)
    d.compare("connection_limit", old.connectionLimit, new.connectionLimit) { $0.map { String($0) } ?? "-1" }
    d.compare("timeout_client_data", old.timeoutClientDataMs, new.timeoutClientDataMs)
    d.compare("timeout_member_connect", old.timeoutMemberConnectMs, new.timeoutMemberConnectMs)
    d.compare("timeout_member_data", old.timeoutMemberDataMs, new.timeoutMemberDataMs)
    d.compare("allowed_cidrs", old.allowedCIDRs, new.allowedCIDRs) { cidrs in
        cidrs.isEmpty ? "all" : "[" + cidrs.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    }
    return d.items.joined(separator: ", ")
}

/// The pool's own attributes; its members are compared one by one elsewhere.
func poolDifferences(_ old: Pool, _ new: Pool) -> [String] {
    var d = AttributeDifferences()
    d.compare("lb_algorithm", old.lbAlgorithm.rawValue, new.lbAlgorithm.rawValue)
    d.compare("retries", old.retries, new.retries)
    d.compare("protocol", old.proxyProtocol, new.proxyProtocol) { $0?.rawValue ?? "plain" }
    d.compare("on_member_down", old.onMemberDown.rawValue, new.onMemberDown.rawValue)
    switch (old.sessionPersistence, new.sessionPersistence) {
    case let (before?, after?):
        d.compare("session_persistence.persistence_timeout", before.timeoutSeconds, after.timeoutSeconds)
        d.compare("session_persistence.persistence_granularity", before.granularity, after.granularity) {
            IPAddress.v4($0).description
        }
    case (nil, _?): d.append("session_persistence none -> SOURCE_IP")
    case (_?, nil): d.append("session_persistence SOURCE_IP -> none")
    case (nil, nil): break
    }
    switch (old.healthMonitor, new.healthMonitor) {
    case let (before?, after?): monitorDifferences(before, after, into: &d)
    // Absent and admin_state_up = false are the same thing to the runtime: no checks.
    case let (nil, after?): d.append("healthmonitor none -> \(after.type.rawValue)")
    case let (before?, nil): d.append("healthmonitor \(before.type.rawValue) -> none")
    case (nil, nil): break
    }
    return d.items
}

private func monitorDifferences(_ old: HealthMonitor, _ new: HealthMonitor, into d: inout AttributeDifferences) {
    let p = "healthmonitor."
    d.compare(p + "type", old.type.rawValue, new.type.rawValue)
    // The config gives seconds; the model keeps milliseconds.
    d.compare(p + "delay", old.delayMs, new.delayMs) { secondsText(milliseconds: $0) }
    d.compare(p + "timeout", old.timeoutMs, new.timeoutMs) { secondsText(milliseconds: $0) }
    d.compare(p + "max_retries", old.maxRetries, new.maxRetries)
    d.compare(p + "max_retries_down", old.maxRetriesDown, new.maxRetriesDown)
    d.compare(p + "http_method", old.httpMethod, new.httpMethod)
    d.compare(p + "url_path", old.urlPath, new.urlPath, shortQuoted)
    d.compare(p + "expected_codes", old.expectedCodes.description, new.expectedCodes.description, shortQuoted)
    d.compare(p + "http_version", old.httpVersion.rawValue, new.httpVersion.rawValue)
    d.compare(p + "domain_name", old.domainName, new.domainName) { $0.map(shortQuoted) ?? "none" }
    d.compare(p + "tls_verify", old.tlsVerify, new.tlsVerify)
    d.compare(p + "tls_ca_file", old.tlsCAFile, new.tlsCAFile) { $0.map(shortQuoted) ?? "none" }
    d.compare(p + "udp_send", old.udpSend, new.udpSend, bytesText)
    d.compare(p + "udp_expect", old.udpExpect, new.udpExpect) { expectation in
        switch expectation {
        case nil: return "none"
        case let .prefix(bytes)?: return bytesText(bytes)
        case let .regex(pattern)?: return "regex \(shortQuoted(pattern))"
        }
    }
}

func memberDifferences(_ old: Member, _ new: Member) -> String {
    var d = AttributeDifferences()
    d.compare("address", old.address, new.address)
    d.compare("protocol_port", old.port, new.port)
    d.compare("weight", old.weight, new.weight)
    d.compare("backup", old.backup, new.backup)
    d.compare("admin_state_up", old.adminStateUp, new.adminStateUp)
    // Unset falls back to address / protocol_port.
    d.compare("monitor_address", old.monitorAddress, new.monitorAddress) { $0?.description ?? "unset" }
    d.compare("monitor_port", old.monitorPort, new.monitorPort) { $0.map { String($0) } ?? "unset" }
    return d.items.joined(separator: ", ")
}

/// The global settings, split by whether a running process can take them.
struct GlobalDifferences {
    /// "workers: 2 -> 4 needs a restart".
    var needsRestart: [String] = []
    /// "shutdown_grace: 10000 -> 5000 ms".
    var applied: [String] = []

    init(_ old: Config, _ new: Config) {
        // Sized once at start: worker threads and their per-worker tables and pipes, and the
        // sockets the control thread binds (a path or group change would mean re-creating
        // them under the clients of `fulcrumctl`).
        restart("workers", old.workers, new.workers) { "\($0)" }
        restart("udp_max_sessions", old.udpMaxSessions, new.udpMaxSessions) { "\($0)" }
        restart("pipe_size", old.pipeSize, new.pipeSize, unit: " bytes") { "\($0)" }
        restart("status.socket", old.statusSocket, new.statusSocket, shortQuoted)
        restart("status.group", old.statusGroup, new.statusGroup) { $0.map(shortQuoted) ?? "none" }
        restart("status.readonly_socket", old.readonlySocket, new.readonlySocket) { $0.map(shortQuoted) ?? "none" }
        restart("status.metrics_listen", old.metricsListen, new.metricsListen) { $0.map { "\"\($0)\"" } ?? "off" }
        // The VRRP instance owns the VIPs while it runs; changing its identity, interface or
        // addresses in place could leave a VIP on two nodes. A restart hands over cleanly
        // (priority 0, then the backup takes the VIPs).
        if old.ha != new.ha {
            needsRestart.append("ha: \(old.ha == nil ? "added" : new.ha == nil ? "removed" : "changed") needs a restart")
        }
        // Turning [anycast] on or off, or moving it to another interface, changes what the
        // process owns (the thread, the interface, CAP_NET_ADMIN kept at the privilege drop):
        // a restart, which withdraws first (withdraw_grace). Within one interface the thread
        // takes a new VIP list, hold_down and announce_when as it runs, and shutdown reads
        // withdraw_grace from the configuration in force.
        switch (old.anycast, new.anycast) {
        case (nil, nil):
            break
        case (nil, _?):
            needsRestart.append("anycast: added needs a restart")
        case (_?, nil):
            needsRestart.append("anycast: removed needs a restart")
        case let (before?, after?):
            restart("anycast.interface", before.interface, after.interface, shortQuoted)
            let added = after.virtualIPs.filter { !before.virtualIPs.contains($0) }
            let removed = before.virtualIPs.filter { !after.virtualIPs.contains($0) }
            if !added.isEmpty || !removed.isEmpty {
                let items = added.map { "+\($0)" } + removed.map { "-\($0)" }
                applied.append("anycast.virtual_ips: \(items.joined(separator: " "))")
            }
            apply("anycast.announce_when", before.announceWhen, after.announceWhen) { $0.rawValue }
            apply("anycast.hold_down", before.holdDownMs, after.holdDownMs, unit: " ms") { "\($0)" }
            apply("anycast.withdraw_grace", before.withdrawGraceMs, after.withdrawGraceMs, unit: " ms") { "\($0)" }
        }
        // The switch happens once, at start, and cannot be undone by a process that made it.
        restart("process.user", old.process.user, new.process.user) { $0.map(shortQuoted) ?? "default" }
        restart("process.group", old.process.group, new.process.group) { $0.map(shortQuoted) ?? "default" }
        apply("shutdown_grace", old.shutdownGraceMs, new.shutdownGraceMs, unit: " ms") { "\($0)" }
        apply("copy_small_reads", old.copySmallReads, new.copySmallReads) { "\($0)" }
        apply("busy_poll", old.busyPollMicroseconds, new.busyPollMicroseconds, unit: " us") { "\($0)" }
    }

    /// "shutdown_grace: 10000 -> 5000 ms".
    private mutating func apply<T: Equatable>(_ key: String, _ old: T, _ new: T, unit: String = "",
                                              _ show: (T) -> String) {
        guard old != new else { return }
        applied.append("\(key): \(show(old)) -> \(show(new))\(unit)")
    }

    /// The unit once, after the new value, as in "pipe_size: 65536 -> 131072 bytes needs a restart".
    private mutating func restart<T: Equatable>(_ key: String, _ old: T, _ new: T, unit: String = "",
                                                _ show: (T) -> String) {
        guard old != new else { return }
        needsRestart.append("\(key): \(show(old)) -> \(show(new))\(unit) needs a restart")
    }
}

/// A payload as the operator wrote it: short printable text quoted, other bytes in hex, and a
/// long one by its size only (udp_send may be 65,507 bytes; a reply line must stay a line).
private func bytesText(_ bytes: [UInt8]) -> String {
    guard bytes.count <= 32 else { return "\(bytes.count) bytes" }
    if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
        return quoted(String(decoding: bytes, as: UTF8.self))
    }
    let digits = Array("0123456789abcdef")
    return "hex \"" + bytes.map { String([digits[Int($0 >> 4)], digits[Int($0 & 0xF)]]) }.joined(separator: " ") + "\""
}

/// Quoted, with control characters escaped, and cut to 64 characters (url_path may be 2 KiB).
private func shortQuoted(_ text: String) -> String {
    let limit = 64
    guard text.count > limit else { return quoted(text) }
    return quoted(String(text.prefix(limit - 3)) + "...")
}
