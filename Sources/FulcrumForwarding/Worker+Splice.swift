// Moving bytes: socket -> pipe -> socket with splice, small reads copied, half-close.

import Atomics
import CFulcrumLinux
import FulcrumAddress
import FulcrumPools
import FulcrumSystem
import Glibc
import Logging

extension Worker {


    @inline(__always)
    func handleSocketEvent(slot: Int32, c: UnsafeMutablePointer<Connection>, isMember: Bool, events: UInt32) {
        let readable = events & (EventPoll.readable | EventPoll.readHangup | EventPoll.hangup | EventPoll.error) != 0
        let writable = events & (EventPoll.writable | EventPoll.hangup | EventPoll.error) != 0
        switch c.pointee.state {
        case .connecting:
            if isMember {
                guard writable else { return }
                // Writable without error or hangup is a finished handshake; only a failure
                // needs SO_ERROR to say why (saves a syscall per connection).
                let failed = events & (EventPoll.error | EventPoll.hangup) != 0
                if failed, let error = Socket.pendingError(c.pointee.server) {
                    connectAttemptFailed(slot, error: error, timedOut: false)
                } else {
                    established(slot)
                }
            } else if events & (EventPoll.error | EventPoll.hangup) != 0 {
                // The client gave up (RST) before a member answered.
                closeConnection(slot)
            }
        case .established:
            let hungUp = events & (EventPoll.readHangup | EventPoll.hangup | EventPoll.error) != 0
            if isMember {
                if readable { c.pointee.downstream.sourceReadable = true }
                if hungUp { c.pointee.downstream.sourceHungUp = true }
                if writable { c.pointee.upstream.sinkWritable = true }
            } else {
                if readable { c.pointee.upstream.sourceReadable = true }
                if hungUp { c.pointee.upstream.sourceHungUp = true }
                if writable { c.pointee.downstream.sinkWritable = true }
            }
            service(slot)
        case .free:
            break
        }
    }

    /// Moves whatever can move in both directions; closes the connection when both
    /// directions have finished or either side failed.
    @inline(__always)
    func service(_ slot: Int32) {
        let c = table[slot]
        let memberCounter = Int(c.pointee.memberCounter)
        let listener = Int(c.pointee.listener)
        do {
            let up = try pump(&c.pointee.upstream)
            if up.read > 0 {
                c.pointee.lastClientActivity = now
                listenerCounters[listener].bytesIn &+= up.read
            }
            if up.written > 0 {
                c.pointee.lastMemberActivity = now
                memberCounters[memberCounter].bytesToMember &+= up.written
            }
            let down = try pump(&c.pointee.downstream)
            if down.read > 0 {
                c.pointee.lastMemberActivity = now
                memberCounters[memberCounter].bytesFromMember &+= down.read
            }
            if down.written > 0 {
                c.pointee.lastClientActivity = now
                listenerCounters[listener].bytesOut &+= down.written
            }
        } catch {
            // RST or an error on either side ends both, and the other side must hear it as
            // an abort: a FIN would make a member's reset after a partial reply look like a
            // complete reply to the client (and a client's abort like a finished request).
            passOnBuffered(&c.pointee.upstream)
            passOnBuffered(&c.pointee.downstream)
            closeConnection(slot, abort: true)
            return
        }
        if c.pointee.upstream.finished && c.pointee.downstream.finished {
            closeConnection(slot)
        }
    }

    /// Before an abort: one non-blocking try to hand the sink what was already read from
    /// the source, so the peer gets everything forwarded before its reset. Errors are moot.
    @inline(__always)
    func passOnBuffered(_ f: inout Flow) {
        guard f.buffered > 0, f.hasPipe else { return }
        if case let .done(n)? = try? Splice.move(from: f.pipe.read, to: f.sink, length: f.buffered) {
            f.buffered -= n
        }
    }

    /// Moves bytes source → pipe → sink until one side would block or the source ends.
    /// Payload never enters user space. At most one pipe's worth is held per direction: the
    /// source is read only when the pipe is empty, which is what lets the pipe go back to the
    /// pool between bursts.
    @inline(__always)
    func pump(_ f: inout Flow) throws(SystemError) -> (read: Int, written: Int) {
        var read = 0
        var written = 0
        defer {
            if f.buffered == 0 && f.hasPipe {
                pipes.release(f.pipe, empty: true)
                f.pipe = PipePool.Pipe(read: -1, write: -1, capacity: 0)
            }
        }
        while true {
            if f.buffered > 0 {
                guard f.sinkWritable else { break }
                switch try Splice.move(from: f.pipe.read, to: f.sink, length: f.buffered) {
                case let .done(n):
                    f.buffered -= n
                    written += n
                    if f.buffered > 0 { continue }
                case .wouldBlock:
                    f.sinkWritable = false
                    return (read, written)
                }
            }
            if f.sourceEnded {
                if !f.sinkShut {
                    Socket.shutdownWrite(f.sink)
                    f.sinkShut = true
                }
                break
            }
            guard f.sourceReadable else { break }
            if f.copying {
                switch try copySmallRead(&f) {
                case let .done(moved):
                    read += moved.read
                    written += moved.written
                    continue
                case .wouldBlock:
                    f.sourceReadable = false
                    f.sourceHungUp = false
                    return (read, written)
                }
            }
            if !f.hasPipe { f.pipe = try pipes.acquire() }
            switch try Splice.move(from: f.source, to: f.pipe.write, length: f.pipe.capacity) {
            case .done(0):
                f.sourceEnded = true
            case let .done(n):
                f.buffered = n
                read += n
                // A short read means the peer talks in small messages: two splices and a pipe
                // cost more than a copy for those.
                if n < Worker.copyBufferSize && plan.copySmallReads { f.copying = true }
            case .wouldBlock:
                f.sourceReadable = false
                f.sourceHungUp = false
                return (read, written)
            }
        }
        return (read, written)
    }

    /// One read of at most a page with recv into the worker's buffer, sent straight on. What
    /// the sink does not take goes into the flow's pipe (empty here, and at least two pages),
    /// so no per-connection buffer exists and ordering is kept: the pipe drains first.
    @inline(__always)
    func copySmallRead(_ f: inout Flow) throws(SystemError) -> IOResult<(read: Int, written: Int)> {
        let n: Int
        switch try Socket.receive(f.source, into: copyBuffer, count: Worker.copyBufferSize) {
        case .wouldBlock: return .wouldBlock
        case let .done(count): n = count
        }
        if n == 0 {
            f.sourceEnded = true
            return .done((0, 0))
        }
        // A full buffer means bulk data is coming: splice from the next read on.
        if n == Worker.copyBufferSize {
            f.copying = false
        } else if !f.sourceHungUp {
            // A short recv emptied the receive queue, and with edge-triggered epoll the next
            // segment raises a new event: the recv that would only say EAGAIN is skipped (one
            // syscall of four per message forwarded; nginx does the same after a short read).
            // Not after a splice: that stops short when the pipe is full, not the socket empty.
            f.sourceReadable = false
        }
        var sent = 0
        if f.sinkWritable {
            switch try Socket.send(f.sink, from: copyBuffer, count: n) {
            case let .done(count): sent = count
            case .wouldBlock: f.sinkWritable = false
            }
        }
        if sent < n {
            if !f.hasPipe { f.pipe = try pipes.acquire() }
            switch try Splice.write(f.pipe.write, from: copyBuffer + sent, count: n - sent) {
            case let .done(count) where count == n - sent:
                f.buffered = count
            default:
                throw SystemError(code: EAGAIN, call: "write(pipe)")
            }
        }
        return .done((n, sent))
    }
}
