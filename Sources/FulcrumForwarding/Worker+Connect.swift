// Connecting to members: choice, non-blocking connect, retries on other members, failures.

import Atomics
import CFulcrumLinux
import FulcrumAddress
import FulcrumPools
import FulcrumProxyProtocol
import FulcrumSystem
import Glibc
import Logging

extension Worker {


    /// Picks a member and starts a non-blocking connect; on immediate failure tries the next.
    func connectToMember(_ slot: Int32) {
        let c = table[slot]
        let listener = Int(c.pointee.listener)
        let poolIndex = Int(c.pointee.pool)
        let memberBase = Int(poolRules[poolIndex].memberBase)
        while true {
            var choice = selectors[poolIndex].pick(client: c.pointee.peer, excluding: c.pointee.tried, now: now)
            if choice == nil && c.pointee.attempts > 0 {
                // Every member has been tried once: retries go round again.
                choice = selectors[poolIndex].pick(client: c.pointee.peer, now: now)
            }
            guard let member = choice else {
                if c.pointee.attempts == 0 {
                    listenerCounters[listener].noMember += 1
                } else {
                    listenerCounters[listener].connectFailed += 1
                }
                closeConnection(slot)
                return
            }
            c.pointee.attempts += 1
            c.pointee.tried.insert(member)
            c.pointee.member = member
            countOpen(c, member: member)
            c.pointee.memberCounter = Int32(memberBase) + member
            let target = memberAddresses[memberBase + Int(member)]
            let fd: Int32
            do {
                fd = try Socket.makeStream(family: target.family)
            } catch {
                // No socket is this host's problem (descriptors, memory), not the member's:
                // nothing is counted against it, the client is closed, and accepting pauses.
                listenerCounters[listener].connectFailed += 1
                closeConnection(slot)
                pauseListener(listener, error: error)
                return
            }
            Socket.setNoDelay(fd)
            c.pointee.server = fd
            do {
                try poll.add(fd, events: Worker.connectEvents,
                             data: Worker.eventData(.member, slot: slot, generation: c.pointee.generation))
                switch try Socket.connect(fd, to: target) {
                case .done:
                    established(slot)
                case .wouldBlock:
                    wheel.arm(slot, at: now + listenerRules[listener].timeoutMemberConnectMs)
                }
                return
            } catch {
                dropServerSocket(c)
                memberFailed(slot, error: error, timedOut: false)
                if !retryAllowed(c) { listenerCounters[listener].connectFailed += 1; closeConnection(slot); return }
            }
        }
    }

    @inline(__always)
    func retryAllowed(_ c: UnsafeMutablePointer<Connection>) -> Bool {
        c.pointee.attempts <= poolRules[Int(c.pointee.pool)].retries
    }

    /// A connect attempt failed after it was started (SO_ERROR or timeout): retry or give up.
    func connectAttemptFailed(_ slot: Int32, error: SystemError, timedOut: Bool) {
        let c = table[slot]
        wheel.cancel(slot)
        dropServerSocket(c)
        memberFailed(slot, error: error, timedOut: timedOut)
        if retryAllowed(c) {
            connectToMember(slot)
        } else {
            listenerCounters[Int(c.pointee.listener)].connectFailed += 1
            closeConnection(slot)
        }
    }

    /// LEAST_CONNECTIONS reads the shared count of connections each member holds: a
    /// connection counts against the member it is connecting or connected to.
    @inline(__always)
    func countOpen(_ c: UnsafeMutablePointer<Connection>, member: Int32) {
        let pool = Int(c.pointee.pool)
        guard poolRules[pool].countsOpen else { return }
        uncountOpen(c)
        selectors[pool].openCounts[Int(member)].wrappingIncrement(ordering: .relaxed)
        c.pointee.counted = member
    }

