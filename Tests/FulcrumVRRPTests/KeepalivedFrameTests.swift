import FulcrumAddress
import FulcrumVRRP
import XCTest

/// keepalived 2.2.7's own adverts (vrrp_version 3), captured on a veth: the codec must read
/// them exactly and write the same bytes back — the interoperability the issue asks for,
/// checked against code nobody on this team wrote.
final class KeepalivedFrameTests: XCTestCase {
    func testIPv4AdvertPriority200() throws {
        let frame = try CapturedFrame(fixture: "keepalived-v3-ipv4-advert-prio200")
        XCTAssertEqual(frame.source, ip("198.18.0.11"))
        XCTAssertEqual(frame.destination, ip("224.0.0.18"))
        XCTAssertEqual(frame.destination, VRRPFamily.ipv4.multicastGroup)
        XCTAssertEqual(frame.ttlOrHopLimit, 255)
        XCTAssertEqual(frame.protocolNumber, VRRPChecksum.ipProtocolNumber)
        let advert = try frame.decode(expectedVRID: 42).get()
        XCTAssertEqual(advert, VRRPAdvert(virtualRouterID: 42, priority: 200, maxAdvertInterval: interval(10),
                                          addresses: [ip("198.18.0.100")]))
        XCTAssertEqual(advert.encode(source: frame.source, destination: frame.destination), frame.payload)
    }

    func testIPv4AdvertPriority0() throws {
        let frame = try CapturedFrame(fixture: "keepalived-v3-ipv4-advert-prio0")
        let advert = try frame.decode(expectedVRID: 42).get()
        XCTAssertEqual(advert.priority, VRRPAdvert.shutdownPriority)
        XCTAssertEqual(advert.virtualRouterID, 42)
        XCTAssertEqual(advert.maxAdvertInterval, interval(10))
        XCTAssertEqual(advert.addresses, [ip("198.18.0.100")])
        XCTAssertEqual(advert.encode(source: frame.source, destination: frame.destination), frame.payload)
    }

    func testIPv6AdvertPriority150() throws {
        let frame = try CapturedFrame(fixture: "keepalived-v3-ipv6-advert-prio150")
        XCTAssertEqual(frame.source, ip("fe80::3470:6bff:fe92:f2b3"))
        XCTAssertEqual(frame.destination, ip("ff02::12"))
        XCTAssertEqual(frame.destination, VRRPFamily.ipv6.multicastGroup)
        XCTAssertEqual(frame.ttlOrHopLimit, 255)
        XCTAssertEqual(frame.protocolNumber, VRRPChecksum.ipProtocolNumber)
        let advert = try frame.decode(expectedVRID: 43).get()
        XCTAssertEqual(advert, VRRPAdvert(virtualRouterID: 43, priority: 150, maxAdvertInterval: interval(10),
                                          addresses: [ip("fd00:198:18::100")]))
        XCTAssertEqual(advert.encode(source: frame.source, destination: frame.destination), frame.payload)
    }

    func testIPv6AdvertPriority0() throws {
        let frame = try CapturedFrame(fixture: "keepalived-v3-ipv6-advert-prio0")
        let advert = try frame.decode(expectedVRID: 43).get()
        XCTAssertEqual(advert, VRRPAdvert(virtualRouterID: 43, priority: 0, maxAdvertInterval: interval(10),
                                          addresses: [ip("fd00:198:18::100")]))
        XCTAssertEqual(advert.encode(source: frame.source, destination: frame.destination), frame.payload)
    }

    /// The stored checksum verifies under our pseudo-header computation: the sum over
    /// pseudo-header and packet, checksum included, is all ones.
    func testCapturedChecksumsVerify() throws {
        for name in ["keepalived-v3-ipv4-advert-prio200", "keepalived-v3-ipv4-advert-prio0",
                     "keepalived-v3-ipv6-advert-prio150", "keepalived-v3-ipv6-advert-prio0"] {
            let frame = try CapturedFrame(fixture: name)
            XCTAssertEqual(VRRPChecksum.compute(over: frame.payload, source: frame.source, destination: frame.destination), 0, name)
        }
        let v4 = try CapturedFrame(fixture: "keepalived-v3-ipv4-advert-prio200")
        XCTAssertEqual(v4.payload[6...7], [0x99, 0xA6])
        let v6 = try CapturedFrame(fixture: "keepalived-v3-ipv6-advert-prio150")
        XCTAssertEqual(v6.payload[6...7], [0xA9, 0x43])
    }

    /// A keepalived advert drives our state machine as a peer's would: a backup of lower
    /// priority follows it, and its priority-0 advert hands over after Skew_Time.
    func testKeepalivedMasterDrivesOurBackup() throws {
        let configuration = try VRRPRouterConfiguration(
            virtualRouterID: 42, priority: 100, advertInterval: interval(10),
            primaryAddress: ip("198.18.0.12"), virtualAddresses: [ip("198.18.0.100")])
        var router = VRRPRouter(configuration: configuration)
        _ = router.start(now: ms(0))
        let advert = try CapturedFrame(fixture: "keepalived-v3-ipv4-advert-prio200").decode(expectedVRID: 42).get()
        XCTAssertEqual(router.received(advert, from: ip("198.18.0.11"), now: ms(50)).actions, [])
        XCTAssertEqual(router.masterAddress, ip("198.18.0.11"))
        let goodbye = try CapturedFrame(fixture: "keepalived-v3-ipv4-advert-prio0").decode(expectedVRID: 42).get()
        let output = router.received(goodbye, from: ip("198.18.0.11"), now: ms(100))
        XCTAssertEqual(output.nextDeadline, ms(100) + VRRPTiming.skewTime(priority: 100, masterAdvertInterval: interval(10)))
        let takeover = router.timerExpired(now: output.nextDeadline!)
        XCTAssertEqual(takeover.actions, [.sendAdvert(priority: 100), .becomeMaster(.masterShutDown(master: ip("198.18.0.11")))])
    }
}
