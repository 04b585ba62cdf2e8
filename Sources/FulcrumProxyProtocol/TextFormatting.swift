/// Writes bytes into caller-owned memory. A plain struct over a raw pointer: no heap, no
/// Foundation, no String. Bounds are the caller's business (`ProxyHeader.encode` checks the
/// buffer holds `ProxyHeader.maxLength` bytes once, and nothing it writes is longer).
struct ByteWriter {
    let base: UnsafeMutableRawPointer
    private(set) var offset = 0

    init(_ base: UnsafeMutableRawPointer) {
        self.base = base
    }

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
        offset += 1
    }

    /// ASCII text known at compile time ("PROXY TCP4 ").
    mutating func ascii(_ text: StaticString) {
        text.withUTF8Buffer { utf8 in
            for unit in utf8 { byte(unit) }
        }
    }

    /// Big-endian integers, as the v2 header wants them.
    mutating func bigEndian16(_ value: UInt16) {
        byte(UInt8(truncatingIfNeeded: value >> 8))
        byte(UInt8(truncatingIfNeeded: value))
    }

    mutating func bigEndian32(_ value: UInt32) {
        bigEndian16(UInt16(truncatingIfNeeded: value >> 16))
        bigEndian16(UInt16(truncatingIfNeeded: value))
    }

    mutating func bigEndian64(_ value: UInt64) {
        bigEndian32(UInt32(truncatingIfNeeded: value >> 32))
        bigEndian32(UInt32(truncatingIfNeeded: value))
    }

    /// Decimal without leading zeros ("0" for zero), like printf("%u").
    mutating func decimal(_ value: UInt32) {
        var digits = 1
        var rest = value / 10
        while rest != 0 {
            digits += 1
            rest /= 10
        }
        var remaining = value
        var index = offset + digits - 1
        while index >= offset {
            base.storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10),
                            toByteOffset: index, as: UInt8.self)
            remaining /= 10
            index -= 1
        }
        offset += digits
    }

    /// Lowercase hex without leading zeros, like printf("%x").
    mutating func hex(_ value: UInt16) {
        var started = false
        var shift = 12
        while shift >= 0 {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt16(shift)) & 0xF
            if nibble != 0 || started || shift == 0 {
                byte(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
                started = true
            }
            shift -= 4
        }
    }

    /// Dotted quad, as inet_ntop(AF_INET) prints it.
    mutating func ipv4(_ address: UInt32) {
        decimal(address >> 24)
        byte(UInt8(ascii: "."))
        decimal(address >> 16 & 0xFF)
        byte(UInt8(ascii: "."))
        decimal(address >> 8 & 0xFF)
        byte(UInt8(ascii: "."))
        decimal(address & 0xFF)
    }

    /// IPv6 text exactly as glibc's inet_ntop(AF_INET6) prints it, which is what HAProxy sends:
    /// RFC 5952 compression (the longest run of two or more zero groups becomes "::", the first
    /// one on ties; lowercase hex; no leading zeros), plus glibc's embedded-IPv4 rule: when the
    /// zero run starts at group 0 and is exactly 6 groups long (IPv4-compatible ::a.b.c.d) or
    /// 5 groups followed by ffff (IPv4-mapped ::ffff:a.b.c.d), the last 32 bits are printed as
    /// a dotted quad. So ::ffff:1.2.3.4 stays ::ffff:1.2.3.4, ::1:0 prints as ::0.1.0.0, and
    /// ::1 / ::100 (zero run of 7) stay hex.
    mutating func ipv6(_ high: UInt64, _ low: UInt64) {
        var bestBase = -1
        var bestLength = 0
        var runBase = -1
        var runLength = 0
        for index in 0..<8 {
            if Self.group(high, low, index) == 0 {
                if runBase < 0 {
                    runBase = index
                    runLength = 0
                }
                runLength += 1
                if runLength > bestLength {  // strictly longer: the first run wins ties
                    bestBase = runBase
                    bestLength = runLength
                }
            } else {
                runBase = -1
            }
        }
        if bestLength < 2 { bestBase = -1 }

        var index = 0
        while index < 8 {
            if bestBase >= 0 && index >= bestBase && index < bestBase + bestLength {
                if index == bestBase { byte(UInt8(ascii: ":")) }
                index += 1
                continue
            }
            if index != 0 { byte(UInt8(ascii: ":")) }
            if index == 6 && bestBase == 0
                && (bestLength == 6 || (bestLength == 5 && Self.group(high, low, 5) == 0xFFFF)) {
                ipv4(UInt32(truncatingIfNeeded: low))
                return
            }
            hex(Self.group(high, low, index))
            index += 1
        }
        if bestBase >= 0 && bestBase + bestLength == 8 { byte(UInt8(ascii: ":")) }
    }

    /// Group `index` (0 = most significant) of the eight 16-bit groups.
    @inline(__always)
    static func group(_ high: UInt64, _ low: UInt64, _ index: Int) -> UInt16 {
        let half = index < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> UInt64(48 - 16 * (index & 3)))
    }
}
