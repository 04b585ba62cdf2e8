import ArgumentParser

/// A member named as POOL/MEMBER on the command line, as the socket protocol names it.
///
/// Only the shape is checked here; whether the pool and member exist, and what a valid
/// name is, is the daemon's call (it answers `error: ...`, exit status 1). Whitespace and
/// control characters are refused because the name is sent inside a command line: a
/// newline would start a second command.
struct MemberReference: ExpressibleByArgument, CustomStringConvertible {
    let pool: String
    let member: String

    init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              !argument.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else { return nil }
        pool = String(parts[0])
        member = String(parts[1])
    }

    var description: String { pool + "/" + member }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// A pool name sent inside a command line: the same rule as above, for the same reason.
struct PoolName: ExpressibleByArgument {
    let name: String

    init?(argument: String) {
        guard !argument.isEmpty, !argument.contains("/"),
              !argument.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else { return nil }
        name = argument
    }
}
