/// The reply to `show info`: one `key: value` line each, keys in snake_case like HAProxy's
/// `show info`, times as Unix seconds followed by a readable form in parentheses.
public enum InfoText {
    public static func render(_ snapshot: StatusSnapshot) -> String {
        let info = snapshot.info
        let listeners = snapshot.listeners
        var lines: [(String, String)] = [
            ("version", info.version),
            ("pid", "\(info.pid)"),
            ("started_at", timeText(info.startedAt)),
            ("uptime", "\(info.uptimeSeconds) (\(DurationText.human(info.uptimeSeconds)))"),
            ("workers", "\(info.workers)"),
            ("config_dir", info.configDirectory),
        ]
        lines += info.configFiles.map { ("config_file", $0) }
        lines += [
            ("config_loaded_at", timeText(info.configLoadedAt)),
            ("reloads", "\(info.reloadsApplied)"),
            ("reloads_refused", "\(info.reloadsRefused)"),
            ("last_reload", info.lastReloadSucceeded ? "applied" : "refused"),
            ("listeners", "\(listeners.count)"),
            ("pools", "\(snapshot.pools.count)"),
            ("members", "\(snapshot.pools.reduce(0) { $0 + $1.members.count })"),
            // TCP connections open plus UDP sessions live, over all listeners.
            ("current_connections", "\(listeners.reduce(0) { $0 + $1.current })"),
            ("total_connections", "\(listeners.reduce(0) { $0 + $1.total })"),
            ("bytes_in", "\(listeners.reduce(0) { $0 + $1.bytesIn })"),
            ("bytes_out", "\(listeners.reduce(0) { $0 + $1.bytesOut })"),
        ]
        return lines.map { "\($0.0): \(OneLineText.escaped($0.1))\n" }.joined()
    }

    /// Shared with `show ha`, so every time on the socket reads the same way.
    static func timeText(_ unixSeconds: Int64) -> String {
        "\(unixSeconds) (\(UTCTime.iso8601(unixSeconds)))"
    }
}
