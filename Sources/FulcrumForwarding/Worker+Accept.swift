// Accepting TCP connections: admission (allowed_cidrs, connection_limit), pausing on EMFILE.

import Atomics
import CFulcrumLinux
import FulcrumAddress
import FulcrumPools
import FulcrumSystem
import Glibc
import Logging

extension Worker {


    func acceptConnections(listener: Int) {
        guard listener < listenFDs.count else { return }
        let fd = listenFDs[listener]
        guard fd >= 0 else { return }
        let rules = listenerRules[listener]
        let open = listenerOpen[listener]
        var peer = SocketAddress()
        // Level-triggered listener: a bounded batch per wake keeps one busy listener from
        // starving established connections; the rest are picked up on the next turn.
        for _ in 0..<Worker.acceptBatch {
            let client: Int32
            do {
                switch try Socket.accept(fd, peer: &peer) {
                case .wouldBlock: return
                case let .done(accepted): client = accepted
                }
            } catch {
                // ECONNABORTED and friends concern one client. Out of descriptors, the pending
                // connection stays queued and the level-triggered listener would wake us in a
                // tight loop: pause it briefly instead (HAProxy does the same).
                if error.code == EMFILE || error.code == ENFILE || error.code == ENOBUFS || error.code == ENOMEM {
                    pauseListener(listener, error: error)
                    return
                }
                continue
            }
            listenerCounters[listener].accepted += 1
            if !allowedCIDRs[listener].isEmpty, !sourceAllowed(peer, allowedCIDRs[listener]) {
                listenerCounters[listener].deniedCIDR += 1
                listenerCounters[listener].closed += 1
                close(client)
                continue
            }
            let already = open.loadThenWrappingIncrement(ordering: .relaxed)
            if rules.connectionLimit >= 0 && already >= rules.connectionLimit {
                open.wrappingDecrement(ordering: .relaxed)
                listenerCounters[listener].refusedLimit += 1
                listenerCounters[listener].closed += 1
                close(client)
                continue
            }
            startConnection(client: client, listener: listener, peer: peer.endpoint ?? Endpoint(address: .v4(0), port: 0))
        }
    }

    func pauseListener(_ listener: Int, error: SystemError) {
        guard listenFDs[listener] >= 0, listenerPausedUntil[listener] == 0 else { return }
        poll.remove(listenFDs[listener])
        listenerPausedUntil[listener] = now + Worker.listenerPauseMs
        pausedListeners += 1
        if now - acceptErrorLogMs >= 1000 {
            logger.error("listener \(plan.listeners[listener].name): out of resources, pausing accept for \(Worker.listenerPauseMs) ms", metadata: [
                "listener": "\(plan.listeners[listener].name)", "error": "\(error)",
            ])
            acceptErrorLogMs = now
        }
    }

    func resumeListeners() {
        for i in listenerPausedUntil.indices where listenerPausedUntil[i] != 0 && now >= listenerPausedUntil[i] {
            listenerPausedUntil[i] = 0
            pausedListeners -= 1
            guard listenFDs[i] >= 0 else { continue }
            do {
                try poll.add(listenFDs[i], events: EventPoll.readable,
                             data: Worker.eventData(.listener, slot: Int32(i), generation: 0))
            } catch {
                logger.error("cannot resume listener", metadata: ["listener": "\(plan.listeners[i].name)", "error": "\(error)"])
            }
        }
    }

    @inline(__always)
    func sourceAllowed(_ peer: SocketAddress, _ cidrs: [CIDR]) -> Bool {
        guard let source = peer.endpoint?.address else { return false }
        // An index loop, not for-in: unoptimized builds box the iterator's element.
        var i = 0
        while i < cidrs.count {
            if cidrs[i].contains(source) { return true }
            i += 1
        }
        return false
    }

    func startConnection(client: Int32, listener: Int, peer: Endpoint) {
        let (slot, grew) = table.allocate()
        if grew { wheel.grow(to: table.capacity) }
        let c = table[slot]
        c.pointee.state = .connecting
        c.pointee.listener = Int32(listener)
        c.pointee.pool = listenerRules[listener].pool
        c.pointee.client = client
        c.pointee.peer = peer
        c.pointee.lastClientActivity = now
        c.pointee.lastMemberActivity = now
        do {
            try poll.add(client, events: Worker.connectEvents,
                         data: Worker.eventData(.client, slot: slot, generation: c.pointee.generation))
        } catch {
            logger.error("cannot watch client socket", metadata: ["listener": "\(plan.listeners[listener].name)", "error": "\(error)"])
            closeConnection(slot)
            return
        }
        connectToMember(slot)
    }
}
