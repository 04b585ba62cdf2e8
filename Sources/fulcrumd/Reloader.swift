import CFulcrumLinux
import FulcrumAnycast
import FulcrumConfig
import FulcrumControl
import FulcrumForwarding
import FulcrumHealth
import FulcrumSystem
import Logging
import Synchronization

/// Applies the configuration on disk to the running daemon, all of it or none of it: load and
/// check (the same rules as --check-config), refuse what needs a restart, build the engine's
/// next plan and bind new listeners, replace the health checker (it adopts every unchanged
/// member's state), then hand the plan to the workers. Runs on the control thread; SIGHUP and
/// the status socket's `reload` both come through here.
final class Reloader: Sendable {
    struct State {
        var config: Config
        var files: [String]
        var checker: HealthChecker
    }

    let engine: Engine
    let configDirectory: String
    let logger: Logger
    let notifier: SystemdNotifier
    /// The [anycast] thread, which takes a reload's new VIP list, hold_down and announce_when.
    let anycast: AnycastNode?
    private let state: Mutex<State>
    /// Set once the control server exists (it needs this object first).
    let reader: StatusReader

    init(engine: Engine, config: Config, files: [String], checker: HealthChecker, reader: StatusReader,
         anycast: AnycastNode?, configDirectory: String, notifier: SystemdNotifier, logger: Logger) {
        self.engine = engine
        self.anycast = anycast
        self.configDirectory = configDirectory
        self.notifier = notifier
        self.logger = logger
        self.reader = reader
        state = Mutex(State(config: config, files: files, checker: checker))
    }

    /// The user the daemon runs as after the privilege drop, named when a reload cannot read
    /// a file. Set once before the control thread starts.
    private let runningAsName = Mutex<String?>(nil)
    var runningAs: String? {
        get { runningAsName.withLock { $0 } }
        set { runningAsName.withLock { $0 = newValue } }
    }

    var config: Config { state.withLock { $0.config } }
    var checker: HealthChecker { state.withLock { $0.checker } }

    func reload(_ trigger: ReloadTrigger) -> ReloadOutcome {
        let started = SystemdNotifier.monotonicMicroseconds()
        notified(notifier.reloading(status: "reloading the configuration"))
        let outcome = apply()
        let us = Int(SystemdNotifier.monotonicMicroseconds() - started)
        switch outcome {
        case let .applied(_, summary, changes):
            logger.notice("configuration reloaded in \(ReloadOutcome.millisecondsText(us)) ms: \(summary)", metadata: [
                "trigger": "\(trigger)", "changes": "\(changes.count)",
            ])
            notified(notifier.ready(status: readyStatus()))
            return .applied(microseconds: us, summary: summary, changes: changes)
        case let .refused(problems):
            let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
            logger.error("configuration reload refused: \(count); still running the previous configuration", metadata: [
                "trigger": "\(trigger)", "first": "\(problems.first ?? "")",
            ])
            reader.recordRefusedReload()
            notified(notifier.ready(status: "reload refused (\(count)); " + readyStatus()))
            return outcome
        }
    }

    /// systemd not hearing us is worth a line, never a failed reload.
    func notified(_ failure: SystemdNotifier.Failure?) {
        if let failure { logger.warning("sd_notify: \(failure)") }
    }

    /// STATUS= for systemd: what is running.
    func readyStatus() -> String {
        let config = config
        let members = config.pools.reduce(0) { $0 + $1.members.count }
        return "\(config.listeners.count) listeners, \(config.pools.count) pools, \(members) members"
    }

    private func apply() -> ReloadOutcome {
        let loaded: LoadedConfig
        do {
            loaded = try ConfigLoader.load(directory: configDirectory, onlineCPUs: onlineCPUs(),
                                           options: LoadOptions(accounts: .system, runningAs: runningAs))
        } catch {
            return .refused(error.problems.map(\.description))
        }
        let old = config
        let changes = ConfigChanges(from: old, to: loaded.config)
        if !changes.needsRestart.isEmpty { return .refused(changes.needsRestart) }
        let warnings = loaded.warnings.map { "warning: \($0)" }
        let prepared: Engine.PreparedReload
        do {
            prepared = try engine.prepareReload(loaded.config)
        } catch {
            return .refused(["\(error)"])
        }
        // The checker is replaced whole: the new one adopts each unchanged member's checks
        // (status, rise/fall progress, last result) and starts over only where monitor or
        // member changed. The old one stops first so its state is still while adopted.
        let oldChecker = checker
        oldChecker.stop()
        let newChecker: HealthChecker
        do {
            newChecker = try makeChecker(loaded.config, prepared.plan, adopting: oldChecker)
            try newChecker.start()
        } catch {
            engine.abandon(prepared)
            restart(old, adopting: oldChecker)
            return .refused(["health checker: \(error)"])
        }
        var late: [String] = []
        do {
            try engine.commit(prepared)
        } catch {
            // The plan is in force; a worker that has not taken it yet will. Say so loudly.
            logger.critical("reload: \(error)")
            late = ["warning: \(error)"]
        }
        state.withLock { $0 = State(config: loaded.config, files: loaded.files, checker: newChecker) }
        reader.replace(config: loaded.config, board: newChecker.board, configFiles: loaded.files,
                       loadedAt: WallClock.unixSeconds())
        // After the listeners: a VIP added with its listener is served before it is announced
        // (and hold_down comes first anyway). ConfigChanges refused adding, removing or
        // moving [anycast] itself.
        if let new = loaded.config.anycast, new != old.anycast { anycast?.reconfigure(new) }
        return .applied(microseconds: 0, summary: changes.isEmpty ? "nothing changed" : changes.summary,
                        changes: changes.lines + warnings + late)
    }

    func makeChecker(_ config: Config, _ plan: ForwardingPlan, adopting old: HealthChecker?) throws -> HealthChecker {
        try HealthChecker(config: config, health: plan.pools.map(\.health), logger: logger, adopting: old) {
            [engine] in engine.memberWentDown()
        }
    }

    /// After a refused reload: the checks of the configuration still in force carry on.
    private func restart(_ config: Config, adopting stopped: HealthChecker) {
        do {
            let checker = try makeChecker(config, engine.plan, adopting: stopped)
            try checker.start()
            state.withLock { $0.checker = checker }
            reader.replace(board: checker.board)
        } catch {
            logger.critical("health checks stopped: cannot restart the health checker: \(error)")
        }
    }
}
