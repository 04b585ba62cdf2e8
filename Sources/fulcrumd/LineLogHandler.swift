import Glibc
import Logging

/// One log line per event on stderr: `TIME LEVEL MESSAGE key=value …`, metadata sorted by key
/// so lines are easy to grep and diff. Values with spaces are quoted.
struct LineLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(level: Logger.Level) {
        logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        var text = "\(LineLogHandler.timestamp()) \(event.level) \(event.message)"
        for key in all.keys.sorted() {
            let value = "\(all[key]!)"
            let quoted = value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" })
            text += quoted ? " \(key)=\"\(escapingQuotes(value))\"" : " \(key)=\(value)"
        }
        text += "\n"
        // One write per line: lines from different threads never interleave mid-line.
        text.withCString { ptr in _ = write(2, ptr, strlen(ptr)) }
    }

    /// RFC 3339 UTC with milliseconds, e.g. 2026-11-26T23:01:09.123Z.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var seconds = ts.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}

/// `a "b"` → `a \"b\"`, for a quoted metadata value (no Foundation for one replace).
private func escapingQuotes(_ value: String) -> String {
    var out = ""
    for c in value {
        if c == "\"" { out += "\\\"" } else { out.append(c) }
    }
    return out
}
