// TCP, HTTP, HTTPS and TLS-HELLO checks: a non-blocking connect, then (by type) a request
// written and the first bytes of the reply judged. Every step runs until it would block;
// edge-triggered events bring the loop back.

import CFulcrumLinux
import CFulcrumTLS
import FulcrumSystem
import Glibc

extension HealthChecker {
    static let streamEvents = EventPoll.readable | EventPoll.writable | EventPoll.readHangup | EventPoll.edgeTriggered
    /// Body bytes read after the status line before the check stops listening.
    static let drainLimit = 64 * 1024

    func beginStream(_ target: HealthTarget) {
        let fd: Int32
        do {
            fd = try Socket.makeStream(family: target.address.family)
        } catch {
            finish(target, CheckResult(.sockerr, "\(error)"))
            return
        }
        target.fd = fd
        target.phase = .connecting
        guard watch(target, events: Self.streamEvents) else { return }
        do {
            if case .done = try Socket.connect(fd, to: target.address) { connected(target) }
        } catch {
            finish(target, CheckResult(.l4con, describe(error)))
        }
    }

    func advanceStream(_ target: HealthTarget, events: UInt32) {
        switch target.phase {
        case .connecting:
            // Writable without an error flag means connected; only a failure costs the
            // getsockopt that names its cause.
            if events & (EventPoll.error | EventPoll.hangup) != 0, let error = Socket.pendingError(target.fd) {
                finish(target, CheckResult(.l4con, describe(error)))
            } else if events & EventPoll.writable != 0 {
                connected(target)
            }
        case .handshaking: handshake(target)
        case .sending: sendRequest(target)
        case .receiving: receiveReply(target)
        case .idle, .awaitingDatagram: break
        }
    }

    private func connected(_ target: HealthTarget) {
        switch target.plan.monitor.type {
        case .tcp:
            finish(target, CheckResult(.l4ok, "connected"))
        case .https:
            guard let ssl = cft_client_connection(target.plan.tls, target.fd, target.plan.monitor.domainName,
                                                  target.plan.monitor.tlsVerify ? 1 : 0, target.addressText) else {
                finish(target, CheckResult(.sockerr, "cannot start TLS: \(lastTLSError())"))
                return
            }
            target.ssl = ssl
            target.phase = .handshaking
            handshake(target)
        default:
            target.phase = .sending
            sendRequest(target)
        }
    }

    private func handshake(_ target: HealthTarget) {
        guard let ssl = target.ssl else { return }
        let rc = SSL_connect(ssl)
        if rc == 1 {
            target.phase = .sending
            sendRequest(target)
            return
        }
        let code = SSL_get_error(ssl, rc)
        if code == CFT_ERROR_WANT_READ || code == CFT_ERROR_WANT_WRITE { return }
        finish(target, CheckResult(.l6rsp, "TLS handshake failed: \(tlsFailure(code))"))
    }

    private func sendRequest(_ target: HealthTarget) {
        let total = target.request.count
        while target.sent < total {
            let result: IOResult<Int>
            do {
                result = try target.request.withUnsafeBytes { bytes throws(SystemError) in
                    try write(target, bytes.baseAddress! + target.sent, total - target.sent)
                }
            } catch {
                finish(target, CheckResult(replyLayer(target), "sending the request: \(describe(error))"))
                return
            }
            switch result {
            case .done(0):
                let cause = target.tlsFailure.map { "TLS error while sending the request: \($0)" }
                    ?? "connection closed while sending the request"
                finish(target, CheckResult(target.tlsFailure != nil ? .l6rsp : replyLayer(target), cause))
                return
            case let .done(n): target.sent += n
            case .wouldBlock: return
            }
        }
        target.phase = .receiving
        receiveReply(target)
    }

    private func receiveReply(_ target: HealthTarget) {
        while true {
            let room = HealthTarget.bufferSize - target.received
            let result: IOResult<Int>
            do {
                result = try target.buffer.withUnsafeMutableBytes { bytes throws(SystemError) in
                    // After the verdict the buffer only soaks up the body; start it over.
                    let offset = target.verdict == nil ? target.received : 0
                    return try read(target, bytes.baseAddress! + offset, target.verdict == nil ? room : HealthTarget.bufferSize)
                }
            } catch {
                if let verdict = target.verdict { finish(target, verdict) } else {
                    finish(target, CheckResult(replyLayer(target), describe(error)))
                }
                return
            }
            switch result {
            case .wouldBlock:
                if let verdict = target.verdict { finish(target, verdict) }
                return
            case .done(0):
                if let verdict = target.verdict {
                    finish(target, verdict)
                } else if let failure = target.tlsFailure {
                    finish(target, CheckResult(.l6rsp, "TLS error before the \(awaited(target)): \(failure)"))
                } else {
                    finish(target, CheckResult(replyLayer(target), "connection closed before the \(awaited(target))"))
                }
                return
            case let .done(n):
                if target.verdict != nil {
                    target.drained += n
                    if target.drained > Self.drainLimit, let verdict = target.verdict {
                        finish(target, verdict)
                        return
                    }
                    continue
                }
                target.received += n
                if let done = judge(target) {
                    if target.plan.monitor.type == .tlsHello || !done.passed && done.code == .l7rsp {
                        finish(target, done)
                        return
                    }
                    target.verdict = done
                } else if target.received == HealthTarget.bufferSize {
                    finish(target, CheckResult(replyLayer(target), "no \(awaited(target)) in the first \(HealthTarget.bufferSize) bytes"))
                    return
                }
            }
        }
    }

