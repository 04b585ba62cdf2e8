/// The reply to `show stat json` and the body of HTTP `/status.json`: the whole snapshot as
/// one line of JSON, snake_case keys, null where a thing does not exist (no monitor, no check
/// yet, no connection limit, the other transport's counters of a listener).
public enum StatJSON {
    public static func render(_ snapshot: StatusSnapshot) -> String {
        var json = JSONWriter()
        json.object { json in
            json.object("info") { writeInfo(snapshot.info, to: &$0) }
            json.array("listeners") { json in
                for listener in snapshot.listeners {
                    json.object { writeListener(listener, to: &$0) }
                }
            }
            json.array("pools") { json in
                for pool in snapshot.pools {
                    json.object { writePool(pool, to: &$0) }
                }
            }
            json.key("ha")
            if let ha = snapshot.ha {
                json.object { writeHA(ha, to: &$0) }
            } else {
                json.null()
            }
            // Null when off, like ha: present either way, so the page tells off from an old daemon.
            json.key("anycast")
            if let anycast = snapshot.anycast {
                json.object { writeAnycast(anycast, to: &$0) }
            } else {
                json.null()
            }
        }
        return json.output
    }

    private static func writeInfo(_ info: DaemonInfo, to json: inout JSONWriter) {
        json.field("version", info.version)
        json.field("pid", info.pid)
        json.field("started_at", info.startedAt)
        json.field("now", info.now)
        json.field("uptime_seconds", info.uptimeSeconds)
        json.field("workers", info.workers)
        json.field("config_dir", info.configDirectory)
        json.array("config_files") { json in
            for file in info.configFiles { json.string(file) }
        }
        json.field("config_loaded_at", info.configLoadedAt)
        json.field("reloads", info.reloadsApplied)
        json.field("reloads_refused", info.reloadsRefused)
        json.field("last_reload_succeeded", info.lastReloadSucceeded)
    }

    /// The same fields as `show ha`, lists as arrays and unknowns as null (not "unknown"), so
    /// the page and scripts test for absence without knowing the text's placeholders.
    private static func writeHA(_ ha: HAStatus, to json: inout JSONWriter) {
        json.field("state", ha.state.rawValue)
        json.field("interface", ha.interface)
        json.field("virtual_router_id", ha.virtualRouterID)
        json.field("priority", ha.configuredPriority)
        json.field("effective_priority", ha.effectivePriority)
        json.field("advert_interval_ms", ha.advertIntervalMs)
        json.field("preempt", ha.preempt)
        json.field("master", ha.masterAddress)
        json.array("virtual_ips") { json in
            for address in ha.virtualIPs { json.string(address) }
        }
        json.field("mode", ha.unicastPeers.isEmpty ? "multicast" : "unicast")
        json.array("unicast_peers") { json in
            for peer in ha.unicastPeers { json.string(peer) }
        }
        json.array("tracked_pools_down") { json in
            for pool in ha.trackedPoolsDown { json.string(pool) }
        }
        json.field("adverts_sent", ha.advertsSent)
        json.field("adverts_received", ha.advertsReceived)
        json.object("discards") { json in
            for (reason, count) in ha.discards.byReason { json.field(reason, count) }
        }
        json.field("transitions", ha.transitions)
        json.field("became_master", ha.becameMasterCount)
        json.key("last_transition_at")
        if let at = ha.lastTransitionAt { json.int(at) } else { json.null() }
        json.field("last_transition_reason", ha.lastTransitionReason)
    }

    private static func writeListener(_ listener: ListenerStatus, to json: inout JSONWriter) {
        json.field("name", listener.name)
        json.field("protocol", listener.transport.rawValue)
        json.field("address", listener.endpoint)
        json.field("pool", listener.pool)
        json.key("connection_limit")
        if listener.connectionLimit < 0 { json.null() } else { json.int(listener.connectionLimit) }
        json.field("current", listener.current)
        json.field("current_max", listener.sampled.currentMax)
        json.field("total", listener.total)
        json.field("bytes_in", listener.bytesIn)
        json.field("bytes_out", listener.bytesOut)
        writeRates(listener.sampled, to: &json)
        json.key("tcp")
        if listener.transport == .tcp {
            json.object { writeListenerTCP(listener.tcp, to: &$0) }
        } else {
            json.null()
        }
        json.key("udp")
        if listener.transport == .udp {
            json.object { writeListenerUDP(listener.udp, to: &$0) }
        } else {
            json.null()
        }
    }

