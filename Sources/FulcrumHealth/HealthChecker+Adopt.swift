// A reload replaces the checker with one built for the new configuration. Members are matched
// by identity (pool name + member name), never by position, and a member keeps what its
// checks found while they keep testing the same thing: no fall back to UNKNOWN, no reset of
// its rise/fall progress, counts or downtime.

import FulcrumConfig
import FulcrumPools
import FulcrumStatus

extension HealthChecker {
    /// Takes over `old`'s state, called at the end of init. A member keeps its state when its
    /// pool exists in `old` with the same monitor and on_member_down, and the member exists
    /// there by name with the same check endpoint and admin_state_up (MemberHealth's rule,
    /// which PoolRuntime follows for the flags too). Every other member starts as a new one.
    func adopt(_ old: HealthChecker) {
        // The contract is that the caller stopped it. Stopping again is a no-op then, and
        // makes reading its targets below race-free even if it did not: the join orders the
        // old thread's last writes before these reads.
        old.stop()
        var oldPoolIndex: [String: Int] = [:]
        for (p, pool) in old.pools.enumerated() { oldPoolIndex[pool.name] = p }
        let oldTargets = Self.targetIndex(old.targets, pools: old.pools)
        let newTargets = Self.targetIndex(targets, pools: pools)
        var planOfPool = [MonitorPlan?](repeating: nil, count: pools.count)
        for plan in plans { planOfPool[plan.pool] = plan }
        var moves: [HealthBoard.Move] = []

        for (p, pool) in pools.enumerated() {
            // Flags are computed first and set once each: a member already down in a live
            // flag set (the same MemberHealth object when the pool did not change) must not
            // be seen up for a moment on the way.
            var up = [Bool](repeating: true, count: pool.members.count)
            var kept = 0
            if pool.healthMonitor != nil, let op = oldPoolIndex[pool.name],
               MemberHealth.keepsVerdicts(from: old.pools[op], to: pool) {
                let oldPool = old.pools[op]
                var oldMember: [String: Int] = [:]
                for (m, member) in oldPool.members.enumerated() { oldMember[member.name] = m }
                for (m, member) in pool.members.enumerated() {
                    guard let om = oldMember[member.name],
                          MemberHealth.keepsVerdict(from: oldPool.members[om], to: member) else { continue }
                    kept += 1
                    moves.append(.init(old: (op, om), new: (p, m)))
                    let ot = oldTargets[op][om], nt = newTargets[p][m]
                    // Members with admin_state_up false are not checked: OFFLINE in both.
                    guard ot >= 0, nt >= 0 else { continue }
                    let was = old.targets[Int(ot)], target = targets[Int(nt)]
                    target.tracker = was.tracker
                    target.lastResult = was.lastResult
                    target.carriedDueMs = was.dueMs
                    up[m] = was.tracker.available
                    // Recomputed, not copied: a new weight (0 = DRAINING) shows at once.
                    memberStatuses[p][m] = memberStatus(adminStateUp: true, weight: member.weight, monitored: true,
                                                        verdict: HealthVerdict(was.tracker.verdict))
                }
                planOfPool[p]?.kept = true
            }
            for m in 0..<min(up.count, health[p].count) { health[p].set(member: m, up: up[m]) }
            // A line where checks start over; a pool that kept every member says nothing at
            // info, or a reload of 1,000 pools would log 1,000 lines.
            if pool.healthMonitor != nil {
                logger.log(level: kept == pool.members.count ? .debug : .info,
                           "health monitor \(pool.name): \(kept) members kept their status, \(pool.members.count - kept) start over",
                           metadata: ["pool": "\(pool.name)"])
            }
        }
        poolStatuses = memberStatuses.map(poolStatus)
        board.adopt(from: old.board, moves)
        // Rate limits on the checker's own warnings hold across reloads, or a reload storm
        // would repeat them.
        localFailureLogMs = old.localFailureLogMs
        localFailuresSinceLog = old.localFailuresSinceLog
        latenessLogMs = old.latenessLogMs
    }

    /// Per pool, per member: the index of its target, -1 for a member not checked.
    static func targetIndex(_ targets: [HealthTarget], pools: [Pool]) -> [[Int32]] {
        var index = pools.map { [Int32](repeating: -1, count: $0.members.count) }
        for target in targets { index[target.plan.pool][target.member] = target.index }
        return index
    }
}
