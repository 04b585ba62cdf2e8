import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// [ha] after the privilege drop: a node started as root with [process] nobody/nogroup keeps
/// CAP_NET_BIND_SERVICE, CAP_NET_ADMIN and CAP_NET_RAW (bits 10, 12, 13) and nothing else, and
/// with them still adds its VIP as master, announces it (the client reaches the member through
/// it) and removes it on shutdown. Root only (network namespaces).
final class PrivilegeHATests: HATestCase {
    func testMasterAsNobodyAddsAndRemovesItsVIP() throws {
        try requireRoot("the HA privilege drop test (network namespaces)")
        let w = try makeWorld()
        let n1 = try makeNode(0, priority: 200)
        // Overrides the shared writer's user = "root" key by key.
        try n1.dir.write("conf.d/80-process.toml", "[process]\nuser = \"nobody\"\ngroup = \"nogroup\"\n")
        try makeReadable(n1.dir)
        try start(n1)
        let daemon = try XCTUnwrap(n1.process)

        let line = try XCTUnwrap(daemon.logLines.first { $0.message == "privileges" }, daemon.diagnostics)
        XCTAssertEqual(line.metadata["user"], "nobody")
        XCTAssertEqual(line.metadata["capabilities"], "cap_net_bind_service,cap_net_admin,cap_net_raw")
        let status = try procStatus(daemon.pid)
        let kept: UInt64 = 1 << 10 | 1 << 12 | 1 << 13
        XCTAssertEqual(try capabilityMask(status, "CapEff"), kept)
        XCTAssertEqual(try capabilityMask(status, "CapPrm"), kept)
        XCTAssertEqual(try capabilityMask(status, "CapBnd"), kept)
        let uid = try XCTUnwrap(getpwnam("nobody")).pointee.pw_uid
        XCTAssertEqual(status["Uid"], "\(uid)\t\(uid)\t\(uid)\t\(uid)")

        XCTAssertTrue(waitUntil(timeout: 5) { self.state(n1) == "MASTER" }, describe([n1]))
        XCTAssertTrue(waitUntil(timeout: 2) { (try? w.ipAddrShowHasVIP(0)) == true }, "the VIP was not added\n\(daemon.diagnostics)")
        XCTAssertEqual(try w.clientExchange(), n1.address, "the client did not reach the member through the VIP")

        try terminate(daemon)
        XCTAssertFalse(try w.ipAddrShowHasVIP(0), "the VIP stayed after shutdown\n\(daemon.diagnostics)")
        XCTAssertFalse(daemon.stderrText.contains("EPERM"), daemon.stderrText)
    }
}
