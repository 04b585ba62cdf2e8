// libFuzzer target for the status-socket command parser (StatusCommand.parse). The input is
// what a client writes to the socket: it is cut into lines at LF and decoded as UTF-8, as
// ControlServer does, and each line is parsed. Invariants checked on every line:
// - a parsed command has valid names (1...64 of A-Z a-z 0-9 _ . -), a weight in 0...256 and
//   an anycast VIP in canonical address text (lower-case hex digits, dots, colons);
// - a parsed command, written back as fulcrumctl writes it, parses to the same command;
// - an error is one line of printable ASCII (the socket ends a reply at an empty line, and
//   the client's bytes are echoed in it), so no input can forge or break a reply.
//
// Built by scripts/fuzz with -sanitize=fuzzer -DFUZZING; without FUZZING it is a replayer:
// `fuzz-status-command FILE…` runs each file once.

import FulcrumStatus
#if !FUZZING
import FuzzSupport
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStatusCommand(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { UnsafeBufferPointer(start: $0, count: size) } ?? UnsafeBufferPointer(start: nil, count: 0)
    for lineBytes in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        let line = String(decoding: lineBytes, as: UTF8.self)
        check(line[...])
    }
    return 0
}

private func check(_ line: Substring) {
    switch StatusCommand.parse(line) {
    case .success(let command):
        checkValues(command)
        let again = StatusCommand.parse(command.wireLine[...])
        invariant(again == .success(command), "\(command) written as \"\(command.wireLine)\" parses to \(again)")
    case .failure(let error):
        invariant(!error.message.isEmpty, "empty error message")
        invariant(error.message.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F },
                  "error message is not one printable ASCII line: \(Array(error.message.utf8))")
    }
}

private func checkValues(_ command: StatusCommand) {
    func validName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }
    switch command {
    case .showMembers(let pool?):
        invariant(validName(pool), "pool name \(Array(pool.utf8)) accepted")
    case .setState(let pool, let member, _), .shutdownSessions(let pool, let member):
        invariant(validName(pool) && validName(member), "names \(pool)/\(member) accepted")
    case .anycast(_, let vip?):
        // Canonical address text only: what `show anycast` lists, and nothing a line could hide.
        invariant((2...45).contains(vip.utf8.count) && vip.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        }, "VIP \(Array(vip.utf8)) accepted")
    case .setWeight(let pool, let member, let weight):
        invariant(validName(pool) && validName(member), "names \(pool)/\(member) accepted")
        invariant((0...256).contains(weight), "weight \(weight) out of 0...256")
    default:
        break
    }
}

#if !FUZZING
@main
struct Replay {
    static func main() { replayFiles(fuzzStatusCommand) }
}
#endif
