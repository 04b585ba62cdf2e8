import ArgumentParser
import Glibc

/// The options every subcommand shares: where the status socket is.
struct SocketOptions: ParsableArguments {
    @Option(name: .customLong("socket"),
            help: ArgumentHelp("Path of fulcrumd's status socket.", valueName: "path"),
            completion: .file())
    var socket: String?

    @Option(name: .customLong("config-dir"),
            help: ArgumentHelp("Configuration directory whose [status] socket to use (fulcrumd's --config-dir).",
                               valueName: "dir"),
            completion: .directory)
    var configDirectory: String?

    /// The socket to talk to. An explicit flag beats the environment, and the environment
    /// beats the installed configuration, so a second daemon can be reached with
    /// `--config-dir` even when FULCRUM_SOCKET is exported for the first.
    var resolvedPath: String {
        if let socket { return socket }
        if let configDirectory {
            return SocketPath.fromConfig(directory: configDirectory) ?? SocketPath.builtIn
        }
        if let env = getenv("FULCRUM_SOCKET"), env.pointee != 0 { return String(cString: env) }
        if SocketPath.isDirectory(SocketPath.defaultConfigDirectory),
           let path = SocketPath.fromConfig(directory: SocketPath.defaultConfigDirectory) {
            return path
        }
        return SocketPath.builtIn
    }
}
