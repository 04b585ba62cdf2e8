import Foundation
import XCTest
@testable import FulcrumStatus

final class RateHistoryTests: XCTestCase {
    /// The fixture with the web listener's and web-1's counters set.
    private func snapshot(accepted: Int, bytesIn: Int, bytesOut: Int, closed: Int = 0,
                          memberConnections: Int = 0) -> StatusSnapshot {
        var s = SnapshotFixture.make()
        s.listeners[0].tcp.accepted = accepted
        s.listeners[0].tcp.closed = closed
        s.listeners[0].tcp.bytesIn = bytesIn
        s.listeners[0].tcp.bytesOut = bytesOut
        s.pools[1].members[0].tcp.connections = memberConnections
        s.pools[1].members[0].tcp.closed = 0
        return s
    }

    private let t0: Int64 = 1_700_000_000_000

    func testRatesFromCounterDeltas() {
        var history = RateHistory()
        history.record(snapshot(accepted: 100, bytesIn: 1000, bytesOut: 5000), atMs: t0)
        XCTAssertEqual(history.listenerPoints("web"), [], "the first snapshot is only a baseline")
        history.record(snapshot(accepted: 110, bytesIn: 3000, bytesOut: 9000), atMs: t0 + 1000)
        history.record(snapshot(accepted: 130, bytesIn: 3000, bytesOut: 9000), atMs: t0 + 3000)
        // 1.5 s: 3 connections → 2/s.
        history.record(snapshot(accepted: 133, bytesIn: 3001, bytesOut: 9000), atMs: t0 + 4500)
        XCTAssertEqual(history.listenerPoints("web"), [
            RatePoint(unixSeconds: 1_700_000_001, connectionsPerSecond: 10, bytesInPerSecond: 2000, bytesOutPerSecond: 4000),
            RatePoint(unixSeconds: 1_700_000_003, connectionsPerSecond: 10, bytesInPerSecond: 0, bytesOutPerSecond: 0),
            RatePoint(unixSeconds: 1_700_000_004, connectionsPerSecond: 2, bytesInPerSecond: 1, bytesOutPerSecond: 0),
        ])
    }

    func testCounterGoingBackwardsCountsAsZero() {
        var history = RateHistory()
        history.record(snapshot(accepted: 500, bytesIn: 9000, bytesOut: 9000), atMs: t0)
        history.record(snapshot(accepted: 4, bytesIn: 100, bytesOut: 99_000), atMs: t0 + 1000)
        history.record(snapshot(accepted: 10, bytesIn: 100, bytesOut: 99_000), atMs: t0 + 2000)
        XCTAssertEqual(history.listenerPoints("web").map(\.connectionsPerSecond), [0, 6])
        XCTAssertEqual(history.listenerPoints("web").map(\.bytesInPerSecond), [0, 0])
        XCTAssertEqual(history.listenerPoints("web").map(\.bytesOutPerSecond), [90_000, 0])
    }

    func testClockNotMovingForwardAddsNoPointAndKeepsBaseline() {
        var history = RateHistory()
        history.record(snapshot(accepted: 100, bytesIn: 0, bytesOut: 0), atMs: t0)
        history.record(snapshot(accepted: 150, bytesIn: 0, bytesOut: 0), atMs: t0)
        history.record(snapshot(accepted: 160, bytesIn: 0, bytesOut: 0), atMs: t0 - 500)
        XCTAssertEqual(history.listenerPoints("web"), [])
        history.record(snapshot(accepted: 200, bytesIn: 0, bytesOut: 0), atMs: t0 + 2000)
        XCTAssertEqual(history.listenerPoints("web").map(\.connectionsPerSecond), [50])
    }

    func testRingKeepsTheLastCapacityPoints() {
        var history = RateHistory(capacity: 3)
        for step in 0...6 {
            history.record(snapshot(accepted: step * step, bytesIn: 0, bytesOut: 0), atMs: t0 + Int64(step) * 1000)
        }
        // Steps 1...6 give rates 1, 3, 5, 7, 9, 11; the last three stay, oldest first.
        XCTAssertEqual(history.listenerPoints("web").map(\.connectionsPerSecond), [7, 9, 11])
        XCTAssertEqual(history.listenerPoints("web").map(\.unixSeconds), [1_700_000_004, 1_700_000_005, 1_700_000_006])
    }

