/// One line of the status-socket protocol, parsed. The socket takes one command per line and
/// ends every reply with an empty line; an error reply is one line starting with `error:`.
public enum StatusCommand: Sendable, Equatable {
    case help
    case showInfo
    /// `show stat` (CSV) or `show stat json`.
    case showStat(json: Bool)
    /// `show members [POOL]`.
    case showMembers(pool: String?)
    case showHA
    case showMetrics
    /// `set member POOL/MEMBER state ready|drain|maint`.
    case setState(pool: String, member: String, state: AdminState)
    /// `set member POOL/MEMBER weight N`, N in 0...256.
    case setWeight(pool: String, member: String, weight: Int)
    /// `shutdown sessions member POOL/MEMBER`.
    case shutdownSessions(pool: String, member: String)
    /// `quit`: the server closes the connection after the (empty) reply.
    case quit

    /// Whether the read-only socket may run it.
    public var isReadOnly: Bool {
        switch self {
        case .help, .showInfo, .showStat, .showMembers, .showHA, .showMetrics, .quit: return true
        case .setState, .setWeight, .shutdownSessions: return false
        }
    }
}
