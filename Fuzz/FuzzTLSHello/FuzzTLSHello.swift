// libFuzzer target for the TLS health check's reply classifier (TLSClientHello.classify),
// which reads the first record a member sends back after the check's ClientHello.
// Invariants:
// - an alert's level is 1 or 2;
// - the same bytes in a slice that does not start at index 0 give the same answer;
// - an answer never changes as more bytes arrive: every prefix answers .incomplete or the
//   same as the whole input ("incomplete always means a prefix of a valid answer").
//
// scripts/fuzz compiles Sources/FulcrumHealth/Codecs/HTTPCheck.swift and TLSClientHello.swift
// (pure Swift, no imports) into a module named FulcrumHealth, so the harness does not link
// OpenSSL, libcap and the checker thread. Without FUZZING it is a replayer linked against the
// real FulcrumHealth: `fuzz-tls-hello FILE…` runs each file once.

import FulcrumHealth
#if !FUZZING
import FuzzSupport
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLSHello(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let whole = TLSClientHello.classify(bytes)
    if case .alert(let level, _) = whole {
        invariant(level == 1 || level == 2, "alert level \(level)")
    }
    if case .notTLS(let reason) = whole {
        invariant(!reason.isEmpty && reason.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "reason \(reason)")
    }
    let shifted = [0x16, 0x03, 0x03] + bytes
    let inSlice = TLSClientHello.classify(shifted[3...])
    invariant(inSlice == whole, "in a slice at 3: \(inSlice), in an array: \(whole)")
    for length in prefixLengths(of: bytes.count) {
        let partial = TLSClientHello.classify(Array(bytes[..<length]))
        invariant(partial == .incomplete || partial == whole,
                  "the first \(length) of \(bytes.count) bytes answer \(partial), all of them \(whole)")
    }
    return 0
}

#if !FUZZING
@main
struct Replay {
    static func main() { replayFiles(fuzzTLSHello) }
}
#endif
