import FulcrumAddress
#if canImport(Glibc)
import Glibc
#endif

/// `[pool.NAME.healthmonitor]`: Octavia's attributes and defaults, plus what the peers lack —
/// TLS verification for HTTPS and a payload check for UDP-CONNECT.
enum HealthMonitorSchema {
    static let keys = ["type", "delay", "timeout", "max_retries", "max_retries_down", "admin_state_up",
                       "http_method", "url_path", "expected_codes", "http_version", "domain_name",
                       "tls_verify", "tls_ca_file",
                       "udp_send", "udp_send_hex", "udp_expect", "udp_expect_hex", "udp_expect_regex"]
    static let httpKeys = ["http_method", "url_path", "expected_codes", "http_version", "domain_name"]
    static let tlsKeys = ["tls_verify", "tls_ca_file"]
    static let udpKeys = ["udp_send", "udp_send_hex", "udp_expect", "udp_expect_hex", "udp_expect_regex"]
    /// The largest UDP payload over IPv4 (65,535 - 8 UDP - 20 IP header bytes), for sends and expectations.
    static let maxDatagramBytes = 65_507
    /// A CA bundle is a few hundred KB (Debian's ca-certificates.crt: ~220 KB); more is not a bundle.
    static let maxCAFileBytes = 16 << 20

    /// The monitor; `.some(nil)` when absent or switched off (admin_state_up = false); nil when invalid.
    static func decode(_ pool: TableReader) -> HealthMonitor?? {
        guard pool.entries["healthmonitor"] != nil else { return .some(nil) }
        guard let table = pool.table("healthmonitor", expected: "a table [\(dottedPath(pool.path)).healthmonitor]") else {
            return nil
        }
        table.rejectUnknownKeys(allowed: keys)
        let types = HealthMonitorType.allCases.map(\.rawValue).joined(separator: ", ")
        let type = table.plainString("type", expected: "a string (\(types))", default: nil as HealthMonitorType?) { text in
            guard let type = HealthMonitorType(rawValue: text) else {
                return .invalid("\(quoted(text)) is not a health monitor type; allowed: \(types)")
            }
            return .valid(type)
        }
        let delay = table.seconds("delay", min: 0.01, max: 86_400, default: nil)
        let timeout = table.seconds("timeout", min: 0.001, max: 86_400, default: nil)
        let maxRetries = table.integer("max_retries", 1...10, default: HealthMonitor.defaultMaxRetries)
        let maxRetriesDown = table.integer("max_retries_down", 1...10, default: HealthMonitor.defaultMaxRetriesDown)
        let enabled = table.boolean("admin_state_up", default: true)
        if let delay, let timeout, timeout >= delay {
            table.report("timeout", "\(secondsText(milliseconds: timeout)) s is not less than delay \(secondsText(milliseconds: delay)) s; "
                + "allowed: a timeout shorter than the delay, so one check ends before the next begins")
        }
        if let type { rejectKeysNotFor(type, table) }

        let methods = HealthMonitor.httpMethods.joined(separator: ", ")
        let method = table.plainString("http_method", expected: "a string (\(methods))", default: "GET") { text -> Check<String> in
            HealthMonitor.httpMethods.contains(text) ? .valid(text)
                : .invalid("\(quoted(text)) is not an HTTP method; allowed: \(methods)")
        }
        let path = table.plainString("url_path", expected: "a string starting with \"/\"", default: "/") { text -> Check<String> in
            guard text.hasPrefix("/"), text.utf8.count <= 2048,
                  text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                return .invalid("\(quoted(text)) is not a URL path; allowed: \"/\" followed by printable ASCII "
                    + "without spaces, at most 2048 bytes")
            }
            return .valid(text)
        }
        let codes = table.plainString("expected_codes", expected: "a string such as \"200\", \"200,202\" or \"200-204\"",
                                 default: ExpectedCodes.default) { text -> Check<ExpectedCodes> in
            switch ExpectedCodes.parse(text) {
            case let .success(codes): return .valid(codes)
            case let .failure(error):
                return .invalid("\(quoted(text)) is not a list of status codes: \(error); "
                    + "allowed: a code, a list \"200,202\" or a range \"200-204\" (codes 100..599)")
            }
        }
        let version = decodeHTTPVersion(table)
        let domain = table.plainString("domain_name", expected: "a host name string", default: "") { text -> Check<String> in
            isHostName(text) ? .valid(text)
                : .invalid("\(quoted(text)) is not a host name; allowed: letters, digits, \"-\" and \".\", "
                    + "labels of 1..63 characters, at most 253 in all")
        }
        if type?.isHTTP ?? false, let version, version == .v1_0, let domain, !domain.isEmpty {
            table.report("domain_name", "domain_name is sent as the Host header, which needs http_version 1.1; "
                + "allowed: set http_version = \"1.1\" or remove domain_name")
        }
        let verify = table.boolean("tls_verify", default: false)
        let caFile = table.plainString("tls_ca_file", expected: "an absolute path string", default: "") { text -> Check<String> in
            guard text.hasPrefix("/") else {
                return .invalid("\(quoted(text)) is not an absolute path; allowed: the path of a PEM bundle such as "
                    + "\"/etc/ssl/certs/ca-certificates.crt\"")
            }
            // Found now rather than when the checker starts, so --check-config catches it: a
            // directory or a device passes access(R_OK) but is no CA bundle.
            if let problem = readableFileProblem(text, maxBytes: maxCAFileBytes, allowed: "a readable PEM bundle") {
                return .invalid(problem)
            }
            return .valid(text)
        }
        if let caFile, !caFile.isEmpty, verify == false {
            table.report("tls_ca_file", "tls_ca_file is only used when tls_verify = true; allowed: set tls_verify = true "
                + "or remove tls_ca_file")
        }
        let send = decodeBytes(table, text: "udp_send", hex: "udp_send_hex")
        let expect = decodeExpectation(table)

