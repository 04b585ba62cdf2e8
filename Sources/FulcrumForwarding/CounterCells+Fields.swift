import Atomics
import FulcrumStatus

// Cell views of the FulcrumStatus counter structs, one property per field, same names, so
// `counters[i].field += n` reads as it did when the counters were plain structs.

public struct ListenerCells: CounterCells {
    let base: UnsafeMutablePointer<CounterStorage>
    public static let fieldCount = 9

    public init(base: UnsafeMutablePointer<CounterStorage>) { self.base = base }

    public var accepted: Int {
        @inline(__always) get { Self.load(base, 0) }
        @inline(__always) nonmutating set { Self.store(base, 0, newValue) }
    }
    public var refusedLimit: Int {
        @inline(__always) get { Self.load(base, 1) }
        @inline(__always) nonmutating set { Self.store(base, 1, newValue) }
    }
    public var deniedCIDR: Int {
        @inline(__always) get { Self.load(base, 2) }
        @inline(__always) nonmutating set { Self.store(base, 2, newValue) }
    }
    public var noMember: Int {
        @inline(__always) get { Self.load(base, 3) }
        @inline(__always) nonmutating set { Self.store(base, 3, newValue) }
    }
    public var connectFailed: Int {
        @inline(__always) get { Self.load(base, 4) }
        @inline(__always) nonmutating set { Self.store(base, 4, newValue) }
    }
    public var idleTimeouts: Int {
        @inline(__always) get { Self.load(base, 5) }
        @inline(__always) nonmutating set { Self.store(base, 5, newValue) }
    }
    public var closed: Int {
        @inline(__always) get { Self.load(base, 6) }
        @inline(__always) nonmutating set { Self.store(base, 6, newValue) }
    }
    public var bytesIn: Int {
        @inline(__always) get { Self.load(base, 7) }
        @inline(__always) nonmutating set { Self.store(base, 7, newValue) }
    }
    public var bytesOut: Int {
        @inline(__always) get { Self.load(base, 8) }
        @inline(__always) nonmutating set { Self.store(base, 8, newValue) }
    }

    public var values: ListenerCounters {
        var v = ListenerCounters()
        v.accepted = accepted
        v.refusedLimit = refusedLimit
        v.deniedCIDR = deniedCIDR
        v.noMember = noMember
        v.connectFailed = connectFailed
        v.idleTimeouts = idleTimeouts
        v.closed = closed
        v.bytesIn = bytesIn
        v.bytesOut = bytesOut
        return v
    }
}

public struct MemberCells: CounterCells {
    let base: UnsafeMutablePointer<CounterStorage>
    public static let fieldCount = 7

    public init(base: UnsafeMutablePointer<CounterStorage>) { self.base = base }

    public var connections: Int {
        @inline(__always) get { Self.load(base, 0) }
        @inline(__always) nonmutating set { Self.store(base, 0, newValue) }
    }
    public var connectFailures: Int {
        @inline(__always) get { Self.load(base, 1) }
        @inline(__always) nonmutating set { Self.store(base, 1, newValue) }
    }
    public var connectTimeouts: Int {
        @inline(__always) get { Self.load(base, 2) }
        @inline(__always) nonmutating set { Self.store(base, 2, newValue) }
    }
    public var bytesToMember: Int {
        @inline(__always) get { Self.load(base, 3) }
        @inline(__always) nonmutating set { Self.store(base, 3, newValue) }
    }
    public var bytesFromMember: Int {
        @inline(__always) get { Self.load(base, 4) }
        @inline(__always) nonmutating set { Self.store(base, 4, newValue) }
    }
    public var shutDownOnDown: Int {
        @inline(__always) get { Self.load(base, 5) }
        @inline(__always) nonmutating set { Self.store(base, 5, newValue) }
    }
    public var closed: Int {
        @inline(__always) get { Self.load(base, 6) }
        @inline(__always) nonmutating set { Self.store(base, 6, newValue) }
    }

    public var values: MemberCounters {
        var v = MemberCounters()
        v.connections = connections
        v.connectFailures = connectFailures
        v.connectTimeouts = connectTimeouts
        v.bytesToMember = bytesToMember
        v.bytesFromMember = bytesFromMember
        v.shutDownOnDown = shutDownOnDown
        v.closed = closed
        return v
    }
}

public struct UDPListenerCells: CounterCells {
    let base: UnsafeMutablePointer<CounterStorage>
    public static let fieldCount = 11

