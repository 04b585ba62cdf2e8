// The control thread's clients: reading commands and HTTP requests, writing replies without
// blocking, and closing, evicting and expiring connections.

import CFulcrumLinux
import FulcrumStatus
import FulcrumSystem
import Glibc

extension ControlServer {
    func service(_ slot: Int, events: UInt32) {
        // EPOLLHUP / EPOLLERR come whether asked for or not: the client is gone both ways.
        if events & (EventPoll.hangup | EventPoll.error) != 0 {
            closeConnection(slot)
            return
        }
        if events & EventPoll.writable != 0 {
            flush(slot)
            guard connections[slot] != nil else { return }
        }
        if events & (EventPoll.readable | EventPoll.readHangup) != 0 {
            read(slot)
        }
    }

    func read(_ slot: Int) {
        guard var c = connections[slot], !c.closing else { return }
        let n: Int
        do {
            let result = try Socket.receive(c.fd, into: readBuffer, count: ControlServer.readBufferSize)
            guard case let .done(count) = result else { return }
            n = count
        } catch {
            closeConnection(slot)
            return
        }
        guard n > 0 else {
            // Done sending (a half-close, as `socat` does): the reply still owed goes out first.
            if c.pendingOutput > 0 && c.kind != .http {
                c.closing = true
                connections[slot] = c
                flush(slot)
            } else {
                closeConnection(slot)
            }
            return
        }
        c.lastActivityMs = cfl_monotonic_ms()
        c.input.append(contentsOf: UnsafeRawBufferPointer(start: readBuffer, count: n))
        connections[slot] = c
        if c.kind == .http { handleHTTP(slot) } else { handleCommands(slot) }
    }

    func handleCommands(_ slot: Int) {
        guard var c = connections[slot] else { return }
        var start = 0
        while c.pendingOutput < ControlConnection.maxPendingOutput,
              let newline = c.input[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: c.input[start..<newline], as: UTF8.self)
            start = newline + 1
            let path = c.kind == .admin ? adminPath : (readOnlyPath ?? adminPath)
            let reply = runner.run(Substring(line), readOnly: c.kind == .readOnly, peer: c.peer, socket: path)
            c.output.append(contentsOf: reply.text.utf8)
            c.output.append(UInt8(ascii: "\n"))
            if reply.closes {
                c.closing = true
                break
            }
        }
        c.input.removeFirst(start)
        // Only a line that is itself too long ends the session; unprocessed whole lines wait
        // (reading stops while the client owes us a read).
        if !c.closing && c.input.count > ControlConnection.maxInput && !c.input.contains(UInt8(ascii: "\n")) {
            c.output.append(contentsOf: "error: command line longer than \(ControlConnection.maxInput) bytes; closing\n\n".utf8)
            c.input = []
            c.closing = true
        }
        connections[slot] = c
        flush(slot)
    }

    func handleHTTP(_ slot: Int) {
        guard var c = connections[slot] else { return }
        let outcome = c.input.withUnsafeBytes { HTTPRequestHead.parse($0) }
        let response: [UInt8]
        switch outcome {
        case .incomplete:
            return
        case let .invalid(status, reason):
            response = HTTPResponse.refusal(status: status, reason: reason, headOnly: false)
        case let .request(method, path, _):
            response = route(path: path, headOnly: method == "HEAD")
        }
        c.input = []
        c.output.append(contentsOf: response)
        c.closing = true
        connections[slot] = c
        flush(slot)
    }

    func route(path: String, headOnly: Bool) -> [UInt8] {
        func ok(_ type: String, _ body: String) -> [UInt8] {
            HTTPResponse.render(status: 200, reason: "OK", contentType: type, body: body, headOnly: headOnly)
        }
        switch path {
        case "/metrics":
            return ok("text/plain; version=0.0.4; charset=utf-8", PrometheusText.render(sampledSnapshot()))
        case "/status.json":
            return ok("application/json", StatJSON.render(sampledSnapshot()))
        case "/history.json":
            return ok("application/json", history.json())
        case "/", "/index.html":
            return ok("text/html; charset=utf-8", StatusPage.html)
        default:
            return HTTPResponse.render(status: 404, reason: "Not Found", contentType: "text/plain; charset=utf-8",
                                       body: "not found; try /, /metrics, /status.json\n", headOnly: headOnly)
        }
    }

    func sampledSnapshot() -> StatusSnapshot {
        var s = reader.snapshot()
        history.apply(to: &s)
        return s
    }

    /// Writes what the client will take; watches for writability while output remains.
    func flush(_ slot: Int) {
        guard var c = connections[slot] else { return }
        while c.pendingOutput > 0 {
            let result: IOResult<Int>
            do {
                let start = c.written
                result = try c.output.withUnsafeBytes { raw throws(SystemError) in
                    try Socket.send(c.fd, from: raw.baseAddress! + start, count: raw.count - start)
                }
            } catch {
                closeConnection(slot)  // the client went away mid-reply
                return
            }
            guard case let .done(n) = result else { break }
            c.written += n
            c.lastActivityMs = cfl_monotonic_ms()
        }
        if c.pendingOutput == 0 {
            c.output.removeAll(keepingCapacity: c.output.count <= 64 * 1024)
            c.written = 0
            if c.closing {
                connections[slot] = c
                closeConnection(slot)
                return
            }
        }
        // Read only while there is room for replies and the session goes on: a client that does
        // not read its replies is not read either (level-triggered input would otherwise wake
        // this thread in a loop), and a closing session only writes.
        let wantReads = !c.closing && c.pendingOutput < ControlConnection.maxPendingOutput
        let wantWrites = c.pendingOutput > 0
        let events = (wantReads ? EventPoll.readable | EventPoll.readHangup : 0) | (wantWrites ? EventPoll.writable : 0)
        if events != c.watching {
            c.watching = events
            connections[slot] = c
            do { try loop.poll.modify(c.fd, events: events, data: eventData(slot)) } catch { closeConnection(slot); return }
        }
        connections[slot] = c
        // Lines held back while the output was full can go now.
        if wantReads && c.kind != .http && c.input.contains(UInt8(ascii: "\n")) { handleCommands(slot) }
    }

    func closeConnection(_ slot: Int) {
        guard let c = connections[slot] else { return }
        close(c.fd)  // closing the only descriptor takes it out of epoll
        connections[slot] = nil
        freeSlots.append(slot)
        open -= 1
    }

    func resumeListeners() {
        for index in pausedListeners {
            try? loop.poll.add(listeners[index].fd, events: EventPoll.readable, data: ControlServer.listenerTag | UInt64(index))
        }
        pausedListeners.removeAll()
    }

    /// Closes the least recently active client; false when there is none.
    func evictOldest() -> Bool {
        var oldest: Int?
        for slot in connections.indices {
            guard let c = connections[slot] else { continue }
            if oldest == nil || c.lastActivityMs < connections[oldest!]!.lastActivityMs { oldest = slot }
        }
        guard let oldest else { return false }
        closeConnection(oldest)
        return true
    }

    func expireClients(now: Int64) {
        for slot in connections.indices {
            guard let c = connections[slot] else { continue }
            let expired = c.kind == .http ? now >= c.deadlineMs : now - c.lastActivityMs >= ControlServer.socketIdleMs
            if expired { closeConnection(slot) }
        }
    }

}
