import Atomics
import FulcrumAddress
import FulcrumConfig
import FulcrumPools
import FulcrumProxyProtocol
import FulcrumSystem

/// What the workers need from the config, resolved once: pools by index instead of name,
/// member sockaddrs prebuilt, timeouts as integers. Immutable and shared by all workers;
/// the only mutable part is each listener's shared count of open connections.
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
        /// Open connections/sessions per member across all workers; kept only for
        /// LEAST_CONNECTIONS (`countsOpen`), where the choice reads them.
        public let openCounts: MemberCounts
        public let countsOpen: Bool
        /// session_persistence, shared by all workers.
        public let stickTable: StickTable?
        /// PROXY header version sent to members, or nil for plain.
        public let proxyHeader: ProxyProtocolVersion?
        /// Which members the health monitor lets take new traffic (all, without a monitor).
        public let health: MemberHealth
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
                                  memberBase: base, openCounts: MemberCounts(count: pool.members.count),
                                  countsOpen: pool.lbAlgorithm == .leastConnections, stickTable: stick,
                                  proxyHeader: header, health: MemberHealth(count: pool.members.count),
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

    /// The pool and member behind a flat per-member counter index.
    public func member(atCounter counter: Int) -> (pool: PoolPlan, member: MemberPlan) {
        let pool = pools.last { $0.memberBase <= counter && counter < $0.memberBase + $0.members.count }!
        return (pool, pool.members[counter - pool.memberBase])
    }
}
