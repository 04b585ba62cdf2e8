@testable import FulcrumConfig
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What `ConfigSources` does with the files of a config directory that are not plain readable
/// files: FIFOs, devices, huge files, leftovers, dangling links, odd names, denied access.
final class SourceDefectTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-sources-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/conf.d", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        chmod(directory, 0o755)
        chmod(directory + "/conf.d", 0o755)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private let minimal = webPool + "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n"

    private func write(_ relativePath: String, _ text: String) throws {
        try text.write(toFile: directory + "/" + relativePath, atomically: false, encoding: .utf8)
    }

    private func path(_ relativePath: String) -> String { directory + "/" + relativePath }

    private func makeFIFO(_ relativePath: String) throws {
        guard mkfifo(path(relativePath), 0o644) == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    }

    private func symlink(_ relativePath: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path(relativePath), withDestinationPath: target)
    }

    /// Reads the directory on a thread of its own, so a read that blocks fails the test instead of
    /// hanging it; `unblock` then frees that thread.
    private func sources(fileSystem: some ConfigFileSystem = SystemConfigFileSystem(), unblock: () -> Void = {},
                         file: StaticString = #filePath, line: UInt = #line) -> ConfigSources? {
        let directory = directory
        return onThread(unblock: unblock, file: file, line: line) {
            ConfigSources(directory: directory, fileSystem: fileSystem)
        }
    }

    private func names(_ found: ConfigSources?) -> [String] { found?.sources.map(\.name) ?? [] }

    // MARK: 2. Only regular files are read, and never in a way that blocks.

    func testMainFileThatIsAFIFOIsAnErrorNotAHang() throws {
        try makeFIFO("fulcrum.toml")
        try write("conf.d/50-web.toml", minimal)
        let found = sources(unblock: { self.openAndCloseWriter(self.path("fulcrum.toml")) })
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(path("fulcrum.toml"), nil, "", "cannot read file: not a regular file (it is a FIFO)"),
        ])
        XCTAssertEqual(names(found), [path("conf.d/50-web.toml")])
    }

    func testDropInThatIsAFIFOIsAnError() throws {
        try write("fulcrum.toml", minimal)
        try makeFIFO("conf.d/40-pipe.toml")
        let found = sources(unblock: { self.openAndCloseWriter(self.path("conf.d/40-pipe.toml")) })
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(path("conf.d/40-pipe.toml"), nil, "", "not a regular file (it is a FIFO)"),
        ])
        XCTAssertEqual(found?.candidates, [path("fulcrum.toml"), path("conf.d/40-pipe.toml")])
    }

    func testDropInLinkedToADeviceIsAnError() throws {
        try write("fulcrum.toml", minimal)
        try symlink("conf.d/40-null.toml", to: "/dev/null")
        assertProblems(sources()?.problems ?? [], [
            ExpectedProblem(path("conf.d/40-null.toml"), nil, "", "not a regular file (it is a character device)"),
        ])
    }

    func testDropInLinkedToARegularFileIsRead() throws {
        try write("shared.toml", minimal)
        try symlink("conf.d/50-web.toml", to: "../shared.toml")
        let found = sources()
        XCTAssertEqual(found?.problems, [])
        XCTAssertEqual(found?.warnings, [])
        XCTAssertEqual(found?.sources.first?.text, minimal)
    }

    func testMainFileThatIsADirectoryIsAnError() throws {
        try FileManager.default.createDirectory(atPath: path("fulcrum.toml"), withIntermediateDirectories: false)
        try write("conf.d/50-web.toml", minimal)
        assertProblems(sources()?.problems ?? [], [
            ExpectedProblem(path("fulcrum.toml"), nil, "", "not a regular file (it is a directory)"),
        ])
    }

    /// The kind is checked on the opened descriptor: a FIFO swapped in after the path was
    /// examined is refused, and opening it does not wait for a writer.
    func testOpenedDescriptorIsCheckedNotJustThePath() throws {
        try makeFIFO("fulcrum.toml")
        let lying = FaultyFileSystem(regularAt: [path("fulcrum.toml")])
        let found = sources(fileSystem: lying, unblock: { self.openAndCloseWriter(self.path("fulcrum.toml")) })
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(path("fulcrum.toml"), nil, "", "not a regular file (it is a FIFO)"),
        ])
    }

    func testFileOver16MiBIsRefused() throws {
        try sparseFile("fulcrum.toml", size: 16 * 1024 * 1024 + 1)
        assertProblems(sources()?.problems ?? [], [
            ExpectedProblem(path("fulcrum.toml"), nil, "", "cannot read file: 16777217 bytes is over the 16 MiB limit"),
        ])
    }

    func testFileOfExactly16MiBIsRead() throws {
        try sparseFile("fulcrum.toml", size: 16 * 1024 * 1024)
        let found = sources()
        XCTAssertEqual(found?.problems, [])
        XCTAssertEqual(found?.sources.first?.text.utf8.count, 16 * 1024 * 1024)
    }

    // MARK: 5. Nothing in conf.d is skipped without a word, except editor leftovers.

    func testNonTOMLDropInIsAWarning() throws {
        try write("conf.d/50-web.toml", minimal)
        try write("conf.d/60-udp.conf", "[listener.dns]\n")
        let found = sources()
        XCTAssertEqual(found?.problems, [])
        XCTAssertEqual(found?.warnings.map(\.description),
                       [path("conf.d/60-udp.conf") + ": ignored: only files ending in .toml are read"])
        XCTAssertEqual(names(found), [path("conf.d/50-web.toml")])
    }

    func testPackageManagerLeftoversAreWarnings() throws {
        try write("conf.d/50-web.toml", minimal)
        for name in ["50-web.toml.dpkg-dist", "50-web.toml.dpkg-old", "50-web.toml.ucf-new", "50-web.toml.rpmnew"] {
            try write("conf.d/" + name, minimal)
        }
        let leftover = "ignored: left by the package manager, not read"
        assertProblems(sources()?.warnings ?? [], [
            ExpectedProblem(path("conf.d/50-web.toml.dpkg-dist"), nil, "", leftover),
            ExpectedProblem(path("conf.d/50-web.toml.dpkg-old"), nil, "", leftover),
            ExpectedProblem(path("conf.d/50-web.toml.rpmnew"), nil, "", leftover),
            ExpectedProblem(path("conf.d/50-web.toml.ucf-new"), nil, "", leftover),
        ])
    }

    func testEditorLeftoversAreIgnoredSilently() throws {
        try write("conf.d/50-web.toml", minimal)
        for name in [".#50-web.toml", ".50-web.toml.swp", "50-web.toml~", "#50-web.toml#", ".toml", ".hidden.toml"] {
            try write("conf.d/" + name, "not = = toml")
        }
        let found = sources()
        XCTAssertEqual(found?.problems, [])
        XCTAssertEqual(found?.warnings, [])
        XCTAssertEqual(names(found), [path("conf.d/50-web.toml")])
    }

    func testDirectoryNamedTOMLIsAWarning() throws {
        try write("conf.d/50-web.toml", minimal)
        try FileManager.default.createDirectory(atPath: path("conf.d/60-dir.toml"), withIntermediateDirectories: false)
        let found = sources()
        XCTAssertEqual(found?.problems, [])
        assertProblems(found?.warnings ?? [], [
            ExpectedProblem(path("conf.d/60-dir.toml"), nil, "", "ignored: not a regular file (it is a directory)"),
        ])
    }

    func testDanglingSymlinkDropInIsAnError() throws {
        try write("fulcrum.toml", minimal)
        try symlink("conf.d/90-override.toml", to: "/etc/fulcrum-gone/override.toml")
        assertProblems(sources()?.problems ?? [], [
            ExpectedProblem(path("conf.d/90-override.toml"), nil, "",
                            "cannot read file: dangling symbolic link: its target /etc/fulcrum-gone/override.toml does not exist"),
        ])
    }

    func testSymlinkLoopDropInIsAnError() throws {
        try write("fulcrum.toml", minimal)
        try symlink("conf.d/80-a.toml", to: "81-b.toml")
        try symlink("conf.d/81-b.toml", to: "80-a.toml")
        assertProblems(sources()?.problems ?? [], [
            ExpectedProblem(path("conf.d/80-a.toml"), nil, "", "cannot read file: Too many levels of symbolic links (ELOOP)"),
            ExpectedProblem(path("conf.d/81-b.toml"), nil, "", "cannot read file: Too many levels of symbolic links (ELOOP)"),
        ])
    }

    func testDropInNameThatIsNotUTF8IsAnError() throws {
        try write("fulcrum.toml", minimal)
        let name = Array("50-caf".utf8) + [0xE9] + Array(".toml".utf8)
        let raw = Array(path("conf.d/").utf8) + name + [0]
        let descriptor = raw.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) }
        }
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        close(descriptor)
        let found = sources()
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(path("conf.d/50-caf\\xE9.toml"), nil, "", "cannot read file: its name is not valid UTF-8"),
        ])
        XCTAssertEqual(names(found), [path("fulcrum.toml")])
    }

    func testDropInsWithoutMainFileAreFine() throws {
        try write("conf.d/50-web.toml", minimal)
        let found = sources()
        XCTAssertEqual(found?.problems, [])
        XCTAssertEqual(found?.warnings, [])
        XCTAssertEqual(names(found), [path("conf.d/50-web.toml")])
    }

    func testDropInDirectoryThatIsAFileIsAnError() throws {
        try write("fulcrum.toml", minimal)
        try FileManager.default.removeItem(atPath: path("conf.d"))
        try write("conf.d", "")
        assertProblems(sources()?.problems ?? [], [
            ExpectedProblem(nil, nil, "", "drop-in directory \(path("conf.d")) is not a directory (it is a regular file)"),
        ])
    }

    // MARK: 6. Denied access is reported as such, with the path.

    /// DIR without search permission: its files cannot even be looked at. Root is denied too
    /// when its file-system uid is not 0 (set on one thread only).
    func testUnsearchableConfigDirectoryForReal() throws {
        try write("fulcrum.toml", webPool)
        try write("conf.d/50-listener.toml", "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n")
        chmod(directory, 0o600)
        let found = try asUnprivileged { ConfigSources(directory: self.directory) }
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(path("fulcrum.toml"), nil, "", "cannot read file: Permission denied (EACCES)"),
            ExpectedProblem(nil, nil, "", "cannot read drop-in directory \(path("conf.d")): Permission denied (EACCES)"),
        ])
    }

    /// conf.d readable but not searchable: its names can be listed, the files not looked at.
    /// The listener in it must not turn into "no listeners defined".
    func testUnsearchableDropInDirectoryForReal() throws {
        try write("fulcrum.toml", webPool)
        try write("conf.d/50-listener.toml", "[listener.web]\nprotocol_port = 80\ndefault_pool = \"web\"\n")
        chmod(directory, 0o755)
        chmod(directory + "/conf.d", 0o644)
        let directory = directory
        let loaded = try asUnprivileged { () -> [ConfigProblem] in
            do throws(ConfigErrors) {
                _ = try ConfigLoader.load(directory: directory, onlineCPUs: 1)
                return []
            } catch {
                return error.problems
            }
        }
        assertProblems(loaded ?? [], [
            ExpectedProblem(path("conf.d/50-listener.toml"), nil, "", "cannot read file: Permission denied (EACCES)"),
        ])
    }

    func testUnreadableDropInDirectoryForReal() throws {
        try write("fulcrum.toml", minimal)
        chmod(directory + "/conf.d", 0o300)
        let found = try asUnprivileged { ConfigSources(directory: self.directory) }
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(nil, nil, "", "cannot read drop-in directory \(path("conf.d")): Permission denied (EACCES)"),
        ])
    }

    func testInjectedEACCESOnConfigDirectory() {
        let found = sources(fileSystem: FaultyFileSystem(failing: [directory: EACCES]))
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(nil, nil, "", "cannot read config directory \(directory): Permission denied (EACCES)"),
        ])
    }

    func testInjectedEACCESOnFilesInConfigDirectory() throws {
        try write("fulcrum.toml", minimal)
        let denied = FaultyFileSystem(failing: [path("fulcrum.toml"): EACCES, path("conf.d"): EACCES])
        assertProblems(sources(fileSystem: denied)?.problems ?? [], [
            ExpectedProblem(path("fulcrum.toml"), nil, "", "cannot read file: Permission denied (EACCES)"),
            ExpectedProblem(nil, nil, "", "cannot read drop-in directory \(path("conf.d")): Permission denied (EACCES)"),
        ])
    }

    func testInjectedEACCESOnDropInListing() throws {
        try write("fulcrum.toml", minimal)
        try write("conf.d/50-web.toml", minimal)
        let denied = FaultyFileSystem(failingList: [path("conf.d"): EACCES])
        let found = sources(fileSystem: denied)
        assertProblems(found?.problems ?? [], [
            ExpectedProblem(nil, nil, "", "cannot read drop-in directory \(path("conf.d")): Permission denied (EACCES)"),
        ])
        XCTAssertEqual(names(found), [path("fulcrum.toml")])
    }

    func testInjectedEACCESOnRead() throws {
        try write("conf.d/50-web.toml", minimal)
        let denied = FaultyFileSystem(failingRead: [path("conf.d/50-web.toml"): EACCES])
        assertProblems(sources(fileSystem: denied)?.problems ?? [], [
            ExpectedProblem(path("conf.d/50-web.toml"), nil, "", "cannot read file: Permission denied (EACCES)"),
        ])
    }

    // MARK: Helpers

    private func sparseFile(_ relativePath: String, size: Int) throws {
        try write(relativePath, "")
        XCTAssertEqual(truncate(path(relativePath), off_t(size)), 0)
    }

    /// Lets a reader blocked in open() on the FIFO go on (it then reads end of file).
    private func openAndCloseWriter(_ fifo: String) {
        let descriptor = open(fifo, O_WRONLY | O_NONBLOCK)
        if descriptor >= 0 { close(descriptor) }
    }

    /// Runs `body` on a new thread whose file-system uid is "nobody", so permission bits deny
    /// even root (setfsuid is per thread and drops CAP_DAC_OVERRIDE for file access).
    private func asUnprivileged<T>(_ body: @escaping () -> T) throws -> T? {
        let probe = path("probe")
        try FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: false)
        chmod(probe, 0o000)
        var denied = false
        let result = onThread {
            let previous = setFileSystemUID(65_534)
            defer { _ = setFileSystemUID(uid_t(previous)) }
            let handle = opendir(probe)
            denied = handle == nil
            if let handle { closedir(handle) }
            return denied ? body() : nil
        }
        try FileManager.default.removeItem(atPath: probe)
        if !denied { throw XCTSkip("cannot make this thread's file access unprivileged") }
        return result ?? nil
    }

    private func onThread<T>(unblock: () -> Void = {}, file: StaticString = #filePath, line: UInt = #line,
                             _ body: @escaping () -> T) -> T? {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.value = body()
            done.signal()
        }
        thread.start()
        if done.wait(timeout: .now() + 5) == .timedOut {
            XCTFail("reading the config directory blocked", file: file, line: line)
            unblock()
            done.wait()
        }
        return box.value
    }
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

