import CFulcrumLinux
import Glibc

/// splice(2) and the pipes it moves bytes through.
public enum Splice {
    public static let flags = CFL_SPLICE_F_MOVE | CFL_SPLICE_F_NONBLOCK

    /// Moves up to `length` bytes from `from` to `to` without copying them into user space.
    /// `.done(0)` from a socket means end of stream.
    @inline(__always)
    public static func move(from: Int32, to: Int32, length: Int) throws(SystemError) -> IOResult<Int> {
        try retryingSyscall("splice") { cfl_splice(from, to, length, flags) }
    }

    /// A non-blocking pipe sized to `size` bytes where the kernel allows. When the per-user
    /// pipe budget is exhausted the kernel keeps a smaller pipe, which still works; the
    /// granted capacity is returned so the caller moves no more than fits.
    public static func makePipe(size: Int) throws(SystemError) -> (read: Int32, write: Int32, capacity: Int) {
        var fds: (Int32, Int32) = (-1, -1)
        try withUnsafeMutableBytes(of: &fds) { raw throws(SystemError) in
            let p = raw.baseAddress!.assumingMemoryBound(to: Int32.self)
            try syscall("pipe2") { cfl_pipe_nonblocking(p) }
        }
        var capacity = Int(cfl_pipe_get_size(fds.1))
        if capacity < size {
            let granted = cfl_pipe_set_size(fds.1, Int32(size))
            if granted > 0 { capacity = Int(granted) }
        }
        return (fds.0, fds.1, max(capacity, 4096))
    }
}

/// epoll, with events read through the shim because struct epoll_event is packed.
public struct EventPoll {
    public let fd: Int32
    private let buffer: UnsafeMutableRawPointer
    public let capacity: Int

    public init(capacity: Int) throws(SystemError) {
        fd = try syscall("epoll_create1") { cfl_epoll_create() }
        self.capacity = capacity
        buffer = UnsafeMutableRawPointer.allocate(byteCount: cfl_epoll_event_size() * capacity, alignment: 16)
    }

    public func close() {
        _ = Glibc.close(fd)
        buffer.deallocate()
    }

    @inline(__always)
    public func add(_ target: Int32, events: UInt32, data: UInt64) throws(SystemError) {
        try syscall("epoll_ctl(ADD)") { cfl_epoll_ctl(fd, CFL_EPOLL_CTL_ADD, target, events, data) }
    }

    public func modify(_ target: Int32, events: UInt32, data: UInt64) throws(SystemError) {
        try syscall("epoll_ctl(MOD)") { cfl_epoll_ctl(fd, CFL_EPOLL_CTL_MOD, target, events, data) }
    }

    @inline(__always)
    public func remove(_ target: Int32) {
        _ = cfl_epoll_ctl(fd, CFL_EPOLL_CTL_DEL, target, 0, 0)
    }

    /// Waits up to `timeoutMs` (-1 forever); returns how many events are ready.
    @inline(__always)
    public func wait(timeoutMs: Int32) throws(SystemError) -> Int {
        while true {
            let n = cfl_epoll_wait(fd, buffer, Int32(capacity), timeoutMs)
            if n >= 0 { return Int(n) }
            if errno == EINTR { return 0 }
            throw SystemError(code: errno, call: "epoll_wait")
        }
    }

    @inline(__always)
    public func events(at index: Int) -> UInt32 { cfl_epoll_event_events(buffer, Int32(index)) }

    @inline(__always)
    public func data(at index: Int) -> UInt64 { cfl_epoll_event_data(buffer, Int32(index)) }

    public static let readable = CFL_EPOLLIN
    public static let writable = CFL_EPOLLOUT
    public static let error = CFL_EPOLLERR
    public static let hangup = CFL_EPOLLHUP
    public static let readHangup = CFL_EPOLLRDHUP
    public static let edgeTriggered = CFL_EPOLLET
}
