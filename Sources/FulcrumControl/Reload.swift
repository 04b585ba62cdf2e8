/// What a reload did, as the status socket, fulcrumctl and the log say it.
public enum ReloadOutcome: Sendable, Equatable {
    /// In force: how long it took, the one-line summary and one line per change.
    case applied(microseconds: Int, summary: String, changes: [String])
    /// Nothing changed: every problem found (file:line for config errors).
    case refused([String])

    /// The status-socket reply: `reloaded in N ms: summary` and the changes, or one `error:`
    /// line per problem after a first that says nothing changed.
    public var replyText: String {
        switch self {
        case let .applied(us, summary, changes):
            return (["reloaded in \(ReloadOutcome.millisecondsText(us)) ms: \(summary)"] + changes).map { $0 + "\n" }.joined()
        case let .refused(problems):
            let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
            return (["reload refused, nothing changed: \(count)"] + problems).map { "error: \($0)\n" }.joined()
        }
    }
}

extension ReloadOutcome {
    /// Microseconds as milliseconds with one decimal: "0.8", "12.0".
    public static func millisecondsText(_ microseconds: Int) -> String {
        let tenths = (microseconds + 50) / 100
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// Who asked for a reload: the log line says so.
public enum ReloadTrigger: Sendable, CustomStringConvertible {
    case signal
    case statusSocket(Peer?)

    public var description: String {
        switch self {
        case .signal: return "SIGHUP"
        case let .statusSocket(peer?): return "status socket (pid \(peer.pid), uid \(peer.uid))"
        case .statusSocket(nil): return "status socket"
        }
    }
}

/// Applies the configuration on disk; runs on the control thread, one at a time.
public typealias Reload = @Sendable (ReloadTrigger) -> ReloadOutcome
