// Shared by the fuzz harnesses. scripts/fuzz compiles this file into each libFuzzer binary
// (same module as the harness); the plain SwiftPM build links it as the FuzzSupport module,
// which is what the replayers (`swift build --product fuzz-TARGET`) use.

#if canImport(Glibc)
import Glibc
#endif

/// An invariant of the code under test. A violation is a crash, so libFuzzer reports it and
/// saves the input like any other crash.
@inline(__always)
public func invariant(_ condition: Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError("fuzz invariant violated: \(message())", file: file, line: line) }
}

/// Which prefix lengths of an input an incremental-parser harness checks: all of them for
/// short inputs, else 64 spread evenly plus the last 8: the parsers are linear, so checking
/// every prefix of a 64 KiB input would make one run quadratic.
public func prefixLengths(of count: Int) -> [Int] {
    if count <= 256 { return Array(0..<count) }
    var lengths = Set((0..<64).map { $0 * count / 64 })
    for back in 1...8 { lengths.insert(count - back) }
    return lengths.sorted()
}

/// The replayer's main: runs `body` once on each file named on the command line and says so;
/// a crash reproduces the libFuzzer failure under a debugger or with a backtrace.
public func replayFiles(_ body: (UnsafePointer<UInt8>?, Int) -> Int32) {
    let paths = CommandLine.arguments.dropFirst()
    if paths.isEmpty {
        print("usage: \(CommandLine.arguments.first ?? "fuzz-replayer") FILE...  (runs the harness once on each file)")
        exit(2)
    }
    for path in paths {
        guard let file = fopen(path, "rb") else {
            print("\(path): cannot open")
            exit(1)
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        fclose(file)
        _ = bytes.withUnsafeBufferPointer { body($0.baseAddress, $0.count) }
        print("\(path): \(bytes.count) bytes, no crash")
    }
}
