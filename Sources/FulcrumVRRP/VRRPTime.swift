/// A point on the caller's monotonic clock. The module never reads a clock: the daemon passes
/// its monotonic nanoseconds in, tests pass whatever instants their script needs.
public struct VRRPInstant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// Convenience for tests and logs written in milliseconds.
    public static func milliseconds(_ value: Int64) -> VRRPInstant {
        VRRPInstant(nanoseconds: value * 1_000_000)
    }

    public static func < (lhs: VRRPInstant, rhs: VRRPInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    public static func + (instant: VRRPInstant, duration: VRRPDuration) -> VRRPInstant {
        VRRPInstant(nanoseconds: instant.nanoseconds &+ duration.nanoseconds)
    }

    public static func - (instant: VRRPInstant, duration: VRRPDuration) -> VRRPInstant {
        VRRPInstant(nanoseconds: instant.nanoseconds &- duration.nanoseconds)
    }

    public static func - (later: VRRPInstant, earlier: VRRPInstant) -> VRRPDuration {
        VRRPDuration(nanoseconds: later.nanoseconds &- earlier.nanoseconds)
    }

    public var description: String { "t=\(VRRPDuration(nanoseconds: nanoseconds))" }
}

/// A span of time in nanoseconds: fine enough that Skew_Time, which RFC 5798 defines as a
/// fraction of a centisecond interval, is kept exact to the nanosecond instead of being
/// rounded to whole centiseconds (at 10 cs and priority 254 that rounding would make it 0).
public struct VRRPDuration: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    public static let zero = VRRPDuration(nanoseconds: 0)

    public static func milliseconds(_ value: Int64) -> VRRPDuration {
        VRRPDuration(nanoseconds: value * 1_000_000)
    }

    public static func centiseconds(_ value: Int64) -> VRRPDuration {
        VRRPDuration(nanoseconds: value * 10_000_000)
    }

    public static func microseconds(_ value: Int64) -> VRRPDuration {
        VRRPDuration(nanoseconds: value * 1_000)
    }

    public static func < (lhs: VRRPDuration, rhs: VRRPDuration) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    public static func + (lhs: VRRPDuration, rhs: VRRPDuration) -> VRRPDuration {
        VRRPDuration(nanoseconds: lhs.nanoseconds &+ rhs.nanoseconds)
    }

    public static func - (lhs: VRRPDuration, rhs: VRRPDuration) -> VRRPDuration {
        VRRPDuration(nanoseconds: lhs.nanoseconds &- rhs.nanoseconds)
    }

    public static func * (count: Int64, duration: VRRPDuration) -> VRRPDuration {
        VRRPDuration(nanoseconds: count &* duration.nanoseconds)
    }

    /// Whole milliseconds ("350 ms") when the value is one, rounded milliseconds from 10 ms up
    /// ("361 ms": log lines want a number an operator can compare with the config), and three
    /// decimals below that ("0.781 ms", a small skew) so a short time never prints as "0 ms".
    public var description: String {
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        if magnitude % 1_000_000 == 0 {
            return "\(sign)\(magnitude / 1_000_000) ms"
        }
        if magnitude >= 10_000_000 {
            return "\(sign)\((magnitude + 500_000) / 1_000_000) ms"
        }
        let micros = (magnitude + 500) / 1_000
        var fraction = String(micros % 1_000)
        while fraction.count < 3 { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let whole = micros / 1_000
        return fraction.isEmpty ? "\(sign)\(whole) ms" : "\(sign)\(whole).\(fraction) ms"
    }
}
