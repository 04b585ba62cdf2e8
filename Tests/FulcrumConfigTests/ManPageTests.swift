import FulcrumConfig
import Foundation
import XCTest

/// fulcrum.toml(5) must name every key the schema accepts, under its table's heading, and the
/// man pages must format without a groff warning (lintian reports those).
///
/// The keys come from the loader itself, not from a list kept here: a config with an unknown
/// key in every table makes the loader answer "unknown key …; allowed: a, b, c" for each, so a
/// key added to a schema shows up here without anyone remembering this test.
final class ManPageTests: XCTestCase {
    static let probeKey = "zz_man_page_probe"

    /// One table of each kind, each holding the probe key. Objects are named NAME, so a problem's
    /// key path ("pool.NAME.members.NAME.zz_man_page_probe") gives the man page heading directly.
    static let probeConfig = """
        \(probeKey) = 1

        [status]
        \(probeKey) = 1

        [listener.NAME]
        \(probeKey) = 1

        [pool.NAME]
        \(probeKey) = 1
        session_persistence = { type = "SOURCE_IP", \(probeKey) = 1 }

        [pool.NAME.members.NAME]
        \(probeKey) = 1

        [pool.NAME.healthmonitor]
        type = "TCP"
        delay = 5
        timeout = 3
        \(probeKey) = 1

        [ha]
        \(probeKey) = 1

        """

    /// Headings every probe must reach: if the loader stopped reporting one of them, the test
    /// would otherwise pass by checking nothing.
    static let requiredHeadings: Set<String> = [
        "Top-level keys", "[status]", "[listener.NAME]", "[pool.NAME]", "[pool.NAME.session_persistence]",
        "[pool.NAME.members.NAME]", "[pool.NAME.healthmonitor]", "[ha]",
    ]

    func testEveryConfigKeyIsInTheManPage() throws {
        let schema = try schemaKeys()
        let documented = try documentedKeys()
        for (heading, keys) in schema.sorted(by: { $0.key < $1.key }) {
            let listed = documented[heading] ?? []
            XCTAssertFalse(listed.isEmpty, "docs/man/fulcrum.toml.5 has no section .SS \"\(heading)\"")
            for key in keys.sorted() where !listed.contains(key) {
                XCTFail("docs/man/fulcrum.toml.5: key \(key) of \(heading) is not documented "
                    + "(add .TP / .B \(key) under .SS \"\(heading)\")")
            }
        }
    }

    func testEveryKeyInTheManPageExists() throws {
        let schema = try schemaKeys()
        let documented = try documentedKeys()
        for (heading, keys) in documented.sorted(by: { $0.key < $1.key }) {
            guard let allowed = schema[heading] else {
                // [process] (user, group) is written ahead of its schema, which comes from a sibling
                // branch; once the loader knows the table, it is checked like every other.
                if heading == "[process]" { continue }
                XCTFail("docs/man/fulcrum.toml.5 documents a table \(heading) the configuration does not have")
                continue
            }
            for key in keys.sorted() where !allowed.contains(key) {
                if heading == "Top-level keys", key == "process", schema["[process]"] == nil { continue }
                XCTFail("docs/man/fulcrum.toml.5: \(heading) documents \(key), which the configuration does not accept")
            }
        }
    }

    func testTheProbeReachesEveryTable() throws {
        let schema = try schemaKeys()
        XCTAssertTrue(Self.requiredHeadings.isSubset(of: Set(schema.keys)),
                      "probed: \(schema.keys.sorted()); expected at least \(Self.requiredHeadings.sorted())")
        // A sample of known keys, so a parsing slip that returns junk lists fails here.
        XCTAssertTrue(schema["Top-level keys"]?.contains("shutdown_grace") ?? false)
        XCTAssertTrue(schema["[pool.NAME.members.NAME]"]?.contains("monitor_port") ?? false)
        XCTAssertTrue(schema["[ha]"]?.contains("virtual_router_id") ?? false)
        XCTAssertFalse(schema.values.contains { $0.contains(Self.probeKey) })
    }

