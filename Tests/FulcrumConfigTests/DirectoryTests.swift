import FulcrumAddress
import FulcrumConfig
import Foundation
import XCTest

final class DirectoryTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ relativePath: String, _ text: String) throws {
        let path = directory + "/" + relativePath
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func loadProblems() -> [ConfigProblem] {
        do throws(ConfigErrors) {
            let loaded = try ConfigLoader.load(directory: directory, onlineCPUs: 3)
            XCTFail("expected problems, got \(loaded.summary)")
            return []
        } catch {
            return error.problems
        }
    }

    private let minimal = webPool + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n"

    func testMissingDirectory() {
        directory += "/absent"
        assertProblems(loadProblems(), [ExpectedProblem(nil, nil, "", "config directory \(directory) does not exist")])
    }

    func testDirectoryThatIsAFile() throws {
        try write("file", "")
        directory += "/file"
        assertProblems(loadProblems(), [ExpectedProblem(nil, nil, "", "config directory \(directory) is not a directory")])
    }

    func testEmptyDirectory() {
        assertProblems(loadProblems(), [ExpectedProblem(
            nil, nil, "",
            "no configuration found in \(directory): expected \(directory)/fulcrum.toml or \(directory)/conf.d/*.toml")])
    }

    func testOnlyNonTOMLFilesCountsAsNoConfiguration() throws {
        try write("conf.d/README", "not toml")
        try write("conf.d/50-web.toml.disabled", "not = = toml")
        try write("conf.d/.toml", "not = = toml")
        try FileManager.default.createDirectory(atPath: directory + "/conf.d/60-dir.toml", withIntermediateDirectories: true)
        assertProblems(loadProblems(), [ExpectedProblem(nil, nil, "", "no configuration found in \(directory)")])
    }

    func testMinimalConfigLoadsWithTheModelDefaults() throws {
        try write("fulcrum.toml", minimal)
        let loaded = try ConfigLoader.load(directory: directory, onlineCPUs: 3)
        let expected = Config(
            workers: 3, shutdownGraceMs: Config.defaultShutdownGraceMs, pipeSize: Config.defaultPipeSize,
            statusSocket: Config.defaultStatusSocket,
            listeners: [Listener(name: "web", address: IPAddress("0.0.0.0")!, port: 80, defaultPool: "web")],
            pools: [Pool(name: "web", members: [Member(name: "app1", address: IPAddress("10.0.0.11")!, port: 8080)])])
        XCTAssertEqual(loaded.config, expected)
        XCTAssertEqual(loaded.files, [directory + "/fulcrum.toml"])
        XCTAssertEqual(loaded.summary, "configuration OK: 1 listener, 1 pool, 1 member, 3 workers (1 file)")
    }

    func testDropInsOnlyAndNonTOMLFilesIgnored() throws {
        try write("conf.d/50-web.toml", minimal)
        try write("conf.d/README", "not toml")
        try write("conf.d/50-web.toml~", "not = = toml")
        try FileManager.default.createDirectory(atPath: directory + "/conf.d/60-dir.toml", withIntermediateDirectories: true)
        let loaded = try ConfigLoader.load(directory: directory, onlineCPUs: 1)
        XCTAssertEqual(loaded.files, [directory + "/conf.d/50-web.toml"])
    }

    func testDropInsLoadInByteWiseOrderAfterMainFile() throws {
        try write("fulcrum.toml", minimal + "\n[pool.web]\nretries = 1\n")
        // Byte-wise: "10-a" < "9-b" < "B" < "a"; each sets one key the next ones leave alone.
        try write("conf.d/a.toml", "workers = 5\n")
        try write("conf.d/B.toml", "workers = 6\npipe_size = 16384\n")
        try write("conf.d/9-b.toml", "workers = 4\npipe_size = 8192\nshutdown_grace = 2000\n")
        try write("conf.d/10-a.toml", "workers = 3\nshutdown_grace = 1000\n[pool.web]\nretries = 2\n")
        let loaded = try ConfigLoader.load(directory: directory, onlineCPUs: 1)
        XCTAssertEqual(loaded.files, ["fulcrum.toml", "conf.d/10-a.toml", "conf.d/9-b.toml", "conf.d/B.toml", "conf.d/a.toml"]
            .map { directory + "/" + $0 })
        XCTAssertEqual(loaded.config.workers, 5)
        XCTAssertEqual(loaded.config.pipeSize, 16384)
        XCTAssertEqual(loaded.config.shutdownGraceMs, 2000)
        XCTAssertEqual(loaded.config.pools.first?.retries, 2)
    }

    func testProblemsNameTheFileByItsPath() throws {
        try write("fulcrum.toml", minimal)
        try write("conf.d/90-maint.toml", "[pool.web.members.app1]\nweight = 300\n")
        try write("conf.d/95-broken.toml", "[pool.web\n")
        assertProblems(loadProblems(), [
            ExpectedProblem(directory + "/conf.d/90-maint.toml", 2, "pool.web.members.app1.weight", "300 is out of range"),
            ExpectedProblem(directory + "/conf.d/95-broken.toml", 1, "", "TOML syntax error"),
        ])
    }

    func testMainFileThatIsADirectory() throws {
        try FileManager.default.createDirectory(atPath: directory + "/fulcrum.toml", withIntermediateDirectories: true)
        try write("conf.d/50-web.toml", minimal)
        assertProblems(loadProblems(), [
            ExpectedProblem(directory + "/fulcrum.toml", nil, "", "cannot read file: not a regular file"),
        ])
    }

    func testInvalidUTF8() throws {
        try write("fulcrum.toml", minimal)
        let path = directory + "/conf.d/50-latin1.toml"
        try FileManager.default.createDirectory(atPath: directory + "/conf.d", withIntermediateDirectories: true)
        try Data([0x23, 0x20, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: path))
        assertProblems(loadProblems(), [ExpectedProblem(path, nil, "", "file is not valid UTF-8 text")])
    }

    func testTrailingSlashIsNotDoubled() throws {
        try write("fulcrum.toml", minimal)
        let loaded = try ConfigLoader.load(directory: directory + "/", onlineCPUs: 1)
        XCTAssertEqual(loaded.files, [directory + "/fulcrum.toml"])
    }
}
