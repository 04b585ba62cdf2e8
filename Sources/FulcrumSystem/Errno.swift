import Glibc

/// A failed system call: errno plus the name of the call, so a log line reads
/// "connect: ECONNREFUSED (Connection refused)" without anyone formatting it by hand.
public struct SystemError: Error, Equatable, CustomStringConvertible, Sendable {
    public let code: Int32
    public let call: StaticString

    public init(code: Int32, call: StaticString) {
        self.code = code
        self.call = call
    }

    public static func == (lhs: SystemError, rhs: SystemError) -> Bool {
        lhs.code == rhs.code && lhs.call.description == rhs.call.description
    }

    /// The symbolic errno name, e.g. "ECONNREFUSED".
    public var name: String { SystemError.names[code] ?? "errno \(code)" }

    /// Short cause for operators: "connect refused", "connect timed out" read better than errno.
    public var reason: String { String(cString: strerror(code)) }

    public var description: String { "\(call): \(name) (\(reason))" }

    static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
        EEXIST: "EEXIST", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", ENOSPC: "ENOSPC",
        EPIPE: "EPIPE", ENOTSOCK: "ENOTSOCK", EADDRINUSE: "EADDRINUSE",
        EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETDOWN: "ENETDOWN", ENETUNREACH: "ENETUNREACH",
        ECONNABORTED: "ECONNABORTED", ECONNRESET: "ECONNRESET", ENOBUFS: "ENOBUFS",
        EISCONN: "EISCONN", ENOTCONN: "ENOTCONN", ETIMEDOUT: "ETIMEDOUT",
        ECONNREFUSED: "ECONNREFUSED", EHOSTDOWN: "EHOSTDOWN", EHOSTUNREACH: "EHOSTUNREACH",
        EALREADY: "EALREADY", EINPROGRESS: "EINPROGRESS", EAFNOSUPPORT: "EAFNOSUPPORT",
        EPROTO: "EPROTO", EOPNOTSUPP: "EOPNOTSUPP",
    ]
}

/// Outcome of a non-blocking call: it either did something or would have blocked.
/// EAGAIN is ordinary control flow on the data plane, so it is a value, not an error.
public enum IOResult<T> {
    case done(T)
    case wouldBlock
}

/// The one place EINTR is retried and errno is turned into a typed error. Every system call
/// that can fail goes through here.
@inline(__always)
public func retryingSyscall<T: FixedWidthInteger>(
    _ call: StaticString, _ body: () -> T
) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let code = errno
        switch code {
        case EINTR: continue
        case EAGAIN, EWOULDBLOCK: return .wouldBlock
        default: throw SystemError(code: code, call: call)
        }
    }
}

/// For calls where EAGAIN cannot happen or is itself a failure (bind, listen, setsockopt).
@inline(__always)
@discardableResult
public func syscall<T: FixedWidthInteger>(
    _ call: StaticString, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(code: code, call: call)
    }
}
