// A reload can never take the daemon down: whatever a drop-in holds — the fuzzer's seed corpus
// and thousands of mutations of it — `reload` either applies or is refused, and the listener
// that was serving keeps serving the same member.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ReloadHostileDropInTests: FulcrumTestCase {
    func testReloadOfMutatedDropInsAppliesOrRefusesAndNeverStopsServing() throws {
        let member = try makeServer(mode: .echo)
        let port = try freePort()
        let dir = try makeConfigDir(DaemonConfig(
            listeners: [ListenerSpec(port: port)],
            pools: [PoolSpec(members: [MemberSpec(name: "a", port: member.port)])]))
        let daemon = try startFulcrum(configDir: dir)
        let control = try StatusSocketClient(path: dir.statusSocket)
        let corpus = Paths.packageRoot.appendingPathComponent("Fuzz/corpus/config")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted().map {
            ReloadHostileDropInTests.loopbackOnly(try String(contentsOf: corpus.appendingPathComponent($0), encoding: .utf8))
        }
        XCTAssertGreaterThan(seeds.count, 3)
        // Deterministic mutations (SplitMix64), so a failure names a reproducible case.
        var state: UInt64 = 0x5EED
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var applied = 0, refused = 0
        for round in 0..<400 {
            var bytes = seeds[Int(next() % UInt64(seeds.count))]
            switch round % 4 {
            case 0: break
            case 1: bytes = Array(bytes.prefix(Int(next() % UInt64(bytes.count + 1))))
            case 2: for _ in 0..<4 where !bytes.isEmpty { bytes[Int(next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: next()) }
            default:
                let other = seeds[Int(next() % UInt64(seeds.count))]
                let cut = Int(next() % UInt64(other.count + 1))
                bytes = Array(bytes.prefix(Int(next() % UInt64(bytes.count + 1)))) + other[cut...]
            }
            try Data(bytes).write(to: URL(fileURLWithPath: dir.filePath("conf.d/55-fuzz.toml")))
            let reply = try control.command("reload")
            if reply.hasPrefix("reloaded in ") {
                applied += 1
            } else {
                XCTAssertTrue(reply.hasPrefix("error: reload refused, nothing changed"), "round \(round): \(reply)")
                refused += 1
            }
            XCTAssertFalse(daemon.hasExited, "round \(round): the daemon died\n\(daemon.diagnostics)")
            if daemon.hasExited { return }
            if round % 20 == 0 {
                // The original listener still forwards to its member, whatever was applied.
                try FileManager.default.removeItem(atPath: dir.filePath("conf.d/55-fuzz.toml"))
                let back = try control.command("reload")
                XCTAssertTrue(back.hasPrefix("reloaded in "), "round \(round): the clean config reloads: \(back)")
                let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, ioTimeout: 5)
                try socket.exchange("still here \(round)\n")
                socket.close()
            }
        }
        print("reload of hostile drop-ins: \(applied) applied, \(refused) refused, 0 crashes")
        XCTAssertGreaterThan(refused, 0)
    }

    /// The seeds as drop-ins that cannot send a packet off this host: members and listeners on
    /// loopback, and no health monitor tables (a mutated address in one would be checked).
    /// Mutations only flip, cut and splice bytes, so they cannot create a monitor table.
    static func loopbackOnly(_ text: String) -> [UInt8] {
        var kept: [Substring] = []
        var inMonitor = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("[") { inMonitor = trimmed.contains("healthmonitor") }
            if !inMonitor && !trimmed.hasPrefix("healthmonitor") { kept.append(line) }
        }
        let joined = kept.joined(separator: "\n")
            .replacingOccurrences(of: "\"10.0.", with: "\"127.0.")
            .replacingOccurrences(of: "\"0.0.0.0\"", with: "\"127.0.0.1\"")
            .replacingOccurrences(of: "\"::\"", with: "\"::1\"")
        return Array(joined.utf8)
    }
}
