import Glibc

/// Process signals taken synchronously. A daemon that leaves a signal at its default action dies
/// silently from a stray `kill -USR1` (measured before this existed: SIGUSR1, SIGUSR2 and SIGALRM
/// each ended fulcrumd mid-transfer with no log line, and a SIGHUP while the configuration
/// loaded exited 129). So the process blocks every signal it can at the top of main, before any
/// thread exists (threads inherit the mask, so no signal lands on a data-plane thread), and one
/// thread takes them with sigtimedwait and decides.
public enum ProcessSignals {
    /// Synchronous faults keep their default action: blocking them is undefined when the kernel
    /// raises them for a bad instruction or address, and a crash must stay a crash (a core, an
    /// exit status systemd reports). SIGKILL and SIGSTOP cannot be blocked at all. SIGPIPE is
    /// ignored instead (a peer closing mid-write must give EPIPE to the writing thread, and a
    /// thread-directed signal would stay pending on that thread, never reaching the waiter).
    public static let neverBlocked: [Int32] = [
        SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS, SIGPIPE,
    ]

    /// Blocks every signal except `neverBlocked` in the calling thread and ignores SIGPIPE;
    /// returns the blocked set, the one to wait on. Call it first thing in main.
    @discardableResult
    public static func blockAll() -> SignalSet {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigfillset(&set)
        for s in neverBlocked { sigdelset(&set, s) }
        // pthread_sigmask returns the error number instead of setting errno, and can only fail
        // for a bad `how`: nothing to retry or report.
        _ = pthread_sigmask(SIG_SETMASK, &set, nil)
        return SignalSet(set)
    }

    /// Unblocks `signals` in the calling thread (their default action applies again), e.g. so
    /// that Ctrl-C still ends a one-shot `--check-config`.
    public static func unblock(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        _ = pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// The calling thread's blocked signals.
    public static func currentMask() -> SignalSet {
        var set = sigset_t()
        _ = pthread_sigmask(SIG_BLOCK, nil, &set)
        return SignalSet(set)
    }

    /// "SIGUSR1", "SIGRTMIN+3", or "signal 70" for anything else.
    public static func name(_ signal: Int32) -> String {
        if let name = names[signal] { return name }
        let rtmin = __libc_current_sigrtmin(), rtmax = __libc_current_sigrtmax()
        if signal >= rtmin && signal <= rtmax { return signal == rtmin ? "SIGRTMIN" : "SIGRTMIN+\(signal - rtmin)" }
        return "signal \(signal)"
    }

    static let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
        SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
        SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
        SIGSTKFLT: "SIGSTKFLT", SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP",
        SIGTTIN: "SIGTTIN", SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
        SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO", SIGPWR: "SIGPWR",
        SIGSYS: "SIGSYS",
    ]
}

/// A set of signal numbers (sigset_t as a value).
public struct SignalSet: Sendable {
    public private(set) var raw: sigset_t

    public init(_ raw: sigset_t) { self.raw = raw }

    public init(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        raw = set
    }

    public func contains(_ signal: Int32) -> Bool {
        var copy = raw
        return sigismember(&copy, signal) == 1
    }

    /// A signal taken from the set, with who sent it (si_pid and si_uid: the sender for kill(2)
    /// and sigqueue(3); 0 for a signal the kernel raised, e.g. SIGWINCH or a tty's SIGINT).
    public struct Received: Sendable, Equatable {
        public let signal: Int32
        public let senderPID: Int32
        public let senderUID: UInt32

        public init(signal: Int32, senderPID: Int32, senderUID: UInt32) {
            self.signal = signal
            self.senderPID = senderPID
            self.senderUID = senderUID
        }

        public var name: String { ProcessSignals.name(signal) }
    }

    /// sigtimedwait on this set (which the calling thread must have blocked): the next pending
    /// signal, or nil when none arrived within `timeoutMs` (-1 = wait for ever, 0 = poll).
    public func wait(timeoutMs: Int) -> Received? {
        var set = raw
        var info = siginfo_t()
        let result: IOResult<Int32>
        do {
            if timeoutMs < 0 {
                result = try retryingSyscall("sigwaitinfo") { sigwaitinfo(&set, &info) }
            } else {
                var ts = timespec(tv_sec: timeoutMs / 1000, tv_nsec: (timeoutMs % 1000) * 1_000_000)
                result = try retryingSyscall("sigtimedwait") { sigtimedwait(&set, &info, &ts) }
            }
        } catch {
            // EINVAL (a bad timeout) is the only other failure; treat it as "nothing arrived".
            return nil
        }
        guard case let .done(signal) = result else { return nil }
        return Received(signal: signal, senderPID: info._sifields._kill.si_pid,
                        senderUID: info._sifields._kill.si_uid)
    }
}
