import Glibc

/// Sleeping the calling thread, for the few places that wait on another thread's progress
/// without a descriptor to poll (an admin request waiting for the anycast thread's turn).
public enum Pause {
    /// Sleeps `ms` milliseconds; EINTR sleeps the remainder.
    public static func milliseconds(_ ms: Int) {
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
