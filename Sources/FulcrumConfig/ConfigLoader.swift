import TOMLKit

/// A configuration that passed every check, with what was read to build it.
public struct LoadedConfig: Sendable {
    public var config: Config
    /// Files read, in load order.
    public var files: [String]
    /// One line for logs and `--check-config`, e.g.
    /// "configuration OK: 2 listeners, 1 pool, 3 members, 2 workers (3 files)".
    public var summary: String

    public init(config: Config, files: [String]) {
        self.config = config
        self.files = files
        let members = config.pools.reduce(0) { $0 + $1.members.count }
        summary = "configuration OK: " + [
            counted(config.listeners.count, "listener"), counted(config.pools.count, "pool"),
            counted(members, "member"), counted(config.workers, "worker"),
        ].joined(separator: ", ") + " (\(counted(files.count, "file")))"
    }
}

private func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

public enum ConfigLoader {
    /// Reads DIR/fulcrum.toml then DIR/conf.d/*.toml (byte-wise lexical order of file names,
    /// only regular files ending in ".toml"); later files override earlier ones key by key.
    public static func load(directory: String, onlineCPUs: Int) throws(ConfigErrors) -> LoadedConfig {
        let found = ConfigSources(directory: directory)
        if found.sources.isEmpty && !found.problems.isEmpty {
            throw ConfigErrors(found.problems)
        }
        return try evaluate(found.sources, order: found.candidates, problems: found.problems, onlineCPUs: onlineCPUs)
    }

    /// Same, from in-memory sources (name shown in problems, TOML text), in the given order.
    public static func load(sources: [(name: String, text: String)],
                            onlineCPUs: Int) throws(ConfigErrors) -> LoadedConfig {
        try evaluate(sources, order: sources.map(\.name), problems: [], onlineCPUs: onlineCPUs)
    }

    private static func evaluate(_ sources: [(name: String, text: String)], order: [String],
                                 problems earlier: [ConfigProblem],
                                 onlineCPUs: Int) throws(ConfigErrors) -> LoadedConfig {
        var problems = earlier
        var merged = TOMLNode.emptyRoot(file: sources.first?.name ?? "")
        for source in sources {
            switch parse(source) {
            case let .success(document): merged = merged.merged(with: document)
            case let .failure(problem): problems.append(problem)
            }
        }

        let fileOrder = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let diagnostics = Diagnostics()
        let decoder = ConfigDecoder(diagnostics: diagnostics, onlineCPUs: onlineCPUs, fileOrder: fileOrder)
        let config = decoder.decode(merged)
        // With a file unread, "missing" and "undefined" may only mean "in the file that failed".
        let complete = problems.isEmpty
        problems += diagnostics.entries.filter { complete || !$0.needsWholeConfig }.map(\.problem)

        guard problems.isEmpty, let config else {
            if problems.isEmpty {
                problems.append(ConfigProblem(file: nil, line: nil, keyPath: "",
                                              message: "configuration could not be decoded"))
            }
            throw ConfigErrors(sorted(problems, fileOrder: fileOrder))
        }
        return LoadedConfig(config: config, files: sources.map(\.name))
    }

    private static func parse(_ source: (name: String, text: String)) -> Result<TOMLNode, ConfigProblem> {
        // TOMLKit hands the text to C as a C string, which would end it silently at a NUL.
        if let nul = source.text.utf8.firstIndex(of: 0) {
            let line = source.text.utf8[..<nul].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            return .failure(ConfigProblem(file: source.name, line: line, keyPath: "",
                                          message: "TOML syntax error: NUL byte; TOML text cannot contain one"))
        }
        do {
            let document = try TOMLTable(string: source.text)
            return .success(TOMLNode(document: document, file: source.name, lines: KeyLines(scanning: source.text)))
        } catch let error as TOMLParseError {
            // toml++ says "Error while parsing string: …"; fold that into one sentence.
            let text = error.description
            let reason = text.hasPrefix("Error while ") ? " " + text.dropFirst("Error ".count) : ": " + text
            let line = error.source.begin.line > 0 ? error.source.begin.line : nil
            return .failure(ConfigProblem(file: source.name, line: line, keyPath: "",
                                          message: "TOML syntax error\(reason) (column \(error.source.begin.column))"))
        } catch {
            return .failure(ConfigProblem(file: source.name, line: nil, keyPath: "",
                                          message: "TOML syntax error: \(error)"))
        }
    }

    private static func sorted(_ problems: [ConfigProblem], fileOrder: [String: Int]) -> [ConfigProblem] {
        func key(_ problem: ConfigProblem) -> OrderKey {
            // Problems tied to no file (a missing directory, no listeners at all) come last.
            let file = problem.file.map { fileOrder[$0] ?? fileOrder.count } ?? Int.max
            return OrderKey(file: file, line: problem.line ?? Int.max, name: problem.keyPath)
        }
        // Ties keep the order they were found in, e.g. bad allowed_cidrs elements in array order.
        return problems.enumerated().sorted { lhs, rhs in
            let (a, b) = (key(lhs.element), key(rhs.element))
            return a != b ? a < b : lhs.offset < rhs.offset
        }.map(\.element)
    }
}
