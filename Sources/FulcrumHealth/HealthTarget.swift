import CFulcrumTLS
import FulcrumAddress
import FulcrumConfig
import FulcrumSystem

/// What every check of one pool's monitor shares: the settings, and the TLS context built
/// once for HTTPS.
final class MonitorPlan {
    let pool: Int
    let poolName: String
    let monitor: HealthMonitor
    let tls: OpaquePointer?
    /// Compiled once: a bad pattern was already refused by the config check.
    let expectRegex: Regex<AnyRegexOutput>?
    /// on_member_down = shutdown_sessions.
    let shutdownSessions: Bool
    /// Carried over a reload unchanged: its settings were logged when it first started.
    var kept = false

    init(pool: Int, poolName: String, monitor: HealthMonitor, shutdownSessions: Bool) throws(HealthSetupError) {
        self.pool = pool
        self.shutdownSessions = shutdownSessions
        self.poolName = poolName
        self.monitor = monitor
        if monitor.type == .https {
            guard let context = cft_client_context(monitor.tlsVerify ? 1 : 0, monitor.tlsCAFile) else {
                throw HealthSetupError(message: "pool \(poolName): cannot set up TLS for HTTPS checks: \(lastTLSError())")
            }
            tls = context
        } else {
            tls = nil
        }
        if case let .regex(pattern)? = monitor.udpExpect {
            // Scalar semantics: one character per byte of the reply (the default, grapheme
            // clusters, would make "\r\n" a single character).
            expectRegex = (try? Regex(pattern))?.matchingSemantics(.unicodeScalar)
        } else {
            expectRegex = nil
        }
    }

    deinit {
        if let tls { SSL_CTX_free(tls) }
    }
}

public struct HealthSetupError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

func lastTLSError() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    cft_last_error(&buffer, buffer.count)
    let text = String(cString: buffer)
    return text.isEmpty ? "no detail from OpenSSL" : text
}

/// One monitored member and the single check it may have in flight. Buffers are allocated
/// once here and reused by every check.
final class HealthTarget {
    enum Phase {
        case idle, connecting, handshaking, sending, receiving, awaitingDatagram
    }

    let index: Int32
    let plan: MonitorPlan
    let member: Int
    let memberName: String
    /// Where checks go (monitor_address/monitor_port, else the member's own).
    let endpoint: Endpoint
    let address: SocketAddress
    /// The checked address as text, for certificate verification without a domain_name.
    let addressText: String
    let weight: Int
    /// The bytes an HTTP, TLS-HELLO or UDP-CONNECT check sends; fixed per target.
    let request: [UInt8]
    var tracker: HealthTracker
    var lastResult: CheckResult?

    // The running check.
    var phase = Phase.idle
    var serial: UInt32 = 0
    var fd: Int32 = -1
    var ssl: OpaquePointer?
    var startedNs: UInt64 = 0
    var sent = 0
    var received = 0
    var drained = 0
    /// PING over a raw socket (no unprivileged ICMP socket here): replies carry the IPv4 header.
    var rawICMP = false
    var buffer: [UInt8]
    /// Set once an HTTP status arrived: what is left is the body, read only to be polite.
    var verdict: CheckResult?
    /// OpenSSL's reason when a TLS read or write failed after the handshake.
    var tlsFailure: String?
    /// When this target's next check was due (the heap's start time), to notice lateness.
    var dueMs: Int64 = 0
    /// Set when a reload carried this member's state over: when the old checker's next
    /// check was due, so the new one keeps the member's cadence (HealthChecker.run).
    var carriedDueMs: Int64?

    static let bufferSize = 4096

    init(index: Int32, plan: MonitorPlan, member: Int, config: Member) {
        self.index = index
        self.plan = plan
        self.member = member
        memberName = config.name
        endpoint = config.monitorEndpoint
        address = SocketAddress(endpoint)
        addressText = "\(endpoint.address)"
        weight = config.weight
        tracker = HealthTracker(rise: plan.monitor.maxRetries, fall: plan.monitor.maxRetriesDown)
        buffer = [UInt8](repeating: 0, count: HealthTarget.bufferSize)
        let monitor = plan.monitor
        switch monitor.type {
        case .http, .https:
            // HTTP/1.1 needs a Host: the domain name, else the address checked, with its port
            // unless it is the scheme's default (RFC 9110, 7.2).
            let host: String?
            if let domain = monitor.domainName {
                host = domain
            } else if monitor.httpVersion == .v1_1 {
                let address = endpoint.address
                let text = address.isIPv4 ? "\(address)" : "[\(address)]"
                let defaultPort: UInt16 = monitor.type == .https ? 443 : 80
                host = endpoint.port == defaultPort ? text : "\(text):\(endpoint.port)"
            } else {
                host = nil
            }
            request = HTTPCheckRequest.encode(method: monitor.httpMethod, path: monitor.urlPath,
                                              version: monitor.httpVersion.rawValue, host: host)
        case .tlsHello:
            var random = SystemRandomNumberGenerator()
            let bytes = { (n: Int) in (0..<n).map { _ in UInt8.random(in: 0...255, using: &random) } }
            request = TLSClientHello.encode(serverName: monitor.domainName, random: bytes(32), keyShare: bytes(32))
        case .udpConnect:
            request = monitor.udpSend
        case .ping, .tcp:
            request = []
        }
    }

    /// "web/app2 127.0.0.1:8080" for log lines.
    var label: String { "\(plan.poolName)/\(memberName) \(endpoint)" }
}
