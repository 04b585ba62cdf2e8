import ArgumentParser
import FulcrumBuildInfo
import FulcrumConfig
import FulcrumSystem
import FulcrumForwarding
import Glibc
import Logging

let fulcrumVersion = BuildInfo.version

/// Blocked before anything else runs, argument parsing included, and before any thread exists;
/// see ProcessSignals. Only `run` reads it.
nonisolated(unsafe) private var blockedSignals: SignalSet? = nil

@main
struct Fulcrumd: ParsableCommand {
    /// The process entry point: signals first, then ArgumentParser's main.
    static func main() {
        blockedSignals = ProcessSignals.blockAll()
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "fulcrumd",
        abstract: "Fulcrum: a Layer-4 TCP/UDP load balancer with health checks, live reload and VRRP failover.",
        discussion: """
            Reads DIR/fulcrum.toml, then DIR/conf.d/*.toml in lexical order (later files win \
            key by key), and forwards each TCP listener's connections and each UDP listener's \
            datagrams (a session per client) to its pool's members, skipping members its health \
            monitor marks down. With an [ha] table it shares virtual IPs with a peer by VRRPv3 \
            and takes them over when the peer fails; with an [anycast] table it puts virtual IPs \
            on an interface of its own while their pools are up, for BIRD to announce by BGP. \
            SIGTERM/SIGINT stop accepting and let open connections finish for shutdown_grace \
            ([anycast] virtual IPs are withdrawn first, and accepting goes on for withdraw_grace). \
            SIGHUP (or `fulcrumctl reload`) applies the configuration on disk in place, all of it \
            or none of it, without dropping a connection. Under systemd (Type=notify) it reports \
            READY, RELOADING and STOPPING. Other signals (SIGUSR1, SIGALRM, ...) are logged \
            with their sender and ignored. The status socket and `fulcrumctl` show and steer it \
            while it runs.
            """,
        version: BuildInfo.versionLine)

    @Option(name: .customLong("config-dir"), help: "Configuration directory.")
    var configDirectory = "/etc/fulcrum"

    @Flag(name: .customLong("check-config"), help: "Validate the configuration, print problems, and exit.")
    var checkConfig = false

    @Option(name: .customLong("log-level"),
            help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel): allowed: trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() throws {
        let signals = blockedSignals ?? ProcessSignals.blockAll()
        if checkConfig {
            // A one-shot command still ends on Ctrl-C (or a TERM from a timeout wrapper); a stray
            // SIGHUP (a terminal closing, a reload aimed at the daemon) must not end it: it
            // stays blocked, as do the others, and is discarded at exit.
            ProcessSignals.unblock([SIGINT, SIGTERM, SIGQUIT])
        }
        let loaded: LoadedConfig
        do {
            // Accounts are checked here too: a misspelt [process] user shows in --check-config.
            loaded = try ConfigLoader.load(directory: configDirectory, onlineCPUs: onlineCPUs(),
                                           options: LoadOptions(accounts: .system))
        } catch {
            for warning in error.warnings { printError("warning: \(warning)") }
            for problem in error.problems { printError(problem.description) }
            throw ExitCode(1)
        }
        if checkConfig {
            for warning in loaded.warnings { printError("warning: \(warning)") }
            print(loaded.summary)
            return
        }
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { _ in LineLogHandler(level: level) }
        for warning in loaded.warnings { Logger(label: "fulcrumd").warning("configuration: \(warning)") }
        let daemon = Daemon(config: loaded.config, files: loaded.files, configDirectory: configDirectory,
                            logger: Logger(label: "fulcrumd"))
        throw ExitCode(daemon.run(signals: signals))
    }
}

func onlineCPUs() -> Int {
    max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

func printError(_ line: String) {
    let text = line + "\n"
    text.withCString { _ = write(2, $0, strlen($0)) }
}
