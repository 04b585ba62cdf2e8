import FulcrumPools
import FulcrumStatus
import Logging

/// Who sent a command, for the log line of every change (SO_PEERCRED).
public struct Peer: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32

    public init(pid: Int32, uid: UInt32) {
        self.pid = pid
        self.uid = uid
    }
}

/// Runs one status-socket command line and gives its reply: lines that each end in "\n"; the
/// server adds the empty line that ends a reply. Errors are one line starting with `error:`.
/// Runtime changes go to the pools' PoolRuntime (weights, admin states), to the engine
/// (shutdown sessions) or to the anycast thread (withdraw, announce); each is logged with the
/// peer's pid and uid.
public struct CommandRunner: Sendable {
    public struct Reply: Sendable, Equatable {
        public var text: String
        public var isError: Bool
        /// `quit`: close after the reply.
        public var closes = false
    }

    let reader: StatusReader
    let logger: Logger
    /// Supplies the sampled rates and peaks; nil in tests without a sampler.
    let sample: @Sendable (inout StatusSnapshot) -> Void
    /// `reload`; without one (tests) the command is refused.
    let reload: Reload?

    public init(reader: StatusReader, logger: Logger, reload: Reload? = nil,
                sample: @escaping @Sendable (inout StatusSnapshot) -> Void = { _ in }) {
        self.reader = reader
        self.logger = logger
        self.reload = reload
        self.sample = sample
    }

    public func run(_ line: Substring, readOnly: Bool, peer: Peer?, socket: String) -> Reply {
        let command: StatusCommand
        switch StatusCommand.parse(line) {
        case let .success(parsed): command = parsed
        case let .failure(error): return failure("\(error)")
        }
        if readOnly && !command.isReadOnly {
            return failure("this is the read-only socket (\(socket)); changes need the admin socket \(reader.config.statusSocket)")
        }
        switch command {
        case .help: return ok(StatusCommand.helpText)
        case .quit: return Reply(text: "", isError: false, closes: true)
        case .showInfo: return ok(InfoText.render(snapshot()))
        case let .showStat(json): return ok(json ? StatJSON.render(snapshot()) + "\n" : StatCSV.render(snapshot()))
        case let .showMembers(pool):
            guard let table = MembersTable.render(snapshot(), pool: pool) else { return failure("no pool \"\(pool ?? "")\"") }
            return ok(table)
        case .showHA: return ok(HAText.render(snapshot()))
        case .showAnycast: return ok(AnycastText.render(snapshot()))
        case let .anycast(steer, vip): return steerAnycast(steer, vip, peer: peer, socket: socket)
        case .showMetrics: return ok(PrometheusText.render(snapshot()))
        case let .setState(pool, member, state):
            return change(pool, member, peer: peer, socket: socket) { runtime, m in
                let old = runtime.set(member: m, adminState: state)
                return ("state \(state.rawValue) (was \(old.rawValue))", ["state": "\(state.rawValue)", "was": "\(old.rawValue)"])
            }
        case let .setWeight(pool, member, weight):
            return change(pool, member, peer: peer, socket: socket) { runtime, m in
                let old = try runtime.set(member: m, weight: weight)
                return ("weight \(weight) (was \(old))", ["weight": "\(weight)", "was": "\(old)"])
            }
        case .reload:
            guard let reload else { return failure("reload is not available here") }
            let outcome = reload(.statusSocket(peer))
            if case .refused = outcome { return Reply(text: outcome.replyText, isError: true) }
            return ok(outcome.replyText)
        case let .shutdownSessions(pool, member):
            return change(pool, member, peer: peer, socket: socket) { _, _ in
                reader.engine.shutDownSessions(pool: pool, member: member)
                return ("closing its connections and sessions on every worker", [:])
            }
        }
    }

    private func snapshot() -> StatusSnapshot {
        var s = reader.snapshot()
        sample(&s)
        return s
    }

    private func change(_ pool: String, _ member: String, peer: Peer?, socket: String,
                        _ apply: (PoolRuntime, Int) throws -> (String, Logger.Metadata)) -> Reply {
        guard let plan = reader.engine.plan.pools.first(where: { $0.name == pool }) else {
            return failure("no pool \"\(pool)\"")
        }
        guard let m = plan.members.firstIndex(where: { $0.name == member }) else {
            return failure("pool \(pool) has no member \"\(member)\"")
        }
        do {
            let (what, details) = try apply(plan.runtime, m)
            let text = "member \(pool)/\(member): \(what)"
            var metadata: Logger.Metadata = ["pool": "\(pool)", "member": "\(member)", "socket": "\(socket)"]
            if let peer {
                metadata["peer_pid"] = "\(peer.pid)"
                metadata["peer_uid"] = "\(peer.uid)"
            }
            metadata.merge(details) { a, _ in a }
            logger.notice("\(text), set through the status socket", metadata: metadata)
            return ok(text + "\n")
        } catch {
            return failure("member \(pool)/\(member): \(error)")
        }
    }

    /// `anycast withdraw|announce [VIP]`: the anycast thread does the change and says where each
    /// VIP asked about is now, one line per VIP; logged here, like member changes, with who asked.
    private func steerAnycast(_ steer: AnycastSteer, _ vip: String?, peer: Peer?, socket: String) -> Reply {
        guard let steering = reader.steerAnycast else { return failure("anycast is not configured") }
        let target = vip ?? "every VIP"
        var metadata: Logger.Metadata = ["steer": "\(steer.rawValue)", "vip": "\(target)", "socket": "\(socket)"]
        if let peer {
            metadata["peer_pid"] = "\(peer.pid)"
            metadata["peer_uid"] = "\(peer.uid)"
        }
        switch steering(steer, vip) {
        case let .success(lines):
            metadata["vips"] = "\(lines.count)"
            logger.notice("anycast \(steer.rawValue) \(target), set through the status socket", metadata: metadata)
            // The thread's lines escaped one by one: a line break inside one would split it, an
            // empty one would end the reply early. An empty answer (the thread gives none) would
            // still get a line, so the reply never reads as no answer.
            let shown = lines.filter { !$0.isEmpty }.map(OneLineText.escaped)
            if shown.isEmpty { return ok("anycast \(steer.rawValue) \(target): nothing to change\n") }
            return ok(shown.map { $0 + "\n" }.joined())
        case let .failure(error):
            return failure(OneLineText.escaped("\(error)"))
        }
    }

    private func ok(_ text: String) -> Reply { Reply(text: text, isError: false) }

    private func failure(_ message: String) -> Reply { Reply(text: "error: \(message)\n", isError: true) }
}
