/// The outcome of one check, in HAProxy's terms so operators read it the way they already do:
/// the layer that answered (L3 ICMP, L4 TCP/UDP, L6 TLS, L7 HTTP/payload) and what it said.
public struct CheckResult: Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case l3ok = "L3OK"        // ICMP echo reply
        case l3tout = "L3TOUT"    // no echo reply within timeout
        case l3unr = "L3UNR"      // ICMP unreachable / no route
        case l4ok = "L4OK"
        case l4tout = "L4TOUT"
        case l4con = "L4CON"      // refused, reset, unreachable, ICMP port unreachable
        case l6ok = "L6OK"
        case l6tout = "L6TOUT"
        case l6rsp = "L6RSP"      // TLS alert, handshake failure, not TLS
        case l7ok = "L7OK"
        case l7tout = "L7TOUT"
        case l7rsp = "L7RSP"      // malformed or unexpected reply
        case l7sts = "L7STS"      // HTTP status not in expected_codes
        case sockerr = "SOCKERR"  // a local failure (no socket, no descriptors): not the member's fault
    }

    public var code: Code
    /// Short cause: "connection refused", "503", "TLS alert handshake failure".
    public var detail: String
    /// From the check's start to its verdict.
    public var latencyMs: Double

    public init(_ code: Code, _ detail: String = "", latencyMs: Double = 0) {
        self.code = code
        self.detail = detail
        self.latencyMs = latencyMs
    }

    public var passed: Bool {
        switch code {
        case .l3ok, .l4ok, .l6ok, .l7ok: return true
        default: return false
        }
    }

    /// "L4CON connection refused", "L7STS 503".
    public var description: String { detail.isEmpty ? code.rawValue : "\(code.rawValue) \(detail)" }
}
