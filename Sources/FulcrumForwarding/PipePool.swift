import FulcrumSystem
import Glibc

/// A worker's idle splice pipes. A connection borrows a pipe only while bytes are in flight
/// and gives it back empty, so thousands of idle connections hold no pipes at all and the
/// kernel's per-user pipe budget (fs.pipe-user-pages-soft) is spent only on busy ones.
/// A pipe that still holds bytes is closed, never reused: its bytes belong to a dead flow.
struct PipePool {
    struct Pipe {
        var read: Int32
        var write: Int32
        var capacity: Int
    }

    private var idle: [Pipe] = []
    /// Idle pipes kept beyond this are closed: enough to cover a burst of busy connections
    /// without sitting on kernel memory when traffic drops.
    let maxIdle: Int
    let size: Int
    private(set) var created = 0
    private(set) var inUse = 0

    init(size: Int, maxIdle: Int = 256) {
        self.size = size
        self.maxIdle = maxIdle
        idle.reserveCapacity(maxIdle)
    }

    mutating func acquire() throws(SystemError) -> Pipe {
        inUse += 1
        if let pipe = idle.popLast() { return pipe }
        do {
            let made = try Splice.makePipe(size: size)
            created += 1
            return Pipe(read: made.read, write: made.write, capacity: made.capacity)
        } catch {
            inUse -= 1
            throw error
        }
    }

    /// Returns a pipe; `empty` says whether the flow drained it.
    mutating func release(_ pipe: Pipe, empty: Bool) {
        inUse -= 1
        if empty && idle.count < maxIdle {
            idle.append(pipe)
        } else {
            close(pipe.read)
            close(pipe.write)
        }
    }

    var idleCount: Int { idle.count }

    mutating func closeAll() {
        for pipe in idle {
            close(pipe.read)
            close(pipe.write)
        }
        idle.removeAll()
    }
}
