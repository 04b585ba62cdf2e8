import Foundation
import FulcrumTOML
import XCTest

/// toml-test 1.0.0 corpus (see toml-test/README.txt): every valid document decodes to the
/// expected tagged JSON, every invalid one is refused with a position, nothing crashes or hangs.
final class ConformanceTests: XCTestCase {
    /// Corpus files this parser deliberately disagrees with, and why. Empty: 100% conformance.
    static let excludedValid: [String: String] = [:]
    static let excludedInvalid: [String: String] = [:]

    var corpus: URL {
        get throws {
            try XCTUnwrap(Bundle.module.url(forResource: "toml-test", withExtension: nil))
        }
    }

    func files(_ dir: String) throws -> [String] {
        let base = try corpus.appendingPathComponent(dir)
        guard let e = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var out: [String] = []
        while let p = e.nextObject() as? String {
            if p.hasSuffix(".toml") { out.append(dir + "/" + p) }
        }
        return out.sorted()
    }

    func testValidCorpus() throws {
        let root = try corpus
        let all = try files("valid")
        XCTAssertGreaterThan(all.count, 90)
        var passed = 0
        var failures: [String] = []
        for rel in all {
            if Self.excludedValid[rel] != nil { continue }
            let bytes = try [UInt8](Data(contentsOf: root.appendingPathComponent(rel)))
            let jsonURL = root.appendingPathComponent(String(rel.dropLast(5)) + ".json")
            let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonURL), options: [.fragmentsAllowed])
            do {
                let table = try TOMLParser.parse(bytes, file: rel)
                if let problem = Self.compare(.table(table), expected, path: "") {
                    failures.append("\(rel): \(problem)")
                } else {
                    passed += 1
                }
            } catch {
                failures.append("\(rel): refused: \(error)")
            }
        }
        let considered = all.count - Self.excludedValid.count
        print("toml-test: valid decoded \(passed)/\(considered) (\(Self.excludedValid.count) excluded)")
        XCTAssertEqual(passed, considered, failures.joined(separator: "\n"))
    }

    func testInvalidCorpus() throws {
        let root = try corpus
        let all = try files("invalid")
        XCTAssertGreaterThan(all.count, 150)
        var refused = 0
        var failures: [String] = []
        for rel in all {
            if Self.excludedInvalid[rel] != nil { continue }
            let bytes = try [UInt8](Data(contentsOf: root.appendingPathComponent(rel)))
            do {
                _ = try TOMLParser.parse(bytes, file: rel)
                failures.append("\(rel): accepted")
            } catch {
                let lines = bytes.filter { $0 == 0x0A }.count + 1
                if error.position.line >= 1, error.position.column >= 1, error.position.line <= lines,
                   error.position.file == rel, !error.message.isEmpty {
                    refused += 1
                } else {
                    failures.append("\(rel): bad position \(error)")
                }
            }
        }
        let considered = all.count - Self.excludedInvalid.count
        print("toml-test: invalid refused \(refused)/\(considered) (\(Self.excludedInvalid.count) excluded)")
        XCTAssertEqual(refused, considered, failures.joined(separator: "\n"))
    }

    // MARK: Tagged-JSON comparison

    static func compare(_ value: TOMLValue, _ expected: Any, path: String) -> String? {
        switch value {
        case .table(let t):
            guard let dict = expected as? [String: Any] else { return "\(path): table, expected \(expected)" }
            if Set(dict.keys) != Set(t.keys) || t.keys.count != t.entries.count {
                return "\(path): keys \(t.keys.sorted()) != \(dict.keys.sorted())"
            }
            for key in t.keys {
                if let problem = compare(t.entries[key]!.value, dict[key]!, path: path + "." + key) { return problem }
            }
            return nil
        case .array(let items):
            var list = expected as? [Any]
            if list == nil, let tagged = expected as? [String: Any], tagged["type"] as? String == "array" {
                list = tagged["value"] as? [Any]
            }
            guard let list else { return "\(path): array, expected \(expected)" }
            guard list.count == items.count else { return "\(path): \(items.count) items, expected \(list.count)" }
            for (k, item) in items.enumerated() {
                if let problem = compare(item.value, list[k], path: "\(path)[\(k)]") { return problem }
            }
            return nil
        default:
            guard let tagged = expected as? [String: Any], let type = tagged["type"] as? String,
                  let text = tagged["value"] as? String else {
                return "\(path): scalar \(value), expected \(expected)"
            }
            switch (value, type) {
            case (.string(let s), "string"):
                return s == text ? nil : "\(path): \(s.debugDescription) != \(text.debugDescription)"
            case (.integer(let v), "integer"):
                return Int64(text) == v ? nil : "\(path): \(v) != \(text)"
            case (.float(let v), "float"):
                let lower = text.lowercased()
                if lower.hasSuffix("nan") { return v.isNaN ? nil : "\(path): \(v) != nan" }
                let e: Double? = lower == "inf" || lower == "+inf" ? .infinity : lower == "-inf" ? -.infinity : Double(text)
                return e == v ? nil : "\(path): \(v) != \(text)"
            case (.boolean(let v), "bool"):
                return String(v) == text ? nil : "\(path): \(v) != \(text)"
            case (.offsetDateTime, "datetime"), (.localDateTime, "datetime-local"),
                 (.localDate, "date-local"), (.localTime, "time-local"),
                 (.localDate, "date"), (.localTime, "time"):
                let mine = render(value)
                let theirs = normalise(text)
                return mine == theirs ? nil : "\(path): \(mine) != \(theirs) (\(text))"
            default:
                return "\(path): \(value) is not a \(type) \(text)"
            }
        }
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    static func render(_ date: TOMLDate) -> String { "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))" }

    static func render(_ time: TOMLTime) -> String {
        var s = "\(pad(time.hour, 2)):\(pad(time.minute, 2)):\(pad(time.second, 2))"
        if time.nanosecond > 0 {
            var frac = pad(time.nanosecond, 9)
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        return s
    }

    static func render(_ value: TOMLValue) -> String {
        switch value {
        case .offsetDateTime(let d, let t, let off):
            let zone = off == 0 ? "Z" : (off < 0 ? "-" : "+") + pad(abs(off) / 60, 2) + ":" + pad(abs(off) % 60, 2)
            return render(d) + "T" + render(t) + zone
        case .localDateTime(let d, let t): return render(d) + "T" + render(t)
        case .localDate(let d): return render(d)
        case .localTime(let t): return render(t)
        default: return "\(value)"
        }
    }

    /// The expectation in the same canonical form: `T`, upper case, fraction without trailing
    /// zeros (at most nanoseconds), `Z` for a zero offset.
    static func normalise(_ text: String) -> String {
        var chars = Array(text.uppercased())
        if chars.count > 10, chars[10] == " " { chars[10] = "T" }
        var s = String(chars)
        if s.hasSuffix("+00:00") || s.hasSuffix("-00:00") { s = String(s.dropLast(6)) + "Z" }
        if let dot = s.firstIndex(of: ".") {
            var end = s.index(after: dot)
            while end < s.endIndex, s[end].isNumber { end = s.index(after: end) }
            var frac = String(s[s.index(after: dot)..<end].prefix(9))
            while frac.hasSuffix("0") { frac.removeLast() }
            s = String(s[..<dot]) + (frac.isEmpty ? "" : "." + frac) + String(s[end...])
        }
        return s
    }
}
