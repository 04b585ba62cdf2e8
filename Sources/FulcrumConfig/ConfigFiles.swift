#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Every file-system call the config loader makes goes through `ConfigFileSystem`, and the real
// one is the only code in FulcrumConfig that calls the C library's file functions, each through
// `retryingEINTR`. Tests substitute a file system that fails where root cannot be made to fail.

/// What a path names, from its `st_mode`.
enum FileKind: Equatable, Sendable {
    case regular, directory, symbolicLink, fifo, socket, characterDevice, blockDevice, unknown

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        default: self = .unknown
        }
    }

    /// "a FIFO", for "it is a FIFO, not a regular file".
    var phrase: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symbolicLink: "a symbolic link"
        case .fifo: "a FIFO"
        case .socket: "a socket"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .unknown: "of an unknown file type"
        }
    }
}

/// A failed file-system call: "Permission denied (EACCES)".
struct FileSystemError: Error, Equatable, Sendable, CustomStringConvertible {
    var code: Int32

    /// ENOENT: the path (or its symbolic link's target) does not exist.
    var isNotFound: Bool { code == ENOENT }
    var name: String { fileSystemErrnoNames[code] ?? "errno \(code)" }
    var description: String { "\(String(cString: strerror(code))) (\(name))" }
}

/// Why a file's bytes could not be had.
enum FileReadFailure: Error, Equatable, Sendable {
    case system(FileSystemError)
    /// The opened descriptor is not a regular file (the path changed after it was examined).
    case notRegular(FileKind)
    /// At least this many bytes, over the limit.
    case tooLarge(Int)
}

/// The file-system calls `ConfigSources` makes; `SystemConfigFileSystem` is the real one.
protocol ConfigFileSystem {
    /// The kind of `path`, following symbolic links (stat).
    func kind(_ path: String) -> Result<FileKind, FileSystemError>
    /// The kind of `path` itself: a symbolic link is `.symbolicLink` (lstat).
    func linkKind(_ path: String) -> Result<FileKind, FileSystemError>
    /// The target of the symbolic link `path`, as bytes (readlink).
    func linkTarget(_ path: String) -> Result<[UInt8], FileSystemError>
    /// The names in `directory` as bytes, without "." and "..", in no particular order.
    func list(_ directory: String) -> Result<[[UInt8]], FileSystemError>
    /// The bytes of the regular file `path`, at most `limit` of them. Never blocks on a FIFO
    /// or device swapped in after `kind`: the opened descriptor itself is checked.
    func read(_ path: String, limit: Int) -> Result<[UInt8], FileReadFailure>
}

/// The real file system.
struct SystemConfigFileSystem: ConfigFileSystem {
    func kind(_ path: String) -> Result<FileKind, FileSystemError> {
        var info = stat()
        return retryingEINTR { stat(path, &info) }.map { _ in FileKind(mode: info.st_mode) }
    }

    func linkKind(_ path: String) -> Result<FileKind, FileSystemError> {
        var info = stat()
        return retryingEINTR { lstat(path, &info) }.map { _ in FileKind(mode: info.st_mode) }
    }

    func linkTarget(_ path: String) -> Result<[UInt8], FileSystemError> {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        return retryingEINTR {
            buffer.withUnsafeMutableBufferPointer { raw in
                raw.withMemoryRebound(to: CChar.self) { readlink(path, $0.baseAddress!, $0.count) }
            }
        }.map { Array(buffer[..<$0]) }
    }

    func list(_ directory: String) -> Result<[[UInt8]], FileSystemError> {
        let opened = retryingEINTR { open(directory, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC) }
        guard case let .success(descriptor) = opened else { return opened.map { _ in [] } }
        guard let handle = fdopendir(descriptor) else {
            let failure = FileSystemError(code: errno)
            close(descriptor)
            return .failure(failure)
        }
        defer { closedir(handle) }  // closes `descriptor` too
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                // NULL is the end, or an error when errno says so.
                return errno == 0 ? .success(names) : .failure(FileSystemError(code: errno))
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
    }

    func read(_ path: String, limit: Int) -> Result<[UInt8], FileReadFailure> {
        // O_NONBLOCK: opening a FIFO does not wait for a writer; O_NOCTTY: a terminal does not
        // become the daemon's controlling terminal. Both are harmless for a regular file.
        let opened = retryingEINTR { open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY) }
        let descriptor: Int32
        switch opened {
        case let .success(value): descriptor = value
        case let .failure(error): return .failure(.system(error))
        }
        defer { close(descriptor) }
        var info = stat()
        if case let .failure(error) = retryingEINTR({ fstat(descriptor, &info) }) { return .failure(.system(error)) }
        let kind = FileKind(mode: info.st_mode)
        guard kind == .regular else { return .failure(.notRegular(kind)) }
        let size = Int(info.st_size)
        guard size <= limit else { return .failure(.tooLarge(size)) }

        // Bounded even if the file grows while it is read: at most limit + 1 bytes are asked for.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + 1)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let wanted = min(chunk.count, limit + 1 - bytes.count)
            let result = retryingEINTR { chunk.withUnsafeMutableBytes { readBytes(descriptor, $0.baseAddress, wanted) } }
            switch result {
            case .success(0): return .success(bytes)
            case let .success(count): bytes += chunk[..<count]
            case let .failure(error): return .failure(.system(error))
            }
            if bytes.count > limit { return .failure(.tooLarge(bytes.count)) }
        }
    }
}

/// read(2), named apart from `ConfigFileSystem.read`.
private func readBytes(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

/// The one place EINTR is retried and errno is read.
private func retryingEINTR<T: FixedWidthInteger>(_ call: () -> T) -> Result<T, FileSystemError> {
    while true {
        let result = call()
        if result >= 0 { return .success(result) }
        let code = errno
        if code != EINTR { return .failure(FileSystemError(code: code)) }
    }
}

/// The errno values file calls return, by name, so messages say "EACCES" as operators search it.
private let fileSystemErrnoNames: [Int32: String] = [
    EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", EBADF: "EBADF",
    EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
    ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE",
    EMFILE: "EMFILE", ETXTBSY: "ETXTBSY", EFBIG: "EFBIG", ENOSPC: "ENOSPC", EROFS: "EROFS",
    ENAMETOOLONG: "ENAMETOOLONG", ELOOP: "ELOOP", EOVERFLOW: "EOVERFLOW", ESTALE: "ESTALE",
    EOPNOTSUPP: "EOPNOTSUPP", ENOTCONN: "ENOTCONN", ETIMEDOUT: "ETIMEDOUT",
]
