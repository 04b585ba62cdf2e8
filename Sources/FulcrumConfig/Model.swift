import FulcrumAddress

/// The validated configuration: what the loader hands to the runtime after every drop-in
/// has been merged and every value checked. Nothing here can be invalid.
public struct Config: Sendable, Equatable {
    /// Worker threads, each with its own event loop. Default: online CPUs.
    public var workers: Int
    /// How long open connections may finish after SIGTERM/SIGINT, in milliseconds.
    public var shutdownGraceMs: Int
    /// Capacity asked of the kernel for each splice pipe (F_SETPIPE_SZ), in bytes.
    public var pipeSize: Int
    /// Reads smaller than a page are moved with recv/send through a per-worker buffer instead
    /// of two splices; bulk transfers always splice.
    public var copySmallReads = Config.defaultCopySmallReads
    /// busy_poll: how long, in microseconds, a worker that found no events keeps looking
    /// (zero-timeout epoll_wait, yielding the CPU in between) before it sleeps; 0 = off.
    public var busyPollMicroseconds = Config.defaultBusyPollMicroseconds
    /// UDP sessions each worker keeps at most; the least recently used is evicted past it.
    public var udpMaxSessions = Config.defaultUDPMaxSessions
    /// Status socket path ([status] socket): show and set commands, mode 0660.
    public var statusSocket: String
    /// [status] group: group owner of the sockets (nil: the daemon's group).
    public var statusGroup: String?
    /// [status] readonly_socket: show commands only, for monitoring agents.
    public var readonlySocket: String?
    /// [status] metrics_listen: the HTTP endpoint (/metrics, /status.json, /), off when nil.
    public var metricsListen: Endpoint?
    /// Listeners, sorted by name.
    public var listeners: [Listener]
    /// Pools, sorted by name.
    public var pools: [Pool]
    /// [ha]: VRRP virtual-IP takeover, or nil.
    public var ha: HASettings?
    /// [anycast]: VIPs announced through BIRD while their pools are up, or nil.
    public var anycast: AnycastSettings?
    /// [process]: the account to run as after binding.
    public var process = ProcessSettings()

    public init(workers: Int, shutdownGraceMs: Int, pipeSize: Int, statusSocket: String,
                listeners: [Listener], pools: [Pool]) {
        self.workers = workers
        self.shutdownGraceMs = shutdownGraceMs
        self.pipeSize = pipeSize
        self.statusSocket = statusSocket
        self.listeners = listeners
        self.pools = pools
    }

    public func pool(named name: String) -> Pool? {
        pools.first { $0.name == name }
    }

    public static let defaultShutdownGraceMs = 10_000
    public static let defaultPipeSize = 65_536
    public static let defaultCopySmallReads = true
    public static let defaultBusyPollMicroseconds = 0
    /// 65,536 sessions x (one socket + ~200 bytes of table) per worker.
    public static let defaultUDPMaxSessions = 65_536
    public static let defaultStatusSocket = "/run/fulcrum/status.sock"
}

public enum TransportProtocol: String, Sendable, Equatable {
    case tcp = "TCP"
    case udp = "UDP"
}

public struct Listener: Sendable, Equatable {
    public var name: String
    public var transport: TransportProtocol
    public var address: IPAddress
    public var port: UInt16
    public var defaultPool: String
    /// nil = unlimited (config value -1).
    public var connectionLimit: Int?
    public var timeoutClientDataMs: Int
    public var timeoutMemberConnectMs: Int
    public var timeoutMemberDataMs: Int
    /// Empty = every source allowed (the key was not set).
    public var allowedCIDRs: [CIDR]

