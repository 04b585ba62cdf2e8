import FulcrumAddress
import FulcrumHashing
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class FlowHashTests: XCTestCase {
    private func xxh64(_ text: String, seed: UInt64 = 0) -> UInt64 {
        var text = text
        return text.withUTF8 { FlowHash.hash(bytes: UnsafeRawBufferPointer($0), seed: seed) }
    }

    /// Published XXH64 vectors (and libxxhash 0.8 output for the longer/seeded ones).
    func testBytesHashIsXXH64() {
        XCTAssertEqual(xxh64(""), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(xxh64("a"), 0xD24E_C4F1_A98C_6E5B)
        XCTAssertEqual(xxh64("abc"), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(xxh64("Nobody inspects the spammish repetition"), 0xFBCE_A83C_8A37_8BF1)
        XCTAssertEqual(xxh64("10.0.0.11:8080", seed: 0x6D61_676C_6576_6F66), 0x1155_7D7D_F44C_E1C2)
        let bytes = (0..<100).map { UInt8($0) }
        XCTAssertEqual(bytes.withUnsafeBytes { FlowHash.hash(bytes: $0, seed: 12345) }, 0x028B_A1AE_2DE4_DE27)
    }

    /// Pinned flow hashes: XXH64(wire bytes [+ big-endian port], seed 0x46554C4352554D01).
    /// A change here remaps every client across an upgrade.
    func testKnownFlowHashValues() {
        XCTAssertEqual(FlowHash.hash(IPAddress("10.0.0.1")!), 0xAFC9_3DDD_9402_9842)
        XCTAssertEqual(FlowHash.hash(IPAddress("192.0.2.1")!, port: 443), 0xBD82_7D4C_CE99_7B06)
        XCTAssertEqual(FlowHash.hash(IPAddress("2001:db8::1")!), 0xED2C_7291_FC86_B0D8)
        XCTAssertEqual(FlowHash.hash(IPAddress("2001:db8::1")!, port: 80), 0x4020_50C8_9CE9_7D53)
    }

    func testIPv4AndIPv6Differ() {
        let v4 = IPAddress("10.0.0.1")!
        let compatible = IPAddress("::10.0.0.1")!  // .v6(0, 0x0A000001): same low bits, 16 bytes
        XCTAssertNotEqual(FlowHash.hash(v4), FlowHash.hash(compatible))
        XCTAssertNotEqual(FlowHash.hash(v4, port: 80), FlowHash.hash(compatible, port: 80))
        XCTAssertNotEqual(FlowHash.hash(IPAddress("::1")!), FlowHash.hash(IPAddress("0.0.0.1")!))
        // An IPv4-mapped peer (dual-stack socket) is the same client as its IPv4 address.
        let mapped = IPAddress("::ffff:10.0.0.1")!
        XCTAssertEqual(FlowHash.hash(mapped), FlowHash.hash(v4))
        XCTAssertEqual(FlowHash.hash(mapped, port: 5000), FlowHash.hash(v4, port: 5000))
    }

    func testPortChangesSourceIPPortHash() {
        for address in [IPAddress("10.0.0.1")!, IPAddress("2001:db8::7")!] {
            let base = FlowHash.hash(address, port: 40000)
            XCTAssertNotEqual(base, FlowHash.hash(address, port: 40001))
            XCTAssertNotEqual(base, FlowHash.hash(address, port: 0))
            XCTAssertNotEqual(base, FlowHash.hash(address), "SOURCE_IP_PORT differs from SOURCE_IP")
            XCTAssertEqual(base, FlowHash.hash(address, port: 40000), "deterministic")
            let distinct = Set((0..<1000).map { FlowHash.hash(address, port: UInt16(30000 + $0)) })
            XCTAssertEqual(distinct.count, 1000)
        }
    }

    /// All 65536 sources of 127.0.0.0/16 spread over 10 members: each within 5% of 1/10
    /// (binomial σ ≈ 1.2%, so 5% is ~4σ for a good hash).
    func testSourcesOf127Slash16SpreadEvenlyOverTenMembers() {
        let table = MaglevTable(members: members(10), size: 65537)
        var bySource = [Int](repeating: 0, count: 10)
        var bySourcePort = [Int](repeating: 0, count: 10)
        for low in 0..<UInt32(65536) {
            let address = IPAddress.v4(0x7F00_0000 | low)
            bySource[Int(table.member(forHash: FlowHash.hash(address)))] += 1
            bySourcePort[Int(table.member(forHash: FlowHash.hash(address, port: 51000)))] += 1
        }
        for counts in [bySource, bySourcePort] {
            for c in counts {
                XCTAssertEqual(Double(c), 6553.6, accuracy: 0.05 * 6553.6, "\(counts)")
            }
        }
        print("127.0.0.0/16 over 10 members: SOURCE_IP \(bySource), SOURCE_IP_PORT \(bySourcePort)")
    }

    /// Benchmark figure, not a timing assertion: ns per (flow hash + table read) over 10M lookups.
    func testLookupCostReport() {
        let table = MaglevTable(members: members(100), size: MaglevTable.defaultSize(memberCount: 100))
        let lookups = 10_000_000
        var checksum: UInt64 = 0
        var address: UInt32 = 0x0A00_0000
        var port: UInt16 = 1024
        let start = monotonicNanoseconds()
        for _ in 0..<lookups {
            let m = table.member(forHash: FlowHash.hash(.v4(address), port: port))
            checksum = checksum &* 31 &+ UInt64(UInt32(bitPattern: m)) &+ 1
            address &+= 0x9E37_79B9
            port &+= 7
        }
        let elapsed = monotonicNanoseconds() - start
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        print("Maglev lookup (SOURCE_IP_PORT hash + table read, \(build) build): "
              + "\(String(format: "%.2f", Double(elapsed) / Double(lookups))) ns/lookup over \(lookups), checksum \(checksum)")
        XCTAssertNotEqual(checksum, 0)
    }

    private func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