/// setfsuid(2), which Swift's Glibc module does not export.
private func setFileSystemUID(_ uid: uid_t) -> Int32 {
    typealias Function = @convention(c) (uid_t) -> Int32
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "setfsuid") else { return -1 }
    return unsafeBitCast(symbol, to: Function.self)(uid)
}

/// The real file system, with failures injected by path, and paths it claims are regular files.
struct FaultyFileSystem: ConfigFileSystem {
    var real = SystemConfigFileSystem()
    /// Every call on these paths fails with this errno.
    var failing: [String: Int32] = [:]
    var failingList: [String: Int32] = [:]
    var failingRead: [String: Int32] = [:]
    var regularAt: Set<String> = []

    init(failing: [String: Int32] = [:], failingList: [String: Int32] = [:], failingRead: [String: Int32] = [:],
         regularAt: Set<String> = []) {
        self.failing = failing
        self.failingList = failingList
        self.failingRead = failingRead
        self.regularAt = regularAt
    }

    func kind(_ path: String) -> Result<FileKind, FileSystemError> {
        if let code = failing[path] { return .failure(FileSystemError(code: code)) }
        return regularAt.contains(path) ? .success(.regular) : real.kind(path)
    }

    func linkKind(_ path: String) -> Result<FileKind, FileSystemError> {
        if let code = failing[path] { return .failure(FileSystemError(code: code)) }
        return regularAt.contains(path) ? .success(.regular) : real.linkKind(path)
    }

    func linkTarget(_ path: String) -> Result<[UInt8], FileSystemError> {
        if let code = failing[path] { return .failure(FileSystemError(code: code)) }
        return real.linkTarget(path)
    }

    func list(_ directory: String) -> Result<[[UInt8]], FileSystemError> {
        if let code = failing[directory] ?? failingList[directory] { return .failure(FileSystemError(code: code)) }
        return real.list(directory)
    }

    func read(_ path: String, limit: Int) -> Result<[UInt8], FileReadFailure> {
        if let code = failing[path] ?? failingRead[path] { return .failure(.system(FileSystemError(code: code))) }
        return real.read(path, limit: limit)
    }
}
