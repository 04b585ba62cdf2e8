import CFulcrumLinux
import FulcrumSystem
import Glibc

/// Preallocated buffers and headers for one recvmmsg/sendmmsg batch: `count` datagrams of up
/// to `datagramSize` bytes, each with its own iovec and sockaddr. Allocated once per worker.
struct DatagramBatch {
    /// Largest UDP payload over IPv4 is 65,507 bytes; a 64 KiB buffer holds any datagram
    /// short of an IPv6 jumbogram, and MSG_TRUNC catches those.
    static let datagramSize = 65_536

    let count: Int
    let buffers: UnsafeMutableRawPointer
    let iovecs: UnsafeMutablePointer<iovec>
    let headers: UnsafeMutablePointer<cfl_mmsghdr>
    let addresses: UnsafeMutablePointer<sockaddr_storage>

    init(count: Int) {
        self.count = count
        buffers = UnsafeMutableRawPointer.allocate(byteCount: count * DatagramBatch.datagramSize, alignment: 4096)
        iovecs = .allocate(capacity: count)
        headers = .allocate(capacity: count)
        addresses = .allocate(capacity: count)
        addresses.initialize(repeating: sockaddr_storage(), count: count)
        headers.initialize(repeating: cfl_mmsghdr(), count: count)
        for i in 0..<count {
            iovecs[i] = iovec(iov_base: buffer(i), iov_len: DatagramBatch.datagramSize)
            headers[i].msg_hdr.msg_iov = iovecs + i
            headers[i].msg_hdr.msg_iovlen = 1
        }
    }

    func deallocate() {
        buffers.deallocate()
        iovecs.deallocate()
        headers.deallocate()
        addresses.deallocate()
    }

    @inline(__always)
    func buffer(_ i: Int) -> UnsafeMutableRawPointer { buffers + i * DatagramBatch.datagramSize }

    /// Readies entries `range` for a receive: full-size buffers, and a sockaddr to fill in
    /// when `withAddresses` (unconnected listener sockets) or none (connected member sockets).
    @inline(__always)
    func prepareReceive(_ range: Range<Int>, withAddresses: Bool) {
        for i in range {
            iovecs[i].iov_len = DatagramBatch.datagramSize
            headers[i].msg_hdr.msg_flags = 0
            if withAddresses {
                headers[i].msg_hdr.msg_name = UnsafeMutableRawPointer(addresses + i)
                headers[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            } else {
                headers[i].msg_hdr.msg_name = nil
                headers[i].msg_hdr.msg_namelen = 0
            }
        }
    }

    @inline(__always)
    func length(_ i: Int) -> Int { Int(headers[i].msg_len) }

    @inline(__always)
    func truncated(_ i: Int) -> Bool { headers[i].msg_hdr.msg_flags & Datagram.truncatedFlag != 0 }

    /// The sender of entry `i` (after a receive with addresses).
    @inline(__always)
    func sender(_ i: Int) -> SocketAddress {
        var address = SocketAddress()
        address.storage = addresses[i]
        address.length = headers[i].msg_hdr.msg_namelen
        return address
    }
}