    /// The verdict the bytes so far allow, or nil while more are needed.
    private func judge(_ target: HealthTarget) -> CheckResult? {
        let bytes = target.buffer[0..<target.received]
        if target.plan.monitor.type == .tlsHello {
            switch TLSClientHello.classify(bytes) {
            case .incomplete: return nil
            case let .serverHello(version): return CheckResult(.l6ok, "ServerHello (\(tlsVersionName(version)))")
            case let .alert(_, description):
                return CheckResult(.l6rsp, "TLS alert \(TLSClientHello.alertName(description))")
            case let .notTLS(reason): return CheckResult(.l6rsp, reason)
            }
        }
        switch HTTPStatusLine.parse(bytes) {
        case .incomplete: return nil
        case let .status(code, _):
            return target.plan.monitor.expectedCodes.contains(code) ? CheckResult(.l7ok, "\(code)")
                : CheckResult(.l7sts, "\(code)")
        case let .malformed(reason): return CheckResult(.l7rsp, "bad reply: \(reason)")
        }
    }

    func timedOutStream(_ target: HealthTarget) {
        switch target.phase {
        case .connecting: finish(target, CheckResult(.l4tout, "no connection within the timeout"))
        case .handshaking: finish(target, CheckResult(.l6tout, "TLS handshake not finished within the timeout"))
        default:
            finish(target, target.verdict ?? CheckResult(target.plan.monitor.type == .tlsHello ? .l6tout : .l7tout,
                                                         "no \(awaited(target)) within the timeout"))
        }
    }

    private func awaited(_ target: HealthTarget) -> String {
        target.plan.monitor.type == .tlsHello ? "ServerHello" : "status line"
    }

    private func replyLayer(_ target: HealthTarget) -> CheckResult.Code {
        target.plan.monitor.type == .tlsHello ? .l6rsp : .l7rsp
    }

    // MARK: plain or TLS I/O

    private func write(_ target: HealthTarget, _ bytes: UnsafeRawPointer, _ count: Int) throws(SystemError) -> IOResult<Int> {
        guard let ssl = target.ssl else { return try Socket.send(target.fd, from: bytes, count: count) }
        let rc = SSL_write(ssl, bytes, Int32(clamping: count))
        if rc > 0 { return .done(Int(rc)) }
        return try tlsOutcome(target, ssl, rc, call: "SSL_write")
    }

    private func read(_ target: HealthTarget, _ bytes: UnsafeMutableRawPointer, _ count: Int) throws(SystemError) -> IOResult<Int> {
        guard let ssl = target.ssl else { return try Socket.receive(target.fd, into: bytes, count: count) }
        let rc = SSL_read(ssl, bytes, Int32(clamping: count))
        if rc > 0 { return .done(Int(rc)) }
        return try tlsOutcome(target, ssl, rc, call: "SSL_read")
    }

    /// `.done(0)` is the end of the stream; a TLS-level failure also ends it, with OpenSSL's
    /// reason kept in `tlsFailure` (it matters only if no status line came first).
    private func tlsOutcome(_ target: HealthTarget, _ ssl: OpaquePointer, _ rc: Int32,
                            call: StaticString) throws(SystemError) -> IOResult<Int> {
        let code = SSL_get_error(ssl, rc)
        if code == CFT_ERROR_WANT_READ || code == CFT_ERROR_WANT_WRITE { return .wouldBlock }
        if code == CFT_ERROR_ZERO_RETURN { return .done(0) }
        if code == CFT_ERROR_SYSCALL && errno != 0 { throw SystemError(code: errno, call: call) }
        // A peer that closes without close_notify is common and, for a check, just the end;
        // a bad record or an alert is a TLS error worth naming.
        let detail = lastTLSError()
        if detail != "no detail from OpenSSL" && !detail.contains("unexpected eof") { target.tlsFailure = detail }
        return .done(0)
    }

    private func tlsFailure(_ code: Int32) -> String {
        if code == CFT_ERROR_SYSCALL {
            let saved = errno
            let detail = lastTLSError()
            if detail != "no detail from OpenSSL" { return detail }
            return saved == 0 ? "connection closed" : SystemError(code: saved, call: "SSL_connect").reason.lowercased()
        }
        return lastTLSError()
    }
}

/// "connection refused", "network is unreachable": the cause as an operator reads it.
func describe(_ error: any Error) -> String {
    guard let error = error as? SystemError else { return "\(error)" }
    return error.reason.lowercased()
}

func errnoCode(_ error: any Error) -> Int32? {
    (error as? SystemError)?.code
}

func tlsVersionName(_ version: UInt16) -> String {
    switch version {
    case 0x0304: return "TLS 1.3"
    case 0x0303: return "TLS 1.2"
    case 0x0302: return "TLS 1.1"
    case 0x0301: return "TLS 1.0"
    default: return "0x" + String(version, radix: 16)
    }
}
