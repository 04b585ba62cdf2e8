import FulcrumAddress

/// Octavia's health monitor types.
public enum HealthMonitorType: String, Sendable, Equatable, CaseIterable {
    case ping = "PING"
    case tcp = "TCP"
    case http = "HTTP"
    case https = "HTTPS"
    case tlsHello = "TLS-HELLO"
    case udpConnect = "UDP-CONNECT"

    public var isHTTP: Bool { self == .http || self == .https }
}

/// `expected_codes`: one status ("200"), a list ("200,202") or ranges ("200-204"), mixed freely.
public struct ExpectedCodes: Sendable, Equatable, CustomStringConvertible {
    public let ranges: [ClosedRange<Int>]
    public let description: String

    public static let `default` = ExpectedCodes(ranges: [200...200], description: "200")

    init(ranges: [ClosedRange<Int>], description: String) {
        self.ranges = ranges
        self.description = description
    }

    public func contains(_ code: Int) -> Bool {
        ranges.contains { $0.contains(code) }
    }

    /// The codes, or why the text is not a code list.
    public static func parse(_ text: String) -> Result<ExpectedCodes, ExpectedCodesError> {
        var ranges: [ClosedRange<Int>] = []
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        for rawItem in items {
            let item = rawItem.trimmingSpaces()
            guard !item.isEmpty else { return .failure(.init("empty item in the list")) }
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count <= 2 else { return .failure(.init("\(quoted(String(item))) has more than one \"-\"")) }
            var numbers: [Int] = []
            for bound in bounds {
                let digits = bound.trimmingSpaces()
                guard digits.count == 3, digits.utf8.allSatisfy({ (48...57).contains($0) }), let code = Int(digits),
                      (100...599).contains(code) else {
                    return .failure(.init("\(quoted(String(digits))) is not an HTTP status code 100..599"))
                }
                numbers.append(code)
            }
            let low = numbers[0], high = numbers.count == 2 ? numbers[1] : numbers[0]
            guard low <= high else { return .failure(.init("range \(low)-\(high) runs backwards")) }
            ranges.append(low...high)
        }
        return .success(ExpectedCodes(ranges: ranges, description: text))
    }
}

public struct ExpectedCodesError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}

/// What a UDP-CONNECT check requires of the member's reply.
public enum UDPExpectation: Sendable, Equatable {
    /// The reply starts with these bytes.
    case prefix([UInt8])
    /// The reply, read as ISO-8859-1 text (one character per byte), contains a match.
    case regex(String)
}

public enum HTTPVersion: String, Sendable, Equatable, CaseIterable {
    case v1_0 = "1.0"
    case v1_1 = "1.1"
}

/// `[pool.NAME.healthmonitor]`. Times are kept in milliseconds; the config gives seconds.
public struct HealthMonitor: Sendable, Equatable {
    public var type: HealthMonitorType
    public var delayMs: Int
    public var timeoutMs: Int
    /// Consecutive successes for ERROR -> ONLINE.
    public var maxRetries: Int
    /// Consecutive failures for ONLINE -> ERROR.
    public var maxRetriesDown: Int
    public var httpMethod: String
    public var urlPath: String
    public var expectedCodes: ExpectedCodes
    public var httpVersion: HTTPVersion
    public var domainName: String?
    /// HTTPS/TLS-HELLO: verify the member's certificate (Octavia does not; default false).
    public var tlsVerify: Bool
    /// PEM bundle to verify against; nil = the system store.
    public var tlsCAFile: String?
    /// UDP-CONNECT: the datagram sent (default empty).
    public var udpSend: [UInt8]
    /// UDP-CONNECT: nil = only an ICMP port unreachable fails the check.
    public var udpExpect: UDPExpectation?

    public init(type: HealthMonitorType, delayMs: Int = 5000, timeoutMs: Int = 3000,
                maxRetries: Int = HealthMonitor.defaultMaxRetries, maxRetriesDown: Int = HealthMonitor.defaultMaxRetriesDown) {
        self.type = type
        self.delayMs = delayMs
        self.timeoutMs = timeoutMs
        self.maxRetries = maxRetries
        self.maxRetriesDown = maxRetriesDown
        httpMethod = "GET"
        urlPath = "/"
        expectedCodes = .default
        httpVersion = .v1_0
        domainName = nil
        tlsVerify = false
        tlsCAFile = nil
        udpSend = []
        udpExpect = nil
    }

    public static let defaultMaxRetries = 3
    public static let defaultMaxRetriesDown = 3
    public static let httpMethods = ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]
}

/// What happens to a member's open TCP connections when its health monitor marks it down.
public enum OnMemberDown: String, Sendable, Equatable, CaseIterable {
    /// Existing connections carry on (HAProxy's default); only new ones avoid the member.
    case keep
    /// Existing connections are closed at once (HAProxy's on-marked-down shutdown-sessions).
    case shutdownSessions = "shutdown_sessions"
}
