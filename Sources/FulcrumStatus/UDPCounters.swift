/// Per-UDP-listener counters: one worker's values, or the sum over workers in a snapshot.
public struct UDPListenerCounters: Sendable, Equatable {
    public var datagramsIn = 0
    public var bytesIn = 0
    public var datagramsOut = 0
    public var bytesOut = 0
    public var sessionsCreated = 0
    public var sessionsExpired = 0
    public var sessionsEvicted = 0
    /// Sessions ended for any reason (expired, evicted, no member left, shutdown);
    /// sessionsCreated - sessionsClosed = live now.
    public var sessionsClosed = 0
    /// Datagrams larger than the receive buffer (MSG_TRUNC): dropped, never forwarded cut.
    public var truncated = 0
    /// Datagrams from sources outside allowed_cidrs.
    public var denied = 0
    /// Datagrams that found no member, or that a socket would not take.
    public var dropped = 0

    public init() {}

    public static func + (a: UDPListenerCounters, b: UDPListenerCounters) -> UDPListenerCounters {
        var s = a
        s.datagramsIn += b.datagramsIn
        s.bytesIn += b.bytesIn
        s.datagramsOut += b.datagramsOut
        s.bytesOut += b.bytesOut
        s.sessionsCreated += b.sessionsCreated
        s.sessionsExpired += b.sessionsExpired
        s.sessionsEvicted += b.sessionsEvicted
        s.sessionsClosed += b.sessionsClosed
        s.truncated += b.truncated
        s.denied += b.denied
        s.dropped += b.dropped
        return s
    }
}

/// Per-member UDP counters.
public struct UDPMemberCounters: Sendable, Equatable {
    /// Sessions assigned to this member (created here, or moved here from a failed member).
    public var sessions = 0
    /// Of those, sessions that have since ended (expired, evicted, moved away).
    public var sessionsEnded = 0
    public var datagramsTo = 0
    public var bytesTo = 0
    public var datagramsFrom = 0
    public var bytesFrom = 0
    /// ICMP port unreachable reported back (ECONNREFUSED on the session's socket).
    public var refused = 0

    public init() {}

    public static func + (a: UDPMemberCounters, b: UDPMemberCounters) -> UDPMemberCounters {
        var s = a
        s.sessions += b.sessions
        s.sessionsEnded += b.sessionsEnded
        s.datagramsTo += b.datagramsTo
        s.bytesTo += b.bytesTo
        s.datagramsFrom += b.datagramsFrom
        s.bytesFrom += b.bytesFrom
        s.refused += b.refused
        return s
    }
}
