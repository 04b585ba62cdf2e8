// UDP-CONNECT and PING checks: one datagram out, then the reply (or the ICMP error the kernel
// reports on the connected socket) decides.

import CFulcrumLinux
import FulcrumAddress
import FulcrumConfig
import FulcrumSystem
import Glibc

extension HealthChecker {
    func beginDatagram(_ target: HealthTarget) {
        let fd: Int32
        do {
            fd = try Datagram.connectedSocket(to: target.address)
        } catch {
            // connect(2) on UDP only fails for local reasons (no route, no descriptors).
            let local = error.code == EMFILE || error.code == ENFILE || error.code == ENOBUFS || error.code == ENOMEM
            finish(target, CheckResult(local ? .sockerr : .l4con, describe(error)))
            return
        }
        target.fd = fd
        target.phase = .awaitingDatagram
        guard watch(target, events: EventPoll.readable) else { return }
        sendDatagram(target)
    }

    func advanceDatagram(_ target: HealthTarget) {
        while target.phase == .awaitingDatagram {
            let result: IOResult<Int>
            do {
                result = try target.buffer.withUnsafeMutableBytes { bytes throws(SystemError) in
                    try Socket.receive(target.fd, into: bytes.baseAddress!, count: bytes.count)
                }
            } catch {
                let cause = errnoCode(error) == ECONNREFUSED ? "ICMP port unreachable" : describe(error)
                finish(target, CheckResult(.l4con, cause))
                return
            }
            guard case let .done(length) = result else { return }
            finish(target, judgeDatagram(target, target.buffer[0..<length]))
        }
    }

    private func judgeDatagram(_ target: HealthTarget, _ reply: ArraySlice<UInt8>) -> CheckResult {
        switch target.plan.monitor.udpExpect {
        case nil:
            return CheckResult(.l4ok, "reply received")
        case let .prefix(expected)?:
            return reply.starts(with: expected) ? CheckResult(.l7ok, "expected reply")
                : CheckResult(.l7rsp, "unexpected reply \(printable(reply))")
        case .regex?:
            guard let regex = target.plan.expectRegex else { return CheckResult(.l7rsp, "no usable pattern") }
            // One character per byte, so a pattern can match binary replies byte for byte.
            let text = String(String.UnicodeScalarView(reply.map { Unicode.Scalar($0) }))
            return (try? regex.firstMatch(in: text)) != nil ? CheckResult(.l7ok, "reply matches")
                : CheckResult(.l7rsp, "reply does not match: \(printable(reply))")
        }
    }

    func timedOutDatagram(_ target: HealthTarget) {
        if target.plan.monitor.type == .ping {
            finish(target, CheckResult(.l3tout, "no echo reply within the timeout"))
        } else if target.plan.monitor.udpExpect == nil {
            // What keepalived's and Octavia's UDP checks mean by success: no ICMP error came back.
            finish(target, CheckResult(.l4ok, "no ICMP error within the timeout"))
        } else {
            finish(target, CheckResult(.l7tout, "no reply within the timeout"))
        }
    }

    private func sendDatagram(_ target: HealthTarget) {
        let rc = target.request.withUnsafeBytes { bytes in
            Glibc.send(target.fd, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        }
        if rc < 0 && errno != EAGAIN && errno != EINTR {
            let error = SystemError(code: errno, call: "send")
            let cause = error.code == ECONNREFUSED ? "ICMP port unreachable" : describe(error)
            finish(target, CheckResult(.l4con, cause))
        }
    }

    // MARK: PING

    /// ICMP echo. An unprivileged ICMP datagram socket where net.ipv4.ping_group_range allows
    /// it (the kernel then matches replies to the socket), a raw socket otherwise (CAP_NET_RAW).
    func beginPing(_ target: HealthTarget) {
        let v6 = !target.endpoint.address.isIPv4
        let fd: Int32
        let raw: Bool
        do {
            (fd, raw) = try ICMPSocket.open(ipv6: v6)
        } catch {
            // Both refused: neither ping_group_range nor CAP_NET_RAW allows this process.
            let hint = ICMPSocket.needsCapability(error)
                ? "; PING monitors need CAP_NET_RAW (or net.ipv4.ping_group_range covering the daemon's group)" : ""
            finish(target, CheckResult(.sockerr, "cannot open an ICMP socket: \(describe(error))\(hint)"))
            return
        }
        target.fd = fd
        target.rawICMP = raw
        target.phase = .awaitingDatagram
        guard watch(target, events: EventPoll.readable) else { return }
        let address = SocketAddress(Endpoint(address: target.endpoint.address, port: 0))
        let connected = (try? address.withSockAddr { sa, len in Glibc.connect(fd, sa, len) }) ?? -1
        if connected != 0 {
            finish(target, CheckResult(.l3unr, describe(SystemError(code: errno, call: "connect"))))
            return
        }
        let packet = ICMPEcho.encodeRequest(v6: v6, identifier: pingIdentifier(target), sequence: UInt16(truncatingIfNeeded: target.serial),
                                            payload: Array("fulcrum health check".utf8))
        let rc = packet.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        if rc < 0 {
            finish(target, CheckResult(.l3unr, describe(SystemError(code: errno, call: "send"))))
        }
    }

    func advancePing(_ target: HealthTarget) {
        let v6 = !target.endpoint.address.isIPv4
        while target.phase == .awaitingDatagram {
            let rc = target.buffer.withUnsafeMutableBytes { Glibc.recv(target.fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if rc < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                finish(target, CheckResult(.l3unr, describe(SystemError(code: errno, call: "recv"))))
                return
            }
            let reply = ICMPEcho.parseReply(target.buffer[0..<Int(rc)], v6: v6, includesIPHeader: target.rawICMP && !v6)
            switch reply {
            case let .echoReply(identifier, sequence):
                // A datagram socket's identifier is chosen by the kernel, which also matches it.
                guard sequence == UInt16(truncatingIfNeeded: target.serial),
                      !target.rawICMP || identifier == pingIdentifier(target) else { continue }
                finish(target, CheckResult(.l3ok, "echo reply"))
            case let .unreachable(code):
                guard !target.rawICMP else { continue }  // a raw socket sees everyone's errors
                finish(target, CheckResult(.l3unr, "ICMP destination unreachable (code \(code))"))
            case .other, .malformed:
                continue  // a raw socket also sees our own requests on loopback, and others' traffic
            }
        }
    }

    private func pingIdentifier(_ target: HealthTarget) -> UInt16 {
        UInt16(truncatingIfNeeded: Int(target.index) &+ Int(getpid()))
    }
}

/// Up to 40 bytes of a reply for a log line, non-printables as \xNN.
func printable(_ bytes: ArraySlice<UInt8>) -> String {
    var text = "\""
    for byte in bytes.prefix(40) {
        if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
            text.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            let hex = String(byte, radix: 16)
            text += "\\x" + (hex.count == 1 ? "0" + hex : hex)
        }
    }
    return text + (bytes.count > 40 ? "\"…" : "\"")
}
