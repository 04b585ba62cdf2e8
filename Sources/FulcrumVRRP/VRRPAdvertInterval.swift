/// The (Max) Advertisement Interval: a 12-bit count of centiseconds on the wire (RFC 5798
/// §5.2.7), so 10 ms .. 40.95 s. Zero is not representable: a master advertising every 0 cs
/// would give its backups a Master_Down_Interval of only the skew, and they would take over
/// between two of its adverts.
public struct VRRPAdvertInterval: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let centiseconds: UInt16

    /// The largest value the 12-bit field holds.
    public static let maximumCentiseconds: UInt16 = 0x0FFF

    /// RFC 5798's default, 1 s.
    public static let rfcDefault = VRRPAdvertInterval(uncheckedCentiseconds: 100)

    /// 1...4095 centiseconds, or nil.
    public init?(centiseconds: Int) {
        guard centiseconds >= 1, centiseconds <= Int(Self.maximumCentiseconds) else { return nil }
        self.centiseconds = UInt16(centiseconds)
    }

    /// A config value in milliseconds: a multiple of 10 in 10...40950, or nil.
    public init?(milliseconds: Int) {
        guard milliseconds % 10 == 0 else { return nil }
        self.init(centiseconds: milliseconds / 10)
    }

    init(uncheckedCentiseconds: UInt16) {
        self.centiseconds = uncheckedCentiseconds
    }

    public var duration: VRRPDuration { .centiseconds(Int64(centiseconds)) }

    public static func < (lhs: VRRPAdvertInterval, rhs: VRRPAdvertInterval) -> Bool {
        lhs.centiseconds < rhs.centiseconds
    }

    public var description: String { "\(centiseconds) cs" }
}
