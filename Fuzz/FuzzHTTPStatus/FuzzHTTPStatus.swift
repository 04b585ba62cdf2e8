// libFuzzer target for the health checker's HTTP status-line parser (HTTPStatusLine.parse),
// which reads whatever a member answers to an HTTP check. Invariants:
// - a status code is in 100...599; the end of the headers, when found, is within the input
//   and just past an LF;
// - the same bytes in a slice that does not start at index 0 (how the checker's read buffer
//   is passed) give the same answer;
// - an answer never changes as more bytes arrive: every prefix answers .incomplete, or the
//   same code (the header end may still be missing), or a refusal when the whole is refused.
//
// scripts/fuzz compiles Sources/FulcrumHealth/Codecs/HTTPCheck.swift and TLSClientHello.swift
// (pure Swift, no imports) into a module named FulcrumHealth, so the harness does not link
// OpenSSL, libcap and the checker thread. Without FUZZING it is a replayer linked against the
// real FulcrumHealth: `fuzz-http-status FILE…` runs each file once.

import FulcrumHealth
#if !FUZZING
import FuzzSupport
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPStatus(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let whole = HTTPStatusLine.parse(bytes)
    switch whole {
    case .incomplete, .malformed:
        break
    case .status(let code, let headerBytes):
        invariant((100...599).contains(code), "status code \(code)")
        if let headerBytes {
            invariant(headerBytes > 0 && headerBytes <= bytes.count, "header end \(headerBytes) of \(bytes.count)")
            invariant(bytes[headerBytes - 1] == UInt8(ascii: "\n"), "header end \(headerBytes) not after an LF")
        }
    }
    let shifted = [0x7E, 0x7E, 0x7E] + bytes
    let inSlice = HTTPStatusLine.parse(shifted[3...])
    invariant(inSlice == whole, "in a slice at 3: \(inSlice), in an array: \(whole)")
    for length in prefixLengths(of: bytes.count) {
        let partial = HTTPStatusLine.parse(Array(bytes[..<length]))
        switch (partial, whole) {
        case (.incomplete, _):
            break
        case (.malformed, .malformed):
            break  // the reason quotes the bytes received so far, so its text may grow
        case (.status(let code, let end), .status(let wholeCode, let wholeEnd)):
            invariant(code == wholeCode && (end == nil || end == wholeEnd),
                      "the first \(length) bytes answer \(partial), all \(bytes.count) \(whole)")
        default:
            invariant(partial == whole, "the first \(length) bytes answer \(partial), all \(bytes.count) \(whole)")
        }
    }
    return 0
}

#if !FUZZING
@main
struct Replay {
    static func main() { replayFiles(fuzzHTTPStatus) }
}
#endif
