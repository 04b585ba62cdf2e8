
/// Preallocated connection slots with a free list. Slots are addressed by index from epoll
/// data; the table only grows (by doubling), so steady-state accept/close allocate nothing.
struct ConnectionTable {
    private(set) var slots: UnsafeMutablePointer<Connection>
    private(set) var capacity: Int
    private var freeHead: Int32
    private(set) var active = 0

    init(capacity: Int) {
        self.capacity = capacity
        slots = UnsafeMutablePointer<Connection>.allocate(capacity: capacity)
        slots.initialize(repeating: Connection(), count: capacity)
        freeHead = -1
        for i in stride(from: capacity - 1, through: 0, by: -1) {
            slots[i].nextFree = freeHead
            freeHead = Int32(i)
        }
    }

    func deallocate() {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    @inline(__always)
    subscript(slot: Int32) -> UnsafeMutablePointer<Connection> {
        slots + Int(slot)
    }

    /// Takes a free slot, growing the table when none is left. Returns the slot and whether
    /// the table grew (the caller grows its per-slot side tables to `capacity`).
    @inline(__always)
    mutating func allocate() -> (slot: Int32, grew: Bool) {
        var grew = false
        if freeHead < 0 {
            grow()
            grew = true
        }
        let slot = freeHead
        let c = slots + Int(slot)
        freeHead = c.pointee.nextFree
        c.pointee.nextFree = -1
        active += 1
        return (slot, grew)
    }

    /// Returns a slot; its generation moves on so stale epoll events for it are ignored.
    @inline(__always)
    mutating func free(_ slot: Int32) {
        let c = slots + Int(slot)
        let generation = c.pointee.generation &+ 1
        c.pointee = Connection()
        c.pointee.generation = generation
        c.pointee.nextFree = freeHead
        freeHead = slot
        active -= 1
    }

    private mutating func grow() {
        let newCapacity = capacity * 2
        let bigger = UnsafeMutablePointer<Connection>.allocate(capacity: newCapacity)
        bigger.moveInitialize(from: slots, count: capacity)
        (bigger + capacity).initialize(repeating: Connection(), count: newCapacity - capacity)
        slots.deallocate()
        for i in stride(from: newCapacity - 1, through: capacity, by: -1) {
            bigger[i].nextFree = freeHead
            freeHead = Int32(i)
        }
        slots = bigger
        capacity = newCapacity
    }
}
