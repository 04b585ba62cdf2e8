/// Per-listener TCP counters: one worker's values, or the sum over workers in a snapshot.
/// Workers keep them in single-writer atomic cells (FulcrumForwarding's CounterBlock) that
/// any thread may read while they run.
public struct ListenerCounters: Sendable, Equatable {
    /// Every accepted socket, including those refused or denied below.
    public var accepted = 0
    /// Closed at once: the listener's connection_limit was reached.
    public var refusedLimit = 0
    /// Closed at once: the source is outside allowed_cidrs.
    public var deniedCIDR = 0
    /// Closed at once: the pool had no member that could take it.
    public var noMember = 0
    /// Closed after every connect attempt to members failed.
    public var connectFailed = 0
    /// Closed by timeout_client_data / timeout_member_data.
    public var idleTimeouts = 0
    /// Accepted connections that have ended (for any reason); accepted - closed = open now.
    public var closed = 0
    /// Payload bytes read from clients / written to clients.
    public var bytesIn = 0
    public var bytesOut = 0

    public init() {}

    public static func + (a: ListenerCounters, b: ListenerCounters) -> ListenerCounters {
        var s = a
        s.accepted += b.accepted
        s.refusedLimit += b.refusedLimit
        s.deniedCIDR += b.deniedCIDR
        s.noMember += b.noMember
        s.connectFailed += b.connectFailed
        s.idleTimeouts += b.idleTimeouts
        s.closed += b.closed
        s.bytesIn += b.bytesIn
        s.bytesOut += b.bytesOut
        return s
    }
}

/// Per-member TCP counters, kept per worker like ListenerCounters.
public struct MemberCounters: Sendable, Equatable {
    /// Connections established to this member.
    public var connections = 0
    /// Connect attempts that failed (refused, unreachable, timed out).
    public var connectFailures = 0
    /// Of those, attempts that hit timeout_member_connect.
    public var connectTimeouts = 0
    /// Payload bytes sent to / received from this member.
    public var bytesToMember = 0
    public var bytesFromMember = 0
    /// Connections closed because the health monitor marked the member down (shutdown_sessions)
    /// or an operator asked (`shutdown sessions member`).
    public var shutDownOnDown = 0
    /// Established connections to this member that have ended; connections - closed = open now.
    public var closed = 0

    public init() {}

    public static func + (a: MemberCounters, b: MemberCounters) -> MemberCounters {
        var s = a
        s.connections += b.connections
        s.connectFailures += b.connectFailures
        s.connectTimeouts += b.connectTimeouts
        s.bytesToMember += b.bytesToMember
        s.bytesFromMember += b.bytesFromMember
        s.shutDownOnDown += b.shutDownOnDown
        s.closed += b.closed
        return s
    }
}
