import FulcrumConfig
import XCTest

/// What a test expects of one reported problem. `message` is a distinctive fragment, so a
/// wording tweak elsewhere in the sentence does not break every test.
struct ExpectedProblem: CustomStringConvertible {
    var file: String?
    var line: Int?
    var keyPath: String
    var message: String

    init(_ file: String?, _ line: Int?, _ keyPath: String, _ message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    func matches(_ problem: ConfigProblem) -> Bool {
        problem.file == file && problem.line == line && problem.keyPath == keyPath && problem.message.contains(message)
    }

    var description: String { "\(file ?? "-"):\(line.map(String.init) ?? "-"): \(keyPath): …\(message)…" }
}

/// The problems a load reports; fails the test if the load succeeds.
func problems(_ sources: [(name: String, text: String)], onlineCPUs: Int = 2,
              file: StaticString = #filePath, line: UInt = #line) -> [ConfigProblem] {
    do throws(ConfigErrors) {
        let loaded = try ConfigLoader.load(sources: sources, onlineCPUs: onlineCPUs)
        XCTFail("expected problems, got \(loaded.summary)", file: file, line: line)
        return []
    } catch {
        return error.problems
    }
}

/// Asserts that `actual` is exactly `expected`, in order.
func assertProblems(_ actual: [ConfigProblem], _ expected: [ExpectedProblem], _ context: String = "",
                    file: StaticString = #filePath, line: UInt = #line) {
    let report = "\(context)\nexpected:\n  " + expected.map(\.description).joined(separator: "\n  ")
        + "\nactual:\n  " + actual.map(\.description).joined(separator: "\n  ")
    guard actual.count == expected.count else {
        return XCTFail("wrong number of problems. \(report)", file: file, line: line)
    }
    for (problem, wanted) in zip(actual, expected) where !wanted.matches(problem) {
        XCTFail("mismatch: \(problem) does not match \(wanted). \(report)", file: file, line: line)
    }
}

/// A pool that is valid on its own, for configs that test something else (lines 1-4).
let webPool = """
[pool.web.members.app1]
address = "10.0.0.11"
protocol_port = 8080

"""

/// One fulcrum.toml, loaded as the daemon would on a one-CPU machine.
func loadText(_ text: String) throws(ConfigErrors) -> LoadedConfig {
    try ConfigLoader.load(sources: [(name: "fulcrum.toml", text: text)], onlineCPUs: 1)
}

/// The problems one fulcrum.toml reports, as printed; [] when it loads.
func problemTexts(_ text: String) -> [String] {
    do throws(ConfigErrors) {
        _ = try loadText(text)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}
