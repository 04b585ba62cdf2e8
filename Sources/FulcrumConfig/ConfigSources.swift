/// The files of a config directory, read in load order.
///
/// What is read: DIR/fulcrum.toml (optional), then the entries of DIR/conf.d whose names end in
/// ".toml", in byte-wise order of name: the systemd drop-in rule, independent of locale and
/// Unicode normalisation. Only regular files, or symbolic links to them, are read.
///
/// What else a conf.d entry can be, and what is said about it:
/// - hidden (".#50-web.toml" editor lock, ".50-web.toml.swp" swap file, ".toml"), ending in "~"
///   (editor backup) or "#…#" (Emacs auto-save): skipped silently, as systemd does; editors
///   leave these while a file is open, and a warning on each `--check-config` would be noise.
/// - left by a package manager (".dpkg-dist", ".dpkg-old", ".dpkg-new", ".dpkg-tmp",
///   ".dpkg-bak", ".ucf-dist", ".ucf-old", ".ucf-new", ".rpmnew", ".rpmsave", ".rpmorig",
///   ".pacnew", ".pacsave"): a warning, since these usually hold a packaged version that the
///   operator should merge and then remove; systemd skips them silently, which hides that.
/// - any other name not ending in ".toml" (e.g. "60-udp.conf", "50-web.toml.disabled"): a
///   warning, so a file that was meant to be read does not vanish without a word.
/// - a directory named "*.toml": a warning (only files are read; nothing is lost by skipping it).
/// - a FIFO, socket or device named "*.toml", or a symbolic link to one, a dangling symbolic link
///   (its settings would be lost), a symbolic link loop, or a name ending in ".toml" that is not
///   valid UTF-8 (problems could not name it): an error naming the path.
/// Failures to look at a path (EACCES and the like) are errors naming the path and the errno,
/// never "not there".
struct ConfigSources {
    /// A file larger than this is refused unread (the TOML parser has its own limit too).
    static let maximumFileSize = 16 * 1024 * 1024

    /// Files read successfully, in load order.
    var sources: [(name: String, text: String)] = []
    /// Every candidate file in load order, including unreadable ones, to order problems by.
    var candidates: [String] = []
    /// Why the configuration cannot be loaded as it stands, in load order.
    var problems: [ConfigProblem] = []
    /// What was skipped but is worth telling the operator, e.g. "conf.d/60-udp.conf: ignored:
    /// only files ending in .toml are read". Loading still succeeds.
    var warnings: [ConfigProblem] = []

    init(directory: String, fileSystem: some ConfigFileSystem = SystemConfigFileSystem()) {
        switch fileSystem.kind(directory) {
        case .success(.directory): break
        case let .success(kind):
            problems.append(directoryProblem("config directory \(directory) is not a directory (it is \(kind.phrase))"))
            return
        case let .failure(error) where error.isNotFound:
            problems.append(directoryProblem("config directory \(directory) does not exist"))
            return
        case let .failure(error):
            problems.append(directoryProblem("cannot read config directory \(directory): \(error)"))
            return
        }

        let main = joined(directory, "fulcrum.toml")
        switch examine(main, fileSystem) {
        case .absent: break
        case .regular: read(main, fileSystem)
        case .directory: fail(main, "cannot read file: not a regular file (it is a directory)")
        case let .unusable(message): fail(main, message)
        }

        let dropInDirectory = joined(directory, "conf.d")
        if let names = dropInNames(dropInDirectory, fileSystem) {
            for name in names { addDropIn(name, in: dropInDirectory, fileSystem) }
        }

        if candidates.isEmpty && problems.isEmpty {
            problems.append(directoryProblem(
                "no configuration found in \(directory): expected \(main) or \(dropInDirectory)/*.toml"))
        }
    }

    /// The names in conf.d in byte-wise order, or nil when there is none (or it is unusable).
    private mutating func dropInNames(_ path: String, _ fileSystem: some ConfigFileSystem) -> [[UInt8]]? {
        var kind: FileKind
        switch fileSystem.linkKind(path) {
        case let .success(found): kind = found
        case let .failure(error) where error.isNotFound: return nil
        case let .failure(error):
            problems.append(directoryProblem("cannot read drop-in directory \(path): \(error)"))
            return nil
        }
        if kind == .symbolicLink {
            switch fileSystem.kind(path) {
            case let .success(found): kind = found
            case let .failure(error) where error.isNotFound:
                problems.append(directoryProblem(
                    "drop-in directory \(path) is a dangling symbolic link: \(danglingTarget(path, fileSystem))"))
                return nil
            case let .failure(error):
                problems.append(directoryProblem("cannot read drop-in directory \(path): \(error)"))
                return nil
            }
        }
        guard kind == .directory else {
            problems.append(directoryProblem("drop-in directory \(path) is not a directory (it is \(kind.phrase))"))
            return nil
        }
        switch fileSystem.list(path) {
        case let .success(names):
            return names.sorted { $0.lexicographicallyPrecedes($1) }
        case let .failure(error):
            problems.append(directoryProblem("cannot read drop-in directory \(path): \(error)"))
            return nil
        }
    }

