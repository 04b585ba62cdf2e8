/// The anycast families: one series per VIP, labelled by its address, so an alert can say
/// which address left BGP and a dashboard can tell a drain (withdrawn by operator) from a
/// failure (condition 0).
extension PrometheusText {
    static func anycastFamilies(_ anycast: AnycastStatus) -> [PrometheusFamily] {
        var announced = PrometheusFamily(
            "fulcrum_anycast_vip_announced", .gauge,
            "1 if the anycast VIP is on the interface (so BGP announces it), else 0.")
        var condition = PrometheusFamily(
            "fulcrum_anycast_vip_condition", .gauge,
            "1 if announce_when holds for the anycast VIP now (announced follows after hold_down), else 0.")
        var transitions = PrometheusFamily(
            "fulcrum_anycast_vip_transitions_total", .counter,
            "Times the anycast VIP was announced or withdrawn since start.")
        var withdrawn = PrometheusFamily(
            "fulcrum_anycast_vip_withdrawn_by_operator", .gauge,
            "1 while `anycast withdraw` holds the anycast VIP off the interface, else 0.")
        for vip in anycast.vips {
            let labels = [("vip", vip.address)]
            announced.add(labels, vip.announced ? 1 : 0)
            condition.add(labels, vip.conditionHolds ? 1 : 0)
            transitions.add(labels, vip.transitions)
            withdrawn.add(labels, vip.withdrawnByOperator ? 1 : 0)
        }
        return [announced, condition, transitions, withdrawn]
    }
}
