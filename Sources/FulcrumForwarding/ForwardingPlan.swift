import Atomics
import FulcrumAddress
import FulcrumConfig
import FulcrumPools
import FulcrumProxyProtocol
import FulcrumSystem

/// What the workers need from one generation of the config, resolved once: pools by index
/// instead of name, member sockaddrs prebuilt, timeouts as integers. Shared by all workers and
/// never changed once built; a reload builds the next generation from the config and this one
/// (see `init(config:previous:nowMs:)`). What changes while it runs is reached through it but
/// lives elsewhere: each listener's count of open connections, each pool's PoolRuntime (health
/// flags, weights and admin states in force), and the engine's signals to workers.
///
/// Index spaces, as the workers use them: listeners and members in config order first
/// (`listeners`, `pools[p].memberBase + m`), then the retired ones (`retiredListeners`,
/// `retiredMembers`): removed by a reload, kept only so the connections they still carry can
/// finish and be counted, until `retiredUntilMs`.
public final class ForwardingPlan: Sendable {
    public struct ListenerPlan: Sendable {
        public let name: String
        public let endpoint: Endpoint
        /// The pool's index; -1 for a retired listener (its connections keep the pool they have).
        public let pool: Int
        /// -1 = unlimited.
        public let connectionLimit: Int
        public let timeoutClientDataMs: Int64
        public let timeoutMemberConnectMs: Int64
        public let timeoutMemberDataMs: Int64
        public let allowedCIDRs: [CIDR]
        /// Open connections across all workers, for connection_limit. One atomic add per
        /// connection is the price of an exact limit shared by every worker. The same object
        /// in every generation the listener lives through, so the limit holds across reloads.
        public let open: ManagedAtomic<Int>
        /// Int64.max while in the config; once removed, when its last connections are closed.
        public let retiredUntilMs: Int64

        /// Who this listener is across generations: a changed address, port or protocol makes
        /// it another listener (the old one drains, the new one binds).
        var identity: String { "\(name) \(endpoint)" }

        func retired(untilMs: Int64) -> ListenerPlan {
            ListenerPlan(name: name, endpoint: endpoint, pool: -1, connectionLimit: connectionLimit,
                         timeoutClientDataMs: timeoutClientDataMs, timeoutMemberConnectMs: timeoutMemberConnectMs,
                         timeoutMemberDataMs: timeoutMemberDataMs, allowedCIDRs: allowedCIDRs, open: open,
                         retiredUntilMs: untilMs)
        }
    }

    public struct MemberPlan: Sendable {
        public let pool: String
        public let name: String
        public let endpoint: Endpoint
        public let socketAddress: SocketAddress
        /// Int64.max while in the config; once removed, when its last connections are closed.
        public let retiredUntilMs: Int64

        var identity: String { "\(pool)/\(name)" }
    }

    public struct PoolPlan: Sendable {
        public let name: String
        public let config: Pool
        public let retries: Int
        public let members: [MemberPlan]
        /// Index of this pool's first member in the flat per-member arrays.
        public let memberBase: Int
        /// Health flags, open counts, and the weights and admin states in force, shared by
        /// every worker's selector for this pool. The same object across reloads that leave
        /// the pool unchanged; adopted member by member when it changed.
        public let runtime: PoolRuntime
        /// LEAST_CONNECTIONS: each connection counts against its member in the runtime's
        /// open counts, which the choice reads.
        public let countsOpen: Bool
        /// session_persistence, shared by all workers.
        public let stickTable: StickTable?
        /// PROXY header version sent to members, or nil for plain.
        public let proxyHeader: ProxyProtocolVersion?
        /// Which members the health monitor lets take new traffic (all, without a monitor).
        public var health: MemberHealth { runtime.health }
        /// on_member_down = shutdown_sessions: a member marked down loses its open connections.
        public let shutdownOnDown: Bool
    }

    /// Where each index of the previous generation went in this one (-1: gone), for the
    /// workers to move their connections, sessions, sockets and counters over.
    public struct Succession: Sendable {
        /// Previous TCP listener index (config and retired) → index here.
        public let listeners: [Int32]
        public let udpListeners: [Int32]
        public let pools: [Int32]
        /// Previous flat member index (config and retired) → flat index here.
        public let members: [Int32]
        /// Per TCP listener here: the previous index whose listening sockets it takes over
        /// (kept, or handed on by a renamed listener on the same address), or -1: new sockets.
        public let tcpSocketsFrom: [Int32]
        public let udpSocketsFrom: [Int32]
    }

