import Atomics
import FulcrumAddress
import FulcrumConfig
import FulcrumHashing

/// The interface both engines use to choose a member for a new connection or UDP session.
/// One selector per pool per worker, owned by one thread: round robin and source hashing take
/// no lock and allocate nothing; least connections reads one shared atomic per member;
/// persistence (opt-in) consults a shared stick table under a lock.
///
/// Eligible members: admin_state_up, weight > 0 and not marked down by the health monitor.
/// Backup members take traffic only while no non-backup member is eligible (or every one of
/// them failed this connection).
public struct PoolSelector: @unchecked Sendable {
    public let algorithm: LBAlgorithm
    @usableFromInline var primary: SmoothWeightedRoundRobin
    @usableFromInline var backup: SmoothWeightedRoundRobin
    @usableFromInline let primaryMembers: [Int32]
    @usableFromInline let backupMembers: [Int32]
    @usableFromInline let weights: [Int]
    /// Per member index: may a stuck client keep it (see isEligible).
    @usableFromInline let eligible: [Bool]
    /// Backup with weight > 0 and admin up: may hold stuck clients when no primary is up.
    @usableFromInline let backupWeight: [Bool]
    @usableFromInline let primaryTable: MaglevTable?
    @usableFromInline let backupTable: MaglevTable?
    /// Open connections (TCP) or sessions (UDP) per member, shared by all workers.
    public let openCounts: MemberCounts
    @usableFromInline let counts: UnsafeMutablePointer<UnsafeAtomic<Int>>
    @usableFromInline var cursor = 0
    public let stickTable: StickTable?
    /// Health flags shared with the checker; `up` is their buffer, read without refcounting.
    public let health: MemberHealth
    @usableFromInline let up: UnsafeMutablePointer<UnsafeAtomic<Bool>>
    /// The health generation the two flags below were computed for.
    @usableFromInline var seenHealth: UInt64 = .max
    @usableFromInline var anyPrimaryUp = true
    @usableFromInline var anyBackupUp = true

    /// `openCounts` must be shared by every worker's selector for the pool (one per member);
    /// `stickTable` likewise. `workerIndex`/`workerCount` stagger where round robin starts.
    public init(pool: Pool, workerIndex: Int = 0, workerCount: Int = 1,
                openCounts: MemberCounts? = nil, stickTable: StickTable? = nil, health: MemberHealth? = nil) {
        algorithm = pool.lbAlgorithm
        func weights(backup: Bool) -> [Int] {
            pool.members.map { m in (m.adminStateUp && m.backup == backup) ? m.weight : 0 }
        }
        let primaryWeights = weights(backup: false)
        let backupWeights = weights(backup: true)
        let offset = { (w: [Int]) in w.reduce(0, +) * workerIndex / max(workerCount, 1) }
        primary = SmoothWeightedRoundRobin(weights: primaryWeights, startOffset: offset(primaryWeights))
        backup = SmoothWeightedRoundRobin(weights: backupWeights, startOffset: offset(backupWeights))
        primaryMembers = primaryWeights.indices.filter { primaryWeights[$0] > 0 }.map(Int32.init)
        backupMembers = backupWeights.indices.filter { backupWeights[$0] > 0 }.map(Int32.init)
        self.weights = pool.members.map(\.weight)
        let stickable = primaryWeights.contains { $0 > 0 } ? primaryWeights : backupWeights
        eligible = stickable.map { $0 > 0 }
        backupWeight = backupWeights.map { $0 > 0 }
        self.openCounts = openCounts ?? MemberCounts(count: pool.members.count)
        counts = self.openCounts.atomics
        self.stickTable = stickTable
        self.health = health ?? MemberHealth(count: pool.members.count)
        up = self.health.flags
        cursor = 0
        if pool.lbAlgorithm == .sourceIP || pool.lbAlgorithm == .sourceIPPort {
            // Identity = address:port, so every node with the same members builds the same table.
            func table(_ list: [Int32]) -> MaglevTable? {
                guard !list.isEmpty else { return nil }
                let members = list.map { (identity: "\(pool.members[Int($0)].endpoint)", weight: pool.members[Int($0)].weight) }
                return MaglevTable(members: members, size: MaglevTable.defaultSize(memberCount: members.count))
            }
            primaryTable = table(primaryMembers)
            backupTable = table(backupMembers)
        } else {
            primaryTable = nil
            backupTable = nil
        }
    }

    /// The member index (into `pool.members`) for a new connection from `client`, skipping
    /// `excluded` (members this connection already failed to reach). nil: no member can take it.
    @inlinable
    public mutating func pick(client: Endpoint, excluding excluded: MemberSet = MemberSet(), now: Int64 = 0) -> Int32? {
        observeHealth()
        if let stickTable {
            if let stuck = stickTable.lookup(client.address, now: now), !excluded.contains(stuck), isEligible(stuck) {
                return stuck
            }
            guard let chosen = pickByAlgorithm(client: client, excluding: excluded) else { return nil }
            stickTable.record(client.address, member: chosen, now: now)
            return chosen
        }
        return pickByAlgorithm(client: client, excluding: excluded)
    }

