import Glibc

/// Finds `[status] socket = "..."` in a configuration directory without the TOML parser.
///
/// This is a line scan, not a TOML reader: fulcrumd's config loader (FulcrumConfig) is the
/// authority on what the socket is. fulcrumctl must stay small and link statically, so it
/// reads only the common shapes: a `[status]` table header and a `socket = "..."` or
/// `socket = '...'` line under it, in fulcrum.toml then conf.d/*.toml in lexical order
/// (later files win, as in the loader). Dotted keys and inline tables are not recognised;
/// use --socket for those.
enum SocketPath {
    static let builtIn = "/run/fulcrum/status.sock"
    static let defaultConfigDirectory = "/etc/fulcrum"

    static func fromConfig(directory: String) -> String? {
        var found: String?
        var files = [directory + "/fulcrum.toml"]
        files += dropIns(directory + "/conf.d").map { directory + "/conf.d/" + $0 }
        for file in files {
            if let text = readFile(file), let path = scan(text) { found = path }
        }
        return found
    }

    /// The last `socket` value inside a `[status]` table of one file.
    static func scan(_ text: String) -> String? {
        var inStatus = false
        var found: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = trim(raw)
            if line.hasPrefix("[") {
                // "[status]  # comment" -> "status"; "[[x]]" is an array table, never status.
                let header = line.prefix { $0 != "]" }.dropFirst()
                inStatus = !line.hasPrefix("[[") && trim(header) == "status"
                continue
            }
            guard inStatus, let equals = line.firstIndex(of: "=") else { continue }
            guard trim(line[..<equals]) == "socket" else { continue }
            if let value = stringValue(trim(line[line.index(after: equals)...])) { found = value }
        }
        return found
    }

    /// A basic ("...", with \" and \\ escapes) or literal ('...') TOML string.
    static func stringValue(_ text: Substring) -> String? {
        guard let quote = text.first, quote == "\"" || quote == "'" else { return nil }
        var out = ""
        var escaped = false
        for c in text.dropFirst() {
            if escaped {
                out.append(c)
                escaped = false
            } else if c == "\\" && quote == "\"" {
                escaped = true
            } else if c == quote {
                return out
            } else {
                out.append(c)
            }
        }
        return nil
    }

    static func trim(_ s: Substring) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = s.firstIndex(where: { !isSpace($0) }),
              let last = s.lastIndex(where: { !isSpace($0) }) else { return "" }
        return s[first...last]
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// `*.toml` names in `directory`, filtered and sorted as FulcrumConfig's ConfigSources does.
    static func dropIns(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            // Hidden names (editor leftovers such as .#50-web.toml) are skipped, as the daemon does.
            if name.utf8.count > 5 && name.hasSuffix(".toml") && !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// A whole small file, or nil if it cannot be read (a missing file is not an error here).
    static func readFile(_ path: String) -> String? {
        // Non-blocking, and only a regular file: a FIFO named fulcrum.toml must not hang us.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_size <= 16 << 20 else { return nil }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
