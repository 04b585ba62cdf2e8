import FulcrumConfig
import FulcrumHashing
import FulcrumStatus

/// What a pool's selectors need to choose a member, computed in full off the data path from
/// the config and the runtime member settings: weights in force, round-robin cycles, Maglev
/// tables, who may keep stuck clients. Never changed after it is built: a change builds a new
/// one, and each selector takes it up by generation (PoolRuntime).
public final class PoolState: Sendable {
    /// Per member: the admin state set at run time, and the weight in force (config or set).
    public let adminStates: [AdminState]
    public let weights: [Int]
    /// Per member: the weight the algorithms use: 0 for maint, drain, config admin down.
    public let effectiveWeights: [Int]
    /// One smooth weighted round-robin cycle per tier.
    public let primaryCycle: [Int32]
    public let backupCycle: [Int32]
    /// Members with an effective weight, per tier.
    public let primaryMembers: [Int32]
    public let backupMembers: [Int32]
    /// Per member: may a stuck client keep it (a primary with weight, or a backup when no
    /// primary has any).
    public let eligible: [Bool]
    /// Per member: a backup with an effective weight.
    public let backupWeight: [Bool]
    public let primaryTable: MaglevTable?
    public let backupTable: MaglevTable?

    public init(pool: Pool, weights: [Int]? = nil, adminStates: [AdminState]? = nil) {
        let weights = weights ?? pool.members.map(\.weight)
        let adminStates = adminStates ?? Array(repeating: .ready, count: pool.members.count)
        self.weights = weights
        self.adminStates = adminStates
        let effective = pool.members.indices.map { i in
            pool.members[i].adminStateUp && adminStates[i] == .ready ? weights[i] : 0
        }
        effectiveWeights = effective
        func tier(backup: Bool) -> [Int] {
            pool.members.indices.map { pool.members[$0].backup == backup ? effective[$0] : 0 }
        }
        let primaryWeights = tier(backup: false)
        let backupWeights = tier(backup: true)
        primaryCycle = SmoothWeightedRoundRobin.cycle(weights: primaryWeights)
        backupCycle = SmoothWeightedRoundRobin.cycle(weights: backupWeights)
        primaryMembers = primaryWeights.indices.filter { primaryWeights[$0] > 0 }.map(Int32.init)
        backupMembers = backupWeights.indices.filter { backupWeights[$0] > 0 }.map(Int32.init)
        let stickable = primaryWeights.contains { $0 > 0 } ? primaryWeights : backupWeights
        eligible = stickable.map { $0 > 0 }
        backupWeight = backupWeights.map { $0 > 0 }
        if pool.lbAlgorithm == .sourceIP || pool.lbAlgorithm == .sourceIPPort {
            // Identity = address:port, so every node with the same members builds the same table.
            func table(_ list: [Int32]) -> MaglevTable? {
                guard !list.isEmpty else { return nil }
                let members = list.map { (identity: "\(pool.members[Int($0)].endpoint)", weight: effective[Int($0)]) }
                return MaglevTable(members: members, size: MaglevTable.defaultSize(memberCount: members.count))
            }
            primaryTable = table(primaryMembers)
            backupTable = table(backupMembers)
        } else {
            primaryTable = nil
            backupTable = nil
        }
    }
}
