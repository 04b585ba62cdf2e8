/// The reply to `show anycast` (and `fulcrumctl anycast`): one line on the announcer's settings,
/// then a table with a row per VIP, laid out like `show members` because an operator reads it
/// the same way (which addresses are on the wire, and why not the others).
public enum AnycastText {
    /// What the socket answers when anycast is off: a reply, not an error, as for `show ha`,
    /// since a node without `[anycast]` is a valid configuration.
    public static let disabled = "anycast: disabled (no [anycast] section in the configuration)\n"

    private static let header = ["VIP", "ANNOUNCED", "SINCE", "TRANSITIONS", "OPERATOR", "REASON", "PENDING"]
    /// TRANSITIONS is the only number.
    private static let numeric: Set<Int> = [3]

    public static func render(_ snapshot: StatusSnapshot) -> String {
        guard let anycast = snapshot.anycast else { return disabled }
        let settings = "anycast: interface \(anycast.interface) (\(anycast.interfaceKind)), "
            + "announce_when \(anycast.announceWhen), hold_down \(anycast.holdDownMs) ms, "
            + "withdraw_grace \(anycast.withdrawGraceMs) ms"
        let rows = [header] + anycast.vips.map(row)
        return OneLineText.escaped(settings) + "\n" + TextTable.render(rows, rightAligned: numeric)
    }

    private static func row(_ vip: AnycastStatus.VIP) -> [String] {
        [
            vip.address,
            vip.announced ? "yes" : "no",
            UTCTime.iso8601(vip.since),
            "\(vip.transitions)",
            // Named, not yes/no: the column says who holds it off, and "-" is the usual case.
            vip.withdrawnByOperator ? "withdrawn" : "-",
            vip.reason.isEmpty ? "-" : vip.reason,
            vip.pending ?? "-",
        ].map(OneLineText.escaped)
    }
}
