// Connect and idle timeouts from the timer wheel, and closing connections.

import Atomics
import CFulcrumLinux
import FulcrumAddress
import FulcrumPools
import FulcrumSystem
import Glibc
import Logging

extension Worker {


    func armIdleTimer(_ slot: Int32) {
        let c = table[slot]
        let rules = listenerRules[Int(c.pointee.listener)]
        let deadline = min(c.pointee.lastClientActivity + rules.timeoutClientDataMs,
                           c.pointee.lastMemberActivity + rules.timeoutMemberDataMs)
        wheel.arm(slot, at: deadline)
    }

    func fireTimers() {
        expired.removeAll(keepingCapacity: true)
        wheel.collectExpired(now: now, into: &expired)
        for slot in expired {
            let c = table[slot]
            switch c.pointee.state {
            case .connecting:
                connectAttemptFailed(slot, error: SystemError(code: ETIMEDOUT, call: "connect"), timedOut: true)
            case .established:
                let rules = listenerRules[Int(c.pointee.listener)]
                if now >= c.pointee.lastClientActivity + rules.timeoutClientDataMs
                    || now >= c.pointee.lastMemberActivity + rules.timeoutMemberDataMs {
                    listenerCounters[Int(c.pointee.listener)].idleTimeouts += 1
                    closeConnection(slot)
                } else {
                    armIdleTimer(slot)  // there was activity since it was armed
                }
            case .free:
                break
            }
        }
    }

    // MARK: teardown

    /// on_member_down = shutdown_sessions: closes this worker's established connections to
    /// members of such pools that are now down. A scan of the table, but only on the rare
    /// wake-up that says a member went down.
    func shutDownSessionsOfDownMembers() {
        var closed: [Int32: Int] = [:]
        for slot in 0..<Int32(table.capacity) {
            let c = table[slot]
            guard c.pointee.state == .established else { continue }
            let pool = Int(c.pointee.pool)
            // A connection kept for a removed pool or member has no health to follow.
            guard pool >= 0, c.pointee.member >= 0, poolRules[pool].shutdownOnDown,
                  !selectors[pool].isUp(c.pointee.member) else { continue }
            closed[c.pointee.memberCounter, default: 0] += 1
            memberCounters[Int(c.pointee.memberCounter)].shutDownOnDown += 1
            closeConnection(slot)
        }
        for (counter, count) in closed {
            let member = plan.member(at: Int(counter))
            logger.notice("member \(member.pool)/\(member.name) \(member.endpoint): closed \(count) connections (on_member_down = shutdown_sessions)",
                metadata: ["pool": "\(member.pool)", "member": "\(member.name)"])
        }
    }

    /// An operator's `shutdown sessions member`: closes this worker's connections to the
    /// member (connecting or established) and its UDP sessions.
    func shutDownSessions(memberCounter: Int) {
        var count = 0
        for slot in 0..<Int32(table.capacity) {
            let c = table[slot]
            guard c.pointee.state != .free, c.pointee.state == .established || c.pointee.server >= 0,
                  Int(c.pointee.memberCounter) == memberCounter else { continue }
            memberCounters[memberCounter].shutDownOnDown += 1
            closeConnection(slot)
            count += 1
        }
        count += udp?.closeSessions(memberCounter: memberCounter) ?? 0
        guard count > 0 else { return }
        let member = plan.member(at: memberCounter)
        logger.notice("member \(member.pool)/\(member.name) \(member.endpoint): closed \(count) connections and sessions (shutdown sessions)",
                      metadata: ["pool": "\(member.pool)", "member": "\(member.name)"])
    }

    /// `abort`: close both sockets with SO_LINGER 0 so each peer sees a reset, for a
    /// connection that did not end cleanly (a reset or error on one side, or cut at the end
    /// of shutdown_grace). A clean close sends FIN.
    func closeConnection(_ slot: Int32, abort: Bool = false) {
        let c = table[slot]
        if abort {
            // A failure here leaves a FIN: the socket is closed either way.
            if c.pointee.client >= 0 { try? Socket.setAbortOnClose(c.pointee.client) }
            if c.pointee.server >= 0 { try? Socket.setAbortOnClose(c.pointee.server) }
        }
        wheel.cancel(slot)
        uncountOpen(c)
        listenerCounters[Int(c.pointee.listener)].closed += 1
        if c.pointee.state == .established { memberCounters[Int(c.pointee.memberCounter)].closed += 1 }
        if c.pointee.upstream.hasPipe {
            pipes.release(c.pointee.upstream.pipe, empty: c.pointee.upstream.buffered == 0)
        }
        if c.pointee.downstream.hasPipe {
            pipes.release(c.pointee.downstream.pipe, empty: c.pointee.downstream.buffered == 0)
        }
        if c.pointee.client >= 0 { close(c.pointee.client) }
        if c.pointee.server >= 0 { close(c.pointee.server) }
        listenerOpen[Int(c.pointee.listener)].wrappingDecrement(ordering: .relaxed)
        table.free(slot)
    }

    func teardown() {
        // Connections still open here are cut (stop, or shutdown_grace over): reset them, so
        // neither side takes the cut for a complete transfer.
        for slot in 0..<Int32(table.capacity) where table[slot].pointee.state != .free {
            closeConnection(slot, abort: true)
        }
        for fd in listenFDs where fd >= 0 { close(fd) }
        listenFDs = listenFDs.map { _ in -1 }
        pipes.closeAll()
        copyBuffer.deallocate()
        udp?.teardown()
        // The epoll and wake descriptors belong to the loop and stay open until it goes: the
        // health checker may still wake an ended worker (a member going down during the drain).
        table.deallocate()
    }
}