    private mutating func addDropIn(_ name: [UInt8], in dropInDirectory: String, _ fileSystem: some ConfigFileSystem) {
        let shown = joined(dropInDirectory, displayed(name))
        switch DropInName(name) {
        case .editorLeftover:
            return
        case .packageManagerLeftover:
            warn(shown, "ignored: left by the package manager, not read; merge what it changes into the .toml file, then remove it")
        case .notTOML:
            warn(shown, "ignored: only files ending in .toml are read")
        case .toml:
            guard let valid = String(validating: name, as: UTF8.self) else {
                return fail(shown, "cannot read file: its name is not valid UTF-8 (shown with \\x escapes); rename it")
            }
            let path = joined(dropInDirectory, valid)
            switch examine(path, fileSystem) {
            case .absent: return  // removed since the directory was listed
            case .regular: read(path, fileSystem)
            case .directory: warn(path, "ignored: not a regular file (it is a directory)")
            case let .unusable(message): fail(path, message)
            }
        }
    }

    private mutating func read(_ path: String, _ fileSystem: some ConfigFileSystem) {
        candidates.append(path)
        let message: String
        switch fileSystem.read(path, limit: Self.maximumFileSize) {
        case let .success(bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                message = "file is not valid UTF-8 text; TOML files must be UTF-8"
                break
            }
            return sources.append((path, text))
        case let .failure(.system(error)): message = "cannot read file: \(error)"
        case let .failure(.notRegular(kind)): message = "cannot read file: not a regular file (it is \(kind.phrase))"
        case let .failure(.tooLarge(size)):
            message = "cannot read file: \(size) bytes is over the 16 MiB limit for a config file"
        }
        problems.append(ConfigProblem(file: path, line: nil, keyPath: "", message: message))
    }

    /// A file that would have been read but cannot be: a problem, in load order.
    private mutating func fail(_ path: String, _ message: String) {
        candidates.append(path)
        problems.append(ConfigProblem(file: path, line: nil, keyPath: "", message: message))
    }

    private mutating func warn(_ path: String, _ message: String) {
        warnings.append(ConfigProblem(file: path, line: nil, keyPath: "", message: message))
    }
}

/// What a path that would be read turned out to be.
private enum Examined {
    case absent
    case regular
    case directory
    /// Cannot be read; the message says why.
    case unusable(String)
}

/// Looks at `path` without opening it, following a symbolic link. Nothing is opened here, so a
/// FIFO or device is never touched; `read` checks the opened descriptor again regardless.
private func examine(_ path: String, _ fileSystem: some ConfigFileSystem) -> Examined {
    var kind: FileKind
    switch fileSystem.linkKind(path) {
    case let .success(found): kind = found
    case let .failure(error) where error.isNotFound: return .absent
    case let .failure(error): return .unusable("cannot read file: \(error)")
    }
    if kind == .symbolicLink {
        switch fileSystem.kind(path) {
        case let .success(found): kind = found
        case let .failure(error) where error.isNotFound:
            return .unusable("cannot read file: dangling symbolic link: \(danglingTarget(path, fileSystem))")
        case let .failure(error): return .unusable("cannot read file: \(error)")  // ELOOP for a loop
        }
    }
    switch kind {
    case .regular: return .regular
    case .directory: return .directory
    default: return .unusable("cannot read file: not a regular file (it is \(kind.phrase))")
    }
}

/// "its target /etc/x.toml does not exist", for a link whose target is missing.
private func danglingTarget(_ path: String, _ fileSystem: some ConfigFileSystem) -> String {
    switch fileSystem.linkTarget(path) {
    case let .success(target): "its target \(displayed(target)) does not exist"
    case .failure: "its target does not exist"
    }
}

/// How a conf.d entry's name decides what is done with it.
private enum DropInName {
    case editorLeftover, packageManagerLeftover, notTOML, toml

    private static let packageManagerSuffixes = [
        ".dpkg-dist", ".dpkg-old", ".dpkg-new", ".dpkg-tmp", ".dpkg-bak",
        ".ucf-dist", ".ucf-old", ".ucf-new", ".rpmnew", ".rpmsave", ".rpmorig", ".pacnew", ".pacsave",
    ].map { Array($0.utf8) }

    init(_ name: [UInt8]) {
        let dot = UInt8(ascii: "."), hash = UInt8(ascii: "#")
        if name.first == dot || name.last == UInt8(ascii: "~") || (name.count > 1 && name.first == hash && name.last == hash) {
            self = .editorLeftover
        } else if Self.packageManagerSuffixes.contains(where: { name.ends(with: $0) }) {
            self = .packageManagerLeftover
        } else if name.ends(with: Array(".toml".utf8)) {
            self = .toml
        } else {
            self = .notTOML
        }
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix) }
}

/// A file name for messages: as it is when it is valid UTF-8 without control characters,
/// else `escaped`.
private func displayed(_ bytes: [UInt8]) -> String {
    if let text = String(validating: bytes, as: UTF8.self),
       !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
        return text
    }
    return escaped(bytes)
}

/// A file name for messages: printable ASCII as is, every other byte (and "\") as "\xNN", so
/// names that are not valid UTF-8 or hold control characters show exactly what is on disk.
private func escaped(_ bytes: [UInt8]) -> String {
    var text = ""
    for byte in bytes {
        if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\\") {
            text.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            text += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return text
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}

/// A problem with the directory as a whole, which no single file is to blame for.
private func directoryProblem(_ message: String) -> ConfigProblem {
    ConfigProblem(file: nil, line: nil, keyPath: "", message: message)
}

private func joined(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