    public init(base: UnsafeMutablePointer<CounterStorage>) { self.base = base }

    public var datagramsIn: Int {
        @inline(__always) get { Self.load(base, 0) }
        @inline(__always) nonmutating set { Self.store(base, 0, newValue) }
    }
    public var bytesIn: Int {
        @inline(__always) get { Self.load(base, 1) }
        @inline(__always) nonmutating set { Self.store(base, 1, newValue) }
    }
    public var datagramsOut: Int {
        @inline(__always) get { Self.load(base, 2) }
        @inline(__always) nonmutating set { Self.store(base, 2, newValue) }
    }
    public var bytesOut: Int {
        @inline(__always) get { Self.load(base, 3) }
        @inline(__always) nonmutating set { Self.store(base, 3, newValue) }
    }
    public var sessionsCreated: Int {
        @inline(__always) get { Self.load(base, 4) }
        @inline(__always) nonmutating set { Self.store(base, 4, newValue) }
    }
    public var sessionsExpired: Int {
        @inline(__always) get { Self.load(base, 5) }
        @inline(__always) nonmutating set { Self.store(base, 5, newValue) }
    }
    public var sessionsEvicted: Int {
        @inline(__always) get { Self.load(base, 6) }
        @inline(__always) nonmutating set { Self.store(base, 6, newValue) }
    }
    public var sessionsClosed: Int {
        @inline(__always) get { Self.load(base, 7) }
        @inline(__always) nonmutating set { Self.store(base, 7, newValue) }
    }
    public var truncated: Int {
        @inline(__always) get { Self.load(base, 8) }
        @inline(__always) nonmutating set { Self.store(base, 8, newValue) }
    }
    public var denied: Int {
        @inline(__always) get { Self.load(base, 9) }
        @inline(__always) nonmutating set { Self.store(base, 9, newValue) }
    }
    public var dropped: Int {
        @inline(__always) get { Self.load(base, 10) }
        @inline(__always) nonmutating set { Self.store(base, 10, newValue) }
    }

    public var values: UDPListenerCounters {
        var v = UDPListenerCounters()
        v.datagramsIn = datagramsIn
        v.bytesIn = bytesIn
        v.datagramsOut = datagramsOut
        v.bytesOut = bytesOut
        v.sessionsCreated = sessionsCreated
        v.sessionsExpired = sessionsExpired
        v.sessionsEvicted = sessionsEvicted
        v.sessionsClosed = sessionsClosed
        v.truncated = truncated
        v.denied = denied
        v.dropped = dropped
        return v
    }
}

public struct UDPMemberCells: CounterCells {
    let base: UnsafeMutablePointer<CounterStorage>
    public static let fieldCount = 7

    public init(base: UnsafeMutablePointer<CounterStorage>) { self.base = base }

    public var sessions: Int {
        @inline(__always) get { Self.load(base, 0) }
        @inline(__always) nonmutating set { Self.store(base, 0, newValue) }
    }
    public var sessionsEnded: Int {
        @inline(__always) get { Self.load(base, 1) }
        @inline(__always) nonmutating set { Self.store(base, 1, newValue) }
    }
    public var datagramsTo: Int {
        @inline(__always) get { Self.load(base, 2) }
        @inline(__always) nonmutating set { Self.store(base, 2, newValue) }
    }
    public var bytesTo: Int {
        @inline(__always) get { Self.load(base, 3) }
        @inline(__always) nonmutating set { Self.store(base, 3, newValue) }
    }
    public var datagramsFrom: Int {
        @inline(__always) get { Self.load(base, 4) }
        @inline(__always) nonmutating set { Self.store(base, 4, newValue) }
    }
    public var bytesFrom: Int {
        @inline(__always) get { Self.load(base, 5) }
        @inline(__always) nonmutating set { Self.store(base, 5, newValue) }
    }
    public var refused: Int {
        @inline(__always) get { Self.load(base, 6) }
        @inline(__always) nonmutating set { Self.store(base, 6, newValue) }
    }

    public var values: UDPMemberCounters {
        var v = UDPMemberCounters()
        v.sessions = sessions
        v.sessionsEnded = sessionsEnded
        v.datagramsTo = datagramsTo
        v.bytesTo = bytesTo
        v.datagramsFrom = datagramsFrom
        v.bytesFrom = bytesFrom
        v.refused = refused
        return v
    }
}
