/// The status-socket grammar. Keywords are case-sensitive, words are separated by runs of
/// spaces or tabs, a trailing CR (telnet, `nc -C`) and blanks around the line are ignored.
extension StatusCommand {
    /// Pool and member names: what the config allows, checked again here so a reply never
    /// echoes odd bytes back as a name.
    static let nameMaxLength = 64

    /// The shape of a `show` request, for messages that list what is allowed.
    static let showTopics = "info, stat, stat json, members [POOL], ha, anycast, metrics"

    public static func parse(_ line: Substring) -> Result<StatusCommand, StatusCommandError> {
        var text = line
        if text.last == "\r" { text = text.dropLast() }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let first = words.first else { return .failure(StatusCommandError("empty command")) }
        let rest = words.dropFirst()
        let whole = words.joined(separator: " ")

        func unknown() -> Result<StatusCommand, StatusCommandError> {
            .failure(StatusCommandError("unknown command \(EchoedText.quoted(whole)); try \"help\""))
        }
        func noMore(_ command: StatusCommand, after used: Int, usage: String)
            -> Result<StatusCommand, StatusCommandError> {
            guard words.count > used else { return .success(command) }
            return .failure(StatusCommandError(
                "unexpected \(EchoedText.quoted(words[used])) after \"\(usage)\""))
        }

        switch first {
        case "help": return noMore(.help, after: 1, usage: "help")
        case "quit": return noMore(.quit, after: 1, usage: "quit")
        // No arguments: it reloads the directory the daemon was started with, never a path
        // sent over the socket (a writer of the socket must not pick files to read as root).
        case "reload": return noMore(.reload, after: 1, usage: "reload")
        case "show": return parseShow(Array(rest))
        case "anycast": return parseAnycast(Array(rest))
        case "set":
            guard rest.first == "member" else { return unknown() }
            return parseSetMember(Array(rest.dropFirst()))
        case "shutdown":
            guard rest.count >= 2, rest[rest.startIndex] == "sessions", rest[rest.startIndex + 1] == "member" else {
                return unknown()
            }
            let args = rest.dropFirst(2)
            guard args.count == 1, let target = args.first else {
                return .failure(StatusCommandError("usage: shutdown sessions member POOL/MEMBER"))
            }
            return parseMemberPath(target).map { .shutdownSessions(pool: $0.pool, member: $0.member) }
        default:
            return unknown()
        }
    }

    /// `show info|stat [json]|members [POOL]|ha|anycast|metrics`.
    private static func parseShow(_ args: [Substring]) -> Result<StatusCommand, StatusCommandError> {
        guard let topic = args.first else {
            return .failure(StatusCommandError("\"show\" needs one of: \(showTopics)"))
        }
        let extra = args.dropFirst()
        func only(_ command: StatusCommand) -> Result<StatusCommand, StatusCommandError> {
            guard let word = extra.first else { return .success(command) }
            return .failure(StatusCommandError("unexpected \(EchoedText.quoted(word)) after \"show \(topic)\""))
        }
        switch topic {
        case "info": return only(.showInfo)
        case "ha": return only(.showHA)
        case "anycast": return only(.showAnycast)
        case "metrics": return only(.showMetrics)
        case "stat":
            if extra.isEmpty { return .success(.showStat(json: false)) }
            if extra.count == 1 && extra.first == "json" { return .success(.showStat(json: true)) }
            return .failure(StatusCommandError(
                "unexpected \(EchoedText.quoted(extra.joined(separator: " "))) after \"show stat\"; allowed json"))
        case "members":
            guard let pool = extra.first else { return .success(.showMembers(pool: nil)) }
            guard extra.count == 1 else {
                return .failure(StatusCommandError("usage: show members [POOL]"))
            }
            return checkName(pool, kind: "pool").map { .showMembers(pool: $0) }
        default:
            return .failure(StatusCommandError(
                "unknown show \(EchoedText.quoted(topic)); allowed \(showTopics)"))
        }
    }

    /// `set member POOL/MEMBER state ready|drain|maint` and `set member POOL/MEMBER weight N`.
    private static func parseSetMember(_ args: [Substring]) -> Result<StatusCommand, StatusCommandError> {
        guard args.count == 3 else {
            return .failure(StatusCommandError(
                "usage: set member POOL/MEMBER state ready|drain|maint, or set member POOL/MEMBER weight N"))
        }
        let target: (pool: String, member: String)
        switch parseMemberPath(args[0]) {
        case .success(let path): target = path
        case .failure(let error): return .failure(error)
        }
        let value = args[2]
        switch args[1] {
        case "state":
            guard let state = AdminState(rawValue: String(value)) else {
                let allowed = AdminState.allCases.map(\.rawValue).joined(separator: ", ")
                return .failure(StatusCommandError("state \(EchoedText.quoted(value)): allowed \(allowed)"))
            }
            return .success(.setState(pool: target.pool, member: target.member, state: state))
        case "weight":
            guard let weight = parseWeight(value) else {
                return .failure(StatusCommandError("weight \(EchoedText.quoted(value)): allowed 0..256"))
            }
            return .success(.setWeight(pool: target.pool, member: target.member, weight: weight))
        default:
            return .failure(StatusCommandError(
                "setting \(EchoedText.quoted(args[1])): allowed state, weight"))
        }
    }

    /// Plain decimal digits only (no sign, no blanks) in 0...256; stops before it could overflow.
    static func parseWeight(_ text: Substring) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            if value > 256 { return nil }
        }
        return value
    }

    /// `POOL/MEMBER`: exactly one slash between two valid names.
    static func parseMemberPath(_ text: Substring) -> Result<(pool: String, member: String), StatusCommandError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            return .failure(StatusCommandError("\(EchoedText.quoted(text)): expected POOL/MEMBER"))
        }
        return checkName(parts[0], kind: "pool").flatMap { pool in
            checkName(parts[1], kind: "member").map { (pool: pool, member: $0) }
        }
    }

    /// 1...64 characters of A-Z a-z 0-9 _ . -
    static func checkName(_ text: Substring, kind: String) -> Result<String, StatusCommandError> {
        let valid = !text.isEmpty && text.utf8.count <= nameMaxLength && text.utf8.allSatisfy(isNameByte)
        guard valid else {
            return .failure(StatusCommandError(
                "\(kind) name \(EchoedText.quoted(text)): allowed 1..\(nameMaxLength) of A-Z a-z 0-9 _ . -"))
        }
        return .success(String(text))
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
