/// One line of the status-socket protocol, parsed. The socket takes one command per line and
/// ends every reply with an empty line; an error reply starts with `error:` (one line, except a
/// refused `reload`, whose every line does).
public enum StatusCommand: Sendable, Equatable {
    case help
    case showInfo
    /// `show stat` (CSV) or `show stat json`.
    case showStat(json: Bool)
    /// `show members [POOL]`.
    case showMembers(pool: String?)
    case showHA
    case showAnycast
    case showMetrics
    /// `set member POOL/MEMBER state ready|drain|maint`.
    case setState(pool: String, member: String, state: AdminState)
    /// `set member POOL/MEMBER weight N`, N in 0...256.
    case setWeight(pool: String, member: String, weight: Int)
    /// `shutdown sessions member POOL/MEMBER`.
    case shutdownSessions(pool: String, member: String)
    /// `anycast withdraw|announce [VIP]`: take anycast VIPs off the interface and keep them off
    /// (a node drain), or let them follow announce_when again. nil = every VIP; a VIP is kept
    /// in canonical text (IPLiteral), the way `show anycast` lists it.
    case anycast(steer: AnycastSteer, vip: String?)
    /// `reload`: load the config directory again and apply it in place, or refuse it whole.
    /// The reply is `reloaded in N ms: SUMMARY` and one line per change, or, refused, only
    /// `error:` lines (the count, then every problem): many lines, unlike other refusals.
    case reload
    /// `quit`: the server closes the connection after the (empty) reply.
    case quit

    /// Whether the read-only socket may run it.
    public var isReadOnly: Bool {
        switch self {
        case .help, .showInfo, .showStat, .showMembers, .showHA, .showAnycast, .showMetrics, .quit: return true
        // A reload changes everything the config says, and a withdrawn VIP moves a site's
        // traffic elsewhere: never for monitoring agents.
        case .setState, .setWeight, .shutdownSessions, .anycast, .reload: return false
        }
    }
}
