import FulcrumStatus
import FulcrumSystem
import Synchronization

/// The health checker's latest word on every member, published for the control thread after
/// each check: status, last check code and duration, last change, failure counts, downtime.
/// The workers never read it (they read MemberHealth's flags); a lock per check on the
/// checker's thread and per snapshot on the control thread is all it costs.
public final class HealthBoard: Sendable {
    struct Entry {
        var status = MemberHealthStatus()
        /// Unix seconds the current down spell began, while down.
        var downSince: Int64?
        var downtimeBefore: Int64 = 0
    }

    /// Per pool: nil for a pool without a monitor, else one entry per member.
    private let entries: Mutex<[[Entry]?]>

    /// `monitored[p]` = pool p has a health monitor; `members[p]` its member count.
    public init(monitored: [Bool], members: [Int], startedAt: Int64 = WallClock.unixSeconds()) {
        var initial = Entry()
        initial.status.lastChange = startedAt
        entries = Mutex(zip(monitored, members).map { monitored, count in
            monitored ? Array(repeating: initial, count: count) : nil
        })
    }

    /// Records one finished check; `verdict` is set when it changed the member's verdict.
    func record(pool: Int, member: Int, result: CheckResult, verdict: HealthVerdict?, at now: Int64) {
        entries.withLock { entries in
            guard var entry = entries[pool]?[member] else { return }
            entry.status.lastCheck = result.code.rawValue
            entry.status.lastCheckDetail = result.detail
            entry.status.lastCheckDurationMs = result.latencyMs
            if !result.passed && result.code != .sockerr { entry.status.checksFailed += 1 }
            if let verdict, verdict != entry.status.verdict {
                entry.status.verdict = verdict
                entry.status.lastChange = now
                if verdict == .down {
                    entry.status.downTransitions += 1
                    entry.downSince = now
                } else if let since = entry.downSince {
                    entry.downtimeBefore += now - since
                    entry.downSince = nil
                }
            }
            entries[pool]![member] = entry
        }
    }

    /// One member's entry carried over a reload: from `old` in the previous board to `new`.
    struct Move {
        var old: (pool: Int, member: Int)
        var new: (pool: Int, member: Int)
    }

    /// Copies the entries `moves` name from `old`, a board nothing records into any more (its
    /// checker has stopped), so a member whose status carries over keeps its last check,
    /// counts, last change and downtime: the status outputs show no gap. One lock of each
    /// board, never both at once.
    func adopt(from old: HealthBoard, _ moves: [Move]) {
        guard !moves.isEmpty else { return }
        let carried = old.entries.withLock { $0 }
        entries.withLock { entries in
            for move in moves {
                guard let entry = carried[move.old.pool]?[move.old.member], entries[move.new.pool] != nil else { continue }
                entries[move.new.pool]![move.new.member] = entry
            }
        }
    }

    /// Every member's status now (nil entries: pools without a monitor).
    public func statuses(now: Int64 = WallClock.unixSeconds()) -> [[MemberHealthStatus]?] {
        entries.withLock { entries in
            entries.map { pool in
                pool?.map { entry in
                    var status = entry.status
                    status.downtimeSeconds = entry.downtimeBefore + (entry.downSince.map { now - $0 } ?? 0)
                    return status
                }
            }
        }
    }
}
