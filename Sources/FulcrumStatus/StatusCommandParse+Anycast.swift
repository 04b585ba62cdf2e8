/// `anycast withdraw [VIP]` and `anycast announce [VIP]`: the steering half of the anycast
/// grammar (`show anycast` is with the other shows).
extension StatusCommand {
    static let anycastUsage = "usage: anycast withdraw [VIP], or anycast announce [VIP]"

    static func parseAnycast(_ args: [Substring]) -> Result<StatusCommand, StatusCommandError> {
        guard let verb = args.first else { return .failure(StatusCommandError(anycastUsage)) }
        guard let steer = AnycastSteer(rawValue: String(verb)) else {
            let allowed = AnycastSteer.allCases.map(\.rawValue).joined(separator: ", ")
            return .failure(StatusCommandError("anycast \(EchoedText.quoted(verb)): allowed \(allowed)"))
        }
        guard args.count <= 2 else { return .failure(StatusCommandError(anycastUsage)) }
        guard args.count == 2 else { return .success(.anycast(steer: steer, vip: nil)) }
        return checkVIP(args[1]).map { .anycast(steer: steer, vip: $0) }
    }

    /// One IPv4 or IPv6 address, no prefix length (a VIP is always one address), in the text
    /// `show anycast` lists it with.
    static func checkVIP(_ text: Substring) -> Result<String, StatusCommandError> {
        guard let vip = IPLiteral.canonical(text) else {
            return .failure(StatusCommandError(
                "VIP \(EchoedText.quoted(text)): expected one IPv4 or IPv6 address, like 192.0.2.10 or 2001:db8::10"))
        }
        return .success(vip)
    }
}
