import Atomics
import FulcrumAddress
import FulcrumConfig
import FulcrumPools
import FulcrumProxyProtocol
import FulcrumSystem
import Synchronization

/// What the workers need from the config, resolved once: pools by index instead of name,
/// member sockaddrs prebuilt, timeouts as integers. Shared by all workers. What changes while
/// it runs is reached through it but lives elsewhere: each listener's count of open
/// connections, each pool's PoolRuntime (health flags, weights and admin states in force), and
/// the queue of member-shutdown requests.
public final class ForwardingPlan: @unchecked Sendable {
    public struct ListenerPlan {
        public let name: String
        public let endpoint: Endpoint
        public let pool: Int
        /// -1 = unlimited.
        public let connectionLimit: Int
        public let timeoutClientDataMs: Int64
        public let timeoutMemberConnectMs: Int64
        public let timeoutMemberDataMs: Int64
        public let allowedCIDRs: [CIDR]
        /// Open connections across all workers, for connection_limit. One atomic add per
        /// connection is the price of an exact limit shared by every worker.
        public let open: ManagedAtomic<Int>
    }

    public struct MemberPlan {
        public let name: String
        public let endpoint: Endpoint
        public let socketAddress: SocketAddress
    }

    public struct PoolPlan {
        public let name: String
        public let config: Pool
        public let retries: Int
        public let members: [MemberPlan]
        /// Index of this pool's first member in the flat per-member counter array.
        public let memberBase: Int
        /// Health flags, open counts, and the weights and admin states in force, shared by
        /// every worker's selector for this pool.
        public let runtime: PoolRuntime
        /// Open connections/sessions per member across all workers; kept only for
        /// LEAST_CONNECTIONS (`countsOpen`), where the choice reads them.
        public var openCounts: MemberCounts { runtime.openCounts }
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

    /// TCP listeners.
    public let listeners: [ListenerPlan]
    /// UDP listeners (connection_limit and timeout_member_* do not apply to them).
    public let udpListeners: [ListenerPlan]
    public let udpMaxSessions: Int
    public let pools: [PoolPlan]
    public let memberCount: Int
    public let pipeSize: Int
    public let copySmallReads: Bool
    /// Bumped by the health checker when a member of a shutdown_sessions pool goes down;
    /// workers that see it move close that member's connections.
    public let memberDownEvents = ManagedAtomic<UInt64>(0)
    /// Members whose connections and sessions an operator asked to close (flat member counter
    /// indices), in order; `shutdownRequestCount` moves after each append, and each worker
    /// remembers how many it has acted on. A rare path: a lock and a copy are fine here.
    private let shutdownRequests = Mutex<[Int]>([])
    public let shutdownRequestCount = ManagedAtomic<Int>(0)

    public init(config: Config) {
        var pools: [PoolPlan] = []
        var base = 0
        for pool in config.pools {
            let members = pool.members.map {
                MemberPlan(name: $0.name, endpoint: $0.endpoint, socketAddress: SocketAddress($0.endpoint))
            }
            let stick = pool.sessionPersistence.map {
                StickTable(timeoutSeconds: $0.timeoutSeconds, granularity: $0.granularity)
            }
            let header: ProxyProtocolVersion?
            switch pool.proxyProtocol {
            case .proxy?: header = .v1
            case .proxyV2?: header = .v2
            default: header = nil
            }
            pools.append(PoolPlan(name: pool.name, config: pool, retries: pool.retries, members: members,
                                  memberBase: base, runtime: PoolRuntime(pool: pool),
                                  countsOpen: pool.lbAlgorithm == .leastConnections, stickTable: stick,
                                  proxyHeader: header,
                                  shutdownOnDown: pool.onMemberDown == .shutdownSessions))
            base += members.count
        }
        memberCount = base
        self.pools = pools
        func plan(_ l: Listener) -> ListenerPlan {
            ListenerPlan(
                name: l.name, endpoint: l.endpoint,
                pool: config.pools.firstIndex { $0.name == l.defaultPool }!,
                connectionLimit: l.connectionLimit ?? -1,
                timeoutClientDataMs: Int64(l.timeoutClientDataMs),
                timeoutMemberConnectMs: Int64(l.timeoutMemberConnectMs),
                timeoutMemberDataMs: Int64(l.timeoutMemberDataMs),
                allowedCIDRs: l.allowedCIDRs,
                open: ManagedAtomic(0))
        }
        listeners = config.listeners.filter { $0.transport == .tcp }.map(plan)
        udpListeners = config.listeners.filter { $0.transport == .udp }.map(plan)
        udpMaxSessions = config.udpMaxSessions
        pipeSize = config.pipeSize
        copySmallReads = config.copySmallReads
    }

    /// Asks every worker to close the connections and sessions of one member (by its flat
    /// counter index); the caller wakes the workers.
    public func requestShutdown(memberCounter: Int) {
        shutdownRequests.withLock { $0.append(memberCounter) }
        shutdownRequestCount.wrappingIncrement(ordering: .releasing)
    }

    /// Requests from index `from` on.
    func shutdownRequests(from: Int) -> ArraySlice<Int> {
        shutdownRequests.withLock { requests in requests[min(from, requests.count)...] }
    }

    /// The pool and member behind a flat per-member counter index.
    public func member(atCounter counter: Int) -> (pool: PoolPlan, member: MemberPlan) {
        let pool = pools.last { $0.memberBase <= counter && counter < $0.memberBase + $0.members.count }!
        return (pool, pool.members[counter - pool.memberBase])
    }
}
