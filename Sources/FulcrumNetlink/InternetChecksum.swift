/// The Internet checksum (RFC 1071): one's complement of the one's-complement sum of 16-bit
/// big-endian words, an odd last byte padded with zero.
enum InternetChecksum {
    static func sum(_ bytes: some Collection<UInt8>, into total: inout UInt32) {
        var high = true
        for byte in bytes {
            total &+= high ? UInt32(byte) << 8 : UInt32(byte)
            high.toggle()
        }
    }

    static func finish(_ total: UInt32) -> UInt16 {
        var folded = total
        while folded >> 16 != 0 { folded = (folded & 0xFFFF) + (folded >> 16) }
        return ~UInt16(folded)
    }
}
