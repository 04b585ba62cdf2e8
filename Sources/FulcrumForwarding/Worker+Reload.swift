// Adopting the next generation of the plan: a reload, applied by each worker to what it owns.

import Atomics
import FulcrumPools
import FulcrumSystem
import Glibc
import Logging

extension Worker {
    /// Moves everything this worker owns onto `publication`'s plan, by the plan's succession:
    /// listening sockets (kept, handed over, closed or new), counters (copied into a block
    /// sized for the new plan), connections (re-indexed; those of removed listeners and
    /// members kept until shutdown_grace) and UDP sessions. Runs on the worker's thread, so
    /// nothing it touches moves meanwhile.
    func adopt(_ publication: Publication) {
        let next = publication.plan
        guard next.generation == plan.generation + 1, let succession = next.succession else {
            // Generations are published one at a time and each waits for every worker.
            logger.critical("cannot adopt configuration generation \(next.generation) after \(plan.generation)")
            return
        }
        let previous = plan
        udp?.endSessions(leaving: next, succession)
        var keptSelectors: [Int32: PoolSelector] = [:]
        for (old, new) in succession.pools.enumerated() where new >= 0 { keptSelectors[new] = selectors[old] }
        takeRules(of: next, previous: keptSelectors)
        moveListenSockets(succession.tcpSocketsFrom, newFDs: index < publication.tcpFDs.count ? publication.tcpFDs[index] : [])
        moveCounters(to: next, succession)
        var failureLog = Array(repeating: Int64.min / 2, count: next.allMemberCount)
        var failures = Array(repeating: 0, count: next.allMemberCount)
        for (old, new) in succession.members.enumerated() where new >= 0 {
            failureLog[Int(new)] = failureLogMs[old]
            failures[Int(new)] = failuresSinceLog[old]
        }
        failureLogMs = failureLog
        failuresSinceLog = failures
        plan = next
        let reconnect = moveConnections(from: previous, succession)
        let udpFDs = index < publication.udpFDs.count ? publication.udpFDs[index] : []
        if let udp {
            udp.adopt(next, listenFDs: udpFDs, counters: counters)
        } else if !next.udpListeners.isEmpty {
            do {
                try startUDP(listenFDs: udpFDs)
            } catch {
                logger.error("cannot watch UDP listener sockets", metadata: ["error": "\(error)"])
            }
        }
        if draining {
            // A reload raced the drain: new sockets must not start accepting.
            for (i, fd) in listenFDs.enumerated() where fd >= 0 {
                close(fd)
                listenFDs[i] = -1
            }
            udp?.closeListeners()
        }
        for slot in reconnect { restartConnect(slot) }
        adopted.store(next.generation, ordering: .releasing)
    }

    private func moveListenSockets(_ from: [Int32], newFDs: [Int32]) {
        var paused = Array(repeating: Int64(0), count: from.count)
        for (new, old) in from.enumerated() where old >= 0 { paused[new] = listenerPausedUntil[Int(old)] }
        listenFDs = ListenSocketMove(poll: poll, kind: .listener, logger: logger)
            .apply(from: from, old: listenFDs, bound: newFDs) { listenerPausedUntil[$0] == 0 }
        pausedListeners = paused.filter { $0 != 0 }.count
        listenerPausedUntil = paused
    }

    private func moveCounters(to next: ForwardingPlan, _ succession: ForwardingPlan.Succession) {
        let moved = WorkerCounters(plan: next)
        for (old, new) in succession.listeners.enumerated() where new >= 0 {
            moved.listeners.copy(counters.listeners, from: old, to: Int(new))
        }
        for (old, new) in succession.udpListeners.enumerated() where new >= 0 {
            moved.udpListeners.copy(counters.udpListeners, from: old, to: Int(new))
        }
        for (old, new) in succession.members.enumerated() where new >= 0 {
            moved.members.copy(counters.members, from: old, to: Int(new))
            moved.udpMembers.copy(counters.udpMembers, from: old, to: Int(new))
        }
        counters = moved
        listenerCounters = moved.listeners
        memberCounters = moved.members
        publish(moved, generation: next.generation)
    }

