/// One thing wrong with the configuration, pinned to where it was written.
public struct ConfigProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file the offending value came from (nil when it is not in any file, e.g. a missing key).
    public var file: String?
    /// 1-based line of the key in `file`, when known.
    public var line: Int?
    /// 1-based column, for syntax errors (schema problems name the key instead).
    public var column: Int?
    /// Dotted key path, e.g. "listener.web.protocol_port".
    public var keyPath: String
    /// What is wrong and what is allowed, e.g. "70000 is out of range; allowed: 1..65535".
    public var message: String

    public init(file: String?, line: Int?, column: Int? = nil, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// "conf.d/50-web.toml:7: listener.web.protocol_port: 70000 is out of range; allowed: 1..65535",
    /// "conf.d/50-web.toml:3:11: TOML syntax error: found … (a syntax error has a column)"
    public var description: String {
        var location = ""
        if let file {
            location = file
            if let line { location += ":\(line)" }
            if line != nil, let column { location += ":\(column)" }
            location += ": "
        }
        return keyPath.isEmpty ? "\(location)\(message)" : "\(location)\(keyPath): \(message)"
    }
}

/// Every problem found, reported together so an operator fixes them in one pass.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    /// Warnings from the same load (see LoadedConfig.warnings): they often explain a problem.
    public var warnings: [ConfigProblem] = []

    public init(_ problems: [ConfigProblem]) {
        self.problems = problems
    }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
