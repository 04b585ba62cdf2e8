/// The checker's timers: when each target's next check starts and when a running check times
/// out, in one binary min-heap. Entries are never removed early; one whose serial no longer
/// matches its target's is stale and ignored when it surfaces, which keeps every operation
/// O(log n) without an index.
struct DeadlineHeap {
    enum Kind: UInt8 {
        case start, timeout
    }

    struct Entry {
        var atMs: Int64
        var target: Int32
        var serial: UInt32
        var kind: Kind
    }

    private var entries: [Entry] = []

    init(capacity: Int) {
        entries.reserveCapacity(capacity)
    }

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }
    var earliest: Entry? { entries.first }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].atMs < entries[parent].atMs else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !entries.isEmpty else { return nil }
        let top = entries[0]
        let last = entries.removeLast()
        guard !entries.isEmpty else { return top }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < entries.count && entries[left].atMs < entries[smallest].atMs { smallest = left }
            if right < entries.count && entries[right].atMs < entries[smallest].atMs { smallest = right }
            if smallest == parent { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
