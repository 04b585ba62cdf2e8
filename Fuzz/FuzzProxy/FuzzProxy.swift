// libFuzzer target for the PROXY protocol v1/v2 parser (ProxyHeaderParser.parse), which reads
// the first bytes a listener with accept_proxy receives from anyone who can connect.
// Invariants:
// - a complete header is within the input: 0 < length <= count; v1 at most 107 bytes; v2
//   exactly 16 + its length field;
// - bytes after the header are not looked at: parsing only the header's bytes answers the same;
// - an answer never changes as more bytes arrive: every prefix answers .needMoreBytes or the
//   same as the whole input;
// - round trip: a header with addresses, written again by ProxyHeader.encode, parses back to
//   the same endpoints and transport; for v2 without TLVs and for v1 TCP4 (whose text is
//   canonical) the bytes are the very same.
//
// Built by scripts/fuzz with -sanitize=fuzzer -DFUZZING; without FUZZING it is a replayer:
// `fuzz-proxy FILE…` runs each file once.

import FulcrumAddress
import FulcrumProxyProtocol
#if !FUZZING
import FuzzSupport
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProxy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let whole = ProxyHeaderParser.parse(bytes)
    for length in prefixLengths(of: bytes.count) {
        let partial = ProxyHeaderParser.parse(Array(bytes[..<length]))
        invariant(partial == .needMoreBytes || partial == whole,
                  "the first \(length) of \(bytes.count) bytes answer \(partial), all of them \(whole)")
    }
    switch whole {
    case .needMoreBytes:
        // v2's length field can announce up to 65,551 bytes; v1 must end within 107.
        invariant(bytes.count < 16 + 65535, "\(bytes.count) bytes still not enough")
    case .invalid(let message):
        invariant(!message.isEmpty, "empty message")
    case .complete(let header):
        checkComplete(header, bytes)
    }
    return 0
}

private func checkComplete(_ header: ParsedProxyHeader, _ bytes: [UInt8]) {
    invariant(header.length > 0 && header.length <= bytes.count, "length \(header.length) of \(bytes.count) bytes")
    let own = Array(bytes[..<header.length])
    invariant(ProxyHeaderParser.parse(own) == .complete(header), "the header alone parses differently")
    switch header.version {
    case .v1:
        invariant(header.length <= 107, "v1 header of \(header.length) bytes")
        invariant(header.transport == nil || header.transport == .stream, "v1 datagram")
    case .v2:
        invariant(header.length == 16 + (Int(bytes[14]) << 8 | Int(bytes[15])), "v2 length \(header.length)")
    }
    guard let transport = header.transport, let client = header.client, let listener = header.listener else {
        invariant(header.transport == nil && header.client == nil && header.listener == nil, "half a header: \(header)")
        return
    }
    invariant(client.address.isIPv4 == listener.address.isIPv4, "mixed families: \(header)")
    let encoded = ProxyHeader.bytes(header.version, transport: transport, client: client, listener: listener)
    guard case .complete(let again) = ProxyHeaderParser.parse(encoded) else {
        fatalError("fuzz invariant violated: \(header) encoded as \(encoded) does not parse")
    }
    invariant(again.client == client && again.listener == listener && again.transport == transport
              && again.version == header.version, "\(header) encoded and parsed again is \(again)")
    let exact: Bool
    switch header.version {
    case .v1: exact = client.address.isIPv4
    case .v2: exact = header.length == (client.address.isIPv4 ? 28 : 52) && bytes[12] == 0x21
    }
    if exact { invariant(encoded == own, "\(header) encodes as \(encoded), received \(own)") }
}

#if !FUZZING
@main
struct Replay {
    static func main() { replayFiles(fuzzProxy) }
}
#endif
