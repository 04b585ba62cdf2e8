import FulcrumConfig
import FulcrumForwarding
import FulcrumHealth
import FulcrumStatus
import FulcrumSystem
import Glibc

/// Reads the running daemon into a StatusSnapshot: counters summed over workers while they
/// run, the health board, and each pool's runtime state. Any thread; the control thread and
/// the exit report use it.
public final class StatusReader: Sendable {
    public let config: Config
    public let engine: Engine
    let board: HealthBoard?
    let version: String
    let configDirectory: String
    let configFiles: [String]
    let startedAt: Int64
    let configLoadedAt: Int64
    /// Config listener order (by name) → (transport, index in the plan's TCP or UDP list).
    private let listenerOrder: [(Transport, Int)]

    public init(config: Config, engine: Engine, board: HealthBoard?, version: String,
                configDirectory: String, configFiles: [String], startedAt: Int64, configLoadedAt: Int64) {
        self.config = config
        self.engine = engine
        self.board = board
        self.version = version
        self.configDirectory = configDirectory
        self.configFiles = configFiles
        self.startedAt = startedAt
        self.configLoadedAt = configLoadedAt
        let plan = engine.plan
        listenerOrder = config.listeners.compactMap { listener in
            if let i = plan.listeners.firstIndex(where: { $0.name == listener.name }) { return (.tcp, i) }
            if let i = plan.udpListeners.firstIndex(where: { $0.name == listener.name }) { return (.udp, i) }
            return nil
        }
    }

    public func snapshot() -> StatusSnapshot {
        let plan = engine.plan
        let totals = engine.counterTotals()
        let now = WallClock.unixSeconds()
        let health = board?.statuses(now: now) ?? Array(repeating: nil, count: plan.pools.count)
        let info = DaemonInfo(version: version, pid: Int(getpid()), startedAt: startedAt, now: now,
                              workers: config.workers, configDirectory: configDirectory,
                              configFiles: configFiles, configLoadedAt: configLoadedAt)
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
        return StatusSnapshot(info: info, listeners: listeners, pools: pools)
    }
}
