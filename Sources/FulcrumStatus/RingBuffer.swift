/// The last `capacity` values appended, oldest first: a fixed array written round, so a
/// history that runs for months keeps a constant size.
struct RingBuffer<Element: Sendable>: Sendable {
    let capacity: Int
    private var storage: [Element] = []
    /// Where the next value goes once the storage is full (then also the oldest value).
    private var next = 0

    init(capacity: Int) {
        precondition(capacity > 0, "a ring buffer needs room for one value")
        self.capacity = capacity
        storage.reserveCapacity(capacity)
    }

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }

    mutating func append(_ value: Element) {
        if storage.count < capacity {
            storage.append(value)
        } else {
            storage[next] = value
            next = (next + 1) % capacity
        }
    }

    /// The newest value.
    var last: Element? {
        guard !storage.isEmpty else { return nil }
        return storage.count < capacity ? storage.last : storage[(next + capacity - 1) % capacity]
    }

    /// All values, oldest first.
    var elements: [Element] {
        storage.count < capacity ? storage : Array(storage[next...] + storage[..<next])
    }
}
