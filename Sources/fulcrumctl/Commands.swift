import ArgumentParser
import FulcrumStatus

// The subcommands that send one command and print the reply as the daemon wrote it.
// `status` and `top` render the CSV of `show stat` themselves (StatusCommand.swift, Top.swift).

struct Members: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the members of every pool, or of one pool, as a table.",
        discussion: "Sends `show members [POOL]` and prints the daemon's table.")

    @OptionGroup var socket: SocketOptions

    @Argument(help: ArgumentHelp("Only this pool's members.", valueName: "pool"))
    var pool: PoolName?

    func run() throws {
        try Conversation.relay(socket, .showMembers(pool: pool?.name))
    }
}

/// What `drain`, `ready` and `maint` share: set one member's run-time admin state.
protocol SetStateCommand: ParsableCommand {
    static var state: AdminState { get }
    var socket: SocketOptions { get }
    var target: MemberReference { get }
}

extension SetStateCommand {
    func run() throws {
        try Conversation.relay(socket, .setState(pool: target.pool, member: target.member, state: Self.state))
    }
}

struct Drain: SetStateCommand {
    static let state = AdminState.drain
    static let configuration = CommandConfiguration(
        abstract: "Stop sending new connections to a member; open ones go on.",
        discussion: """
            Sends `set member POOL/MEMBER state drain`. The member's operating status becomes \
            DRAINING (HAProxy's DRAIN); connections and UDP sessions already open carry on \
            until they end. Undo with `fulcrumctl ready`. Run-time state does not survive a \
            restart of fulcrumd.
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: ArgumentHelp("The member, as pool/member.", valueName: "pool/member"))
    var target: MemberReference
}

struct Ready: SetStateCommand {
    static let state = AdminState.ready
    static let configuration = CommandConfiguration(
        abstract: "Return a drained or maintenance member to service.",
        discussion: """
            Sends `set member POOL/MEMBER state ready`: the member takes traffic again as \
            configured, subject to its health checks.
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: ArgumentHelp("The member, as pool/member.", valueName: "pool/member"))
    var target: MemberReference
}

struct Maint: SetStateCommand {
    static let state = AdminState.maint
    static let configuration = CommandConfiguration(
        abstract: "Take a member out of its pool for maintenance.",
        discussion: """
            Sends `set member POOL/MEMBER state maint`. The member's operating status becomes \
            OFFLINE (HAProxy's MAINT) and it is chosen for nothing new; open connections go on \
            unless closed with `fulcrumctl shutdown-sessions`. Undo with `fulcrumctl ready`.
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: ArgumentHelp("The member, as pool/member.", valueName: "pool/member"))
    var target: MemberReference
}

struct Weight: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a member's weight at run time.",
        discussion: """
            Sends `set member POOL/MEMBER weight N`. Weight 0 takes no new connections, like \
            drain. The daemon checks the range and refuses what it does not allow (exit status 1).
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: ArgumentHelp("The member, as pool/member.", valueName: "pool/member"))
    var target: MemberReference
    @Argument(help: ArgumentHelp("The new weight.", valueName: "n"))
    var weight: Int

    func validate() throws {
        guard weight >= 0 else { throw ValidationError("weight \(weight): a weight cannot be negative") }
    }

    func run() throws {
        try Conversation.relay(socket, .setWeight(pool: target.pool, member: target.member, weight: weight))
    }
}

struct ShutdownSessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shutdown-sessions",
        abstract: "Close every open connection and UDP session of a member.",
        discussion: """
            Sends `shutdown sessions member POOL/MEMBER`. Usually follows `fulcrumctl maint` \
            or `fulcrumctl drain` when waiting for connections to end is not an option; on its \
            own it does not stop new ones.
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: ArgumentHelp("The member, as pool/member.", valueName: "pool/member"))
    var target: MemberReference

    func run() throws {
        try Conversation.relay(socket, .shutdownSessions(pool: target.pool, member: target.member))
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the configuration directory again, without a restart.",
        discussion: """
            Sends `reload`: fulcrumd reads and checks its configuration directory again (the \
            same checks and messages as `fulcrumd --check-config`) and applies it in place, all \
            of it or none of it. Listeners that stay keep their sockets and open connections; \
            members whose configuration is unchanged keep their health status and run-time \
            overrides (drain, maint, weight). \
            On success it prints `reloaded in N ms:` with a summary, then one line per change, \
            and exits 0. A refused reload changes nothing: every problem is printed on standard \
            error (file:line: message) and the exit status is 1. Exit status 2: no daemon on \
            the socket, or no reply within --timeout (the reload may still complete). \
            `systemctl reload fulcrumd` checks the configuration, then sends SIGHUP, which \
            takes the same path.
            """)

    @OptionGroup var socket: SocketOptions
    /// Generous: loading and checking even tens of thousands of listeners takes seconds, so
    /// only a stuck daemon takes this long; a deploy script then fails instead of hanging.
    @Option(help: ArgumentHelp("Seconds to wait for the daemon's reply.", valueName: "seconds"))
    var timeout = 120

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout \(timeout): allowed 1 or more seconds") }
    }

    func run() throws {
        try Conversation.relay(socket, .reload, replyTimeout: timeout)
    }
}

struct Stat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the raw statistics: CSV, or JSON with --json.",
        discussion: """
            Sends `show stat` (CSV with a `# ` header line, HAProxy's field names) or \
            `show stat json`, for scripts. Find columns by their header name, not position: \
            fields may be added.
            """)

    @OptionGroup var socket: SocketOptions
    @Flag(help: "JSON instead of CSV.")
    var json = false

    func run() throws {
        try Conversation.relay(socket, .showStat(json: json))
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the daemon's version, pid, uptime and configuration files.",
        discussion: "Sends `show info`.")

    @OptionGroup var socket: SocketOptions

    func run() throws { try Conversation.relay(socket, .showInfo) }
}

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the metrics in Prometheus text format.",
        discussion: "Sends `show metrics`: the same text the HTTP endpoint serves at /metrics.")

    @OptionGroup var socket: SocketOptions

    func run() throws { try Conversation.relay(socket, .showMetrics) }
}

struct HA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ha",
        abstract: "Print the high-availability state of this node.",
        discussion: "Sends `show ha`.")

    @OptionGroup var socket: SocketOptions

    func run() throws { try Conversation.relay(socket, .showHA) }
}
