import FulcrumAddress

/// What a reload changes, object by object: the input to applying a new configuration in a
/// running process, and the text of the reload's reply and log line.
///
/// Identity is by name (listener name; pool name; pool name + member name), never by position,
/// so a new generation can adopt the state of everything that stays. The rules:
/// - a listener whose protocol, address or port changed is removed and added (the same name in
///   both lists): its sockets cannot be kept; any other attribute change is `listenersChanged`;
/// - a pool is changed when one of its own attributes or any of its members differs (added,
///   removed or changed), so a consumer rebuilds its selector exactly when something in it moved;
/// - a member is changed when any of its attributes differs; the members of a removed (added)
///   pool are removed (added) members, so connection and health bookkeeping sees every one;
/// - `workers`, `udp_max_sessions`, `pipe_size` and the `[status]` settings are sized or bound
///   once at start: `needsRestart`, as are `[ha]` and adding, removing or moving `[anycast]`;
///   `shutdown_grace`, `copy_small_reads`, `busy_poll` and `[anycast]`'s VIPs and timings are
///   `settingsChanged`.
public struct ConfigChanges: Sendable, Equatable {
    public var listenersAdded: [String] = []
    public var listenersRemoved: [String] = []
    public var listenersChanged: [String] = []
    public var poolsAdded: [String] = []
    public var poolsRemoved: [String] = []
    public var poolsChanged: [String] = []
    /// "pool/member".
    public var membersAdded: [String] = []
    public var membersRemoved: [String] = []
    public var membersChanged: [String] = []
    /// Global settings that cannot change in a running process: "workers: 2 -> 4 needs a restart".
    public var needsRestart: [String] = []
    /// Global settings applied by the reload: "shutdown_grace: 10000 -> 5000 ms".
    public var settingsChanged: [String] = []
    /// One line per change, in the order of `summary` (listeners, pools, members; each added,
    /// removed, changed; names sorted), then settings applied, then settings not applied.
    /// Written by `init`: it is what was found, not recomputed from the lists above.
    public var lines: [String] = []

    public init(from old: Config, to new: Config) {
        var listenerLines = Lines(), poolLines = Lines(), memberLines = Lines()
        diffListeners(old.listeners, new.listeners, into: &listenerLines)
        diffPools(old.pools, new.pools, pools: &poolLines, members: &memberLines)
        let globals = GlobalDifferences(old, new)
        needsRestart = globals.needsRestart
        settingsChanged = globals.applied
        lines = listenerLines.all + poolLines.all + memberLines.all
            + settingsChanged.map { "setting changed: \($0)" } + needsRestart.map { "not applied: \($0)" }
    }

    public var isEmpty: Bool {
        listenersAdded.isEmpty && listenersRemoved.isEmpty && listenersChanged.isEmpty
            && poolsAdded.isEmpty && poolsRemoved.isEmpty && poolsChanged.isEmpty
            && membersAdded.isEmpty && membersRemoved.isEmpty && membersChanged.isEmpty
            && needsRestart.isEmpty && settingsChanged.isEmpty
    }

    /// One line: "listeners +1 -0 ~0, pools +0 -0 ~1, members +2 -1 ~1".
    public var summary: String {
        "listeners \(counts(listenersAdded, listenersRemoved, listenersChanged)), "
            + "pools \(counts(poolsAdded, poolsRemoved, poolsChanged)), "
            + "members \(counts(membersAdded, membersRemoved, membersChanged))"
    }

    private func counts(_ added: [String], _ removed: [String], _ changed: [String]) -> String {
        "+\(added.count) -\(removed.count) ~\(changed.count)"
    }

