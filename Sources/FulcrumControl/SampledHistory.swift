import FulcrumStatus
import Synchronization

/// The control thread's RateHistory behind a lock, so a snapshot taken on another thread (the
/// exit report, a command) gets the same rates and peaks.
final class SampledHistory: Sendable {
    private let history = Mutex(RateHistory())

    func record(_ snapshot: StatusSnapshot, atMs: Int64) {
        history.withLock { $0.record(snapshot, atMs: atMs) }
    }

    func apply(to snapshot: inout StatusSnapshot) {
        let current = history.withLock { $0 }
        current.apply(to: &snapshot)
    }

    func json() -> String { history.withLock { $0.json() } }
}
