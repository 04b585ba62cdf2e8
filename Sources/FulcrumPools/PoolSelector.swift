import FulcrumConfig

/// The interface both engines use to choose a member for a new connection. One selector per
/// pool per worker: it is owned by one thread, so picking takes no lock and allocates nothing.
///
/// Which members are eligible: admin_state_up and weight > 0. Backup members take traffic
/// only while no non-backup member is eligible.
public struct PoolSelector: Sendable {
    @usableFromInline var primary: SmoothWeightedRoundRobin
    @usableFromInline var backup: SmoothWeightedRoundRobin

    /// `workerIndex`/`workerCount` stagger where each worker starts in the cycle, so W workers
    /// do not all send their first connections to the heaviest member.
    public init(pool: Pool, workerIndex: Int = 0, workerCount: Int = 1) {
        func weights(backup: Bool) -> [Int] {
            pool.members.map { m in
                (m.adminStateUp && m.backup == backup) ? m.weight : 0
            }
        }
        let primaryWeights = weights(backup: false)
        let backupWeights = weights(backup: true)
        let offset = { (w: [Int]) in w.reduce(0, +) * workerIndex / max(workerCount, 1) }
        primary = SmoothWeightedRoundRobin(weights: primaryWeights, startOffset: offset(primaryWeights))
        backup = SmoothWeightedRoundRobin(weights: backupWeights, startOffset: offset(backupWeights))
    }

    /// The member index (into `pool.members`) for the next connection, skipping `excluded`
    /// (members this connection already failed to reach). nil: no member can take it.
    @inlinable
    public mutating func pick(excluding excluded: MemberSet = MemberSet()) -> Int32? {
        if !primary.isEmpty {
            if let m = primary.next(excluding: excluded) { return m }
        }
        return backup.next(excluding: excluded)
    }
}
