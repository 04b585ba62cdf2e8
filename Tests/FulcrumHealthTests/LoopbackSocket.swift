import Foundation
import XCTest

/// A socket of `type` bound to 127.0.0.1 on a port the kernel picks, and that port.
func loopbackSocket(_ type: Int32, file: StaticString = #filePath, line: UInt = #line) -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, type, 0)
    XCTAssertGreaterThanOrEqual(fd, 0, file: file, line: line)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    XCTAssertEqual(bound, 0, file: file, line: line)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}