    @inline(__always)
    func uncountOpen(_ c: UnsafeMutablePointer<Connection>) {
        guard c.pointee.counted >= 0 else { return }
        selectors[Int(c.pointee.pool)].openCounts[Int(c.pointee.counted)].wrappingDecrement(ordering: .relaxed)
        c.pointee.counted = -1
    }

    func dropServerSocket(_ c: UnsafeMutablePointer<Connection>) {
        if c.pointee.server >= 0 {
            close(c.pointee.server)  // closing also removes it from epoll
            c.pointee.server = -1
        }
    }

    func memberFailed(_ slot: Int32, error: SystemError, timedOut: Bool) {
        let c = table[slot]
        let counter = Int(c.pointee.memberCounter)
        memberCounters[counter].connectFailures += 1
        if timedOut { memberCounters[counter].connectTimeouts += 1 }
        failuresSinceLog[counter] += 1
        if now - failureLogMs[counter] >= 1000 {
            let member = plan.member(at: counter)
            let cause = timedOut ? "connect timed out" : "connect failed: \(error.name) (\(error.reason))"
            logger.warning("member \(member.pool)/\(member.name) \(member.endpoint): \(cause)", metadata: [
                "pool": "\(member.pool)", "member": "\(member.name)",
                "failures": "\(failuresSinceLog[counter])",
            ])
            failureLogMs[counter] = now
            failuresSinceLog[counter] = 0
        }
    }

    func established(_ slot: Int32) {
        let c = table[slot]
        wheel.cancel(slot)
        let pool = Int(c.pointee.pool)
        if poolRules[pool].shutdownOnDown && !selectors[pool].isUp(c.pointee.member) {
            // Marked down while this connect was in flight: shutdown_sessions would close the
            // connection at once. Nothing has been forwarded yet, so try another member.
            dropServerSocket(c)
            if retryAllowed(c) {
                connectToMember(slot)
            } else {
                listenerCounters[Int(c.pointee.listener)].connectFailed += 1
                closeConnection(slot)
            }
            return
        }
        c.pointee.state = .established
        memberCounters[Int(c.pointee.memberCounter)].connections += 1
        // Readiness reported while connecting is unknown now: assume ready (and perhaps hung
        // up: a client's request and FIN may both be queued already), EAGAIN corrects it.
        c.pointee.upstream = Flow(source: c.pointee.client, sink: c.pointee.server, sourceReadable: true,
                                  sinkWritable: true, sourceHungUp: true, copying: plan.copySmallReads)
        c.pointee.downstream = Flow(source: c.pointee.server, sink: c.pointee.client, sourceReadable: true,
                                    sinkWritable: true, sourceHungUp: true, copying: plan.copySmallReads)
        c.pointee.lastClientActivity = now
        c.pointee.lastMemberActivity = now
        if let version = poolRules[Int(c.pointee.pool)].proxyHeader, !queueProxyHeader(c, version) {
            closeConnection(slot)
            return
        }
        armIdleTimer(slot)
        service(slot)
    }

    /// Puts the PROXY header into the upstream pipe, so it reaches the member before any
    /// client byte and a member that reads slowly delays it like any other byte. The
    /// destination is the address the client actually reached (a listener on 0.0.0.0 or a VIP).
    private func queueProxyHeader(_ c: UnsafeMutablePointer<Connection>, _ version: ProxyProtocolVersion) -> Bool {
        let destination = Socket.localEndpoint(c.pointee.client) ?? plan.tcpListener(at: Int(c.pointee.listener)).endpoint
        let length = ProxyHeader.encode(version, transport: .stream, client: c.pointee.peer, listener: destination,
                                        into: UnsafeMutableRawBufferPointer(start: copyBuffer, count: Worker.copyBufferSize))
        do {
            c.pointee.upstream.pipe = try pipes.acquire()
            switch try Splice.write(c.pointee.upstream.pipe.write, from: copyBuffer, count: length) {
            case let .done(n) where n == length:
                c.pointee.upstream.buffered = n
                return true
            default:
                return false
            }
        } catch {
            return false
        }
    }
}
