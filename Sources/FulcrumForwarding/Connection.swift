import FulcrumAddress
import FulcrumPools

/// One direction of a proxied connection: bytes from `source` to `sink` through a pipe.
struct Flow {
    var source: Int32 = -1
    var sink: Int32 = -1
    var pipe = PipePool.Pipe(read: -1, write: -1, capacity: 0)
    /// Bytes sitting in the pipe, read from source but not yet written to sink.
    var buffered = 0
    /// Readiness as last reported by epoll (edge-triggered) and cleared on EAGAIN, so the
    /// pump never makes a call it already knows would block.
    var sourceReadable = false
    var sinkWritable = false
    /// An event of the source carried RDHUP, HUP or ERR (or it is not known whether one did):
    /// its FIN or error may be queued behind the data with no further event to announce it,
    /// so a short read does not mean "drained": read on until EAGAIN or 0. EAGAIN clears it,
    /// since a FIN arriving after that raises an event of its own.
    var sourceHungUp = false
    /// The source sent FIN.
    var sourceEnded = false
    /// The FIN has been passed on with shutdown(SHUT_WR).
    var sinkShut = false
    /// Move the next read with recv/send through the worker's small buffer instead of splice.
    /// Set while reads stay under a page; a read that fills the buffer switches to splice.
    var copying = false

    var hasPipe: Bool { pipe.read >= 0 }
    var finished: Bool { sourceEnded && sinkShut }
}

enum ConnectionState: UInt8 {
    case free
    case connecting
    case established
}

/// A proxied TCP connection, stored by value in the worker's slot table.
struct Connection {
    var generation: UInt32 = 0
    var state = ConnectionState.free
    var listener: Int32 = -1
    var pool: Int32 = -1
    var member: Int32 = -1
    /// Index of `member` in the worker's flat per-member counters.
    var memberCounter: Int32 = 0
    var client: Int32 = -1
    var server: Int32 = -1
    /// Connect attempts made so far, and which members they went to.
    var attempts: Int32 = 0
    var tried = MemberSet()
    /// client → member
    var upstream = Flow()
    /// member → client
    var downstream = Flow()
    var lastClientActivity: Int64 = 0
    var lastMemberActivity: Int64 = 0
    /// The client as accepted: member choice by source and the PROXY header use it.
    var peer = Endpoint(address: .v4(0), port: 0)
    /// Member whose shared open-connection count this connection holds (LEAST_CONNECTIONS), or -1.
    var counted: Int32 = -1
    /// Free-list link while the slot is unused.
    var nextFree: Int32 = -1
}
