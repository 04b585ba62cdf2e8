import HeapModule

/// One of the checker's timers: when a target's next check starts, or when its running check
/// times out. They wait in a swift-collections `Heap`. Entries are never removed early; one
/// whose serial no longer matches its target's is stale and ignored when it surfaces, which
/// keeps every operation O(log n) without an index.
struct HealthDeadline: Comparable {
    enum Kind: UInt8 {
        case start, timeout
    }

    var atMs: Int64
    var target: Int32
    var serial: UInt32
    var kind: Kind

    /// Time first; the rest only makes the order total, as Comparable asks of a type whose
    /// `==` compares every field.
    static func < (a: HealthDeadline, b: HealthDeadline) -> Bool {
        (a.atMs, a.target, a.serial, a.kind.rawValue) < (b.atMs, b.target, b.serial, b.kind.rawValue)
    }
}
