/// Everything the status outputs show, read at one moment from a running daemon (or at exit):
/// `show info`, `show stat` (CSV and JSON), `show members`, `show ha`, `show anycast`, `show metrics`, the HTTP endpoint,
/// fulcrumctl and the exit report all render this one type. Plain values: building one takes
/// the counters summed over workers, the health board and the runtime member states.
public struct StatusSnapshot: Sendable, Equatable {
    public var info: DaemonInfo
    /// Listeners in config order (sorted by name), TCP and UDP together.
    public var listeners: [ListenerStatus]
    /// Pools in config order (sorted by name).
    public var pools: [PoolStatus]
    /// The VRRP instance; nil when the configuration has no `[ha]` section.
    public var ha: HAStatus?
    /// The anycast announcer; nil when the configuration has no `[anycast]` section.
    public var anycast: AnycastStatus?

    public init(info: DaemonInfo, listeners: [ListenerStatus], pools: [PoolStatus], ha: HAStatus? = nil,
                anycast: AnycastStatus? = nil) {
        self.info = info
        self.listeners = listeners
        self.pools = pools
        self.ha = ha
        self.anycast = anycast
    }

    public func pool(named name: String) -> PoolStatus? { pools.first { $0.name == name } }
}

public struct DaemonInfo: Sendable, Equatable {
    public var version: String
    public var pid: Int
    /// Unix time (seconds) the daemon started, and the snapshot was taken.
    public var startedAt: Int64
    public var now: Int64
    public var workers: Int
    public var configDirectory: String
    public var configFiles: [String]
    /// Unix time (seconds) the running configuration was loaded.
    public var configLoadedAt: Int64
    /// Reloads since start: applied, refused, and whether the latest one applied (true
    /// before any), like Prometheus's own config_last_reload_successful.
    public var reloadsApplied = 0
    public var reloadsRefused = 0
    public var lastReloadSucceeded = true

    public init(version: String, pid: Int, startedAt: Int64, now: Int64, workers: Int,
                configDirectory: String, configFiles: [String], configLoadedAt: Int64) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.now = now
        self.workers = workers
        self.configDirectory = configDirectory
        self.configFiles = configFiles
        self.configLoadedAt = configLoadedAt
    }

    public var uptimeSeconds: Int64 { max(0, now - startedAt) }
}

/// Rates and peaks the control thread samples once a second (HAProxy's rate, rate_max, smax).
/// Zero in a snapshot taken without a sampler (the exit report).
public struct Sampled: Sendable, Equatable {
    /// New connections (TCP) or sessions (UDP) in the last second.
    public var rate = 0
    public var rateMax = 0
    /// Highest number of open connections / sessions seen at a sample.
    public var currentMax = 0
    /// Payload bytes per second in the last second, client→member and member→client.
    public var bytesInRate = 0
    public var bytesOutRate = 0

    public init() {}
}

public enum Transport: String, Sendable, Equatable {
    case tcp = "TCP"
    case udp = "UDP"
}

public struct ListenerStatus: Sendable, Equatable {
    public var name: String
    public var transport: Transport
    /// "127.0.0.1:8080", "[::1]:53".
    public var endpoint: String
    public var pool: String
    /// -1 = unlimited. UDP listeners: the per-worker session limit times workers.
    public var connectionLimit: Int
    /// Zero for a UDP listener.
    public var tcp: ListenerCounters
    /// Zero for a TCP listener.
    public var udp: UDPListenerCounters
    public var sampled: Sampled

    public init(name: String, transport: Transport, endpoint: String, pool: String, connectionLimit: Int,
                tcp: ListenerCounters = ListenerCounters(), udp: UDPListenerCounters = UDPListenerCounters(),
                sampled: Sampled = Sampled()) {
        self.name = name
        self.transport = transport
        self.endpoint = endpoint
        self.pool = pool
        self.connectionLimit = connectionLimit
        self.tcp = tcp
        self.udp = udp
        self.sampled = sampled
    }

    /// Open connections (TCP) or live sessions (UDP).
    public var current: Int {
        switch transport {
        case .tcp: return max(0, tcp.accepted - tcp.closed)
        case .udp: return max(0, udp.sessionsCreated - udp.sessionsClosed)
        }
    }

    /// Connections accepted (TCP) or sessions created (UDP) since start.
    public var total: Int { transport == .tcp ? tcp.accepted : udp.sessionsCreated }
    /// Payload bytes from clients / to clients.
    public var bytesIn: Int { transport == .tcp ? tcp.bytesIn : udp.bytesIn }
    public var bytesOut: Int { transport == .tcp ? tcp.bytesOut : udp.bytesOut }
}

