import FulcrumStatus

/// One client of the control thread: a status-socket session (many commands) or one HTTP
/// request. Its buffers are bounded: a client can cost at most `maxInput` + `maxOutput` bytes.
struct ControlConnection {
    enum Kind: Equatable {
        case admin, readOnly, http
    }

    var fd: Int32
    var kind: Kind
    var generation: UInt32
    var peer: Peer?
    var input: [UInt8] = []
    var output: [UInt8] = []
    var written = 0
    /// Reply sent, nothing more to read: close once the output is out.
    var closing = false
    /// Monotonic ms of the last byte read or written, for the idle timeout and eviction.
    var lastActivityMs: Int64
    /// HTTP: when the request head must be complete (slowloris).
    var deadlineMs: Int64
    /// The epoll events currently asked for (readable + read hangup at accept).
    var watching: UInt32

    var pendingOutput: Int { output.count - written }

    /// A command line longer than this ends the session with an error (the line is not kept).
    static let maxInput = 64 * 1024
    /// Replies are not read while more than this is still unsent: the client must read first.
    static let maxPendingOutput = 1 << 20
}
