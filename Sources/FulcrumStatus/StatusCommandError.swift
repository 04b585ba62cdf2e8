/// Why a status-socket line is not a command: one printable line naming what was wrong and
/// what is allowed. The server sends it as `error: <message>`.
public struct StatusCommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
