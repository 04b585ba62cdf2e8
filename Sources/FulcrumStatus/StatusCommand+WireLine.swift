/// The text of a command as sent on the socket: the inverse of `StatusCommand.parse`, which
/// the daemon runs on it. fulcrumctl builds its lines from the shared enum, which keeps it and
/// the daemon on one grammar (a renamed case breaks this file at compile time, not in
/// production); the status-command fuzz target checks parse(wireLine) round trips.
extension StatusCommand {
    public var wireLine: String {
        switch self {
        case .help: return "help"
        case .showInfo: return "show info"
        case let .showStat(json): return json ? "show stat json" : "show stat"
        case let .showMembers(pool): return pool.map { "show members \($0)" } ?? "show members"
        case .showHA: return "show ha"
        case .showAnycast: return "show anycast"
        case .showMetrics: return "show metrics"
        case let .setState(pool, member, state): return "set member \(pool)/\(member) state \(state.rawValue)"
        case let .setWeight(pool, member, weight): return "set member \(pool)/\(member) weight \(weight)"
        case let .shutdownSessions(pool, member): return "shutdown sessions member \(pool)/\(member)"
        case let .anycast(steer, vip): return vip.map { "anycast \(steer.rawValue) \($0)" } ?? "anycast \(steer.rawValue)"
        case .reload: return "reload"
        case .quit: return "quit"
        }
    }
}