    func testManPagesFormatWithoutWarnings() throws {
        let groff = try requireGroff()
        let pages = try FileManager.default.contentsOfDirectory(atPath: Self.manDirectory.path)
            .filter { $0.hasSuffix(".5") || $0.hasSuffix(".8") }
            .sorted()
        XCTAssertEqual(Set(pages), ["fulcrum.toml.5", "fulcrumctl.8", "fulcrumd.8"])
        for page in pages {
            // -mandoc picks man(7) or mdoc(7) by the page's first macros; -ww turns every warning on.
            let result = try run([groff, "-mandoc", "-ww", "-z", Self.manDirectory.appendingPathComponent(page).path])
            XCTAssertEqual(result.status, 0, "groff failed on \(page): \(result.errors)")
            XCTAssertEqual(result.errors, "", "groff warns about \(page)")
        }
    }

    // MARK: - Helpers

    static let manDirectory: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url = url.deletingLastPathComponent()
        }
        return url.appendingPathComponent("docs/man")
    }()

    /// The keys each table accepts, by man page heading, read from the loader's own messages.
    private func schemaKeys() throws -> [String: Set<String>] {
        var keys = try probe(Self.probeConfig)
        // Tables a newer schema adds at the top level are probed too, so they are checked as
        // soon as they exist.
        let knownTables = ["status", "listener", "pool", "ha"]
        for table in (keys["Top-level keys"] ?? []).sorted() where !knownTables.contains(table) {
            if ["workers", "shutdown_grace", "pipe_size", "copy_small_reads", "busy_poll", "udp_max_sessions"].contains(table) { continue }
            let more = try probe("[\(table)]\n\(Self.probeKey) = 1\n")
            guard let found = more["[\(table)]"] else {
                throw TestFailure("top-level key \(table) is not a table the probe could reach: \(more)")
            }
            keys["[\(table)]"] = found
        }
        return keys
    }

    private func probe(_ text: String) throws -> [String: Set<String>] {
        let problems: [ConfigProblem]
        do throws(ConfigErrors) {
            _ = try ConfigLoader.load(sources: [(name: "probe.toml", text: text)], onlineCPUs: 2)
            problems = []
        } catch {
            problems = error.problems
        }
        guard !problems.isEmpty else { throw TestFailure("the probe config loaded, yet it has unknown keys") }
        var keys: [String: Set<String>] = [:]
        for problem in problems where problem.keyPath.hasSuffix(Self.probeKey) {
            guard let range = problem.message.range(of: "allowed: ", options: .backwards) else {
                throw TestFailure("no allowed list in: \(problem)")
            }
            let table = String(problem.keyPath.dropLast(Self.probeKey.count)).trimmingCharacters(in: ["."])
            let heading = table.isEmpty ? "Top-level keys" : "[\(table)]"
            keys[heading] = Set(problem.message[range.upperBound...].split(separator: ", ").map(String.init))
        }
        return keys
    }

    /// The keys of fulcrum.toml(5) by .SS heading: each ".B key" tag line that follows a ".TP".
    private func documentedKeys() throws -> [String: Set<String>] {
        let text = try String(contentsOf: Self.manDirectory.appendingPathComponent("fulcrum.toml.5"), encoding: .utf8)
        var keys: [String: Set<String>] = [:]
        var heading: String?
        var afterTP = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(".SS ") {
                heading = line.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
                keys[heading!, default: []] = keys[heading!] ?? []
            } else if line.hasPrefix(".SH ") {
                heading = nil
            } else if afterTP, line.hasPrefix(".B "), let heading {
                keys[heading, default: []].insert(line.dropFirst(3).trimmingCharacters(in: CharacterSet(charactersIn: "\" ")))
            }
            afterTP = line == ".TP"
        }
        return keys
    }

    private func requireGroff() throws -> String {
        for path in ["/usr/bin/groff", "/bin/groff"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        let what = "the man page check needs groff (apt-get install groff-base; scripts/test installs it)"
        if ProcessInfo.processInfo.environment["FULCRUM_REQUIRE_ROOT_TESTS"] == "1" {
            throw TestFailure("\(what), and FULCRUM_REQUIRE_ROOT_TESTS=1 requires it")
        }
        throw XCTSkip(what)
    }

    private func run(_ argv: [String]) throws -> (status: Int32, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

private struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
