/// The reply to `show ha` (and `fulcrumctl ha`): `key: value` lines as `show info` writes them,
/// lists as one line per item so a script reads them with the same line split.
public enum HAText {
    /// What the socket answers when HA is off: a reply, not an error, since "no HA" is a valid
    /// configuration and monitoring scripts should not treat it as a failure.
    public static let disabled = "ha: disabled (no [ha] section in the configuration)\n"

    public static func render(_ snapshot: StatusSnapshot) -> String {
        guard let ha = snapshot.ha else { return disabled }
        var lines: [(String, String)] = [
            ("state", ha.state.rawValue),
            ("interface", ha.interface),
            ("virtual_router_id", "\(ha.virtualRouterID)"),
            ("priority", "\(ha.configuredPriority)"),
            ("effective_priority", "\(ha.effectivePriority)"),
            ("advert_interval_ms", "\(ha.advertIntervalMs)"),
            ("preempt", ha.preempt ? "true" : "false"),
            ("master", ha.masterAddress ?? "unknown"),
        ]
        lines += ha.virtualIPs.map { ("virtual_ip", $0) }
        // The mode line is always there, so "is this pair unicast?" needs no absence test.
        if ha.unicastPeers.isEmpty {
            lines.append(("mode", "multicast"))
        } else {
            lines.append(("mode", "unicast"))
            lines += ha.unicastPeers.map { ("unicast_peer", $0) }
        }
        lines += [
            ("tracked_pools_down", ha.trackedPoolsDown.isEmpty ? "none" : ha.trackedPoolsDown.joined(separator: ", ")),
            ("adverts_sent", "\(ha.advertsSent)"),
            ("adverts_received", "\(ha.advertsReceived)"),
        ]
        lines += ha.discards.byReason.map { ("discarded_\($0.reason)", "\($0.count)") }
        lines += [
            ("transitions", "\(ha.transitions)"),
            ("became_master", "\(ha.becameMasterCount)"),
            ("last_transition", ha.lastTransitionAt.map(InfoText.timeText) ?? "none"),
            ("last_transition_reason", ha.lastTransitionReason ?? "none"),
        ]
        return lines.map { "\($0.0): \(OneLineText.escaped($0.1))\n" }.joined()
    }
}
