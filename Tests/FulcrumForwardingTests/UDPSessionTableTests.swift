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
}
