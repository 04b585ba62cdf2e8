// Bursts of equal-size datagrams leave Fulcrum as UDP_SEGMENT sends: the member must still see
// each datagram on its own, whole and in order, never two glued together or one cut.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class UDPSegmentationTests: UDPTestCase {
    func testBurstsOfEqualSizesArriveAsSeparateDatagrams() throws {
        let member = try makeUDPMember("m1")
        let port = try freeUDPPort()
        let daemon = try startFulcrum(DaemonConfig(
            workers: 1, listeners: [udpListener(port: port)], pools: [udpPool([member])]))
        let client = try makeUDPClient(port: port, receiveTimeout: 2.0)

        // Runs of one size with a shorter last datagram, a size at the segmentation limit, one
        // above it, and a run broken by a zero-length datagram.
        let shapes: [[Int]] = [
            Array(repeating: 100, count: 40),
            Array(repeating: 64, count: 31) + [17],
            Array(repeating: 1200, count: 20),
            Array(repeating: 1201, count: 10),
            Array(repeating: 500, count: 10) + [0] + Array(repeating: 500, count: 10),
            (0..<30).map { $0 % 2 == 0 ? 80 : 90 },
        ]
        var sequence = 0
        for (round, sizes) in shapes.enumerated() {
            var sent: [[UInt8]] = []
            for size in sizes {
                let datagram = size == 0 ? [] : udpPayload(client: round, sequence: sequence, size: size)
                sequence += 1
                sent.append(datagram)
                try client.send(datagram)  // back to back: they arrive in one recvmmsg batch
            }
            var received: [[UInt8]] = []
            while received.count < sent.count, let reply = try client.receive() {
                received.append(reply)
            }
            XCTAssertEqual(received.count, sent.count,
                           "shape \(round): \(sent.count) datagrams sent, \(received.count) echoed\n\(daemon.diagnostics)")
            XCTAssertEqual(received.map(\.count), sent.map(\.count), "shape \(round): sizes differ (glued or cut datagrams)")
            XCTAssertTrue(received == sent, "shape \(round): contents or order differ")
        }
        try terminate(daemon)
        XCTAssertEqual(try udpListenerStat(daemon, "udp", "dropped"), 0)
        XCTAssertEqual(try udpMemberStat(daemon, pool: "udp", member: "m1", "datagrams_to_member"), sequence)
    }
}