    /// Round robin without a client (tests, and callers that have none).
    @inlinable
    public mutating func pick(excluding excluded: MemberSet = MemberSet()) -> Int32? {
        observeHealth()
        return pickByAlgorithm(client: Endpoint(address: .v4(0), port: 0), excluding: excluded)
    }

    @inlinable
    mutating func pickByAlgorithm(client: Endpoint, excluding excluded: MemberSet) -> Int32? {
        switch algorithm {
        case .roundRobin:
            if anyPrimaryUp, let m = primary.next(excluding: excluded, up: up) { return m }
            return anyBackupUp ? backup.next(excluding: excluded, up: up) : nil
        case .leastConnections:
            return leastLoaded(primaryMembers, excluded) ?? leastLoaded(backupMembers, excluded)
        case .sourceIP, .sourceIPPort:
            let hash = algorithm == .sourceIP ? FlowHash.hash(client.address.unmapped)
                : FlowHash.hash(client.address.unmapped, port: client.port)
            if anyPrimaryUp, let m = hashed(primaryTable, primaryMembers, hash, excluded) { return m }
            return anyBackupUp ? hashed(backupTable, backupMembers, hash, excluded) : nil
        }
    }

    /// One load per pick: recompute what depends on the health flags only when they changed.
    @inlinable
    mutating func observeHealth() {
        let generation = health.generation
        if generation != seenHealth { refreshHealth(generation) }
    }

    /// Whether any primary / backup is up, so an all-down tier is skipped without scanning it.
    @usableFromInline
    mutating func refreshHealth(_ generation: UInt64) {
        seenHealth = generation
        // Plain loops: a closure here boxed its context in unoptimised builds.
        anyPrimaryUp = false
        for i in 0..<primaryMembers.count where up[Int(primaryMembers[i])].load(ordering: .relaxed) {
            anyPrimaryUp = true
            break
        }
        anyBackupUp = false
        for i in 0..<backupMembers.count where up[Int(backupMembers[i])].load(ordering: .relaxed) {
            anyBackupUp = true
            break
        }
    }

    /// Whether the health monitor lets `member` take new traffic.
    @inlinable
    public func isUp(_ member: Int32) -> Bool {
        up[Int(member)].load(ordering: .relaxed)
    }

    /// Weighted least connections: smallest open/weight, ties going round robin.
    @inlinable
    mutating func leastLoaded(_ list: [Int32], _ excluded: MemberSet) -> Int32? {
        let count = list.count
        guard count > 0 else { return nil }
        // The scan starts one further each time, so equal loads take turns; one division per
        // pick, not per member.
        cursor = cursor + 1 < count ? cursor + 1 : 0
        var index = cursor
        var best: Int32 = -1
        var bestLoad = 0
        var bestWeight = 1
        for _ in 0..<count {
            let m = list[index]
            index = index + 1 == count ? 0 : index + 1
            if excluded.contains(m) || !up[Int(m)].load(ordering: .relaxed) { continue }
            let load = counts[Int(m)].load(ordering: .relaxed)
            let weight = weights[Int(m)]
            if best < 0 || load * bestWeight < bestLoad * weight {
                best = m
                bestLoad = load
                bestWeight = weight
            }
        }
        return best < 0 ? nil : best
    }

    /// Maglev lookup; a member this connection already failed, or one that is down, is
    /// skipped by walking on to the next slots, which keeps other clients' choices untouched:
    /// only the down member's clients move, and they come back when it does.
    @inlinable
    func hashed(_ table: MaglevTable?, _ list: [Int32], _ hash: UInt64, _ excluded: MemberSet) -> Int32? {
        guard let table else { return nil }
        var slot = Int(hash % UInt64(table.size))
        for _ in 0..<min(table.size, 4096) {
            let m = list[Int(table.member(atSlot: slot))]
            if !excluded.contains(m) && up[Int(m)].load(ordering: .relaxed) { return m }
            slot += 1
            if slot == table.size { slot = 0 }
        }
        // The walk is bounded; when the members still up own few slots (many down, or a low
        // weight), it can miss them all. Fall back to the list, from a point the hash fixes,
        // so the answer stays the same for the client on every worker and node.
        let count = list.count
        var index = Int(hash % UInt64(count))
        for _ in 0..<count {
            let m = list[index]
            if !excluded.contains(m) && up[Int(m)].load(ordering: .relaxed) { return m }
            index = index + 1 == count ? 0 : index + 1
        }
        return nil
    }

    /// A stuck member may keep its clients while it would be picked at all: a primary, or a
    /// backup while no primary is eligible.
    @inlinable
    func isEligible(_ member: Int32) -> Bool {
        let m = Int(member)
        guard m < eligible.count, up[m].load(ordering: .relaxed) else { return false }
        // Backups hold their clients while every primary is down (anyPrimaryUp is current:
        // pick observed the health flags first).
        return eligible[m] || (backupWeight[m] && !anyPrimaryUp)
    }
}
