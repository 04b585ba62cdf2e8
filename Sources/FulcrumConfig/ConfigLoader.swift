import FulcrumTOML

/// A configuration that passed every check, with what was read to build it.
public struct LoadedConfig: Sendable {
    public var config: Config
    /// Files read, in load order.
    public var files: [String]
    /// One line for logs and `--check-config`, e.g.
    /// "configuration OK: 2 listeners, 1 pool, 3 members, 2 workers (3 files)".
    public var summary: String
    /// Things read past but worth saying (a conf.d file not ending in .toml, package-manager
    /// leftovers): --check-config prints them, the daemon logs them.
    public var warnings: [ConfigProblem] = []

    public init(config: Config, files: [String]) {
        self.config = config
        self.files = files
        let members = config.pools.reduce(0) { $0 + $1.members.count }
        summary = "configuration OK: " + [
            counted(config.listeners.count, "listener"), counted(config.pools.count, "pool"),
            counted(members, "member"), counted(config.workers, "worker"),
        ].joined(separator: ", ") + (config.ha.map { ", HA on \($0.interface) VRID \($0.virtualRouterID)" } ?? "")
            + (config.anycast.map { ", anycast on \($0.interface) (\(counted($0.virtualIPs.count, "VIP")))" } ?? "")
            + " (\(counted(files.count, "file")))"
    }
}

private func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}

public enum ConfigLoader {
    /// Reads DIR/fulcrum.toml then DIR/conf.d/*.toml (byte-wise lexical order of file names,
    /// only regular files ending in ".toml"); later files override earlier ones key by key.
    public static func load(directory: String, onlineCPUs: Int,
                            options: LoadOptions = LoadOptions()) throws(ConfigErrors) -> LoadedConfig {
        var found = ConfigSources(directory: directory)
        if let user = options.runningAs {
            // After the switch a reload reads the files as that user: say so where it cannot.
            for i in found.problems.indices where found.problems[i].message.contains("(EACCES)") {
                found.problems[i].message += "; fulcrumd runs as user \(quoted(user)), so the file and its directories must be readable by it"
            }
        }
        if found.sources.isEmpty && !found.problems.isEmpty {
            var errors = ConfigErrors(found.problems)
            errors.warnings = found.warnings
            throw errors
        }
        do {
            var loaded = try evaluate(found.sources, order: found.candidates, problems: found.problems,
                                      onlineCPUs: onlineCPUs, accounts: options.accounts)
            loaded.warnings = found.warnings + loaded.warnings
            return loaded
        } catch {
            var errors = error
            errors.warnings = found.warnings
            throw errors
        }
    }

    /// Same, from in-memory sources (name shown in problems, TOML text), in the given order.
    public static func load(sources: [(name: String, text: String)],
                            onlineCPUs: Int, options: LoadOptions = LoadOptions()) throws(ConfigErrors) -> LoadedConfig {
        try evaluate(sources, order: sources.map(\.name), problems: [], onlineCPUs: onlineCPUs, accounts: options.accounts)
    }

    private static func evaluate(_ sources: [(name: String, text: String)], order: [String],
                                 problems earlier: [ConfigProblem],
                                 onlineCPUs: Int, accounts: AccountDirectory?) throws(ConfigErrors) -> LoadedConfig {
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
        var decoder = ConfigDecoder(diagnostics: diagnostics, onlineCPUs: onlineCPUs, fileOrder: fileOrder)
        decoder.accounts = accounts
        let config = decoder.decode(merged)
        // With a file unread, "missing" and "undefined" may only mean "in the file that failed":
        // still said, since they are often real, but with that caveat; problems tied to no file
        // ("no listeners defined") would only repeat the syntax error and are left out.
        let unread = problems.compactMap(\.file)
        for entry in diagnostics.entries {
            var problem = entry.problem
            if entry.needsWholeConfig && !unread.isEmpty {
                guard problem.file != nil else { continue }
                problem.message += " (unless \(unread.joined(separator: " or ")) defines it: that file could not be read)"
            }
            problems.append(problem)
        }

        guard problems.isEmpty, let config else {
            if problems.isEmpty {
                problems.append(ConfigProblem(file: nil, line: nil, keyPath: "",
                                              message: "configuration could not be decoded"))
            }
            throw ConfigErrors(sorted(problems, fileOrder: fileOrder))
        }
        var loaded = LoadedConfig(config: config, files: sources.map(\.name))
        loaded.warnings = diagnostics.warnings
        return loaded
    }

    private static func parse(_ source: (name: String, text: String)) -> Result<TOMLNode, ConfigProblem> {
        do {
            let table = try TOMLParser.parse(source.text, file: source.name)
            return .success(TOMLNode(value: .table(table), position: TOMLPosition(file: source.name, line: 1, column: 1)))
        } catch {
            let hint = error.hint.map { "; hint: \($0)" } ?? ""
            return .failure(ConfigProblem(file: source.name, line: error.position.line, column: error.position.column,
                                          keyPath: "", message: "TOML syntax error: \(error.message)\(hint)"))
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
