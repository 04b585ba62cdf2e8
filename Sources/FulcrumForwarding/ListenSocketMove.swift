import FulcrumSystem
import Glibc
import Logging

/// A reload's move of one worker's listening sockets, TCP or UDP: a kept socket goes to its
/// new index (its epoll entry, which names the listener by index, is told the new one), a new
/// listener's socket comes from the engine and is watched, and a removed listener's socket is
/// closed — it stops accepting at once, and what was queued on it is refused.
struct ListenSocketMove {
    let poll: EventPoll
    let kind: Worker.EventKind
    let logger: Logger

    /// `from[new]` is the old index whose socket the new listener takes, or -1 for the socket
    /// in `bound[new]`. `watched(old)` says whether the old socket is in epoll (a listener
    /// paused after EMFILE is not, and is added back under its new index when it resumes).
    /// Returns the sockets by new index.
    func apply(from: [Int32], old: [Int32], bound: [Int32], watched: (Int) -> Bool = { _ in true }) -> [Int32] {
        var fds = Array(repeating: Int32(-1), count: from.count)
        var taken = Array(repeating: false, count: old.count)
        for (new, previous) in from.enumerated() {
            if previous >= 0 {
                let o = Int(previous)
                taken[o] = true
                fds[new] = old[o]
                guard fds[new] >= 0, new != o, watched(o) else { continue }
                do {
                    try poll.modify(fds[new], events: EventPoll.readable,
                                    data: Worker.eventData(kind, slot: Int32(new), generation: 0))
                } catch {
                    logger.error("cannot re-register a listening socket", metadata: ["error": "\(error)"])
                }
            } else if new < bound.count, bound[new] >= 0 {
                fds[new] = bound[new]
                do {
                    try poll.add(fds[new], events: EventPoll.readable,
                                 data: Worker.eventData(kind, slot: Int32(new), generation: 0))
                } catch {
                    logger.error("cannot watch a new listening socket", metadata: ["error": "\(error)"])
                }
            }
        }
        for (o, fd) in old.enumerated() where fd >= 0 && !taken[o] { close(fd) }
        return fds
    }
}
