/// The `anycast` object of `/status.json`: the same values as `show anycast`, times as Unix
/// seconds and nothing pending as null (not "-"), so the page and scripts test for absence
/// without knowing the text's placeholders.
extension StatJSON {
    static func writeAnycast(_ anycast: AnycastStatus, to json: inout JSONWriter) {
        json.field("interface", anycast.interface)
        json.field("interface_kind", anycast.interfaceKind)
        json.field("announce_when", anycast.announceWhen)
        json.field("hold_down_ms", anycast.holdDownMs)
        json.field("withdraw_grace_ms", anycast.withdrawGraceMs)
        json.array("vips") { json in
            for vip in anycast.vips {
                json.object { writeVIP(vip, to: &$0) }
            }
        }
    }

    private static func writeVIP(_ vip: AnycastStatus.VIP, to json: inout JSONWriter) {
        json.field("address", vip.address)
        json.field("announced", vip.announced)
        json.field("condition_holds", vip.conditionHolds)
        json.field("reason", vip.reason)
        json.field("pending", vip.pending)
        json.field("since", vip.since)
        json.field("transitions", vip.transitions)
        json.field("withdrawn_by_operator", vip.withdrawnByOperator)
        json.array("pools") { json in
            for pool in vip.pools { json.string(pool) }
        }
    }
}