        guard let type, let delay, let timeout, timeout < delay, let maxRetries, let maxRetriesDown, let enabled,
              let method, let path, let codes, let version, let domain, let verify, let caFile,
              let send, let expect else { return nil }
        if !enabled { return .some(nil) }
        var monitor = HealthMonitor(type: type, delayMs: delay, timeoutMs: timeout,
                                    maxRetries: maxRetries, maxRetriesDown: maxRetriesDown)
        monitor.httpMethod = method
        monitor.urlPath = path
        monitor.expectedCodes = codes
        monitor.httpVersion = version
        monitor.domainName = domain.isEmpty ? nil : domain
        monitor.tlsVerify = verify
        monitor.tlsCAFile = caFile.isEmpty ? nil : caFile
        monitor.udpSend = send.value
        monitor.udpExpect = expect.value
        return .some(monitor)
    }

    /// Keys that mean nothing for this type are errors, not silently ignored settings.
    private static func rejectKeysNotFor(_ type: HealthMonitorType, _ table: TableReader) {
        var applicable: [String: String] = [:]
        for key in httpKeys { applicable[key] = "HTTP and HTTPS" }
        for key in udpKeys { applicable[key] = "UDP-CONNECT" }
        for key in tlsKeys { applicable[key] = "HTTPS" }
        let allowed: Set<String>
        switch type {
        case .http: allowed = Set(httpKeys)
        case .https: allowed = Set(httpKeys + tlsKeys)
        // TLS-HELLO stops at the ServerHello, before any certificate: nothing to verify.
        case .tlsHello: allowed = ["domain_name"]
        case .udpConnect: allowed = Set(udpKeys)
        case .ping, .tcp: allowed = []
        }
        for key in table.entries.keys.sorted() {
            guard let owners = applicable[key], !allowed.contains(key) else { continue }
            // TLS-HELLO takes domain_name too (sent as SNI).
            let who = key == "domain_name" ? "HTTP, HTTPS and TLS-HELLO" : owners
            table.report(key, "\(key) applies only to \(who) monitors, not \(type.rawValue); remove it")
        }
    }

    private static func decodeHTTPVersion(_ table: TableReader) -> HTTPVersion? {
        table.value("http_version", expected: "1.0 or 1.1", default: HTTPVersion.v1_0) { node -> Check<HTTPVersion> in
            let text: String
            switch node.value {
            case let .float(number): text = number == 1.0 ? "1.0" : (number == 1.1 ? "1.1" : String(number))
            case let .string(string): text = string
            default: return .wrongType
            }
            guard let version = HTTPVersion(rawValue: text) else {
                return .invalid("\(node.rendered) is not a supported HTTP version; allowed: 1.0, 1.1")
            }
            return .valid(version)
        }
    }

    /// A payload given as text (`key`) or as hex digits (`hex`), not both. Empty when neither.
    private static func decodeBytes(_ table: TableReader, text: String, hex: String) -> (value: [UInt8], Void)? {
        if table.entries[text] != nil, table.entries[hex] != nil {
            table.report(hex, "\(text) and \(hex) are both set; allowed: one of them")
            return nil
        }
        // One limit for both spellings: the payload is the same datagram either way.
        func fits(_ bytes: [UInt8]) -> Check<[UInt8]> {
            bytes.count <= maxDatagramBytes ? .valid(bytes)
                : .invalid("\(bytes.count) bytes do not fit in one datagram; allowed: at most \(maxDatagramBytes)")
        }
        if table.entries[hex] != nil {
            let bytes = table.string(hex, expected: "a string of hex digits such as \"0a1b2c\"", default: nil as [UInt8]?) { s in
                guard let bytes = parseHex(s) else {
                    return .invalid("\(quoted(s)) is not hex; allowed: pairs of hex digits, spaces and \":\" ignored")
                }
                return fits(bytes)
            }
            return bytes.map { ($0, ()) }
        }
        // Text payloads may hold any byte, control characters included: it is what goes on the wire.
        let bytes = table.string(text, expected: "a string", default: [UInt8]()) { s in fits(Array(s.utf8)) }
        return bytes.map { ($0, ()) }
    }

    private static func decodeExpectation(_ table: TableReader) -> (value: UDPExpectation?, Void)? {
        let set = ["udp_expect", "udp_expect_hex", "udp_expect_regex"].filter { table.entries[$0] != nil }
        if set.count > 1 {
            table.report(set[1], "\(set.joined(separator: " and ")) are all set; allowed: one of them")
            return nil
        }
        if table.entries["udp_expect_regex"] != nil {
            let pattern = table.string("udp_expect_regex", expected: "a regular expression string", default: nil as String?) { s in
                guard !s.isEmpty else { return .invalid("an empty pattern matches anything; remove the key instead") }
                do {
                    _ = try Regex(s)
                    return .valid(s)
                } catch {
                    return .invalid("\(quoted(s)) is not a valid regular expression: \(error)")
                }
            }
            return pattern.map { (.regex($0), ()) }
        }
        guard let bytes = decodeBytes(table, text: "udp_expect", hex: "udp_expect_hex") else { return nil }
        if set.isEmpty { return (nil, ()) }
        if bytes.value.isEmpty {
            table.report(set[0], "an empty expectation matches any reply; allowed: at least one byte")
            return nil
        }
        return (.prefix(bytes.value), ())
    }
}

func parseHex(_ text: String) -> [UInt8]? {
    var digits: [UInt8] = []
    for byte in text.utf8 where byte != UInt8(ascii: " ") && byte != UInt8(ascii: ":") {
        switch byte {
        case 48...57: digits.append(byte - 48)
        case 97...102: digits.append(byte - 87)
        case 65...70: digits.append(byte - 55)
        default: return nil
        }
    }
    guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
    return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
}

func isHostName(_ text: String) -> Bool {
    guard (1...253).contains(text.utf8.count) else { return false }
    return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
        (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
            && label.utf8.allSatisfy { b in
                (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) || b == UInt8(ascii: "-")
            }
    }
}

/// Milliseconds as the seconds an operator wrote: "5", "0.5".
public func secondsText(milliseconds ms: Int) -> String {
    ms % 1000 == 0 ? String(ms / 1000) : String(Double(ms) / 1000)
}