    private static func writeRates(_ sampled: Sampled, to json: inout JSONWriter) {
        json.field("rate", sampled.rate)
        json.field("rate_max", sampled.rateMax)
        json.field("bytes_in_rate", sampled.bytesInRate)
        json.field("bytes_out_rate", sampled.bytesOutRate)
    }

    private static func writeListenerTCP(_ c: ListenerCounters, to json: inout JSONWriter) {
        json.field("accepted", c.accepted)
        json.field("refused_limit", c.refusedLimit)
        json.field("denied_cidr", c.deniedCIDR)
        json.field("no_member", c.noMember)
        json.field("connect_failed", c.connectFailed)
        json.field("idle_timeouts", c.idleTimeouts)
        json.field("closed", c.closed)
        json.field("bytes_in", c.bytesIn)
        json.field("bytes_out", c.bytesOut)
    }

    private static func writeListenerUDP(_ c: UDPListenerCounters, to json: inout JSONWriter) {
        json.field("datagrams_in", c.datagramsIn)
        json.field("bytes_in", c.bytesIn)
        json.field("datagrams_out", c.datagramsOut)
        json.field("bytes_out", c.bytesOut)
        json.field("sessions_created", c.sessionsCreated)
        json.field("sessions_expired", c.sessionsExpired)
        json.field("sessions_evicted", c.sessionsEvicted)
        json.field("sessions_closed", c.sessionsClosed)
        json.field("truncated", c.truncated)
        json.field("denied", c.denied)
        json.field("dropped", c.dropped)
    }

    private static func writePool(_ pool: PoolStatus, to json: inout JSONWriter) {
        json.field("name", pool.name)
        json.field("algorithm", pool.algorithm)
        json.field("monitor", pool.monitor)
        json.field("status", pool.status.rawValue)
        json.array("transports") { json in
            for transport in pool.transports { json.string(transport.rawValue) }
        }
        json.field("current", pool.current)
        json.array("members") { json in
            for member in pool.members {
                json.object { writeMember(member, to: &$0) }
            }
        }
    }

    private static func writeMember(_ member: MemberStatus, to json: inout JSONWriter) {
        json.field("name", member.name)
        json.field("address", member.endpoint)
        json.field("backup", member.backup)
        json.field("admin_state_up", member.adminStateUp)
        json.field("admin_state", member.adminState.rawValue)
        json.field("config_weight", member.configWeight)
        json.field("weight", member.weight)
        json.field("status", member.status.rawValue)
        json.field("haproxy_status", member.haproxyStatus)
        json.field("current", member.current)
        json.field("current_max", member.sampled.currentMax)
        writeRates(member.sampled, to: &json)
        json.key("health")
        if let health = member.health {
            json.object { writeHealth(health, to: &$0) }
        } else {
            json.null()
        }
        json.object("tcp") { json in
            let c = member.tcp
            json.field("connections", c.connections)
            json.field("connect_failures", c.connectFailures)
            json.field("connect_timeouts", c.connectTimeouts)
            json.field("bytes_to_member", c.bytesToMember)
            json.field("bytes_from_member", c.bytesFromMember)
            json.field("shut_down_on_down", c.shutDownOnDown)
            json.field("closed", c.closed)
        }
        json.object("udp") { json in
            let c = member.udp
            json.field("sessions", c.sessions)
            json.field("sessions_ended", c.sessionsEnded)
            json.field("datagrams_to", c.datagramsTo)
            json.field("bytes_to", c.bytesTo)
            json.field("datagrams_from", c.datagramsFrom)
            json.field("bytes_from", c.bytesFrom)
            json.field("refused", c.refused)
        }
    }

    private static func writeHealth(_ health: MemberHealthStatus, to json: inout JSONWriter) {
        json.field("verdict", health.verdict.rawValue)
        json.field("last_check", health.lastCheck)
        json.field("last_check_detail", health.lastCheckDetail)
        json.field("last_check_duration_ms", health.lastCheckDurationMs)
        json.field("last_change", health.lastChange)
        json.field("checks_failed", health.checksFailed)
        json.field("down_transitions", health.downTransitions)
        json.field("downtime_seconds", health.downtimeSeconds)
    }
}
