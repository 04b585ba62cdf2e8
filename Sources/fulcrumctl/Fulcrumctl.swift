import ArgumentParser
import FulcrumBuildInfo

@main
struct Fulcrumctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fulcrumctl",
        abstract: "Inspect and steer a running fulcrumd through its status socket.",
        discussion: """
            Every subcommand sends one or more lines of fulcrumd's status-socket protocol \
            and prints the reply. The socket is --socket PATH, else the [status] socket of \
            the configuration in --config-dir, else $FULCRUM_SOCKET, else the [status] socket \
            of /etc/fulcrum, else /run/fulcrum/status.sock.

            Exit status: 0 success; 1 the daemon refused the command (its error: lines are \
            printed on standard error); 2 the socket could not be reached, or the daemon \
            closed the connection before its reply ended (or, for reload, did not answer \
            within --timeout).
            """,
        version: BuildInfo.versionLine,
        subcommands: [
            Status.self, Top.self, Members.self,
            Drain.self, Ready.self, Maint.self, Weight.self, ShutdownSessions.self, Reload.self,
            Stat.self, Info.self, Metrics.self, HA.self, Anycast.self,
        ])
}