    /// Re-indexes every connection for the plan just taken. Returns connecting ones whose
    /// member was removed: they start over on another member once everything has moved.
    private func moveConnections(from previous: ForwardingPlan, _ succession: ForwardingPlan.Succession) -> [Int32] {
        var reconnect: [Int32] = []
        orphanDeadline = .max
        for slot in 0..<Int32(table.capacity) {
            let c = table[slot]
            guard c.pointee.state != .free else { continue }
            let listener = succession.listeners[Int(c.pointee.listener)]
            let member = succession.members[Int(c.pointee.memberCounter)]
            let pool = c.pointee.pool >= 0 ? succession.pools[Int(c.pointee.pool)] : -1
            let listenerRetired = listener < 0 || Int(listener) >= plan.listeners.count
            let memberRetired = member < 0 || Int(member) >= plan.memberCount || pool < 0
            // Least-connections counts: a pool with the same runtime keeps them (same members,
            // same order); a changed pool's new runtime starts at zero and each worker adds
            // the connections it holds, so the shared counts stay exact.
            let oldRuntime = c.pointee.pool >= 0 ? previous.pools[Int(c.pointee.pool)].runtime : nil
            let samePool = pool >= 0 && plan.pools[Int(pool)].runtime === oldRuntime
            if !samePool { c.pointee.counted = -1 }
            c.pointee.pool = pool
            if listener < 0 || member < 0 || (c.pointee.state == .connecting && (listenerRetired || pool < 0)) {
                // Past its grace already, or not yet connected for a listener or pool that is
                // gone: nothing has been forwarded that could be finished.
                c.pointee.listener = max(listener, 0)
                closeMoved(slot, c, listenerIndex: listener, memberIndex: member)
                continue
            }
            c.pointee.listener = listener
            c.pointee.memberCounter = member
            c.pointee.member = memberRetired ? -1 : member - Int32(plan.pools[Int(pool)].memberBase)
            if !samePool {
                c.pointee.tried = MemberSet()
                if c.pointee.member >= 0 { countOpen(c, member: c.pointee.member) }
            }
            if c.pointee.state == .connecting && memberRetired {
                reconnect.append(slot)
                continue
            }
            var deadline = Int64.max
            if listenerRetired { deadline = plan.tcpListener(at: Int(listener)).retiredUntilMs }
            if memberRetired { deadline = min(deadline, plan.member(at: Int(member)).retiredUntilMs) }
            orphanDeadline = min(orphanDeadline, deadline)
        }
        return reconnect
    }

    /// Closes a connection whose listener or member the new plan no longer has at all; its
    /// counters went with them.
    private func closeMoved(_ slot: Int32, _ c: UnsafeMutablePointer<Connection>, listenerIndex: Int32, memberIndex: Int32) {
        if listenerIndex < 0 {
            // No listener left to count against: close the sockets directly.
            wheel.cancel(slot)
            if c.pointee.upstream.hasPipe { pipes.release(c.pointee.upstream.pipe, empty: c.pointee.upstream.buffered == 0) }
            if c.pointee.downstream.hasPipe { pipes.release(c.pointee.downstream.pipe, empty: c.pointee.downstream.buffered == 0) }
            uncountOpen(c)
            if c.pointee.client >= 0 { close(c.pointee.client) }
            if c.pointee.server >= 0 { close(c.pointee.server) }
            table.free(slot)
            return
        }
        if memberIndex < 0 { c.pointee.state = .connecting }  // not counted against a member
        closeConnection(slot)
    }

    /// A connect in flight to a member a reload removed: try the pool's members as they are now.
    private func restartConnect(_ slot: Int32) {
        let c = table[slot]
        guard c.pointee.state == .connecting else { return }
        wheel.cancel(slot)
        dropServerSocket(c)
        uncountOpen(c)
        connectToMember(slot)
    }

    /// Connections kept for removed listeners or members whose shutdown_grace is over.
    func closeExpiredOrphans() {
        var closed = 0
        orphanDeadline = .max
        for slot in 0..<Int32(table.capacity) {
            let c = table[slot]
            guard c.pointee.state != .free else { continue }
            var deadline = Int64.max
            if Int(c.pointee.listener) >= plan.listeners.count {
                deadline = plan.tcpListener(at: Int(c.pointee.listener)).retiredUntilMs
            }
            if c.pointee.member < 0 && Int(c.pointee.memberCounter) >= plan.memberCount {
                deadline = min(deadline, plan.member(at: Int(c.pointee.memberCounter)).retiredUntilMs)
            }
            if deadline <= now {
                // Cut, not finished: reset both sides (see closeConnection).
                closeConnection(slot, abort: true)
                closed += 1
            } else {
                orphanDeadline = min(orphanDeadline, deadline)
            }
        }
        if closed > 0 {
            logger.notice("closed \(closed) connections of removed listeners or members: shutdown_grace is over",
                          metadata: ["connections": "\(closed)"])
        }
    }
}
