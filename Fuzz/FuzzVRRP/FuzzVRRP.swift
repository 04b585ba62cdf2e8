// libFuzzer target for the VRRP receive path: IPv4Header.parse, VRRPAdvert.decode (with its
// checksum) and the VRRPRouter state machine, on what a raw socket hands the daemon. The
// input is one IP packet: IPv4 with its header (as the IPv4 raw socket delivers it), or a
// 40-byte IPv6 header and the payload (the IPv6 socket delivers only the payload; source,
// destination and hop limit come from ancillary data, which the header stands in for).
//
// Random bytes almost never carry a right checksum, so each packet is decoded twice: as it
// came, and with its checksum field recomputed, so the fuzzer also reaches what lies behind
// the checksum. The expected VRID is the packet's own. Invariants:
// - the IPv4 payload lies within the input, after a header of at least 20 bytes;
// - decoding from a slice that does not start at 0 answers as decoding from an array;
// - an advert carries as many addresses as its count byte, all of the family, and an
//   interval in 1...4095; encoded again it decodes to itself, and it is the very packet
//   when the reserved bits are zero;
// - fed to a backup router (whose virtual addresses are the advert's) at start, then timers,
//   the router never traps, keeps a deadline while running, and stops cleanly.
//
// Built by scripts/fuzz with -sanitize=fuzzer -DFUZZING; without FUZZING it is a replayer:
// `fuzz-vrrp FILE…` runs each file once.

import FulcrumAddress
import FulcrumVRRP
#if !FUZZING
import FuzzSupport
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVRRP(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let packet = Packet(bytes) else { return 0 }
    var payload = Array(bytes[packet.payload])
    check(packet, payload: payload, inSlice: bytes[packet.payload])
    if payload.count >= VRRPAdvert.headerLength {
        payload[6] = 0
        payload[7] = 0
        let sum = VRRPChecksum.compute(over: payload, source: packet.source, destination: packet.destination)
        payload[6] = UInt8(sum >> 8)
        payload[7] = UInt8(sum & 0xFF)
        invariant(VRRPChecksum.compute(over: payload, source: packet.source, destination: packet.destination) == 0,
                  "a packet with its checksum filled in does not verify")
        let shifted = [0xFF] + payload
        check(packet, payload: payload, inSlice: shifted[1...])
    }
    return 0
}

private struct Packet {
    var source: IPAddress
    var destination: IPAddress
    var ttl: UInt8
    var family: VRRPFamily
    var payload: Range<Int>

    init?(_ bytes: [UInt8]) {
        if let header = IPv4Header.parse(bytes) {
            invariant(header.payload.lowerBound >= 20 && header.payload.upperBound <= bytes.count
                      && header.payload.lowerBound <= header.payload.upperBound, "IPv4 payload \(header.payload)")
            invariant(header.source.isIPv4 && header.destination.isIPv4, "IPv4 header with IPv6 addresses")
            (source, destination, ttl, family, payload) = (header.source, header.destination, header.ttl, .ipv4, header.payload)
        } else if bytes.count >= 40, bytes[0] >> 4 == 6 {
            func address(_ at: Int) -> IPAddress {
                .v6(bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) }, bytes[at + 8..<at + 16].reduce(0) { $0 << 8 | UInt64($1) })
            }
            (source, destination, ttl, family, payload) = (address(8), address(24), bytes[7], .ipv6, 40..<bytes.count)
        } else {
            return nil
        }
    }
}

private func check(_ packet: Packet, payload: [UInt8], inSlice slice: ArraySlice<UInt8>) {
    let vrid = payload.count > 1 ? payload[1] : 1
    let decoded = VRRPAdvert.decode(payload: payload, source: packet.source, destination: packet.destination,
                                    ttlOrHopLimit: packet.ttl, expectedVRID: vrid, family: packet.family)
    let fromSlice = VRRPAdvert.decode(payload: slice, source: packet.source, destination: packet.destination,
                                      ttlOrHopLimit: packet.ttl, expectedVRID: vrid, family: packet.family)
    invariant(decoded == fromSlice, "decoded from an array: \(decoded), from a slice: \(fromSlice)")
    guard case .success(let advert) = decoded else { return }

    invariant(advert.virtualRouterID == vrid, "VRID \(advert.virtualRouterID), expected \(vrid)")
    invariant(advert.addresses.count == Int(payload[3]), "\(advert.addresses.count) addresses, count byte \(payload[3])")
    invariant(advert.addresses.allSatisfy { VRRPFamily(of: $0) == packet.family }, "addresses of another family")
    invariant((1...4095).contains(advert.maxAdvertInterval.centiseconds), "interval \(advert.maxAdvertInterval)")
    let encoded = advert.encode(source: packet.source, destination: packet.destination)
    let again = VRRPAdvert.decode(payload: encoded, source: packet.source, destination: packet.destination,
                                  ttlOrHopLimit: VRRPAdvert.requiredTTL, expectedVRID: vrid, family: packet.family)
    invariant(again == .success(advert), "\(advert) encoded and decoded again: \(again)")
    if payload[4] & 0xF0 == 0 {
        invariant(encoded == payload, "\(advert) encodes as \(encoded), received \(payload)")
    }
    drive(advert, from: packet.source, family: packet.family)
}

/// A backup with the advert's addresses hears it, waits out its timers, and shuts down.
private func drive(_ advert: VRRPAdvert, from source: IPAddress, family: VRRPFamily) {
    let primary: IPAddress = family == .ipv4 ? .v4(0xC612_0001) : .v6(0xFE80_0000_0000_0000, 1)
    guard let configuration = try? VRRPRouterConfiguration(
        virtualRouterID: advert.virtualRouterID == 0 ? 1 : advert.virtualRouterID, priority: 100,
        primaryAddress: primary, virtualAddresses: advert.addresses)
    else { return }
    var router = VRRPRouter(configuration: configuration)
    var now = VRRPInstant.milliseconds(1000)
    let started = router.start(now: now)
    invariant(router.state == .backup && started.nextDeadline != nil, "after start: \(router.state), \(started)")
    for step in 0..<4 {
        now = now + .milliseconds(1)
        _ = router.received(advert, from: source, now: now)
        invariant(router.state != .initialize && router.nextDeadline != nil, "step \(step) after an advert: \(router.status)")
        guard let deadline = router.nextDeadline else { return }
        invariant(deadline > now, "deadline \(deadline) not after \(now)")
        now = deadline
        _ = router.timerExpired(now: now)
        invariant(router.nextDeadline != nil, "step \(step) after a timer: \(router.status)")
    }
    _ = router.shutdown(now: now)
    invariant(router.state == .initialize, "after shutdown: \(router.state)")
}

#if !FUZZING
@main
struct Replay {
    static func main() { replayFiles(fuzzVRRP) }
}
#endif
