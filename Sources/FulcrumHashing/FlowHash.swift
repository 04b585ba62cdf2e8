import FulcrumAddress

/// Flow hashes that every node and every process computes alike.
///
/// Swift's `Hasher` is seeded at random per process, so it cannot be used here: two Fulcrum
/// nodes behind one ECMP router must send the same client to the same member. The hash is
/// xxHash64 (XXH64, as published by Yann Collet) with a fixed seed, so any tool in any language
/// can reproduce it:
///
/// - `hash(_:)`: XXH64 of the address's wire bytes (4 for IPv4, 16 for IPv6), seed `flowSeed`.
/// - `hash(_:port:)`: XXH64 of the wire bytes followed by the port, big-endian (6 or 18 bytes).
///
/// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what dual-stack sockets report for IPv4 peers)
/// are hashed as the IPv4 address they carry, so a client keeps its member whichever socket
/// family accepted it (the same rule `CIDR.contains` follows). Everything else is hashed as is;
/// the input length keeps IPv4 and IPv6 apart.
///
/// No allocation: the bytes are laid out in a stack value.
public enum FlowHash {
    /// The fixed seed of the flow hashes ("FULCRUM" + 0x01). Changing it remaps every flow.
    public static let flowSeed: UInt64 = 0x4655_4C43_5255_4D01

    /// SOURCE_IP.
    public static func hash(_ address: IPAddress) -> UInt64 {
        switch address.unmapped {
        case let .v4(a):
            var wire = a.bigEndian
            return withUnsafeBytes(of: &wire) { xxh64($0, seed: flowSeed) }
        case let .v6(hi, lo):
            var wire = (hi.bigEndian, lo.bigEndian)
            return withUnsafeBytes(of: &wire) { xxh64($0, seed: flowSeed) }
        }
    }

    /// SOURCE_IP_PORT.
    public static func hash(_ address: IPAddress, port: UInt16) -> UInt64 {
        switch address.unmapped {
        case let .v4(a):
            // (UInt32, UInt16): 6 bytes in declaration order, no padding before the port.
            var wire = (a.bigEndian, port.bigEndian)
            return withUnsafeBytes(of: &wire) { xxh64($0, seed: flowSeed) }
        case let .v6(hi, lo):
            var wire = (hi.bigEndian, lo.bigEndian, port.bigEndian)
            return withUnsafeBytes(of: &wire) { xxh64($0, seed: flowSeed) }
        }
    }

    /// XXH64 of arbitrary bytes (member identities for Maglev offsets and skips).
    public static func hash(bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        xxh64(bytes, seed: seed)
    }

    // MARK: - XXH64

    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always)
    private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    @inline(__always)
    private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }

    @inline(__always)
    private static func merge(_ acc: UInt64, _ value: UInt64) -> UInt64 {
        (acc ^ round(0, value)) &* p1 &+ p4
    }

    @inline(__always)
    private static func read64(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    @inline(__always)
    private static func read32(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
    }

    @inline(__always)
    private static func xxh64(_ p: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let length = p.count
        var i = 0
        var h: UInt64
        if length >= 32 {
            var v1 = seed &+ p1 &+ p2
            var v2 = seed &+ p2
            var v3 = seed
            var v4 = seed &- p1
            while i + 32 <= length {
                v1 = round(v1, read64(p, i))
                v2 = round(v2, read64(p, i + 8))
                v3 = round(v3, read64(p, i + 16))
                v4 = round(v4, read64(p, i + 24))
                i += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = seed &+ p5
        }
        h &+= UInt64(length)
        while i + 8 <= length {
            h ^= round(0, read64(p, i))
            h = rotl(h, 27) &* p1 &+ p4
            i += 8
        }
        if i + 4 <= length {
            h ^= read32(p, i) &* p1
            h = rotl(h, 23) &* p2 &+ p3
            i += 4
        }
        while i < length {
            h ^= UInt64(p[i]) &* p5
            h = rotl(h, 11) &* p1
            i += 1
        }
        h ^= h >> 33
        h &*= p2
        h ^= h >> 29
        h &*= p3
        h ^= h >> 32
        return h
    }
}
