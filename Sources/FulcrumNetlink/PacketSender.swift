import CFulcrumLinux
import FulcrumSystem
import Glibc

/// Sends whole Ethernet frames built here out of one interface (AF_PACKET, SOCK_RAW). The
/// socket has protocol 0, so it receives nothing and no frames queue up unread in it.
enum PacketSender {
    static func send(_ frame: [UInt8], type: EtherType, interfaceIndex: Int32) throws(SystemError) {
        let fd = try syscall("socket(AF_PACKET)") { cfl_packet_socket(0) }
        defer { close(fd) }
        let sent = try syscall("sendto(AF_PACKET)") {
            frame.withUnsafeBytes { cfl_packet_send(fd, interfaceIndex, type.rawValue, $0.baseAddress, $0.count) }
        }
        if sent != frame.count { throw SystemError(code: EMSGSIZE, call: "sendto(AF_PACKET)") }
    }
}
