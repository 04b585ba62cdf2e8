import FulcrumAddress
@testable import FulcrumForwarding
import XCTest

final class UDPSessionTableTests: XCTestCase {
    private func key(_ listener: Int32, _ port: UInt16, _ address: IPAddress = .v4(0x7F00_0001)) -> UDPSessionTable.Key {
        UDPSessionTable.Key(listener: listener, client: Endpoint(address: address, port: port))
    }

    func testFindInsertRemove() {
        var t = UDPSessionTable(capacity: 4, listeners: 2)
        let a = t.insert(key(0, 1000), now: 1)
        let b = t.insert(key(1, 1000), now: 2)  // same client, other listener: another session
        let c = t.insert(key(0, 1000, IPAddress("::1")!), now: 3)
        XCTAssertEqual(t.find(key(0, 1000)), a)
        XCTAssertEqual(t.find(key(1, 1000)), b)
        XCTAssertEqual(t.find(key(0, 1000, IPAddress("::1")!)), c)
        XCTAssertNil(t.find(key(0, 1001)))
        t.remove(b)
        XCTAssertNil(t.find(key(1, 1000)))
        XCTAssertEqual(t.count, 2)
        XCTAssertEqual(t.find(key(0, 1000)), a)
    }

    func testIdleExpiryIsPerListenerInActivityOrder() {
        var t = UDPSessionTable(capacity: 8, listeners: 2)
        let a = t.insert(key(0, 1), now: 10)
        let b = t.insert(key(0, 2), now: 20)
        let c = t.insert(key(1, 3), now: 5)
        t.touch(a, now: 30)  // a is now the newest of listener 0
        XCTAssertEqual(t.idle(listener: 0, since: 25), b)
        XCTAssertNil(t.idle(listener: 0, since: 19))
        XCTAssertEqual(t.idle(listener: 1, since: 5), c)
        t.remove(b)
        XCTAssertNil(t.idle(listener: 0, since: 25))
        XCTAssertEqual(t.idle(listener: 0, since: 30), a)
    }

    func testLeastRecentlyUsedAcrossListeners() {
        var t = UDPSessionTable(capacity: 8, listeners: 3)
        _ = t.insert(key(0, 1), now: 10)
        let old = t.insert(key(2, 1), now: 3)
        _ = t.insert(key(1, 1), now: 7)
        XCTAssertEqual(t.leastRecentlyUsed(), old)
        t.touch(old, now: 50)
        XCTAssertEqual(t.key(of: t.leastRecentlyUsed()!), key(1, 1))
    }

    /// Random operations against a dictionary model: the table finds exactly what the model
    /// holds, never exceeds capacity, and evicts the least recently used.
    func testRandomisedAgainstModel() {
        var rng = SystemRandomNumberGenerator()
        var t = UDPSessionTable(capacity: 64, listeners: 2)
        var model: [String: (slot: Int32, last: Int64)] = [:]
        var now: Int64 = 0
        func name(_ k: UDPSessionTable.Key) -> String { "\(k.listener)/\(k.client)" }
        for _ in 0..<20_000 {
            now += 1
            let k = key(Int32.random(in: 0..<2, using: &rng), UInt16.random(in: 1...200, using: &rng))
            if let slot = t.find(k) {
                XCTAssertEqual(model[name(k)]?.slot, slot)
                if Bool.random(using: &rng) {
                    t.touch(slot, now: now)
                    model[name(k)]!.last = now
                } else {
                    t.remove(slot)
                    model[name(k)] = nil
                }
            } else {
                XCTAssertNil(model[name(k)], "table lost \(name(k))")
                if t.isFull {
                    let victim = t.leastRecentlyUsed()!
                    let oldest = model.values.map(\.last).min()!
                    XCTAssertEqual(t.lastActivity(of: victim), oldest)
                    model[name(t.key(of: victim))] = nil
                    t.remove(victim)
                }
                model[name(k)] = (t.insert(k, now: now), now)
            }
            XCTAssertEqual(t.count, model.count)
            XCTAssertLessThanOrEqual(t.count, 64)
        }
    }

    /// Sized by udp_max_sessions, the table once allocated all of it at start (450 MB for 1M
    /// sessions and 2 workers). It starts small and doubles; every session stays findable,
    /// in its place in the LRU order, across each growth.
    func testStartsSmallAndGrowsUpToItsMaximum() {
        var t = UDPSessionTable(capacity: 10_000_000, listeners: 2, initialCapacity: 4)
        XCTAssertEqual(t.capacity, 4)
        XCTAssertEqual(t.maxCount, 10_000_000)
        var slots: [Int32] = []
        for n in 0..<5000 {
            slots.append(t.insert(key(Int32(n % 2), UInt16(n % 60000 + 1), .v4(0x0A00_0000 + UInt32(n))), now: Int64(n)))
        }
        XCTAssertEqual(t.count, 5000)
        XCTAssertEqual(t.capacity, 8192, "doubling from 4")
        XCTAssertEqual(Set(slots).count, 5000, "every session its own slot")
        for n in 0..<5000 {
            XCTAssertEqual(t.find(key(Int32(n % 2), UInt16(n % 60000 + 1), .v4(0x0A00_0000 + UInt32(n)))), slots[n])
        }
        XCTAssertNil(t.find(key(0, 1, .v4(0x0A00_0000 + 1))), "listener is part of the key")
        // LRU order survived the growths: the oldest of each listener, then the global oldest.
        XCTAssertEqual(t.idle(listener: 0, since: 0), slots[0])
        XCTAssertEqual(t.idle(listener: 1, since: 1), slots[1])
        XCTAssertEqual(t.leastRecentlyUsed(), slots[0])
        // Removing and inserting reuses freed slots before growing again.
        for n in stride(from: 0, to: 5000, by: 2) { t.remove(slots[n]) }
        for n in 0..<2500 { _ = t.insert(key(0, 7, .v4(0x0B00_0000 + UInt32(n))), now: 10_000) }
        XCTAssertEqual(t.capacity, 8192)
        XCTAssertEqual(t.count, 5000)
        for n in stride(from: 1, to: 5000, by: 2) {
            XCTAssertEqual(t.find(key(1, UInt16(n % 60000 + 1), .v4(0x0A00_0000 + UInt32(n)))), slots[n])
        }
    }

    func testGrowthStopsAtTheMaximum() {
        var t = UDPSessionTable(capacity: 6, listeners: 1, initialCapacity: 4)
        for n in 0..<6 { _ = t.insert(key(0, UInt16(n + 1)), now: Int64(n)) }
        XCTAssertEqual(t.capacity, 6, "the last doubling is cut at the maximum")
        XCTAssertTrue(t.isFull)
        for n in 0..<6 { XCTAssertNotNil(t.find(key(0, UInt16(n + 1)))) }
    }

    func testRenumberAfterGrowthKeepsSessions() {
        var t = UDPSessionTable(capacity: 100, listeners: 2, initialCapacity: 2)
        let a = t.insert(key(0, 1), now: 1)
        let b = t.insert(key(1, 2), now: 2)
        let c = t.insert(key(1, 3), now: 3)
        t.renumberListeners([1, 0], count: 2)
        XCTAssertEqual(t.find(key(1, 1)), a)
        XCTAssertEqual(t.find(key(0, 2)), b)
        XCTAssertEqual(t.find(key(0, 3)), c)
        XCTAssertEqual(t.idle(listener: 0, since: 10), b)
    }
}
