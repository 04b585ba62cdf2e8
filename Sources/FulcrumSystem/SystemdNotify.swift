import CFulcrumLinux
import Glibc

/// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram of
/// "KEY=VALUE" lines to the AF_UNIX socket named by NOTIFY_SOCKET. With `Type=notify`, systemd
/// starts dependent units on READY=1, shows STATUS= in `systemctl status`, and knows a reload
/// or a stop is under way from RELOADING=1 / STOPPING=1.
///
/// Without NOTIFY_SOCKET (not started by systemd, or a unit that is not Type=notify) every
/// call does nothing. A failed send changes nothing in the daemon either: the helpers return
/// the failure for a log line and carry on, as sd_notify's callers do.
public struct SystemdNotifier: Sendable {
    /// NOTIFY_SOCKET as given: "/run/systemd/notify", or "@name" for an abstract socket.
    /// nil: notifications are off.
    public let socket: String?

    /// Why a notification was not delivered, naming the socket and the cause.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let socket: String
        /// The failed call ("sendto: ECONNREFUSED (Connection refused)"), or what is wrong
        /// with the address itself.
        public let cause: String

        public init(socket: String, cause: String) {
            self.socket = socket
            self.cause = cause
        }

        public var description: String { "NOTIFY_SOCKET=\(socket): \(cause)" }
    }

    /// From the environment's NOTIFY_SOCKET (unset or empty: off).
    public init() {
        let value = getenv("NOTIFY_SOCKET").map { String(cString: $0) }
        self.init(socket: value)
    }

    /// From an explicit socket ("/path" or "@abstract"); nil or empty: off. For tests, and for
    /// a caller that has read the environment itself.
    public init(socket: String?) {
        self.socket = (socket?.isEmpty ?? true) ? nil : socket
    }

    public var isEnabled: Bool { socket != nil }

    /// Sends `message` ("READY=1\nSTATUS=...") as one datagram; nothing when off.
    public func send(_ message: String) throws(Failure) {
        guard let socket else { return }
        var address = sockaddr_un()
        let length = try Self.address(socket, into: &address)
        let fd: Int32
        do {
            fd = try syscall("socket") { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        } catch {
            throw Failure(socket: socket, cause: error.description)
        }
        defer { close(fd) }
        let bytes = Array(message.utf8)
        do {
            _ = try withUnsafePointer(to: &address) { p throws(SystemError) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(SystemError) in
                    try syscall("sendto") {
                        bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
                    }
                }
            }
        } catch {
            throw Failure(socket: socket, cause: error.description)
        }
    }

    /// READY=1 with a one-line STATUS: start-up is complete, or a reload has ended.
    @discardableResult
    public func ready(status: String) -> Failure? {
        attempt("READY=1\nSTATUS=\(Self.oneLine(status))")
    }

    /// RELOADING=1 with the monotonic time systemd requires alongside it (systemd 253's
    /// Type=notify-reload checks it; older ones ignore it), before a reload starts. READY=1
    /// must follow once it has ended, applied or refused.
    @discardableResult
    public func reloading(status: String) -> Failure? {
        attempt("RELOADING=1\nSTATUS=\(Self.oneLine(status))\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// STOPPING=1: shutdown has begun (connections are draining).
    @discardableResult
    public func stopping() -> Failure? {
        attempt("STOPPING=1")
    }

    /// STATUS= alone: what `systemctl status` shows.
    @discardableResult
    public func status(_ text: String) -> Failure? {
        attempt("STATUS=\(Self.oneLine(text))")
    }

    private func attempt(_ message: String) -> Failure? {
        do {
            try send(message)
            return nil
        } catch {
            return error
        }
    }

    /// CLOCK_MONOTONIC in microseconds, the clock systemd compares MONOTONIC_USEC against.
    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }

    /// A status is one assignment: a newline in it would start another ("READY=1" from a
    /// config file name, say), so control characters become spaces.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }

    /// Fills `address` for NOTIFY_SOCKET and returns the length to pass: a path counts its
    /// NUL; an abstract name ("@name": a leading NUL, then the name) counts exactly its bytes,
    /// since every byte of the length is part of the name.
    static func address(_ socket: String, into address: inout sockaddr_un) throws(Failure) -> socklen_t {
        var name = Array(socket.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        guard abstract || name.first == UInt8(ascii: "/") else {
            throw Failure(socket: socket, cause: "not an absolute path or @abstract socket name, so not an address this daemon can use")
        }
        if abstract { name[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A path needs room for its NUL; an abstract name may fill sun_path.
        guard name.count + (abstract ? 0 : 1) <= capacity, !name.dropFirst().contains(0) else {
            throw Failure(socket: socket, cause: "longer than the \(capacity - 1) bytes a socket path can have, or holds a NUL")
        }
        address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in name.enumerated() { raw[i] = byte }
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        return socklen_t(offset + name.count + (abstract ? 0 : 1))
    }
}
