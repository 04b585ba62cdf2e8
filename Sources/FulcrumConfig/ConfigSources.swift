#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files of a config directory, read in load order.
struct ConfigSources {
    /// Files read successfully, in load order.
    var sources: [(name: String, text: String)] = []
    /// Every candidate file in load order, including unreadable ones, to order problems by.
    var candidates: [String] = []
    var problems: [ConfigProblem] = []

    /// DIR/fulcrum.toml (optional), then DIR/conf.d/*.toml in byte-wise order of file name:
    /// the systemd drop-in rule, independent of locale and Unicode normalisation.
    init(directory: String) {
        guard isDirectory(directory) else {
            let reason = pathExists(directory) ? "is not a directory" : "does not exist"
            problems.append(directoryProblem("config directory \(directory) \(reason)"))
            return
        }
        let main = joined(directory, "fulcrum.toml")
        if pathExists(main) { candidates.append(main) }

        let dropInDirectory = joined(directory, "conf.d")
        if pathExists(dropInDirectory) {
            switch listDirectory(dropInDirectory) {
            case let .success(names):
                let dropIns = names
                    .filter { $0.utf8.count > 5 && $0.hasSuffix(".toml") && isRegularFile(joined(dropInDirectory, $0)) }
                    .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                candidates += dropIns.map { joined(dropInDirectory, $0) }
            case let .failure(error):
                problems.append(directoryProblem("cannot read drop-in directory \(dropInDirectory): \(error.text)"))
            }
        }

        if candidates.isEmpty && problems.isEmpty {
            problems.append(directoryProblem(
                "no configuration found in \(directory): expected \(main) or \(dropInDirectory)/*.toml"))
        }
        for path in candidates {
            switch readTextFile(path) {
            case let .success(text): sources.append((path, text))
            case let .failure(unusable):
                problems.append(ConfigProblem(file: path, line: nil, keyPath: "", message: unusable.message))
            }
        }
    }
}

/// A problem with the directory as a whole, which no single file is to blame for.
private func directoryProblem(_ message: String) -> ConfigProblem {
    ConfigProblem(file: nil, line: nil, keyPath: "", message: message)
}

private func joined(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

struct Errno: Error {
    var code: Int32
    var text: String { String(cString: strerror(code)) }
}

private func fileMode(_ path: String) -> mode_t? {
    var info = stat()
    return stat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
}

private func pathExists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

private func isDirectory(_ path: String) -> Bool { fileMode(path) == S_IFDIR }

/// Follows symlinks, so a drop-in may be a link to a shared file, as with systemd.
private func isRegularFile(_ path: String) -> Bool { fileMode(path) == S_IFREG }

private func listDirectory(_ path: String) -> Result<[String], Errno> {
    guard let handle = opendir(path) else { return .failure(Errno(code: errno)) }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
        let name = withUnsafePointer(to: &entry.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return .success(names)
}

struct UnusableFile: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The file's text, or why it cannot be used as TOML text.
private func readTextFile(_ path: String) -> Result<String, UnusableFile> {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return .failure(UnusableFile("cannot read file: \(Errno(code: errno).text)")) }
    defer { close(descriptor) }
    guard fileModeOf(descriptor) == S_IFREG else {
        return .failure(UnusableFile("cannot read file: not a regular file"))
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count == 0 { break }
        if count < 0 {
            if errno == EINTR { continue }
            return .failure(UnusableFile("cannot read file: \(Errno(code: errno).text)"))
        }
        bytes += chunk[0..<count]
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        return .failure(UnusableFile("file is not valid UTF-8 text; TOML files must be UTF-8"))
    }
    return .success(text)
}

private func fileModeOf(_ descriptor: Int32) -> mode_t? {
    var info = stat()
    return fstat(descriptor, &info) == 0 ? info.st_mode & S_IFMT : nil
}
