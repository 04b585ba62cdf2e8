import ArgumentParser
import FulcrumStatus

/// `fulcrumctl anycast [show|withdraw|announce]`: the anycast VIPs, and the node drain that
/// takes them out of BGP before maintenance. Nested like `git remote`, with `show` the
/// default, so the plain command reads and only a named verb changes anything.
struct Anycast: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "anycast",
        abstract: "Show the anycast VIPs, or withdraw or announce them.",
        discussion: """
            Without a subcommand, the same as `fulcrumctl anycast show`. The VIPs are on \
            fulcrumd's anycast interface while their announce_when condition holds, and BIRD \
            exports them into BGP from there.
            """,
        subcommands: [AnycastShow.self, AnycastWithdraw.self, AnycastAnnounce.self],
        defaultSubcommand: AnycastShow.self)
}

struct AnycastShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the anycast VIPs: announced or not, since when, and why.",
        discussion: """
            Sends `show anycast`: a line with the interface, announce_when, hold_down and \
            withdraw_grace, then one row per VIP. Without an [anycast] section the daemon \
            answers `anycast: disabled` (exit status 0).
            """)

    @OptionGroup var socket: SocketOptions

    func run() throws { try Conversation.relay(socket, .showAnycast) }
}

struct AnycastWithdraw: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "withdraw",
        abstract: "Take an anycast VIP, or every VIP, off the interface and keep it off.",
        discussion: """
            Sends `anycast withdraw [VIP]`. The address leaves the interface at once (no \
            hold_down), so BGP withdraws its route and routers send new flows to other \
            nodes; what still reaches this node is served (a flow the routers move to \
            another node breaks: it is not known there). It stays off, whatever announce_when \
            says, until `fulcrumctl anycast announce`. Run-time state does not survive a \
            restart of fulcrumd.
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: ArgumentHelp("The VIP, as listed by `fulcrumctl anycast`; every VIP when left out.",
                                 valueName: "vip"))
    var vip: VIPArgument?

    func run() throws { try Conversation.relay(socket, .anycast(steer: .withdraw, vip: vip?.text)) }
}

struct AnycastAnnounce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "announce",
        abstract: "Undo withdraw: an anycast VIP, or every VIP, follows announce_when again.",
        discussion: """
            Sends `anycast announce [VIP]`. The VIP goes back on the interface at once if its \
            announce_when condition has held for hold_down already, otherwise when it does.
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: ArgumentHelp("The VIP, as listed by `fulcrumctl anycast`; every VIP when left out.",
                                 valueName: "vip"))
    var vip: VIPArgument?

    func run() throws { try Conversation.relay(socket, .anycast(steer: .announce, vip: vip?.text)) }
}

/// A VIP sent inside a command line. Only the shape is checked here, as for member names:
/// whether it is an address, and one of the configured VIPs, is the daemon's call (exit
/// status 1). Whitespace and control characters are refused because a newline would start a
/// second command.
struct VIPArgument: ExpressibleByArgument {
    let text: String

    init?(argument: String) {
        guard !argument.isEmpty,
              !argument.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else { return nil }
        text = argument
    }
}
