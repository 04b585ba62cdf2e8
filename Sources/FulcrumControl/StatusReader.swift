import FulcrumConfig
import FulcrumForwarding
import FulcrumHealth
import FulcrumStatus
import FulcrumSystem
import Glibc
import Synchronization

/// Reads the running daemon into a StatusSnapshot: counters summed over workers while they
/// run, the health board, and each pool's runtime state. Any thread; the control thread and
/// the exit report use it.
public final class StatusReader: Sendable {
    /// What a reload replaces, all at once.
    struct Generation {
        let config: Config
        let board: HealthBoard?
        let configFiles: [String]
        let configLoadedAt: Int64
        let reloads: Int
        /// The engine's plan for this configuration: the indices below are its.
        let plan: ForwardingPlan
        /// Config listener order (by name) → (transport, index in the plan's TCP or UDP list).
        let listenerOrder: [(Transport, Int)]
    }

    public let engine: Engine
    /// The HA node's status, when [ha] is configured.
    let ha: (@Sendable () -> HAStatus?)?
    /// The anycast announcer's status, and the way to steer it, when [anycast] is configured.
    let anycast: (@Sendable () -> AnycastStatus?)?
    let steerAnycast: AnycastSteering?
    let version: String
    let configDirectory: String
    let startedAt: Int64
    private let current: Mutex<Generation>
    /// Refused reloads, and whether the latest reload was refused (applied ones are counted
    /// in the generation).
    private let refusals = Mutex((count: 0, latestRefused: false))

    public init(config: Config, engine: Engine, board: HealthBoard?, version: String,
                configDirectory: String, configFiles: [String], startedAt: Int64, configLoadedAt: Int64,
                ha: (@Sendable () -> HAStatus?)? = nil, anycast: (@Sendable () -> AnycastStatus?)? = nil,
                steerAnycast: AnycastSteering? = nil) {
        self.engine = engine
        self.ha = ha
        self.anycast = anycast
        self.steerAnycast = steerAnycast
        self.version = version
        self.configDirectory = configDirectory
        self.startedAt = startedAt
        current = Mutex(StatusReader.generation(config: config, plan: engine.plan, board: board, files: configFiles,
                                                loadedAt: configLoadedAt, reloads: 0))
    }

    private static func generation(config: Config, plan: ForwardingPlan, board: HealthBoard?, files: [String],
                                   loadedAt: Int64, reloads: Int) -> Generation {
        let tcp = Dictionary(uniqueKeysWithValues: plan.listeners.enumerated().map { ($1.name, $0) })
        let udp = Dictionary(uniqueKeysWithValues: plan.udpListeners.enumerated().map { ($1.name, $0) })
        let order = config.listeners.compactMap { listener -> (Transport, Int)? in
            if let i = tcp[listener.name] { return (.tcp, i) }
            if let i = udp[listener.name] { return (.udp, i) }
            return nil
        }
        return Generation(config: config, board: board, configFiles: files, configLoadedAt: loadedAt,
                          reloads: reloads, plan: plan, listenerOrder: order)
    }

    /// The configuration in force.
    public var config: Config { current.withLock { $0.config } }

    /// A reload was refused: counted for `show info` and the metrics.
    public func recordRefusedReload() {
        refusals.withLock { $0 = ($0.count + 1, true) }
    }

    /// A health checker restarted for the configuration in force (after a refused reload).
    public func replace(board: HealthBoard?) {
        current.withLock {
            $0 = Generation(config: $0.config, board: board, configFiles: $0.configFiles,
                            configLoadedAt: $0.configLoadedAt, reloads: $0.reloads, plan: $0.plan,
                            listenerOrder: $0.listenerOrder)
        }
    }

    /// After a reload: the new configuration, files and health board (the engine already runs
    /// the new plan).
    public func replace(config: Config, board: HealthBoard?, configFiles: [String], loadedAt: Int64) {
        let plan = engine.plan
        refusals.withLock { $0.latestRefused = false }
        current.withLock {
            $0 = StatusReader.generation(config: config, plan: plan, board: board, files: configFiles,
                                         loadedAt: loadedAt, reloads: $0.reloads + 1)
        }
    }

