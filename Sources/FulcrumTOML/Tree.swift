// The tree the parser builds into: every table and array lives in one of two arrays (an arena)
// and refers to its children by index, so inserting a key mutates one element of an array in
// place and never copies a table. It replaced a tree of class nodes: with their retains,
// releases and conversion into dictionaries, parsing took 0.50 s of a 1.04 s load of 100,000
// members (0.14 s now). At the end it is converted once, iteratively, into the public value
// types, each container's storage moved, not copied.

/// A container in the arena: a table or an array, by index.
struct Ref: Equatable {
    /// Table i is i; array i is -1 - i; `Ref.none` marks a slot holding a plain value.
    let raw: Int

    static let none = Ref(raw: Int.min)
    static func table(_ i: Int) -> Ref { Ref(raw: i) }
    static func array(_ i: Int) -> Ref { Ref(raw: -1 - i) }

    var isNone: Bool { raw == Int.min }
    var table: Int? { raw >= 0 ? raw : nil }
    var array: Int? { raw < 0 && raw != Int.min ? -1 - raw : nil }
}

/// Slots of a table or array that hold containers. Empty while every slot holds a plain value,
/// which is the case for most tables (a member's address and port), so those need no third
/// array; filled with `Ref.none` for the earlier slots once the first container arrives.
struct Refs {
    var refs: [Ref] = []

    func ref(at i: Int) -> Ref { refs.isEmpty ? .none : refs[i] }

    mutating func append(_ ref: Ref, count before: Int) {
        if refs.isEmpty {
            if ref.isNone { return }
            refs = Array(repeating: .none, count: before)
        }
        refs.append(ref)
    }
}

struct ATable {
    enum Kind {
        /// Created as an intermediate segment of a `[header]` or `[[header]]`; may still be defined by a header once.
        case implicit
        /// Defined by a `[header]` (or an element of `[[header]]`).
        case header
        /// Created (or extended) by a dotted key; a header may add sub-tables below it but not define it.
        case dotted
        /// An inline table `{ … }`; frozen once closed.
        case inline
    }

    var kind: Kind
    var frozen = false
    var position: TOMLPosition
    /// A container's slot holds a placeholder node until `buildDocument`.
    var pairs: [TOMLEntry] = []
    var refs = Refs()
    /// As in `TOMLTable`: a hash index only once the table has more than a few keys.
    var index: [String: Int]?

    init(kind: Kind, position: TOMLPosition) {
        self.kind = kind
        self.position = position
    }

    /// Appends a key not yet in the table.
    mutating func append(_ key: consuming String, _ node: consuming TOMLNode, ref: Ref) {
        // Room for a member's usual keys at once, instead of growing 1, 2, 4.
        if pairs.isEmpty { pairs.reserveCapacity(4) }
        refs.append(ref, count: pairs.count)
        TOMLTable.append(TOMLEntry(key: key, node: node), to: &pairs, index: &index)
    }
}

struct AArray {
    /// `[[header]]` arrays may be appended to by headers; static `[ … ]` arrays never.
    let ofTables: Bool
    var position: TOMLPosition
    var items: [TOMLNode] = []
    var refs = Refs()

    init(ofTables: Bool, position: TOMLPosition) {
        self.ofTables = ofTables
        self.position = position
    }

    mutating func append(_ node: TOMLNode, ref: Ref) {
        refs.append(ref, count: items.count)
        items.append(node)
    }
}

/// A value just parsed: a plain value with its position, or a container in the arena.
enum Entry {
    case leaf(TOMLNode)
    case table(Int)
    case array(Int)
}

struct Arena {
    var tables: [ATable] = []
    var arrays: [AArray] = []

    /// A container slot's node until the container is built; never seen outside the parser.
    static let placeholder = TOMLNode(value: .boolean(false), position: TOMLPosition(file: "", line: 0, column: 0))

    mutating func newTable(_ kind: ATable.Kind, _ position: TOMLPosition) -> Int {
        tables.append(ATable(kind: kind, position: position))
        return tables.count - 1
    }

    mutating func newArray(ofTables: Bool, _ position: TOMLPosition) -> Int {
        arrays.append(AArray(ofTables: ofTables, position: position))
        return arrays.count - 1
    }

    /// The node and container reference to store for `entry`.
    static func slot(_ entry: Entry) -> (TOMLNode, Ref) {
        switch entry {
        case .leaf(let node): return (node, .none)
        case .table(let t): return (placeholder, .table(t))
        case .array(let a): return (placeholder, .array(a))
        }
    }

    // Lookups go through the arena rather than `tables[t].find(…)` from the parser, which
    // copied the whole table (retaining each of its arrays) on every header: 2% of a load.
    func find(_ key: String, inTable t: Int) -> Int? {
        TOMLTable.find(key, in: tables[t].pairs, index: tables[t].index)
    }

    func ref(inTable t: Int, slot i: Int) -> Ref {
        tables[t].refs.ref(at: i)
    }

    /// Where the thing in slot `i` of table `t` was written (a container's position may still
    /// change, when a header defines an implicit table).
    func position(inTable t: Int, slot i: Int) -> TOMLPosition {
        let ref = tables[t].refs.ref(at: i)
        if let sub = ref.table { return tables[sub].position }
        if let a = ref.array { return arrays[a].position }
        return tables[t].pairs[i].node.position
    }

    /// Converts the arena into value types without recursion: containers are listed
    /// parents-first (breadth first), then built in reverse so every child is ready before its
    /// parent. Each finished container's arrays are moved into its parent's slot, not copied.
    mutating func buildDocument(root: Int) -> TOMLTable {
        var order: [Ref] = [.table(root)]
        var next = 0
        while next < order.count {
            let ref = order[next]
            let refs = ref.table.map { tables[$0].refs.refs } ?? arrays[ref.array!].refs.refs
            for child in refs where !child.isNone { order.append(child) }
            next += 1
        }
        for ref in order.reversed() {
            if let t = ref.table {
                let refs = tables[t].refs.refs
                for (i, child) in refs.enumerated() where !child.isNone {
                    let node = take(child)
                    tables[t].pairs[i].node = node
                }
            } else {
                let a = ref.array!
                let refs = arrays[a].refs.refs
                for (i, child) in refs.enumerated() where !child.isNone {
                    let node = take(child)
                    arrays[a].items[i] = node
                }
            }
        }
        guard case .table(let document) = take(.table(root)).value else { return TOMLTable() }
        return document
    }

    /// The finished node of a built container, leaving the arena's copy empty so the node's
    /// arrays are referenced once.
    private mutating func take(_ ref: Ref) -> TOMLNode {
        // Each field is swapped out rather than copied: copying retained (and then released)
        // every array of every table once more, 2.6% of a load of 100,000 members.
        var position = Arena.placeholder.position
        if let t = ref.table {
            var pairs: [TOMLEntry] = [], index: [String: Int]? = nil
            swap(&pairs, &tables[t].pairs)
            swap(&index, &tables[t].index)
            swap(&position, &tables[t].position)
            return TOMLNode(value: .table(TOMLTable(pairs: pairs, index: index)), position: position)
        }
        let a = ref.array!
        var items: [TOMLNode] = []
        swap(&items, &arrays[a].items)
        swap(&position, &arrays[a].position)
        return TOMLNode(value: .array(items), position: position)
    }
}
