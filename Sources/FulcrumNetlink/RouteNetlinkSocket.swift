import CFulcrumLinux
import FulcrumSystem
import Glibc

/// Why one rtnetlink conversation failed, before it is told which operation it served.
enum RouteFailure: Error {
    case refused(SystemError, kernelMessage: String?)
    case systemCall(SystemError)
    case malformed(MalformedReply)
    case noReply
}

/// A NETLINK_ROUTE socket for one short conversation. A fresh socket per operation: VIP changes
/// happen on transitions, not per packet, and a socket nobody shares can never hold a stale
/// reply from an earlier request that timed out, nor needs a lock between threads.
final class RouteNetlinkSocket {
    private let fd: Int32
    private var nextSequence: UInt32 = 1

    /// A kernel that does not answer in this long is treated as a failure instead of hanging
    /// the HA thread; rtnetlink answers in microseconds.
    static let replyTimeoutSeconds = 5

    init() throws(RouteFailure) {
        do throws(SystemError) {
            fd = try syscall("socket(AF_NETLINK)") { cfl_netlink_route_socket() }
        } catch {
            throw .systemCall(error)
        }
        var timeout = timeval(tv_sec: RouteNetlinkSocket.replyTimeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// A sequence number for the next request on this socket.
    func sequence() -> UInt32 {
        defer { nextSequence &+= 1 }
        return nextSequence
    }

    /// Sends `request` and returns the replies that came before its conversation ended:
    /// NLMSG_ERROR (the acknowledgement of an NLM_F_ACK request, or a refusal, thrown with
    /// `name`, e.g. "RTM_NEWADDR") or NLMSG_DONE (the end of a dump). Messages for other
    /// sequence numbers (none are expected on a private socket) are ignored.
    func exchange(_ request: [UInt8], sequence: UInt32, name: StaticString) throws(RouteFailure) -> [NetlinkMessage] {
        do throws(SystemError) {
            let sent = try syscall("send(AF_NETLINK)") {
                request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            }
            if sent != request.count { throw SystemError(code: EMSGSIZE, call: "send(AF_NETLINK)") }
        } catch {
            throw .systemCall(error)
        }
        var replies: [NetlinkMessage] = []
        var buffer = [UInt8](repeating: 0, count: RouteNetlinkSocket.receiveBufferBytes)
        while true {
            let count: Int
            do throws(SystemError) {
                // MSG_TRUNC: recv reports the datagram's real length, so a cut one is seen.
                count = try syscall("recv(AF_NETLINK)") {
                    buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
                }
            } catch where error.code == EAGAIN || error.code == EWOULDBLOCK {
                throw .noReply
            } catch {
                throw .systemCall(error)
            }
            guard count <= buffer.count else {
                throw .malformed(MalformedReply(what: "a reply of \(count) bytes, more than \(buffer.count)"))
            }
            let messages: [NetlinkMessage]
            do throws(MalformedReply) {
                messages = try NetlinkReply.messages(in: buffer[0..<count])
            } catch {
                throw .malformed(error)
            }
            for message in messages where message.sequence == sequence {
                switch message.type {
                case CFL_NLMSG_ERROR:
                    let ack: Acknowledgement
                    do throws(MalformedReply) { ack = try NetlinkReply.acknowledgement(message) } catch { throw .malformed(error) }
                    if ack.code != 0 { throw .refused(SystemError(code: ack.code, call: name), kernelMessage: ack.kernelMessage) }
                    return replies
                case CFL_NLMSG_DONE:
                    // A dump's end carries an int: negative when the dump itself failed.
                    if message.payload.count >= 4 {
                        let code = message.payload.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
                        if code < 0 { throw .refused(SystemError(code: 0 &- code, call: name), kernelMessage: nil) }
                    }
                    return replies
                default:
                    replies.append(message)
                }
            }
        }
    }

    /// The interface called `name`, or nil when the kernel knows none (ENODEV).
    func link(named name: String) throws(RouteFailure) -> LinkInfo? {
        let sequence = sequence()
        let replies: [NetlinkMessage]
        do throws(RouteFailure) {
            replies = try exchange(RouteRequest.link(named: name, sequence: sequence), sequence: sequence, name: "RTM_GETLINK")
        } catch let .refused(error, _) where error.code == ENODEV {
            return nil
        }
        guard let reply = replies.first(where: { $0.type == CFL_RTM_NEWLINK }) else {
            throw .malformed(MalformedReply(what: "RTM_GETLINK acknowledged without the link"))
        }
        do throws(MalformedReply) { return try NetlinkReply.link(reply) } catch { throw .malformed(error) }
    }

    /// Larger than any one netlink datagram the kernel sends (dump skbs are at most 32 KiB).
    static let receiveBufferBytes = 64 * 1024
}
