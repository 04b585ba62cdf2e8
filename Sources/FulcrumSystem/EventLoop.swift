import CFulcrumLinux
import Dispatch
import Glibc
import Synchronization

/// The one event-loop shape every Fulcrum thread uses (workers, health checker, control):
/// an epoll instance, an eventfd that wakes it from other threads, a stop request, and the
/// named thread that runs it. What a turn of the loop does stays with its owner; this type
/// only owns the parts that were written once per thread kind before.
public final class EventLoop: @unchecked Sendable {
    public let poll: EventPoll
    /// The epoll data the wake eventfd is registered with; the owner's dispatch ignores it
    /// after calling `consumeWake()`.
    public let wakeData: UInt64
    public let name: String
    let wakeFD: Int32
    private let stopFlag = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    /// `name` is the kernel's thread name (at most 15 bytes shown by top -H and /proc).
    public init(name: String, capacity: Int, wakeData: UInt64) throws(SystemError) {
        self.name = name
        self.wakeData = wakeData
        poll = try EventPoll(capacity: capacity)
        do {
            wakeFD = try syscall("eventfd") { cfl_eventfd() }
            try poll.add(wakeFD, events: EventPoll.readable, data: wakeData)
        } catch {
            poll.close()
            throw error
        }
    }

    deinit {
        // The wake descriptor lives as long as the loop object: another thread may still wake
        // a loop that has ended, and a closed number could have been reused by then.
        close(wakeFD)
        poll.close()
    }

    /// Makes the loop's next (or current) wait return. Any thread.
    public func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    /// Resets the wake eventfd; the loop calls it when it sees `wakeData`.
    public func consumeWake() {
        var value: UInt64 = 0
        _ = Glibc.read(wakeFD, &value, 8)
    }

    /// Asks the loop to end; its owner checks `stopRequested` each turn.
    public func requestStop() {
        stopFlag.store(true, ordering: .sequentiallyConsistent)
        wake()
    }

    public var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }

    /// Runs `body` on a new thread named after the loop. The thread inherits the caller's
    /// signal mask, so a daemon that blocks its signals first keeps them off loop threads.
    public func start(stackSize: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let box = Unmanaged.passRetained(ThreadStart(name: name) { [finished] in
            body()
            finished.signal()
        }).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackSize)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { argument in
            let start = Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
            _ = cfl_set_thread_name(start.name)
            start.body()
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(box).release()
            throw SystemError(code: result, call: "pthread_create")
        }
        started.store(true, ordering: .sequentiallyConsistent)
    }

    /// Waits up to `timeoutMs` (-1: for ever) for the thread's body to return. True if it
    /// has (or never started). Call from one thread at a time.
    public func join(timeoutMs: Int = -1) -> Bool {
        guard started.load(ordering: .sequentiallyConsistent) else { return true }
        let done: Bool
        if timeoutMs < 0 {
            finished.wait()
            done = true
        } else {
            done = finished.wait(timeout: .now() + .milliseconds(timeoutMs)) == .success
        }
        // A join that saw the end puts the token back, so a later join also sees it.
        if done { finished.signal() }
        return done
    }
}

private final class ThreadStart {
    let name: String
    let body: () -> Void

    init(name: String, body: @escaping () -> Void) {
        self.name = name
        self.body = body
    }
}
