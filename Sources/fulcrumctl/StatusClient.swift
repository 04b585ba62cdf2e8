import FulcrumSystem
import Glibc

/// One reply of the status socket: its lines, without the empty line that ends it.
struct Reply {
    var lines: [String]

    /// The daemon refused the command: a refusal starts with an `error:` line (a refused
    /// `reload` is several, one per problem; `text` keeps them all).
    var isError: Bool { lines.first?.hasPrefix("error:") ?? false }

    var text: String { lines.joined(separator: "\n") }
}

/// Why the conversation with the daemon failed. All of them are exit status 2: the caller
/// could not get an answer, as opposed to getting a refusal (status 1).
enum ClientFailure: Error, CustomStringConvertible {
    case cannotConnect(path: String, reason: String)
    case io(path: String, error: SystemError)
    case closedMidReply(path: String)
    /// Nothing arrived for the client's reply timeout: the daemon may still finish the command.
    case noReply(path: String, seconds: Int)

    var description: String {
        switch self {
        case let .cannotConnect(path, reason): return "cannot connect to \(path): \(reason)"
        case let .io(path, error): return "\(path): \(error)"
        case let .closedMidReply(path): return "\(path): the daemon closed the connection before its reply ended"
        case let .noReply(path, seconds):
            return "\(path): no reply within \(seconds) s; the daemon may still complete the command"
        }
    }
}

/// A connection to the status socket. The protocol is line based: one command per line,
/// and a reply is lines ending with an empty line, so several commands can share one
/// connection (`top` asks twice a refresh without reconnecting).
final class StatusClient {
    let path: String
    private let fd: Int32
    /// Bytes read but not yet returned as lines: a reply may arrive split or joined.
    /// Lines are taken from `start` on and the array compacted only before the next read,
    /// so a long `show stat` costs linear time, not a shift per line.
    private var pending: [UInt8] = []
    private var start = 0
    /// A raw buffer rather than an array: typed throws do not pass through withUnsafeMutableBytes.
    private let buffer: UnsafeMutableRawBufferPointer

    /// Seconds a read may wait for the daemon (nil: forever, as for commands answered at once).
    private let replyTimeout: Int?

    /// `replyTimeout`: how long one read may wait before the conversation fails with `noReply`;
    /// for commands that do real work before answering (`reload`), so a hung daemon cannot
    /// hang a deploy script.
    init(path: String, replyTimeout: Int? = nil) throws(ClientFailure) {
        self.path = path
        self.replyTimeout = replyTimeout
        do {
            fd = try UnixSocket.connect(path: path)
        } catch let error as SystemError {
            throw .cannotConnect(path: path, reason: error.description)
        } catch {
            // PathTooLong says "PATH: longer than ..."; the path is already in our message.
            let reason = error is UnixSocket.PathTooLong
                ? "longer than \(UnixSocket.maxPathBytes) bytes, which a Unix socket path cannot be" : "\(error)"
            throw .cannotConnect(path: path, reason: reason)
        }
        if let replyTimeout {
            var limit = timeval(tv_sec: replyTimeout, tv_usec: 0)
            let socket = fd
            do {
                try syscall("setsockopt") {
                    setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                }
            } catch {
                close(socket)
                throw .io(path: path, error: error)
            }
        }
        buffer = .allocate(byteCount: 65536, alignment: 1)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Sends one command line and reads its whole reply.
    func ask(_ command: String) throws(ClientFailure) -> Reply {
        do {
            try UnixSocket.writeAll(fd, Array((command + "\n").utf8))
        } catch {
            throw .io(path: path, error: error)
        }
        var lines: [String] = []
        while true {
            let line = try readLine()
            if line.isEmpty { return Reply(lines: lines) }
            lines.append(line)
        }
    }

    /// The next line without its "\n" (and a "\r" before it, should one appear).
    private func readLine() throws(ClientFailure) -> String {
        var searchFrom = start
        while true {
            if let newline = pending[searchFrom...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > start && pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: pending[start..<end], as: UTF8.self)
                start = newline + 1
                return line
            }
            pending.removeSubrange(..<start)
            start = 0
            searchFrom = pending.count
            let n: Int
            do {
                n = try UnixSocket.read(fd, into: buffer.baseAddress!, count: buffer.count)
            } catch {
                // SO_RCVTIMEO ran out: EAGAIN from a blocking socket.
                if let replyTimeout, error.code == EAGAIN || error.code == EWOULDBLOCK {
                    throw .noReply(path: path, seconds: replyTimeout)
                }
                throw .io(path: path, error: error)
            }
            if n == 0 { throw .closedMidReply(path: path) }
            pending += buffer[..<n]
        }
    }
}
