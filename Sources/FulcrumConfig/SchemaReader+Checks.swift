#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TableReader {
    /// `string`, with control characters refused before `parse` sees the text. Names, addresses
    /// and paths end up in C calls (inet_pton, open, bind) that stop at a NUL, so
    /// "10.0.0.11\u0000junk" would be read as 10.0.0.11; and a newline or escape in a path or
    /// header is never what was meant. Payload keys (udp_send, udp_expect…) use `string`.
    func plainString<T>(_ key: String, expected: @autoclosure () -> String, default fallback: T?,
                        _ parse: (String) -> Check<T>) -> T? {
        string(key, expected: expected(), default: fallback) { text in
            if let problem = controlCharacterProblem(text, expected: expected()) { return .invalid(problem) }
            return parse(text)
        }
    }

    /// An array of strings, each checked by `parse`: every wrong item is reported, and the
    /// result is nil unless all of them are valid. Absent: []. `ifEmpty`, when given, is the
    /// problem with an empty array.
    func stringArray<T>(_ key: String, expected: String, item: String, ifEmpty: String? = nil,
                        _ parse: (String) -> Check<T>) -> [T]? {
        guard let node = entries[key] else { return [] }
        guard case let .array(items) = node.value else {
            reportWrongType(key, node, expected: expected)
            return nil
        }
        if items.isEmpty, let ifEmpty {
            report(key, ifEmpty)
            return nil
        }
        var values: [T] = []
        for element in items {
            guard case let .string(text) = element.value else {
                report(key, "\(element.rendered) is \(element.typeName); expected \(item)")
                continue
            }
            switch parse(text) {
            case let .valid(value): values.append(value)
            case let .invalid(message): report(key, message)
            case .wrongType: report(key, "\(quoted(text)) is not allowed; expected \(item)")
            }
        }
        return values.count == items.count ? values : nil
    }
}

/// Why `text` is refused when it holds a control character (Unicode Cc: U+0000..U+001F,
/// U+007F..U+009F), else nil. `expected` is only formatted for the message.
func controlCharacterProblem(_ text: String, expected: @autoclosure () -> String) -> String? {
    // In UTF-8, C0 and DEL are the bytes below 0x20 and 0x7F, and C1 (U+0080..U+009F) starts
    // with 0xC2; text with none of these bytes (nearly all) is passed on a look at its bytes,
    // in about half the instructions of walking its scalars.
    let mayHaveControl = text.utf8.withContiguousStorageIfAvailable { bytes in
        bytes.contains { $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 }
    } ?? true
    guard mayHaveControl else { return nil }
    // Unicode's Cc category is exactly C0, DEL and C1; comparing values avoids a property lookup.
    guard let bad = text.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
        return nil
    }
    let hex = String(bad.value, radix: 16, uppercase: true)
    let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    return "\(quoted(text)) contains the control character \(code); allowed: \(expected()) without control characters"
}

/// Why `path` cannot serve as a file the daemon reads at start (a CA bundle), else nil.
/// access(R_OK) alone passes "/" and "/dev/zero", and the daemon would fail (or read forever)
/// only when it starts; `--check-config` should catch it. Effectful: stats the path now.
func readableFileProblem(_ path: String, maxBytes: Int, allowed: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else {
        return "\(quoted(path)) cannot be read: \(String(cString: strerror(errno))); allowed: \(allowed)"
    }
    let kind: String
    switch info.st_mode & S_IFMT {
    case S_IFREG: kind = ""
    case S_IFDIR: kind = "a directory"
    case S_IFCHR: kind = "a character device"
    case S_IFBLK: kind = "a block device"
    case S_IFIFO: kind = "a FIFO"
    case S_IFSOCK: kind = "a socket"
    default: kind = "not a regular file"
    }
    if !kind.isEmpty {
        return "\(quoted(path)) is \(kind); allowed: a regular file, \(allowed)"
    }
    guard access(path, R_OK) == 0 else {
        return "\(quoted(path)) cannot be read: \(String(cString: strerror(errno))); allowed: \(allowed)"
    }
    if info.st_size == 0 {
        return "\(quoted(path)) is empty; allowed: \(allowed)"
    }
    if Int(info.st_size) > maxBytes {
        return "\(quoted(path)) is \(info.st_size) bytes; allowed: \(allowed) of at most \(maxBytes) bytes"
    }
    return nil
}
