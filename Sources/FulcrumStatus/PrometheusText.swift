/// The body of HTTP `/metrics` and the reply to `show metrics`: Prometheus text exposition
/// 0.0.4. Names start with `fulcrum_`, values are in base units (bytes, seconds), counters end
/// in `_total`. Listener families carry only the listeners of their transport (a TCP listener
/// has no datagrams); member families carry every member, with zeros for an unused transport.
/// Statuses are one-hot gauges over every possible value, so a query can select on a label.
public enum PrometheusText {
    /// The Content-Type the HTTP endpoint sends with it.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ snapshot: StatusSnapshot) -> String {
        var families: [PrometheusFamily] = []
        families += daemonFamilies(snapshot.info)
        families += listenerFamilies(snapshot.listeners)
        families += memberFamilies(snapshot.pools)
        families += poolFamilies(snapshot.pools)
        // No [ha] section, no HA families: an absent series says "not configured", where
        // zeros would read as a node that never became master.
        if let ha = snapshot.ha { families += haFamilies(ha) }
        // Likewise for [anycast] (PrometheusText+Anycast.swift).
        if let anycast = snapshot.anycast { families += anycastFamilies(anycast) }
        var out = ""
        for family in families { family.render(into: &out) }
        return out
    }

    private static func daemonFamilies(_ info: DaemonInfo) -> [PrometheusFamily] {
        var build = PrometheusFamily("fulcrum_info", .gauge, "Fulcrum version; always 1.")
        build.add([("version", info.version)], 1)
        var start = PrometheusFamily("fulcrum_start_time_seconds", .gauge, "Unix time the daemon started.")
        start.add([], info.startedAt)
        var loaded = PrometheusFamily("fulcrum_config_loaded_time_seconds", .gauge,
                                      "Unix time the running configuration was loaded.")
        loaded.add([], info.configLoadedAt)
        var reloads = PrometheusFamily("fulcrum_config_reloads_total", .counter,
                                       "Configuration reloads since start, by result.")
        reloads.add([("result", "applied")], info.reloadsApplied)
        reloads.add([("result", "refused")], info.reloadsRefused)
        var lastReload = PrometheusFamily("fulcrum_config_last_reload_successful", .gauge,
                                          "1 if the latest reload applied (or none was tried), 0 if it was refused.")
        lastReload.add([], info.lastReloadSucceeded ? 1 : 0)
        var workers = PrometheusFamily("fulcrum_workers", .gauge, "Worker threads forwarding traffic.")
        workers.add([], info.workers)
        return [build, start, loaded, reloads, lastReload, workers]
    }

    private static func listenerFamilies(_ listeners: [ListenerStatus]) -> [PrometheusFamily] {
        let tcp = listeners.filter { $0.transport == .tcp }
        let udp = listeners.filter { $0.transport == .udp }
        func labels(_ l: ListenerStatus) -> [(String, String)] { [("listener", l.name)] }

        var connections = PrometheusFamily("fulcrum_listener_connections_total", .counter,
                                           "TCP connections accepted, including those refused or denied.")
        var current = PrometheusFamily("fulcrum_listener_current_connections", .gauge, "TCP connections open now.")
        var refused = PrometheusFamily("fulcrum_listener_refused_total", .counter,
                                       "TCP connections closed without being forwarded, by reason.")
        var idle = PrometheusFamily("fulcrum_listener_idle_timeouts_total", .counter,
                                    "TCP connections closed by an idle timeout.")
        for l in tcp {
            connections.add(labels(l), l.tcp.accepted)
            current.add(labels(l), l.current)
            refused.add(labels(l) + [("reason", "connection_limit")], l.tcp.refusedLimit)
            refused.add(labels(l) + [("reason", "no_member")], l.tcp.noMember)
            refused.add(labels(l) + [("reason", "connect_failed")], l.tcp.connectFailed)
            idle.add(labels(l), l.tcp.idleTimeouts)
        }

        var received = PrometheusFamily("fulcrum_listener_bytes_received_total", .counter,
                                        "Payload bytes received from clients.")
        var sent = PrometheusFamily("fulcrum_listener_bytes_sent_total", .counter, "Payload bytes sent to clients.")
        var denied = PrometheusFamily("fulcrum_listener_denied_total", .counter,
                                      "Connections (TCP) or datagrams (UDP) from sources outside allowed_cidrs.")
        for l in listeners {
            received.add(labels(l), l.bytesIn)
            sent.add(labels(l), l.bytesOut)
            denied.add(labels(l), l.transport == .tcp ? l.tcp.deniedCIDR : l.udp.denied)
        }

        var datagramsIn = PrometheusFamily("fulcrum_listener_udp_datagrams_received_total", .counter,
                                           "UDP datagrams received from clients.")
        var datagramsOut = PrometheusFamily("fulcrum_listener_udp_datagrams_sent_total", .counter,
                                            "UDP datagrams sent to clients.")
        var sessions = PrometheusFamily("fulcrum_listener_udp_sessions_total", .counter, "UDP sessions created.")
        var sessionsNow = PrometheusFamily("fulcrum_listener_udp_current_sessions", .gauge, "UDP sessions live now.")
        var ended = PrometheusFamily("fulcrum_listener_udp_sessions_ended_total", .counter,
                                     "UDP sessions ended, by reason (idle expiry, eviction at the limit, other).")
        var dropped = PrometheusFamily("fulcrum_listener_udp_dropped_total", .counter,
                                       "UDP datagrams dropped, by reason (larger than the buffer, or undeliverable).")
        for l in udp {
            datagramsIn.add(labels(l), l.udp.datagramsIn)
            datagramsOut.add(labels(l), l.udp.datagramsOut)
            sessions.add(labels(l), l.udp.sessionsCreated)
            sessionsNow.add(labels(l), l.current)
            ended.add(labels(l) + [("reason", "expired")], l.udp.sessionsExpired)
            ended.add(labels(l) + [("reason", "evicted")], l.udp.sessionsEvicted)
            // No member left, shutdown sessions, ...: what sessionsClosed counts beyond the two.
            let other = l.udp.sessionsClosed - l.udp.sessionsExpired - l.udp.sessionsEvicted
            ended.add(labels(l) + [("reason", "other")], max(0, other))
            dropped.add(labels(l) + [("reason", "truncated")], l.udp.truncated)
            dropped.add(labels(l) + [("reason", "undeliverable")], l.udp.dropped)
        }
        return [connections, current, received, sent, denied, refused, idle,
                datagramsIn, datagramsOut, sessions, sessionsNow, ended, dropped]
    }

    private static func memberFamilies(_ pools: [PoolStatus]) -> [PrometheusFamily] {
        var connections = PrometheusFamily("fulcrum_member_connections_total", .counter,
                                           "TCP connections established to the member.")
        var current = PrometheusFamily("fulcrum_member_current_connections", .gauge,
                                       "TCP connections open to the member now.")
        var failures = PrometheusFamily("fulcrum_member_connect_failures_total", .counter,
                                        "TCP connect attempts to the member that failed.")
        var timeouts = PrometheusFamily("fulcrum_member_connect_timeouts_total", .counter,
                                        "TCP connect attempts to the member that timed out.")
        var sent = PrometheusFamily("fulcrum_member_bytes_sent_total", .counter,
                                    "Payload bytes sent to the member (TCP and UDP).")
        var received = PrometheusFamily("fulcrum_member_bytes_received_total", .counter,
                                        "Payload bytes received from the member (TCP and UDP).")
        var sessions = PrometheusFamily("fulcrum_member_udp_sessions_total", .counter,
                                        "UDP sessions assigned to the member.")
        var sessionsNow = PrometheusFamily("fulcrum_member_udp_current_sessions", .gauge,
                                           "UDP sessions live on the member now.")
        var datagramsSent = PrometheusFamily("fulcrum_member_udp_datagrams_sent_total", .counter,
                                             "UDP datagrams sent to the member.")
        var datagramsReceived = PrometheusFamily("fulcrum_member_udp_datagrams_received_total", .counter,
                                                 "UDP datagrams received from the member.")
        var up = PrometheusFamily("fulcrum_member_up", .gauge,
                                  "1 if the member takes new traffic (ONLINE, NO_MONITOR, UNKNOWN), else 0.")
        var weight = PrometheusFamily("fulcrum_member_weight", .gauge, "Weight in force.")
        var status = PrometheusFamily("fulcrum_member_status", .gauge,
                                      "Octavia operating status: 1 for the current one, 0 for the others.")
        var admin = PrometheusFamily("fulcrum_member_admin_state", .gauge,
                                     "State set at run time (ready, drain, maint): 1 for the current one.")
        var checkFailures = PrometheusFamily("fulcrum_member_check_failures_total", .counter,
                                             "Failed health checks (monitored members only).")
        var downTransitions = PrometheusFamily("fulcrum_member_down_transitions_total", .counter,
                                               "Times the health monitor marked the member down.")
        var checkDuration = PrometheusFamily("fulcrum_member_last_check_duration_seconds", .gauge,
                                             "Duration of the last health check (members checked at least once).")
        var downtime = PrometheusFamily("fulcrum_member_downtime_seconds_total", .counter,
                                        "Seconds the member has spent down since start.")
        for pool in pools {
            for m in pool.members {
                let labels = [("pool", pool.name), ("member", m.name)]
                connections.add(labels, m.tcp.connections)
                current.add(labels, max(0, m.tcp.connections - m.tcp.closed))
                failures.add(labels, m.tcp.connectFailures)
                timeouts.add(labels, m.tcp.connectTimeouts)
                sent.add(labels, m.tcp.bytesToMember + m.udp.bytesTo)
                received.add(labels, m.tcp.bytesFromMember + m.udp.bytesFrom)
                sessions.add(labels, m.udp.sessions)
                sessionsNow.add(labels, max(0, m.udp.sessions - m.udp.sessionsEnded))
                datagramsSent.add(labels, m.udp.datagramsTo)
                datagramsReceived.add(labels, m.udp.datagramsFrom)
                up.add(labels, m.status.isServing ? 1 : 0)
                weight.add(labels, m.weight)
                for s in OperatingStatus.allCases {
                    status.add(labels + [("status", s.rawValue)], m.status == s ? 1 : 0)
                }
                for s in AdminState.allCases {
                    admin.add(labels + [("state", s.rawValue)], m.adminState == s ? 1 : 0)
                }
                if let health = m.health {
                    checkFailures.add(labels, health.checksFailed)
                    downTransitions.add(labels, health.downTransitions)
                    downtime.add(labels, health.downtimeSeconds)
                    if health.lastCheck != nil {
                        checkDuration.add(labels, health.lastCheckDurationMs / 1000)
                    }
                }
            }
        }
        return [connections, current, failures, timeouts, sent, received, sessions, sessionsNow,
                datagramsSent, datagramsReceived, up, weight, status, admin,
                checkFailures, downTransitions, checkDuration, downtime]
    }

    private static func poolFamilies(_ pools: [PoolStatus]) -> [PrometheusFamily] {
        var status = PrometheusFamily("fulcrum_pool_status", .gauge,
                                      "Octavia operating status of the pool: 1 for the current one.")
        var members = PrometheusFamily("fulcrum_pool_members", .gauge, "Members configured in the pool.")
        for pool in pools {
            let labels = [("pool", pool.name)]
            let current = pool.status
            for s in OperatingStatus.allCases {
                status.add(labels + [("status", s.rawValue)], current == s ? 1 : 0)
            }
            members.add(labels, pool.members.count)
        }
        return [status, members]
    }

    private static func haFamilies(_ ha: HAStatus) -> [PrometheusFamily] {
        var state = PrometheusFamily("fulcrum_ha_state", .gauge,
                                     "VRRP state of this node (INIT, BACKUP, MASTER): 1 for the current one.")
        for s in HAStatus.State.allCases {
            state.add([("state", s.rawValue)], ha.state == s ? 1 : 0)
        }
        var priority = PrometheusFamily(
            "fulcrum_ha_priority", .gauge,
            "VRRP priority: as configured, and in force (lowered while a tracked pool is down).")
        priority.add([("kind", "configured")], ha.configuredPriority)
        priority.add([("kind", "effective")], ha.effectivePriority)
        var transitions = PrometheusFamily("fulcrum_ha_transitions_total", .counter,
                                           "VRRP state changes since start.")
        transitions.add([], ha.transitions)
        var becameMaster = PrometheusFamily("fulcrum_ha_became_master_total", .counter,
                                            "Times this node became VRRP master (took the virtual IPs).")
        becameMaster.add([], ha.becameMasterCount)
        var sent = PrometheusFamily("fulcrum_ha_adverts_sent_total", .counter, "VRRP adverts sent.")
        sent.add([], ha.advertsSent)
        var received = PrometheusFamily(
            "fulcrum_ha_adverts_received_total", .counter,
            "VRRP adverts received and processed (those ignored count in fulcrum_ha_adverts_discarded_total).")
        received.add([], ha.advertsReceived)
        var discarded = PrometheusFamily(
            "fulcrum_ha_adverts_discarded_total", .counter,
            "VRRP adverts ignored, by reason (malformed, other virtual router, not a configured peer).")
        for (reason, count) in ha.discards.byReason {
            discarded.add([("reason", reason)], count)
        }
        return [state, priority, transitions, becameMaster, sent, received, discarded]
    }
}
