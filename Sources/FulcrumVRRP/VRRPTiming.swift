/// The two derived times of RFC 5798 §6.1, as pure functions of a priority and the master's
/// advertised interval.
public enum VRRPTiming {
    /// Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256, with the errata's reading
    /// that the interval is the master's (in centiseconds) and the priority is our own. Computed
    /// in nanoseconds so a higher priority always yields a strictly shorter skew — which is what
    /// lets the best backup, not a random one, answer a dead master first.
    public static func skewTime(priority: UInt8, masterAdvertInterval: VRRPAdvertInterval) -> VRRPDuration {
        let intervalNanoseconds = masterAdvertInterval.duration.nanoseconds
        return VRRPDuration(nanoseconds: (256 - Int64(priority)) * intervalNanoseconds / 256)
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time: three adverts may be lost
    /// before a backup declares the master dead.
    public static func masterDownInterval(priority: UInt8, masterAdvertInterval: VRRPAdvertInterval) -> VRRPDuration {
        3 * masterAdvertInterval.duration + skewTime(priority: priority, masterAdvertInterval: masterAdvertInterval)
    }
}
