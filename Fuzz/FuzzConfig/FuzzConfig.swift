// libFuzzer target for the whole config loader: the TOML parser, the drop-in merge, the schema
// and the validation, on one document (as fulcrum.toml) or two (split at a form feed, as
// fulcrum.toml and a drop-in, so merging is fuzzed too). Any crash, hang or sanitizer report
// is a bug; an error result is the expected answer to a bad document.
//
// Built by scripts/fuzz with -sanitize=fuzzer -DFUZZING; without FUZZING it is a replayer:
// `fuzz-config FILE…` runs each file once (how a reproducer is checked after a fix).

import FulcrumConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let parts = bytes.split(separator: 0x0C, maxSplits: 1, omittingEmptySubsequences: false)
    var sources: [(name: String, text: String)] = [("fulcrum.toml", String(decoding: parts[0], as: UTF8.self))]
    if parts.count > 1 { sources.append(("conf.d/50-fuzz.toml", String(decoding: parts[1], as: UTF8.self))) }
    _ = try? ConfigLoader.load(sources: sources, onlineCPUs: 2)
    return 0
}

#if !FUZZING
import FuzzSupport

@main
struct Replay {
    static func main() { replayFiles(fuzzConfig) }
}
#endif
