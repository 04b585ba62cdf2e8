import CFulcrumLinux
import FulcrumSystem
import Logging

/// The line for a signal fulcrumd takes but does not act on (SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH,
/// SIGQUIT, …): who sent it, so an operator can find the stray `kill`. At most one line per
/// signal per second, the rest counted: a `while kill -USR1` loop would otherwise write a line
/// per signal, as the UDP flood wrote 74,781 lines in one second before its line was limited.
struct IgnoredSignals {
    static let windowMs: Int64 = 1000

    private let logger: Logger
    /// Per signal number (1...64): when its window started (0: no window) and how many were
    /// not logged in it.
    private var windowStart = [Int64](repeating: 0, count: 65)
    private var suppressed = [Int](repeating: 0, count: 65)

    init(logger: Logger) { self.logger = logger }

    mutating func record(_ received: SignalSet.Received, nowMs: Int64) {
        let s = Int(received.signal)
        guard s > 0 && s < windowStart.count else { return }
        if windowStart[s] != 0 && nowMs - windowStart[s] < Self.windowMs {
            suppressed[s] += 1
            return
        }
        var metadata: Logger.Metadata = [:]
        if suppressed[s] > 0 { metadata["suppressed"] = "\(suppressed[s])" }
        logger.warning("ignoring signal \(received.name) from pid \(received.senderPID) uid \(received.senderUID)",
                       metadata: metadata)
        windowStart[s] = nowMs
        suppressed[s] = 0
    }

    /// Reports the counts of windows that have ended: how long the caller may wait before the
    /// next call is due (-1: nothing pending, wait for ever).
    mutating func flush(nowMs: Int64) -> Int {
        var next: Int64 = -1
        for s in 1..<windowStart.count where windowStart[s] != 0 {
            let end = windowStart[s] + Self.windowMs
            if nowMs >= end {
                if suppressed[s] > 0 {
                    logger.warning("ignored signal \(ProcessSignals.name(Int32(s))) \(suppressed[s]) more times",
                                   metadata: ["window_ms": "\(Self.windowMs)"])
                }
                windowStart[s] = 0
                suppressed[s] = 0
            } else if suppressed[s] > 0 {
                next = next < 0 ? end - nowMs : min(next, end - nowMs)
            }
        }
        return Int(next)
    }
}
