import Atomics
import FulcrumStatus

/// The storage of one counter cell (swift-atomics' representation of an Int).
public typealias CounterStorage = UnsafeAtomic<Int>.Storage

/// One worker's counters, in cells that only that worker writes and any thread may read while
/// it runs. A write is a relaxed load and a relaxed store (plain `mov`s on x86-64 and arm64: no
/// lock prefix, no fence); a reader sums the cells of every worker. Aligned 64-bit stores cannot
/// tear, so a reader sees each counter at some value it really had.
///
/// The memory is allocated once, at the worker's start, for every listener and member of the
/// plan: counting allocates nothing.
public final class CounterBlock: @unchecked Sendable {
    let storage: UnsafeMutablePointer<CounterStorage>
    let count: Int

    init(count: Int) {
        self.count = max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count * MemoryLayout<CounterStorage>.stride,
                                                   alignment: 64)
        storage = raw.bindMemory(to: CounterStorage.self, capacity: self.count)
        storage.initialize(repeating: CounterStorage(0), count: self.count)
    }

    deinit {
        storage.deinitialize(count: count)
        UnsafeMutableRawPointer(storage).deallocate()
    }
}

/// A run of cells in a CounterBlock: one listener's or one member's counters.
public protocol CounterCells {
    associatedtype Values
    static var fieldCount: Int { get }
    init(base: UnsafeMutablePointer<CounterStorage>)
    /// The cells' current values.
    var values: Values { get }
}

extension CounterCells {
    @inline(__always)
    static func load(_ base: UnsafeMutablePointer<CounterStorage>, _ i: Int) -> Int {
        UnsafeAtomic<Int>(at: base + i).load(ordering: .relaxed)
    }

    @inline(__always)
    static func store(_ base: UnsafeMutablePointer<CounterStorage>, _ i: Int, _ value: Int) {
        UnsafeAtomic<Int>(at: base + i).store(value, ordering: .relaxed)
    }
}

/// `count` runs of `Cells` laid end to end in one block: `counters[listener].accepted += 1`.
public struct CounterArray<Cells: CounterCells> {
    let base: UnsafeMutablePointer<CounterStorage>
    public let count: Int

    init(block: CounterBlock, offset: Int, count: Int) {
        base = block.storage + offset
        self.count = count
    }

    static func cells(for count: Int) -> Int { count * Cells.fieldCount }

    @inline(__always)
    public subscript(index: Int) -> Cells { Cells(base: base + index * Cells.fieldCount) }

    /// Sets run `to` to the current values of run `from` of `other` (a reload moving a
    /// worker's counters into a block for the new plan; the worker is their only writer).
    func copy(_ other: CounterArray<Cells>, from: Int, to: Int) {
        let source = other.base + from * Cells.fieldCount
        let target = base + to * Cells.fieldCount
        for i in 0..<Cells.fieldCount { Cells.store(target, i, Cells.load(source, i)) }
    }

    /// Every run's current values, in order.
    public var values: [Cells.Values] { (0..<count).map { self[$0].values } }
}

/// Everything one worker counts, in one block: TCP and UDP, per listener and per member.
public final class WorkerCounters: @unchecked Sendable {
    let block: CounterBlock
    public let listeners: CounterArray<ListenerCells>
    public let members: CounterArray<MemberCells>
    public let udpListeners: CounterArray<UDPListenerCells>
    public let udpMembers: CounterArray<UDPMemberCells>

    /// Cells for every listener and member of a plan, retired ones included (their
    /// connections still count until they close).
    public convenience init(plan: ForwardingPlan) {
        self.init(listeners: plan.allListenerCount, udpListeners: plan.udpListeners.count, members: plan.allMemberCount)
    }

    public init(listeners: Int, udpListeners: Int, members: Int) {
        let sizes = [CounterArray<ListenerCells>.cells(for: listeners), CounterArray<MemberCells>.cells(for: members),
                     CounterArray<UDPListenerCells>.cells(for: udpListeners), CounterArray<UDPMemberCells>.cells(for: members)]
        block = CounterBlock(count: sizes.reduce(0, +))
        var offset = 0
        self.listeners = CounterArray(block: block, offset: offset, count: listeners)
        offset += sizes[0]
        self.members = CounterArray(block: block, offset: offset, count: members)
        offset += sizes[1]
        self.udpListeners = CounterArray(block: block, offset: offset, count: udpListeners)
        offset += sizes[2]
        self.udpMembers = CounterArray(block: block, offset: offset, count: members)
    }
}