    /// Each pool's member statuses (as `show members` shows them) and the listeners, from one
    /// generation and without summing a counter: the anycast thread asks ten times a second.
    public func poolMemberStatuses() -> (listeners: [Listener], pools: [String: [OperatingStatus]]) {
        let generation = current.withLock { $0 }
        let plan = generation.plan
        let health = generation.board?.statuses(now: WallClock.unixSeconds())
            ?? Array(repeating: nil, count: plan.pools.count)
        var pools: [String: [OperatingStatus]] = [:]
        for (p, pool) in plan.pools.enumerated() {
            let state = pool.runtime.state
            pools[pool.name] = pool.config.members.enumerated().map { m, member in
                MemberStatus(name: member.name, pool: pool.name, endpoint: "", backup: member.backup,
                             adminStateUp: member.adminStateUp, configWeight: member.weight, weight: state.weights[m],
                             adminState: state.adminStates[m], health: health[p]?[m]).status
            }
        }
        return (generation.config.listeners, pools)
    }

    public func snapshot() -> StatusSnapshot {
        let generation = current.withLock { $0 }
        let config = generation.config
        let board = generation.board
        let listenerOrder = generation.listenerOrder
        let configFiles = generation.configFiles
        let configLoadedAt = generation.configLoadedAt
        let plan = generation.plan
        let totals = engine.counterTotals(for: plan)
        let now = WallClock.unixSeconds()
        let health = board?.statuses(now: now) ?? Array(repeating: nil, count: plan.pools.count)
        var info = DaemonInfo(version: version, pid: Int(getpid()), startedAt: startedAt, now: now,
                              workers: config.workers, configDirectory: configDirectory,
                              configFiles: configFiles, configLoadedAt: configLoadedAt)
        let refused = refusals.withLock { $0 }
        info.reloadsApplied = generation.reloads
        info.reloadsRefused = refused.count
        info.lastReloadSucceeded = !refused.latestRefused
        let listeners = listenerOrder.map { transport, i -> ListenerStatus in
            switch transport {
            case .tcp:
                let l = plan.listeners[i]
                return ListenerStatus(name: l.name, transport: .tcp, endpoint: "\(l.endpoint)",
                                      pool: plan.pools[l.pool].name, connectionLimit: l.connectionLimit,
                                      tcp: totals.listeners[i])
            case .udp:
                let l = plan.udpListeners[i]
                return ListenerStatus(name: l.name, transport: .udp, endpoint: "\(l.endpoint)",
                                      pool: plan.pools[l.pool].name,
                                      connectionLimit: plan.udpMaxSessions * config.workers,
                                      udp: totals.udpListeners[i])
            }
        }
        let pools = plan.pools.enumerated().map { p, pool -> PoolStatus in
            let state = pool.runtime.state
            var transports: [Transport] = []
            if plan.listeners.contains(where: { $0.pool == p }) { transports.append(.tcp) }
            if plan.udpListeners.contains(where: { $0.pool == p }) { transports.append(.udp) }
            let members = pool.config.members.enumerated().map { m, member in
                MemberStatus(name: member.name, pool: pool.name, endpoint: "\(member.endpoint)",
                             backup: member.backup, adminStateUp: member.adminStateUp,
                             configWeight: member.weight, weight: state.weights[m],
                             adminState: state.adminStates[m], health: health[p]?[m],
                             tcp: totals.members[pool.memberBase + m], udp: totals.udpMembers[pool.memberBase + m])
            }
            return PoolStatus(name: pool.name, algorithm: pool.config.lbAlgorithm.rawValue,
                              monitor: pool.config.healthMonitor?.type.rawValue, transports: transports,
                              members: members)
        }
        return StatusSnapshot(info: info, listeners: listeners, pools: pools, ha: ha?(), anycast: anycast?())
    }
}