    func testApplyFillsSampled() {
        var history = RateHistory()
        history.record(snapshot(accepted: 0, bytesIn: 0, bytesOut: 0, memberConnections: 0), atMs: t0)
        history.record(snapshot(accepted: 40, bytesIn: 4000, bytesOut: 8000, closed: 10, memberConnections: 20), atMs: t0 + 1000)
        history.record(snapshot(accepted: 45, bytesIn: 4100, bytesOut: 8300, closed: 40, memberConnections: 22), atMs: t0 + 2000)
        var s = snapshot(accepted: 45, bytesIn: 4100, bytesOut: 8300, closed: 44, memberConnections: 22)
        s.listeners[0].sampled = Sampled()
        s.pools[1].members[0].sampled = Sampled()
        history.apply(to: &s)
        let web = s.listeners[0].sampled
        XCTAssertEqual(web.rate, 5)
        XCTAssertEqual(web.rateMax, 40)
        XCTAssertEqual(web.currentMax, 30, "40 accepted - 10 closed at the second sample")
        XCTAssertEqual(web.bytesInRate, 100)
        XCTAssertEqual(web.bytesOutRate, 300)
        let member = s.pools[1].members[0].sampled
        XCTAssertEqual(member.rate, 2)
        XCTAssertEqual(member.rateMax, 20)
        XCTAssertEqual(member.currentMax, 22)
        // The UDP listener was recorded too, with no traffic between samples.
        XCTAssertEqual(s.listeners[1].sampled.rate, 0)
        XCTAssertEqual(s.listeners[1].sampled.currentMax, 6)
        XCTAssertEqual(history.memberPoints(pool: "web", member: "web-1").count, 2)
    }

    func testApplyWithoutHistoryZeroesSampled() {
        var s = SnapshotFixture.make()
        RateHistory().apply(to: &s)
        XCTAssertEqual(s.listeners[0].sampled, Sampled())
        XCTAssertEqual(s.pools[1].members[0].sampled, Sampled())
    }

    func testRemovedSeriesAreForgotten() {
        var history = RateHistory()
        history.record(SnapshotFixture.make(), atMs: t0)
        history.record(SnapshotFixture.make(), atMs: t0 + 1000)
        XCTAssertEqual(history.memberPoints(pool: "dns", member: "dns-b").count, 1)
        var reloaded = SnapshotFixture.make()
        reloaded.pools[0].members.removeLast()
        reloaded.listeners.removeLast()
        history.record(reloaded, atMs: t0 + 2000)
        XCTAssertEqual(history.memberPoints(pool: "dns", member: "dns-b"), [])
        XCTAssertEqual(history.listenerPoints("dns"), [])
        // Back again: it starts over from a new baseline.
        history.record(SnapshotFixture.make(), atMs: t0 + 3000)
        XCTAssertEqual(history.listenerPoints("dns"), [])
        history.record(SnapshotFixture.make(), atMs: t0 + 4000)
        XCTAssertEqual(history.listenerPoints("dns").count, 1)
    }

    func testJSON() throws {
        var history = RateHistory()
        XCTAssertEqual(history.json(), #"{"listeners":{},"members":{}}"#)
        history.record(snapshot(accepted: 0, bytesIn: 0, bytesOut: 0, memberConnections: 0), atMs: t0)
        history.record(snapshot(accepted: 7, bytesIn: 70, bytesOut: 700, memberConnections: 3), atMs: t0 + 1000)
        let text = history.json()
        XCTAssertTrue(text.hasPrefix(#"{"listeners":{"web":[[1700000001,7,70,700]],"dns":[[1700000001,0,0,0]]},"#), text)
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: [String: [[Int]]]]
        XCTAssertEqual(object?["members"]?["web/web-1"], [[1_700_000_001, 3, 0, 0]])
        XCTAssertEqual(object?["members"]?.keys.sorted(), ["dns/dns-a", "dns/dns-b", "web/web-1", "web/web-2", "web/web-3"])
    }
}

final class RingBufferTests: XCTestCase {
    func testWrapsAround() {
        var ring = RingBuffer<Int>(capacity: 3)
        XCTAssertTrue(ring.isEmpty)
        XCTAssertNil(ring.last)
        ring.append(1)
        ring.append(2)
        XCTAssertEqual(ring.elements, [1, 2])
        XCTAssertEqual(ring.last, 2)
        for value in 3...7 { ring.append(value) }
        XCTAssertEqual(ring.elements, [5, 6, 7])
        XCTAssertEqual(ring.last, 7)
        XCTAssertEqual(ring.count, 3)
        ring.append(8)
        XCTAssertEqual(ring.elements, [6, 7, 8])
        XCTAssertEqual(ring.last, 8)
    }

    func testCapacityOne() {
        var ring = RingBuffer<String>(capacity: 1)
        ring.append("a")
        ring.append("b")
        XCTAssertEqual(ring.elements, ["b"])
        XCTAssertEqual(ring.last, "b")
    }
}
