import CFulcrumLinux
import Glibc

/// Unix stream sockets for the status socket (daemon side) and fulcrumctl (client side).
public enum UnixSocket {
    /// sun_path holds 107 bytes and a NUL.
    public static let maxPathBytes = 107

    public struct PathTooLong: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "\(path): longer than \(UnixSocket.maxPathBytes) bytes, which a Unix socket path cannot be" }
    }

    /// A non-blocking listening socket at `path`. A stale socket file (nothing listening) is
    /// replaced; any other existing file is an error (EEXIST), so a typo cannot delete data.
    /// `mode` is applied to the file before anyone can connect (bind under a umask).
    public static func listen(path: String, mode: mode_t, group: gid_t? = nil, backlog: Int32 = 128) throws -> Int32 {
        guard path.utf8.count <= maxPathBytes else { throw PathTooLong(path: path) }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else { throw SystemError(code: EEXIST, call: "bind") }
            // A socket file: stale if nobody accepts on it.
            if let probe = try? connect(path: path) {
                close(probe)
                throw SystemError(code: EADDRINUSE, call: "bind")
            }
            try syscall("unlink") { unlink(path) }
        }
        let fd = try syscall("socket") { cfl_socket_nonblocking(AF_UNIX, Int32(SOCK_STREAM.rawValue)) }
        do {
            var address = makeAddress(path)
            let old = umask(0o777 & ~mode)
            defer { umask(old) }
            _ = try withUnsafePointer(to: &address) { p throws(SystemError) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in
                    try syscall("bind") { bind(fd, sa, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
            try syscall("chmod") { chmod(path, mode) }
            if let group { try syscall("chown") { chown(path, uid_t.max, group) } }
            try syscall("listen") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// A blocking client connection to the socket at `path`.
    public static func connect(path: String) throws -> Int32 {
        guard path.utf8.count <= maxPathBytes else { throw PathTooLong(path: path) }
        let fd = try syscall("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var address = makeAddress(path)
        do {
            _ = try withUnsafePointer(to: &address) { p throws(SystemError) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in
                    try syscall("connect") { Glibc.connect(fd, sa, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// The connecting process's pid, uid and gid (SO_PEERCRED), for the log line of a change.
    public static func peerCredentials(_ fd: Int32) -> (pid: Int32, uid: UInt32, gid: UInt32)? {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard cfl_peer_credentials(fd, &pid, &uid, &gid) == 0 else { return nil }
        return (pid, uid, gid)
    }

    /// Blocking read of whatever is there (0 = end of stream).
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) throws(SystemError) -> Int {
        try syscall("read") { Glibc.read(fd, buffer, count) }
    }

    /// Writes all of `bytes`, blocking.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let start = offset
            let n = try syscall("send") {
                bytes.withUnsafeBytes { raw in send(fd, raw.baseAddress! + start, raw.count - start, Int32(MSG_NOSIGNAL)) }
            }
            offset += n
        }
    }

    static func makeAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(maxPathBytes).enumerated() { raw[i] = byte }
        }
        return address
    }
}