public struct PoolStatus: Sendable, Equatable {
    public var name: String
    /// ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT.
    public var algorithm: String
    /// The monitor's type (HTTP, TCP, ...) or nil: members are NO_MONITOR.
    public var monitor: String?
    /// Transports of the listeners that use this pool.
    public var transports: [Transport]
    public var members: [MemberStatus]

    public init(name: String, algorithm: String, monitor: String?, transports: [Transport], members: [MemberStatus]) {
        self.name = name
        self.algorithm = algorithm
        self.monitor = monitor
        self.transports = transports
        self.members = members
    }

    public var status: OperatingStatus { poolStatus(members.map(\.status)) }

    public func member(named name: String) -> MemberStatus? { members.first { $0.name == name } }

    /// Sums over members.
    public var tcp: MemberCounters { members.reduce(MemberCounters()) { $0 + $1.tcp } }
    public var udp: UDPMemberCounters { members.reduce(UDPMemberCounters()) { $0 + $1.udp } }
    public var current: Int { members.reduce(0) { $0 + $1.current } }
}

/// A health monitor's latest word on a member.
public struct MemberHealthStatus: Sendable, Equatable {
    public var verdict: HealthVerdict
    /// HAProxy's check code (L4OK, L7STS, ...) and its detail, nil before the first check.
    public var lastCheck: String?
    public var lastCheckDetail: String
    public var lastCheckDurationMs: Double
    /// Unix time (seconds) of the last verdict change, or the daemon's start.
    public var lastChange: Int64
    /// Failed checks, and transitions to down, since start (HAProxy's chkfail, chkdown).
    public var checksFailed: Int
    public var downTransitions: Int
    /// Seconds spent down since start, the current down spell included.
    public var downtimeSeconds: Int64

    public init(verdict: HealthVerdict = .unknown, lastCheck: String? = nil, lastCheckDetail: String = "",
                lastCheckDurationMs: Double = 0, lastChange: Int64 = 0, checksFailed: Int = 0,
                downTransitions: Int = 0, downtimeSeconds: Int64 = 0) {
        self.verdict = verdict
        self.lastCheck = lastCheck
        self.lastCheckDetail = lastCheckDetail
        self.lastCheckDurationMs = lastCheckDurationMs
        self.lastChange = lastChange
        self.checksFailed = checksFailed
        self.downTransitions = downTransitions
        self.downtimeSeconds = downtimeSeconds
    }
}

public struct MemberStatus: Sendable, Equatable {
    public var name: String
    public var pool: String
    /// "10.0.0.11:8080".
    public var endpoint: String
    public var backup: Bool
    /// admin_state_up from the config; false = OFFLINE whatever is set at run time.
    public var adminStateUp: Bool
    public var configWeight: Int
    /// The weight in force (config, or set at run time).
    public var weight: Int
    public var adminState: AdminState
    /// nil: the pool has no health monitor (NO_MONITOR).
    public var health: MemberHealthStatus?
    public var tcp: MemberCounters
    public var udp: UDPMemberCounters
    public var sampled: Sampled

    public init(name: String, pool: String, endpoint: String, backup: Bool, adminStateUp: Bool,
                configWeight: Int, weight: Int, adminState: AdminState, health: MemberHealthStatus?,
                tcp: MemberCounters = MemberCounters(), udp: UDPMemberCounters = UDPMemberCounters(),
                sampled: Sampled = Sampled()) {
        self.name = name
        self.pool = pool
        self.endpoint = endpoint
        self.backup = backup
        self.adminStateUp = adminStateUp
        self.configWeight = configWeight
        self.weight = weight
        self.adminState = adminState
        self.health = health
        self.tcp = tcp
        self.udp = udp
        self.sampled = sampled
    }

    /// Octavia's operating status: maint counts as admin down, drain as weight 0.
    public var status: OperatingStatus {
        memberStatus(adminStateUp: adminStateUp && adminState != .maint,
                     weight: adminState == .drain ? 0 : weight,
                     monitored: health != nil, verdict: health?.verdict ?? .unknown)
    }

    /// HAProxy's status column: MAINT, DRAIN, DOWN, UP, "no check"; UNK before a first verdict.
    public var haproxyStatus: String {
        if !adminStateUp || adminState == .maint { return "MAINT" }
        if let health, health.verdict == .down { return "DOWN" }
        if adminState == .drain || weight == 0 { return "DRAIN" }
        guard let health else { return "no check" }
        return health.verdict == .up ? "UP" : "UNK"
    }

    /// Open TCP connections plus live UDP sessions on this member.
    public var current: Int {
        max(0, tcp.connections - tcp.closed) + max(0, udp.sessions - udp.sessionsEnded)
    }
}
