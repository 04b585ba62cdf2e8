import Glibc

/// Giving up the CPU: sleeping the calling thread, for the few places that wait on another
/// thread's progress without a descriptor to poll (an admin request waiting for the anycast
/// thread's turn), and yielding it for a moment (a worker between looks at its events).
public enum Pause {
    /// sched_yield(2): runs whatever else is ready on this CPU, then returns. It cannot fail on
    /// Linux (the call always returns 0), so there is nothing to report.
    @inline(__always)
    public static func yieldProcessor() {
        _ = sched_yield()
    }

    /// Sleeps `ms` milliseconds; EINTR sleeps the remainder.
    public static func milliseconds(_ ms: Int) {
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