    /// Counts from 1; a worker adopts each one in turn.
    public let generation: Int
    /// TCP listeners in the config.
    public let listeners: [ListenerPlan]
    /// TCP listeners removed by a reload whose connections may still be open.
    public let retiredListeners: [ListenerPlan]
    /// UDP listeners (connection_limit and timeout_member_* do not apply to them). A removed
    /// one ends its sessions at once: their replies could only leave through its socket.
    public let udpListeners: [ListenerPlan]
    /// Sessions per worker: udp_max_sessions as the descriptor budget allows it, fixed at
    /// start (see UDPSessionBudget.sessionsPerWorker); `configuredUDPMaxSessions` is the config's.
    public let udpMaxSessions: Int
    public let configuredUDPMaxSessions: Int
    public let pools: [PoolPlan]
    /// Members in the config, all pools: `pools[p].memberBase + m`.
    public let memberCount: Int
    /// Members removed by a reload, at flat indices memberCount + i.
    public let retiredMembers: [MemberPlan]
    public let pipeSize: Int
    public let copySmallReads: Bool
    /// busy_poll in microseconds; 0 = sleep as soon as no event is ready.
    public let busyPollMicroseconds: Int64
    public let shutdownGraceMs: Int
    /// Nil for the first generation.
    public let succession: Succession?
    /// Flat member index by "pool/member", config members only.
    let memberIndex: [String: Int]
    /// Events for every worker, the same object in every generation.
    let signals: WorkerSignals

    public var allListenerCount: Int { listeners.count + retiredListeners.count }
    public var allMemberCount: Int { memberCount + retiredMembers.count }

    /// The first generation.
    /// `openFiles`: RLIMIT_NOFILE to size the sessions by (nil: this process's).
    public convenience init(config: Config, openFiles: Int? = nil) {
        self.init(config: config, previous: nil, nowMs: 0, openFiles: openFiles)
    }

    /// The generation after `previous` (nil: the first). Unchanged pools keep their runtime
    /// object; changed ones get a new runtime that adopts operator overrides, health flags and
    /// persistence entries member by member. Removed listeners and members are retired for
    /// shutdown_grace from `nowMs`; retired ones past their time are dropped.
    public init(config: Config, previous: ForwardingPlan?, nowMs: Int64, openFiles: Int? = nil) {
        generation = (previous?.generation ?? 0) + 1
        signals = previous?.signals ?? WorkerSignals()
        var pools: [PoolPlan] = []
        var memberIndex: [String: Int] = [:]
        var base = 0
        for pool in config.pools {
            let members = pool.members.map {
                MemberPlan(pool: pool.name, name: $0.name, endpoint: $0.endpoint,
                           socketAddress: SocketAddress($0.endpoint), retiredUntilMs: .max)
            }
            for (m, member) in members.enumerated() { memberIndex[member.identity] = base + m }
            let old = previous?.pools.first { $0.name == pool.name }
            pools.append(ForwardingPlan.poolPlan(pool, members: members, base: base, old: old))
            base += members.count
        }
        memberCount = base
        self.pools = pools
        self.memberIndex = memberIndex
        let poolIndex = Dictionary(uniqueKeysWithValues: config.pools.enumerated().map { ($1.name, $0) })
        let oldListeners = Dictionary(
            (previous.map { $0.listeners + $0.udpListeners + $0.retiredListeners } ?? []).map { ($0.identity, $0) },
            uniquingKeysWith: { a, _ in a })
        func plan(_ l: Listener) -> ListenerPlan {
            let endpoint = l.endpoint
            return ListenerPlan(
                name: l.name, endpoint: endpoint, pool: poolIndex[l.defaultPool]!,
                connectionLimit: l.connectionLimit ?? -1,
                timeoutClientDataMs: Int64(l.timeoutClientDataMs),
                timeoutMemberConnectMs: Int64(l.timeoutMemberConnectMs),
                timeoutMemberDataMs: Int64(l.timeoutMemberDataMs),
                allowedCIDRs: l.allowedCIDRs,
                open: oldListeners["\(l.name) \(endpoint)"]?.open ?? ManagedAtomic(0),
                retiredUntilMs: .max)
        }
        listeners = config.listeners.filter { $0.transport == .tcp }.map(plan)
        udpListeners = config.listeners.filter { $0.transport == .udp }.map(plan)
        configuredUDPMaxSessions = config.udpMaxSessions
        // udp_max_sessions takes a restart, so the cap found at start stays.
        udpMaxSessions = previous?.udpMaxSessions ?? UDPSessionBudget.sessionsPerWorker(
            udpMaxSessions: config.udpMaxSessions, workers: config.workers,
            listeners: config.listeners.count,
            tcpListeners: config.listeners.filter { $0.transport == .tcp }.count,
            openFiles: openFiles ?? SystemLimits.current().openFiles)
        pipeSize = config.pipeSize
        copySmallReads = config.copySmallReads
        busyPollMicroseconds = Int64(config.busyPollMicroseconds)
        shutdownGraceMs = config.shutdownGraceMs

        guard let previous else {
            retiredListeners = []
            retiredMembers = []
            succession = nil
            return
        }
        let retireUntil = nowMs + Int64(config.shutdownGraceMs)
        // TCP listeners: kept by identity, else retired (or dropped once their time is up).
        let tcpIndex = Dictionary(uniqueKeysWithValues: listeners.enumerated().map { ($1.identity, Int32($0)) })
        var retired: [ListenerPlan] = []
        var listenerMap: [Int32] = []
        // A retired listener whose identity is back in the config becomes that listener again
        // (same open count), so alternating configs never pile up retired copies.
        for (i, old) in (previous.listeners + previous.retiredListeners).enumerated() {
            if let kept = tcpIndex[old.identity] {
                listenerMap.append(kept)
            } else if i < previous.listeners.count || old.retiredUntilMs > nowMs {
                listenerMap.append(Int32(listeners.count + retired.count))
                retired.append(old.retiredUntilMs == .max ? old.retired(untilMs: retireUntil) : old)
            } else {
                listenerMap.append(-1)
            }
        }
        retiredListeners = retired
        let udpIndex = Dictionary(uniqueKeysWithValues: udpListeners.enumerated().map { ($1.identity, Int32($0)) })
        let udpMap = previous.udpListeners.map { udpIndex[$0.identity] ?? -1 }
        // Sockets follow the address: a listener that is kept, or renamed on the same address,
        // takes its predecessor's sockets, so nothing queued on them is lost.
        func socketsFrom(_ now: [ListenerPlan], _ before: [ListenerPlan]) -> [Int32] {
            let byEndpoint = Dictionary(before.enumerated().map { ($1.endpoint, Int32($0)) }, uniquingKeysWith: { a, _ in a })
            return now.map { byEndpoint[$0.endpoint] ?? -1 }
        }
        // Members: kept by pool and name, else retired like listeners.
        var retiredMembers: [MemberPlan] = []
        var memberMap: [Int32] = []
        let oldMembers = previous.pools.flatMap(\.members) + previous.retiredMembers
        for (i, old) in oldMembers.enumerated() {
            if let kept = memberIndex[old.identity] {
                memberMap.append(Int32(kept))
            } else if i < previous.memberCount || old.retiredUntilMs > nowMs {
                memberMap.append(Int32(memberCount + retiredMembers.count))
                retiredMembers.append(old.retiredUntilMs == .max
                    ? MemberPlan(pool: old.pool, name: old.name, endpoint: old.endpoint,
                                 socketAddress: old.socketAddress, retiredUntilMs: retireUntil)
                    : old)
            } else {
                memberMap.append(-1)
            }
        }
        self.retiredMembers = retiredMembers
        succession = Succession(
            listeners: listenerMap, udpListeners: udpMap,
            pools: previous.pools.map { poolIndex[$0.name].map(Int32.init) ?? -1 },
            members: memberMap,
            tcpSocketsFrom: socketsFrom(listeners, previous.listeners),
            udpSocketsFrom: socketsFrom(udpListeners, previous.udpListeners))
    }

