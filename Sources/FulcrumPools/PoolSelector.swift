import Atomics
import FulcrumAddress
import FulcrumConfig
import FulcrumHashing

/// The interface both engines use to choose a member for a new connection or UDP session.
/// One selector per pool per worker, owned by one thread: round robin and source hashing take
/// no lock and allocate nothing; least connections reads one shared atomic per member;
/// persistence (opt-in) consults a shared stick table under a lock.
///
/// Eligible members: admin_state_up, set ready (not drain or maint), weight > 0 and not marked
/// down by the health monitor.
/// Backup members take traffic only while no non-backup member is eligible (or every one of
/// them failed this connection).
public struct PoolSelector: @unchecked Sendable {
    public let algorithm: LBAlgorithm
    @usableFromInline var primary: SmoothWeightedRoundRobin
    @usableFromInline var backup: SmoothWeightedRoundRobin
    // What follows is copied from the runtime's PoolState when its generation moves: the
    // arrays share the state's storage (no allocation), and picks read them without
    // reference counting a class.
    @usableFromInline var primaryMembers: [Int32]
    @usableFromInline var backupMembers: [Int32]
    @usableFromInline var weights: [Int]
    /// Per member index: may a stuck client keep it (see isEligible).
    @usableFromInline var eligible: [Bool]
    /// Backup with an effective weight: may hold stuck clients when no primary is up.
    @usableFromInline var backupWeight: [Bool]
    @usableFromInline var primaryTable: MaglevTable?
    @usableFromInline var backupTable: MaglevTable?
    /// Weights, cycles and tables in force, shared by every worker's selector for the pool.
    public let runtime: PoolRuntime
    @usableFromInline var seenState: UInt64
    let workerIndex: Int
    let workerCount: Int
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

    /// `runtime` must be shared by every worker's selector for the pool (its open counts and
    /// health flags with it); `stickTable` likewise. Without one, the selector gets its own
    /// (tests). `workerIndex`/`workerCount` stagger where round robin starts.
    public init(pool: Pool, workerIndex: Int = 0, workerCount: Int = 1, runtime: PoolRuntime? = nil,
                openCounts: MemberCounts? = nil, stickTable: StickTable? = nil, health: MemberHealth? = nil) {
        let runtime = runtime ?? PoolRuntime(pool: pool, health: health, openCounts: openCounts)
        self.runtime = runtime
        algorithm = pool.lbAlgorithm
        self.workerIndex = workerIndex
        self.workerCount = max(workerCount, 1)
        self.openCounts = runtime.openCounts
        counts = runtime.openCounts.atomics
        self.stickTable = stickTable
        self.health = runtime.health
        up = runtime.health.flags
        seenState = runtime.generation
        let state = runtime.state
        primary = SmoothWeightedRoundRobin(sequence: [], startOffset: 0)
        backup = primary
        primaryMembers = []
        backupMembers = []
        weights = []
        eligible = []
        backupWeight = []
        primaryTable = nil
        backupTable = nil
        take(state)
    }

    /// Copies what picks read from `state`; round robin restarts at this worker's offset.
    @usableFromInline
    mutating func take(_ state: PoolState) {
        primary = SmoothWeightedRoundRobin(sequence: state.primaryCycle,
                                           startOffset: state.primaryCycle.count * workerIndex / workerCount)
        backup = SmoothWeightedRoundRobin(sequence: state.backupCycle,
                                          startOffset: state.backupCycle.count * workerIndex / workerCount)
        primaryMembers = state.primaryMembers
        backupMembers = state.backupMembers
        weights = state.effectiveWeights
        eligible = state.eligible
        backupWeight = state.backupWeight
        primaryTable = state.primaryTable
        backupTable = state.backupTable
        // The tiers changed: whether any of each is up must be looked at again.
        seenHealth = .max
    }

    /// One load per pick; the lock and the copy only when an operator changed the pool.
    @inlinable
    mutating func observeState() {
        let generation = runtime.generation
        if generation != seenState { refreshState(generation) }
    }

    @usableFromInline
    mutating func refreshState(_ generation: UInt64) {
        seenState = generation
        take(runtime.state)
    }

    /// The member index (into `pool.members`) for a new connection from `client`, skipping
    /// `excluded` (members this connection already failed to reach). nil: no member can take it.
    @inlinable
    public mutating func pick(client: Endpoint, excluding excluded: MemberSet = MemberSet(), now: Int64 = 0) -> Int32? {
        observeState()
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
        observeState()
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
