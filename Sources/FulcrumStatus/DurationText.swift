/// A span of seconds as people read it: "3d 4h 5m 6s", leading zero units left out ("42s").
enum DurationText {
    static func human(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        let units: [(Int64, String)] = [(86_400, "d"), (3600, "h"), (60, "m")]
        var rest = s
        var parts: [String] = []
        for (size, suffix) in units where rest >= size || !parts.isEmpty {
            parts.append("\(rest / size)\(suffix)")
            rest %= size
        }
        parts.append("\(rest)s")
        return parts.joined(separator: " ")
    }
}
