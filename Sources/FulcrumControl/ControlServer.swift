import Atomics
import CFulcrumLinux
import FulcrumAddress
import FulcrumStatus
import FulcrumSystem
import Glibc
import Logging

/// The control thread: the status socket (admin and read-only) and the HTTP endpoint on one
/// event loop, plus the once-a-second sampler behind rates, peaks and the page's charts. It
/// never touches a worker's data: it reads counters and publishes runtime changes, so a slow,
/// idle or hostile client costs this thread only, and at most `maxConnections` descriptors
/// (the least recently active client is closed to admit a new one).
public final class ControlServer: @unchecked Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    let loop: EventLoop
    let runner: CommandRunner
    let reader: StatusReader
    var logger: Logger
    let adminPath: String
    let readOnlyPath: String?
    var listeners: [(fd: Int32, kind: ControlConnection.Kind)] = []
    var connections: [ControlConnection?] = []
    var freeSlots: [Int] = []
    /// Every read lands here first (one buffer for the thread, not one per read).
    let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: ControlServer.readBufferSize, alignment: 16)
    static let readBufferSize = 16 * 1024
    /// Listeners taken out of epoll after accept ran out of descriptors.
    var pausedListeners: [Int] = []
    /// Per slot: the generation of its latest client.
    var generations: [UInt32] = []
    var open = 0
    let history: SampledHistory
    var nextSampleMs: Int64 = 0
    /// Reloads run here, whoever asks: the socket's `reload` and SIGHUP (through
    /// `requestReload`) take the same path, one at a time, between snapshots.
    let reload: Reload?
    let reloadRequested = ManagedAtomic(false)

    static let maxConnections = 512
    static let socketIdleMs: Int64 = 300_000
    static let httpDeadlineMs: Int64 = 10_000
    static let listenerTag: UInt64 = 1 << 63

    /// Creates the sockets (so a bad path or port stops the daemon before it is ready).
    public init(reader: StatusReader, logger: Logger, reload: Reload? = nil) throws {
        self.reader = reader
        self.logger = logger
        self.reload = reload
        let history = SampledHistory()
        self.history = history
        runner = CommandRunner(reader: reader, logger: logger, reload: reload) { history.apply(to: &$0) }
        let config = reader.config
        adminPath = config.statusSocket
        readOnlyPath = config.readonlySocket
        loop = try EventLoop(name: "fulcrum-control", capacity: 64, wakeData: UInt64.max)
        do {
            let gid = try config.statusGroup.map(ControlServer.groupID)
            try addListener(try ControlServer.unixListener(adminPath, group: gid, what: "status socket"), .admin)
            if let path = readOnlyPath {
                try addListener(try ControlServer.unixListener(path, group: gid, what: "read-only status socket"), .readOnly)
            }
            if let endpoint = config.metricsListen {
                let fd: Int32
                do {
                    fd = try Socket.makeTCPListener(endpoint, backlog: 128)
                } catch {
                    throw StartError(description: "metrics_listen \(endpoint): cannot listen: \(error)")
                }
                try addListener(fd, .http)
            }
        } catch {
            for l in listeners { close(l.fd) }
            throw error
        }
    }

    deinit { readBuffer.deallocate() }

    private func addListener(_ fd: Int32, _ kind: ControlConnection.Kind) throws {
        listeners.append((fd, kind))
        try loop.poll.add(fd, events: EventPoll.readable, data: ControlServer.listenerTag | UInt64(listeners.count - 1))
    }

    static func unixListener(_ path: String, group: gid_t?, what: String) throws -> Int32 {
        do {
            return try UnixSocket.listen(path: path, mode: 0o660, group: group)
        } catch let error as SystemError where error.code == ENOENT && error.call.description == "bind" {
            let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            throw StartError(description: "\(what) \(path): the directory \(parent.isEmpty ? "/" : parent) does not exist; create it (systemd's RuntimeDirectory=fulcrum does) or set [status] socket elsewhere")
        } catch let error as SystemError where error.code == EADDRINUSE {
            throw StartError(description: "\(what) \(path): another process is serving it (is fulcrumd already running?)")
        } catch let error as SystemError where error.code == EEXIST {
            throw StartError(description: "\(what) \(path): a file that is not a socket is in the way; not replacing it")
        } catch {
            throw StartError(description: "\(what) \(path): \(error)")
        }
    }

    static func groupID(_ name: String) throws -> gid_t {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else {
            throw StartError(description: "[status] group \"\(name)\": no such group")
        }
        return group.gr_gid
    }

    public func start() throws {
        try loop.start { [self] in run() }
        logger.info("status socket up", metadata: ["socket": "\(adminPath)"])
        if let readOnlyPath { logger.info("read-only status socket up", metadata: ["socket": "\(readOnlyPath)"]) }
        if let endpoint = reader.config.metricsListen {
            logger.info("status HTTP endpoint up: /metrics, /status.json, /", metadata: ["address": "\(endpoint)"])
        }
    }

    /// Ends the thread, closes every client and removes the socket files.
    public func stop() {
        loop.requestStop()
        _ = loop.join()
    }

    /// SIGHUP: reload on the control thread as soon as it wakes.
    public func requestReload() {
        reloadRequested.store(true, ordering: .releasing)
        loop.wake()
    }

    /// The sampled rates and peaks, for a snapshot taken outside this thread (the exit report).
    public func applySamples(to snapshot: inout StatusSnapshot) { history.apply(to: &snapshot) }

    // MARK: the loop

    func run() {
        nextSampleMs = cfl_monotonic_ms()
        while !loop.stopRequested {
            let now = cfl_monotonic_ms()
            if now >= nextSampleMs {
                // Wall-clock time: the page plots each point against the snapshot's `now`.
                history.record(reader.snapshot(), atMs: WallClock.unixMilliseconds())
                expireClients(now: now)
                resumeListeners()
                nextSampleMs = now + 1000
            }
            let ready: Int
            do {
                ready = try loop.poll.wait(timeoutMs: Int32(clamping: max(0, nextSampleMs - cfl_monotonic_ms())))
            } catch {
                logger.critical("control event loop failed", metadata: ["error": "\(error)"])
                break
            }
            for i in 0..<ready {
                let data = loop.poll.data(at: i)
                if data == loop.wakeData {
                    loop.consumeWake()
                    if reloadRequested.exchange(false, ordering: .acquiring) { _ = reload?(.signal) }
                } else if data & ControlServer.listenerTag != 0 {
                    accept(listener: Int(data & 0xFFFF))
                } else {
                    let slot = Int(data & 0xFFFF_FFFF)
                    guard let c = connections[slot], c.generation == UInt32(truncatingIfNeeded: data >> 32) else { continue }
                    service(slot, events: loop.poll.events(at: i))
                }
            }
        }
        for slot in connections.indices where connections[slot] != nil { closeConnection(slot) }
        for l in listeners { close(l.fd) }
        unlink(adminPath)
        if let readOnlyPath { unlink(readOnlyPath) }
    }

    func accept(listener index: Int) {
        let (fd: listenFD, kind: kind) = listeners[index]
        for _ in 0..<64 {
            var peerAddress = SocketAddress()
            let fd: Int32
            do {
                switch try Socket.accept(listenFD, peer: &peerAddress) {
                case .wouldBlock: return
                case let .done(accepted): fd = accepted
                }
            } catch {
                // Out of descriptors: make room by closing the least recently active client. With
                // none to close, the level-triggered listener would wake this thread in a loop:
                // leave it out of epoll until the next sample tick.
                if evictOldest() { continue }
                loop.poll.remove(listenFD)
                pausedListeners.append(index)
                logger.warning("status listener out of descriptors: not accepting for a second", metadata: ["error": "\(error)"])
                return
            }
            if open >= ControlServer.maxConnections { _ = evictOldest() }
            let now = cfl_monotonic_ms()
            let slot = freeSlots.popLast() ?? {
                connections.append(nil)
                generations.append(0)
                return connections.count - 1
            }()
            // A new generation per use of the slot: an event still queued for its last client is ignored.
            generations[slot] &+= 1
            let generation = generations[slot]
            var peer: Peer?
            if kind != .http, let cred = UnixSocket.peerCredentials(fd) { peer = Peer(pid: cred.pid, uid: cred.uid) }
            connections[slot] = ControlConnection(fd: fd, kind: kind, generation: generation, peer: peer,
                                                  lastActivityMs: now,
                                                  deadlineMs: now + ControlServer.httpDeadlineMs,
                                                  watching: EventPoll.readable | EventPoll.readHangup)
            open += 1
            do {
                try loop.poll.add(fd, events: EventPoll.readable | EventPoll.readHangup, data: eventData(slot))
            } catch {
                closeConnection(slot)
            }
        }
    }

    func eventData(_ slot: Int) -> UInt64 {
        UInt64(connections[slot]!.generation) << 32 | UInt64(slot)
    }
}
