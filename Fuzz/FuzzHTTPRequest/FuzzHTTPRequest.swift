// libFuzzer target for the HTTP endpoint's request-head parser (HTTPRequestHead.parse), which
// reads whatever any local process sends to the metrics/status port. Invariants:
// - a request has an allowed method, a path starting with "/" and no "?" in the path, and
//   its bytes came within the first maxBytes of the input;
// - an answer never changes as more bytes arrive: every prefix of the input answers
//   .incomplete or the same as the whole input (the server parses again after each read);
// - a refusal's status is 400, 405, 431 or 505 and its reason one printable ASCII line.
//
// Built by scripts/fuzz with -sanitize=fuzzer -DFUZZING; without FUZZING it is a replayer:
// `fuzz-http-request FILE…` runs each file once.

import FulcrumStatus
#if !FUZZING
import FuzzSupport
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let whole = HTTPRequestHead.parse(bytes)
    switch whole {
    case .incomplete:
        invariant(bytes.count <= HTTPRequestHead.maxBytes, "\(bytes.count) bytes without a head still incomplete")
    case .request(let method, let path, let query):
        invariant(HTTPRequestHead.allowedMethods.contains(method), "method \(method) accepted")
        invariant(path.utf8.first == UInt8(ascii: "/"), "path \(path) does not start with /")
        invariant(!path.utf8.contains(UInt8(ascii: "?")), "path \(path) holds the query mark")
        if let query { invariant(!query.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }), "query \(query) has blanks or controls") }
    case .invalid(let status, let reason):
        invariant([400, 405, 431, 505].contains(status), "status \(status)")
        invariant(!reason.isEmpty && reason.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "reason \(reason) is not one printable line")
    }
    for length in prefixLengths(of: bytes.count) {
        let partial = HTTPRequestHead.parse(Array(bytes[..<length]))
        invariant(partial == .incomplete || partial == whole,
                  "the first \(length) of \(bytes.count) bytes answer \(partial), all of them \(whole)")
    }
    return 0
}

#if !FUZZING
@main
struct Replay {
    static func main() { replayFiles(fuzzHTTPRequest) }
}
#endif
