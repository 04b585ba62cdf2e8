import ArgumentParser
import FulcrumStatus
import Glibc

/// How every subcommand turns the socket conversation into output and an exit status:
/// 0 answered, 1 refused (`error:` reply on stderr), 2 no answer (reason on stderr).
enum Conversation {
    static func connect(_ options: SocketOptions, replyTimeout: Int? = nil) throws -> StatusClient {
        do {
            return try StatusClient(path: options.resolvedPath, replyTimeout: replyTimeout)
        } catch {
            throw fail(error)
        }
    }

    /// Sends `command` and returns its reply; a refusal or a lost connection exits. A refusal is
    /// printed whole: a refused reload sends one `error:` line per problem.
    static func ask(_ client: StatusClient, _ command: StatusCommand) throws -> Reply {
        let reply: Reply
        do {
            reply = try client.ask(command.wireLine)
        } catch {
            throw fail(error)
        }
        if reply.isError {
            printError(reply.text)
            throw ExitCode(1)
        }
        return reply
    }

    /// Like `ask`, but a refusal is nil instead of exit status 1: for optional extras.
    static func askTolerant(_ client: StatusClient, _ command: StatusCommand) throws -> Reply? {
        do {
            let reply = try client.ask(command.wireLine)
            return reply.isError ? nil : reply
        } catch {
            throw fail(error)
        }
    }

    /// One command on a fresh connection, its reply printed as the daemon wrote it.
    static func relay(_ options: SocketOptions, _ command: StatusCommand, replyTimeout: Int? = nil) throws {
        let client = try connect(options, replyTimeout: replyTimeout)
        let reply = try ask(client, command)
        if !reply.lines.isEmpty { print(reply.text) }
    }

    static func fail(_ failure: ClientFailure) -> ExitCode {
        printError("fulcrumctl: \(failure)")
        return ExitCode(2)
    }
}

/// stderr without Foundation. One write per message, so lines from concurrent tools don't mix.
func printError(_ message: String) {
    let text = message + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}
