/// One metric family of the Prometheus text exposition format 0.0.4: `# HELP`, `# TYPE`, then
/// all its samples together (the format requires a family's samples to be contiguous).
struct PrometheusFamily {
    enum Kind: String {
        case counter, gauge
    }

    let name: String
    let kind: Kind
    let help: String
    private(set) var samples: [(labels: [(String, String)], value: String)] = []

    init(_ name: String, _ kind: Kind, _ help: String) {
        self.name = name
        self.kind = kind
        self.help = help
    }

    mutating func add(_ labels: [(String, String)], _ value: Int) {
        samples.append((labels, "\(value)"))
    }

    mutating func add(_ labels: [(String, String)], _ value: Int64) {
        samples.append((labels, "\(value)"))
    }

    mutating func add(_ labels: [(String, String)], _ value: Double) {
        samples.append((labels, PrometheusFamily.number(value)))
    }

    func render(into out: inout String) {
        out += "# HELP \(name) \(PrometheusFamily.escapedHelp(help))\n"
        out += "# TYPE \(name) \(kind.rawValue)\n"
        for sample in samples {
            out += name
            if !sample.labels.isEmpty {
                out += "{"
                out += sample.labels
                    .map { "\($0.0)=\"\(PrometheusFamily.escapedLabelValue($0.1))\"" }
                    .joined(separator: ",")
                out += "}"
            }
            out += " \(sample.value)\n"
        }
    }

    /// Go's ParseFloat spellings for the values Swift's description would write otherwise.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        return "\(value)"
    }

    /// Label values escape backslash, double quote and line feed.
    static func escapedLabelValue(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// HELP text escapes backslash and line feed.
    static func escapedHelp(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