    private mutating func diffListeners(_ old: [Listener], _ new: [Listener], into lines: inout Lines) {
        let before = byName(old, \.name), after = byName(new, \.name)
        for name in after.keys.sorted() {
            let listener = after[name]!
            guard let previous = before[name] else {
                listenersAdded.append(name)
                lines.added.append("listener added: \(name) (\(binding(listener)))")
                continue
            }
            if binding(previous) != binding(listener) {
                // A socket cannot move: the old one closes and a new one is bound.
                listenersRemoved.append(name)
                listenersAdded.append(name)
                lines.removed.append("listener removed: \(name) (\(binding(previous)), moves to \(binding(listener)))")
                lines.added.append("listener added: \(name) (\(binding(listener)), was \(binding(previous)))")
            } else if previous != listener {
                listenersChanged.append(name)
                lines.changed.append("listener changed: \(name) (\(listenerDifferences(previous, listener)))")
            }
        }
        for name in before.keys.sorted() where after[name] == nil {
            listenersRemoved.append(name)
            lines.removed.append("listener removed: \(name) (\(binding(before[name]!)))")
        }
        listenersRemoved.sort()
    }

    private mutating func diffPools(_ old: [Pool], _ new: [Pool], pools lines: inout Lines, members: inout Lines) {
        let before = byName(old, \.name), after = byName(new, \.name)
        for name in after.keys.sorted() {
            let pool = after[name]!
            guard let previous = before[name] else {
                poolsAdded.append(name)
                lines.added.append("pool added: \(name) (\(pool.lbAlgorithm.rawValue), \(counted(pool.members.count, "member")))")
                diffMembers(of: name, [], pool.members, into: &members)
                continue
            }
            let memberCounts = diffMembers(of: name, previous.members, pool.members, into: &members)
            var differences = poolDifferences(previous, pool)
            if memberCounts != (0, 0, 0) {
                differences.append("members +\(memberCounts.added) -\(memberCounts.removed) ~\(memberCounts.changed)")
            }
            if !differences.isEmpty {
                poolsChanged.append(name)
                lines.changed.append("pool changed: \(name) (\(differences.joined(separator: ", ")))")
            }
        }
        for name in before.keys.sorted() where after[name] == nil {
            let pool = before[name]!
            poolsRemoved.append(name)
            lines.removed.append("pool removed: \(name) (\(counted(pool.members.count, "member")))")
            diffMembers(of: name, pool.members, [], into: &members)
        }
    }

    /// Appends the pool's member changes; returns how many of each, for the pool's own line.
    @discardableResult
    private mutating func diffMembers(of pool: String, _ old: [Member], _ new: [Member],
                                      into lines: inout Lines) -> (added: Int, removed: Int, changed: Int) {
        let before = byName(old, \.name), after = byName(new, \.name)
        var counts = (added: 0, removed: 0, changed: 0)
        for name in after.keys.sorted() {
            let member = after[name]!
            let path = "\(pool)/\(name)"
            if let previous = before[name] {
                guard previous != member else { continue }
                membersChanged.append(path)
                lines.changed.append("member changed: \(path) (\(memberDifferences(previous, member)))")
                counts.changed += 1
            } else {
                membersAdded.append(path)
                lines.added.append("member added: \(path) (\(member.endpoint))")
                counts.added += 1
            }
        }
        for name in before.keys.sorted() where after[name] == nil {
            let path = "\(pool)/\(name)"
            membersRemoved.append(path)
            lines.removed.append("member removed: \(path) (\(before[name]!.endpoint))")
            counts.removed += 1
        }
        return counts
    }
}

/// The lines of one kind of object, kept apart so they come out added, removed, changed.
private struct Lines {
    var added: [String] = []
    var removed: [String] = []
    var changed: [String] = []
    var all: [String] { added + removed + changed }
}

/// A validated config has unique names; one built by hand might not, and a diff must not trap
/// on it (a reload can never take the daemon down), so the last of a name wins, as in a merge.
private func byName<T>(_ items: [T], _ name: (T) -> String) -> [String: T] {
    Dictionary(items.map { (name($0), $0) }, uniquingKeysWith: { _, last in last })
}

/// "TCP 127.0.0.1:8080": what a listener's socket is bound to.
private func binding(_ listener: Listener) -> String {
    "\(listener.transport.rawValue) \(listener.endpoint)"
}

private func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