    public init(name: String, transport: TransportProtocol = .tcp, address: IPAddress, port: UInt16,
                defaultPool: String, connectionLimit: Int? = nil,
                timeoutClientDataMs: Int = Listener.defaultTimeoutClientDataMs,
                timeoutMemberConnectMs: Int = Listener.defaultTimeoutMemberConnectMs,
                timeoutMemberDataMs: Int = Listener.defaultTimeoutMemberDataMs,
                allowedCIDRs: [CIDR] = []) {
        self.name = name
        self.transport = transport
        self.address = address
        self.port = port
        self.defaultPool = defaultPool
        self.connectionLimit = connectionLimit
        self.timeoutClientDataMs = timeoutClientDataMs
        self.timeoutMemberConnectMs = timeoutMemberConnectMs
        self.timeoutMemberDataMs = timeoutMemberDataMs
        self.allowedCIDRs = allowedCIDRs
    }

    public var endpoint: Endpoint { Endpoint(address: address, port: port) }

    public static let defaultTimeoutClientDataMs = 50_000
    public static let defaultTimeoutMemberConnectMs = 5_000
    public static let defaultTimeoutMemberDataMs = 50_000
}

public enum LBAlgorithm: String, Sendable, Equatable, CaseIterable {
    case roundRobin = "ROUND_ROBIN"
    case leastConnections = "LEAST_CONNECTIONS"
    case sourceIP = "SOURCE_IP"
    case sourceIPPort = "SOURCE_IP_PORT"
}

/// How a pool talks to its members: plain, or with a PROXY protocol header first.
public enum PoolProtocol: String, Sendable, Equatable, CaseIterable {
    case tcp = "TCP"
    case udp = "UDP"
    case proxy = "PROXY"
    case proxyV2 = "PROXYV2"

    public var isPlain: Bool { self == .tcp || self == .udp }
}

/// Octavia's session_persistence, SOURCE_IP type: a client (masked by the granularity) sticks
/// to its member until idle for the timeout.
public struct SessionPersistence: Sendable, Equatable {
    public var timeoutSeconds: Int
    /// Applied to IPv4 clients; IPv6 clients are keyed by their full address.
    public var granularity: UInt32

    public init(timeoutSeconds: Int = SessionPersistence.defaultTimeoutSeconds, granularity: UInt32 = 0xFFFF_FFFF) {
        self.timeoutSeconds = timeoutSeconds
        self.granularity = granularity
    }

    public static let defaultTimeoutSeconds = 360
}

public struct Pool: Sendable, Equatable {
    public var name: String
    public var lbAlgorithm: LBAlgorithm
    /// Further connect attempts after the first one fails (HAProxy's `retries`).
    public var retries: Int
    /// Members, sorted by name.
    public var members: [Member]
    /// nil: plain, whatever the listener's transport.
    public var proxyProtocol: PoolProtocol?
    public var sessionPersistence: SessionPersistence?
    /// nil: members are NO_MONITOR and always in the pool (admin state and weight permitting).
    public var healthMonitor: HealthMonitor?
    public var onMemberDown: OnMemberDown = .keep

    public init(name: String, lbAlgorithm: LBAlgorithm = .roundRobin, retries: Int = Pool.defaultRetries,
                members: [Member]) {
        self.name = name
        self.lbAlgorithm = lbAlgorithm
        self.retries = retries
        self.members = members
    }

    public static let defaultRetries = 3
}

public struct Member: Sendable, Equatable {
    public var name: String
    public var address: IPAddress
    public var port: UInt16
    /// 0...256; 0 drains the member (no new connections).
    public var weight: Int
    public var backup: Bool
    public var adminStateUp: Bool
    /// Where health checks go instead of address/protocol_port (each falls back separately).
    public var monitorAddress: IPAddress?
    public var monitorPort: UInt16?

    public init(name: String, address: IPAddress, port: UInt16, weight: Int = 1,
                backup: Bool = false, adminStateUp: Bool = true) {
        self.name = name
        self.address = address
        self.port = port
        self.weight = weight
        self.backup = backup
        self.adminStateUp = adminStateUp
    }

    public var endpoint: Endpoint { Endpoint(address: address, port: port) }

    /// Where this member's health checks are sent.
    public var monitorEndpoint: Endpoint {
        Endpoint(address: monitorAddress ?? address, port: monitorPort ?? port)
    }
}