    private static func poolPlan(_ pool: Pool, members: [MemberPlan], base: Int, old: PoolPlan?) -> PoolPlan {
        let header: ProxyProtocolVersion?
        switch pool.proxyProtocol {
        case .proxy?: header = .v1
        case .proxyV2?: header = .v2
        default: header = nil
        }
        let runtime: PoolRuntime
        let stick: StickTable?
        if let old, old.config == pool {
            runtime = old.runtime
            stick = old.stickTable
        } else {
            runtime = PoolRuntime(pool: pool, adopting: old?.runtime)
            stick = pool.sessionPersistence.map { persistence in
                guard let old, let oldTable = old.stickTable else {
                    return StickTable(timeoutSeconds: persistence.timeoutSeconds, granularity: persistence.granularity)
                }
                // A client stays stuck to a member that remains at the same address; one whose
                // address changed is another server, and its clients choose again.
                let index = Dictionary(uniqueKeysWithValues: pool.members.enumerated().map { ($1.name, $0) })
                return StickTable(adopting: oldTable, timeoutSeconds: persistence.timeoutSeconds,
                                  granularity: persistence.granularity,
                                  memberMap: old.members.map { was in
                                      guard let i = index[was.name], pool.members[i].endpoint == was.endpoint else { return -1 }
                                      return Int32(i)
                                  })
            }
        }
        return PoolPlan(name: pool.name, config: pool, retries: pool.retries, members: members, memberBase: base,
                        runtime: runtime, countsOpen: pool.lbAlgorithm == .leastConnections, stickTable: stick,
                        proxyHeader: header, shutdownOnDown: pool.onMemberDown == .shutdownSessions)
    }

    /// The flat index of a config member, by pool and member name.
    public func memberIndex(pool: String, member: String) -> Int? {
        memberIndex["\(pool)/\(member)"]
    }

    /// The member at a flat index, config or retired.
    public func member(at flat: Int) -> MemberPlan {
        if flat >= memberCount { return retiredMembers[flat - memberCount] }
        let pool = pools.last { $0.memberBase <= flat }!
        return pool.members[flat - pool.memberBase]
    }

    /// The TCP listener at an index, config or retired.
    public func tcpListener(at index: Int) -> ListenerPlan {
        index < listeners.count ? listeners[index] : retiredListeners[index - listeners.count]
    }
}
