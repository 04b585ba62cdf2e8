// The mutable tree the parser builds into: class nodes so that inserting a key never copies a
// table, converted once, iteratively, into the public value types at the end.

final class MTable {
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
    var entries: [String: MEntry] = [:]
    var keys: [String] = []
    var position: TOMLPosition
    var built: TOMLTable?

    init(kind: Kind, position: TOMLPosition) {
        self.kind = kind
        self.position = position
    }
}

final class MArray {
    /// `[[header]]` arrays may be appended to by headers; static `[ … ]` arrays never.
    let ofTables: Bool
    var items: [MEntry] = []
    var position: TOMLPosition
    var built: [TOMLNode]?

    init(ofTables: Bool, position: TOMLPosition) {
        self.ofTables = ofTables
        self.position = position
    }
}

enum MEntry {
    case leaf(TOMLValue, TOMLPosition)
    case table(MTable)
    case array(MArray)

    var position: TOMLPosition {
        switch self {
        case .leaf(_, let p): return p
        case .table(let t): return t.position
        case .array(let a): return a.position
        }
    }
}

/// Converts the mutable tree into value types without recursion: containers are listed
/// parents-first (breadth first), then built in reverse so every child is ready before its parent.
func buildDocument(_ root: MTable) -> TOMLTable {
    var order: [MEntry] = [.table(root)]
    var index = 0
    while index < order.count {
        switch order[index] {
        case .table(let t):
            for key in t.keys {
                if let e = t.entries[key] {
                    if case .leaf = e { continue }
                    order.append(e)
                }
            }
        case .array(let a):
            for e in a.items {
                if case .leaf = e { continue }
                order.append(e)
            }
        case .leaf:
            break
        }
        index += 1
    }
    func node(_ e: MEntry) -> TOMLNode {
        switch e {
        case .leaf(let v, let p): return TOMLNode(value: v, position: p)
        case .table(let t):
            let built = t.built ?? TOMLTable()
            t.built = nil
            return TOMLNode(value: .table(built), position: t.position)
        case .array(let a):
            let built = a.built ?? []
            a.built = nil
            return TOMLNode(value: .array(built), position: a.position)
        }
    }
    for e in order.reversed() {
        switch e {
        case .table(let t):
            var entries: [String: TOMLNode] = [:]
            entries.reserveCapacity(t.keys.count)
            for key in t.keys {
                if let child = t.entries[key] { entries[key] = node(child) }
            }
            t.built = TOMLTable(entries: entries, keys: t.keys)
            t.entries = [:]
        case .array(let a):
            var nodes: [TOMLNode] = []
            nodes.reserveCapacity(a.items.count)
            for child in a.items { nodes.append(node(child)) }
            a.built = nodes
            a.items = []
        case .leaf:
            break
        }
    }
    return root.built ?? TOMLTable()
}
