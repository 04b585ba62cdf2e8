import Foundation
import FulcrumTOML
import XCTest

func parse(_ text: String, limits: TOMLLimits = .standard) throws -> TOMLTable {
    try TOMLParser.parse(text, file: "t.toml", limits: limits)
}

/// The error a document is refused with (fails the test if it is accepted).
func refusal(_ text: String, limits: TOMLLimits = .standard, file: StaticString = #filePath, line: UInt = #line) -> TOMLError? {
    refusal(Array(text.utf8), limits: limits, file: file, line: line)
}

func refusal(_ bytes: [UInt8], limits: TOMLLimits = .standard, file: StaticString = #filePath, line: UInt = #line) -> TOMLError? {
    do {
        let t = try TOMLParser.parse(bytes, file: "t.toml", limits: limits)
        XCTFail("accepted: \(t)", file: file, line: line)
        return nil
    } catch {
        XCTAssertGreaterThanOrEqual(error.position.line, 1, file: file, line: line)
        XCTAssertGreaterThanOrEqual(error.position.column, 1, file: file, line: line)
        XCTAssertEqual(error.position.file, "t.toml", file: file, line: line)
        return error
    }
}

func at(_ line: Int, _ column: Int) -> TOMLPosition { TOMLPosition(file: "t.toml", line: line, column: column) }

final class ValueTests: XCTestCase {
    func testScalars() throws {
        let t = try parse("""
        s = "a\\tb\\u00e9\\U0001F600"
        l = 'C:\\path'
        ml = \"\"\"
        one \\
            two\"\"\"
        i = -9_223_372_036_854_775_808
        h = 0xDEAD_beef
        o = 0o755
        b = 0b1010
        f = 6.02e+23
        ni = -inf
        nn = nan
        yes = true
        odt = 1979-05-27 07:32:00.5-07:00
        ldt = 1979-05-27t07:32:00
        ld = 2000-02-29
        lt = 00:32:00.999999999999
        """)
        XCTAssertEqual(t["s"]?.value, .string("a\tbé😀"))
        XCTAssertEqual(t["l"]?.value, .string("C:\\path"))
        XCTAssertEqual(t["ml"]?.value, .string("one two"))
        XCTAssertEqual(t["i"]?.value, .integer(.min))
        XCTAssertEqual(t["h"]?.value, .integer(0xDEAD_BEEF))
        XCTAssertEqual(t["o"]?.value, .integer(0o755))
        XCTAssertEqual(t["b"]?.value, .integer(10))
        XCTAssertEqual(t["f"]?.value, .float(6.02e23))
        XCTAssertEqual(t["ni"]?.value, .float(-.infinity))
        if case .float(let v)? = t["nn"]?.value { XCTAssertTrue(v.isNaN) } else { XCTFail("nan") }
        XCTAssertEqual(t["yes"]?.value, .boolean(true))
        XCTAssertEqual(t["odt"]?.value, .offsetDateTime(TOMLDate(year: 1979, month: 5, day: 27),
                                                       TOMLTime(hour: 7, minute: 32, second: 0, nanosecond: 500_000_000),
                                                       offsetMinutes: -420))
        XCTAssertEqual(t["ldt"]?.value, .localDateTime(TOMLDate(year: 1979, month: 5, day: 27), TOMLTime(hour: 7, minute: 32, second: 0)))
        XCTAssertEqual(t["ld"]?.value, .localDate(TOMLDate(year: 2000, month: 2, day: 29)))
        XCTAssertEqual(t["lt"]?.value, .localTime(TOMLTime(hour: 0, minute: 32, second: 0, nanosecond: 999_999_999)))
        XCTAssertEqual(t.keys, ["s", "l", "ml", "i", "h", "o", "b", "f", "ni", "nn", "yes", "odt", "ldt", "ld", "lt"])
    }

    func testRefusedScalars() {
        for doc in ["a = 9223372036854775808", "a = 01", "a = 1__0", "a = _1", "a = 1_", "a = +0x1", "a = 0x",
                    "a = 1.", "a = .1", "a = 1e", "a = 1.e3", "a = 2001-02-29", "a = 1900-02-29", "a = 2000-13-01",
                    "a = 24:00:00", "a = 12:60:00", "a = 12:00:60", "a = 12:00", "a = 1979-05-27T07:32",
                    "a = \"\\uD800\"", "a = \"\\U00110000\"", "a = \"\\e\"", "a = \"\\x41\"", "a = \"a\u{7F}\"",
                    "a = 'a\u{1}'", "a = \"\"\"a\"\"\"\"\"\"", "a = inf_", "a = nan1", "a = -0x1", "a = 0o8"] {
            _ = refusal(doc)
        }
    }

    func testTableRules() throws {
        let t = try parse("""
        [fruit]
        apple.color = "red"
        apple.taste.sweet = true
        [fruit.apple.texture]
        smooth = true
        [a.b.c]
        [a]
        x = 1
        [[p.q]]
        n = 1
        [[p.q]]
        n = 2
        [p.q.r]
        """)
        guard case .table(let fruit)? = t["fruit"]?.value, case .table(let apple)? = fruit["apple"]?.value else {
            return XCTFail("fruit.apple")
        }
        XCTAssertEqual(apple.keys, ["color", "taste", "texture"])
        guard case .table(let p)? = t["p"]?.value, case .array(let q)? = p["q"]?.value else { return XCTFail("p.q") }
        XCTAssertEqual(q.count, 2)
        guard case .table(let second) = q[1].value else { return XCTFail("q[1]") }
        XCTAssertEqual(second.keys, ["n", "r"])

        for doc in ["[a]\n[a]", "a.b = 1\n[a]", "[fruit]\napple.color = 1\n[fruit.apple]", "[a.b]\n[a]\nb.c = 1",
                    "a = {}\n[a]", "a = {b = {}}\n[a.b.c]", "a = {b = 1}\na.c = 2", "a = [1]\n[[a]]",
                    "[[a]]\n[a]", "[a]\n[[a]]", "a = 1\na = 2", "a = {b = 1, b = 2}", "a = {b = {c = 1}, b.d = 2}",
                    "a = 1\n[a.b]", "[x]\ny = 1\n[x.y]", "a = {b = 1,}", "a = {b = 1\n}", "a.b = 1\na.b.c = 2"] {
            _ = refusal(doc)
        }
    }

    func testTOMLKitCrashersAreErrors() {
        for doc in ["[", "[.]", "[!]", "[]", "[[]]", "[a", "[[a]", "[[a] ]", "a = [", "a = {", "a = [1,", "a = {b = ",
                    "=", "a =", "\"", "'", "a = \"\"\"", "a = '''", "[a.]", "[.a]", "a..b = 1", "a. = 1"] {
            _ = refusal(doc)
        }
    }

    func testByteOrderMarkAndEmpty() throws {
        XCTAssertEqual(try parse("").keys, [])
        let t = try TOMLParser.parse([0xEF, 0xBB, 0xBF] + Array("a = 1".utf8), file: "t.toml")
        XCTAssertEqual(t["a"]?.position, at(1, 1))
        _ = refusal([0x61, 0x20, 0x3D, 0x20, 0x31, 0x0A, 0xEF, 0xBB, 0xBF])
    }
}

final class PositionTests: XCTestCase {
    func testPositionsOfKeysTablesAndElements() throws {
        let t = try parse("""
        # comment
        [server]
        name = "x"
          a.b.c = 1
        ports = [
          80,
          "é", 443 ]
        [[pool]]
        [[pool]]
        x = { y = 1, z.w = 2 }
        "é" = 1
        """)
        guard case .table(let server)? = t["server"]?.value else { return XCTFail("server") }
        XCTAssertEqual(t["server"]?.position, at(2, 1))
        XCTAssertEqual(server["name"]?.position, at(3, 1))
        XCTAssertEqual(server["a"]?.position, at(4, 3))
        guard case .table(let a)? = server["a"]?.value, case .table(let b)? = a["b"]?.value else { return XCTFail("a.b") }
        XCTAssertEqual(b["c"]?.position, at(4, 3))
        XCTAssertEqual(server["ports"]?.position, at(5, 1))
        guard case .array(let ports)? = server["ports"]?.value else { return XCTFail("ports") }
        XCTAssertEqual(ports.map(\.position), [at(6, 3), at(7, 3), at(7, 8)])
        XCTAssertEqual(t["pool"]?.position, at(8, 1))
        guard case .array(let pools)? = t["pool"]?.value, case .table(let pool) = pools[1].value else { return XCTFail("pool") }
        XCTAssertEqual(pools.map(\.position), [at(8, 1), at(9, 1)])
        XCTAssertEqual(pool["x"]?.position, at(10, 1))
        guard case .table(let x)? = pool["x"]?.value else { return XCTFail("x") }
        XCTAssertEqual(x["y"]?.position, at(10, 7))
        XCTAssertEqual(x["z"]?.position, at(10, 14))
        XCTAssertEqual(pool["é"]?.position, at(11, 1))
    }

    func testImplicitTableTakesItsHeaderOnceDefined() throws {
        let t = try parse("[a.b]\nx = 1\n\n[a]\ny = 2")
        XCTAssertEqual(t["a"]?.position, at(4, 1))
        guard case .table(let a)? = t["a"]?.value else { return XCTFail("a") }
        XCTAssertEqual(a["b"]?.position, at(1, 1))
    }

    func testErrorColumnsCountUnicodeScalars() {
        let e = refusal("k = \"é\" x")
        XCTAssertEqual(e?.position, at(1, 9))
        XCTAssertEqual(e?.message, "found `x`; expected the end of the line (or a # comment)")
    }

    func testCRLFPositions() throws {
        let t = try parse("a = 1\r\nb = 2\r\n[t]\r\nc = '''x\r\ny'''\r\n")
        XCTAssertEqual(t["b"]?.position, at(2, 1))
        XCTAssertEqual(t["t"]?.position, at(3, 1))
        guard case .table(let tt)? = t["t"]?.value else { return XCTFail("t") }
        XCTAssertEqual(tt["c"]?.value, .string("x\r\ny"))
        let e = refusal("a = 1\r\nb = 2\r\nc = \"x\r\n")
        XCTAssertEqual(e?.position, at(3, 7))
        XCTAssertEqual(refusal("a = 1\rb = 2")?.position, at(1, 6))
    }

    func testDuplicateKeyNamesBothPlaces() {
        let e = refusal("a = 1\n\n  a = 2")
        XCTAssertEqual(e?.position, at(3, 3))
        XCTAssertTrue(e?.message.contains("t.toml:1:1") ?? false, e?.message ?? "")
    }

    func testInvalidUTF8() {
        XCTAssertEqual(refusal(Array("a = \"".utf8) + [0xFF, 0x22])?.position, at(1, 6))
        XCTAssertEqual(refusal(Array("a = 1\n# ".utf8) + [0xC0, 0x80])?.position, at(2, 3))  // overlong
        XCTAssertEqual(refusal(Array("a = 'é".utf8) + [0xED, 0xA0, 0x80, 0x27])?.position, at(1, 7))  // surrogate
        XCTAssertEqual(refusal(Array("a = 1".utf8) + [0xE2, 0x82])?.position, at(1, 6))  // truncated at end
        XCTAssertTrue(refusal([0xFF, 0xFE, 0x61, 0x00])?.message.contains("UTF-8") ?? false)
    }

    func testNUL() {
        let e = refusal(Array("a = 1\n".utf8) + [0] + Array(" = 2".utf8))
        XCTAssertEqual(e?.position, at(2, 1))
        XCTAssertTrue(e?.message.contains("NUL") ?? false)
        XCTAssertEqual(refusal("a = \"x\u{0}\"")?.position, at(1, 7))
    }
}

final class HintTests: XCTestCase {
    func testBareAddressNeedsQuotes() {
        let e = refusal("[listener]\naddress = 127.0.0.1\n")
        XCTAssertEqual(e?.position, at(2, 11))
        XCTAssertEqual(e?.hint, "strings need quotes: address = \"127.0.0.1\"")
        XCTAssertEqual(e?.message, "found `127.0.0.1`; expected a value: a quoted string, number, boolean, date, array or inline table")
        XCTAssertEqual(e?.description, "t.toml:2:11: found `127.0.0.1`; expected a value: a quoted string, number, boolean, date, array or inline table (hint: strings need quotes: address = \"127.0.0.1\")")
    }

    func testBareWordNeedsQuotes() {
        XCTAssertEqual(refusal("lb_algorithm = ROUND_ROBIN # the default")?.hint, "strings need quotes: lb_algorithm = \"ROUND_ROBIN\"")
        XCTAssertEqual(refusal("socket = /run/fulcrum.sock")?.hint, "strings need quotes: socket = \"/run/fulcrum.sock\"")
        XCTAssertEqual(refusal("members = [\"a\", 10.0.0.1:80]")?.hint, "strings need quotes: \"10.0.0.1:80\"")
        XCTAssertEqual(refusal("t = { mode = fast }")?.hint, "strings need quotes: \"fast\"")
    }

    func testUnclosedString() {
        let e = refusal("name = \"web\nport = 80")
        XCTAssertEqual(e?.position, at(1, 12))
        XCTAssertEqual(e?.hint, "the string opened at column 8 is not closed on this line")
        XCTAssertEqual(refusal("a = ['x', 'y]")?.hint, "the string opened at column 11 is not closed on this line")
    }

    func testSpaceInHeader() {
        let e = refusal("[listener web]\nport = 80")
        XCTAssertEqual(e?.position, at(1, 11))
        XCTAssertEqual(e?.hint, "table names are joined with dots, not spaces: [listener.web]")
        XCTAssertEqual(refusal("[[pool  main backend]]")?.hint, "table names are joined with dots, not spaces: [[pool.main.backend]]")
    }

    func testColonInsteadOfEquals() {
        let e = refusal("port: 80")
        XCTAssertEqual(e?.position, at(1, 5))
        XCTAssertEqual(e?.hint, "TOML assigns with =, not :")
    }

    func testMissingEquals() {
        let e = refusal("port 80")
        XCTAssertEqual(e?.position, at(1, 6))
        XCTAssertEqual(e?.message, "found `80` after key `port`; expected `=`")
        XCTAssertEqual(e?.hint, "keys and values are joined with =: port = 80")
        XCTAssertEqual(refusal("port # no value")?.hint, "keys and values are joined with =: port = value")
    }

    func testCapitalisedBooleans() {
        XCTAssertEqual(refusal("enabled = True")?.hint, "booleans are lowercase: true")
        XCTAssertEqual(refusal("enabled = FALSE")?.hint, "booleans are lowercase: false")
        XCTAssertEqual(refusal("flags = [true, False]")?.hint, "booleans are lowercase: false")
    }

    func testMalformedNumbersGetPreciseMessages() {
        XCTAssertEqual(refusal("port = 08080")?.message, "found `08080`; expected a number without leading zeros")
        XCTAssertEqual(refusal("n = 1__000")?.message, "found `_` after `1_`; expected digits (underscores only between digits)")
        XCTAssertNil(refusal("n = 1__000")?.hint)
    }
}

final class LimitTests: XCTestCase {
    func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    func testDeepHeaderIsRefusedQuickly() {
        let header = "[" + Array(repeating: "a", count: 20_000).joined(separator: ".") + "]\nx = 1\n"
        var e: TOMLError?
        let seconds = time { e = refusal(header) }
        XCTAssertTrue(e?.message.contains("limits.maxDepth") ?? false, e?.message ?? "")
        XCTAssertLessThan(seconds, 2)
        let key = Array(repeating: "a", count: 20_000).joined(separator: ".") + " = 1"
        XCTAssertTrue(refusal(key)?.message.contains("limits.maxDepth") ?? false)
        // At the limit is fine.
        XCTAssertNoThrow(try parse("[" + Array(repeating: "a", count: 64).joined(separator: ".") + "]"))
    }

    func testDeepArraysAndInlineTablesAreRefusedQuickly() {
        var e: TOMLError?
        let arrays = "a = " + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)
        let seconds = time { e = refusal(arrays) }
        XCTAssertEqual(e?.position, at(1, 5 + 64))
        XCTAssertTrue(e?.message.contains("limits.maxDepth") ?? false)
        XCTAssertLessThan(seconds, 2)
        let tables = "a = " + String(repeating: "{b = ", count: 20_000) + "1" + String(repeating: "}", count: 20_000)
        XCTAssertTrue(refusal(tables)?.message.contains("limits.maxDepth") ?? false)
        // Dotted keys inside inline tables count as levels too.
        let dottedInline = "a = " + String(repeating: "{b.c.d.e = ", count: 17) + "1" + String(repeating: "}", count: 17)
        XCTAssertTrue(refusal(dottedInline)?.message.contains("limits.maxDepth") ?? false)
        let unclosed = "a = " + String(repeating: "[{b=", count: 10_000)
        XCTAssertTrue(refusal(unclosed)?.message.contains("limits.maxDepth") ?? false)
        XCTAssertNoThrow(try parse("a = " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertNotNil(refusal("a = " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65)))
        XCTAssertNoThrow(try parse("a = " + String(repeating: "[", count: 8) + String(repeating: "]", count: 8),
                                   limits: TOMLLimits(maxDepth: 8)))
    }

    func testHugeKey() {
        let long = String(repeating: "k", count: 1025)
        XCTAssertTrue(refusal("\(long) = 1")?.message.contains("limits.maxKeyBytes") ?? false)
        XCTAssertTrue(refusal("[\"\(long)\"]")?.message.contains("limits.maxKeyBytes") ?? false)
        XCTAssertTrue(refusal("a = {'\(long)' = 1}")?.message.contains("limits.maxKeyBytes") ?? false)
        XCTAssertNoThrow(try parse("\(String(repeating: "k", count: 1024)) = 1"))
    }

    func testOversizeDocument() {
        let doc = String(repeating: "# padding\n", count: 11)
        let e = refusal(doc, limits: TOMLLimits(maxBytes: 100))
        XCTAssertEqual(e?.position, at(1, 1))
        XCTAssertEqual(e?.message, "document is 110 bytes; expected at most 100 (limits.maxBytes)")
        XCTAssertNoThrow(try parse(doc, limits: TOMLLimits(maxBytes: 110)))
    }

    func testTenThousandTablesTiming() throws {
        var doc = ""
        for t in 0..<10_000 {
            doc += "[pool.p\(t)]\n"
            for k in 0..<10 { doc += "key\(k) = \(k == 0 ? "\"10.0.0.\(t % 250):80\"" : String(t * k))\n" }
        }
        var table = TOMLTable()
        var error: TOMLError?
        let seconds = time {
            do { table = try parse(doc) } catch let e as TOMLError { error = e } catch {}
        }
        XCTAssertNil(error)
        guard case .table(let pool)? = table["pool"]?.value else { return XCTFail("pool") }
        XCTAssertEqual(pool.keys.count, 10_000)
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        print("FulcrumTOML: parsed 10,000 tables x 10 keys (\(doc.utf8.count) bytes) in \(String(format: "%.3f", seconds)) s (\(build) build)")
    }

    func testLongLinesStayLinear() throws {
        // One line, many inline-table keys: positions are computed incrementally, not from the line start.
        let doc = "t = {" + (0..<50_000).map { "k\($0) = \($0)" }.joined(separator: ", ") + "}"
        var keys = 0
        let seconds = time {
            if case .table(let t)? = try? parse(doc)["t"]?.value { keys = t.keys.count }
        }
        XCTAssertEqual(keys, 50_000)
        print("FulcrumTOML: one-line inline table with 50,000 keys in \(String(format: "%.3f", seconds)) s")
    }
}

final class MutationTests: XCTestCase {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    func testRandomMutationsNeverCrash() throws {
        let seeds = [
            """
            # Fulcrum
            [listener.web]
            address = "0.0.0.0:443"   # all
            members = [ "10.0.0.1:80", 'x', { weight = 2, a.b = 1979-05-27T07:32:00Z } ]
            ml = \"\"\"
            a\\tb \\
              c\"\"\"
            [[pool]]
            n = -0x0 # no
            f = [1e10, -inf, nan, 0.5_1]
            t = 07:32:00.123
            """,
            "a.\"b\".'c' = { x = [[1, 2], [3]], y = {z = 'w'} }\r\n[[x.y]]\r\n[x.y.z]\r\nq = '''\r\n'''",
        ]
        var rng = SplitMix64(state: 0x5EED)
        let alphabet: [UInt8] = Array("[]{}=.,\"'#\\\n\r \t0aZ_-+:eE".utf8) + [0x00, 0x7F, 0xC3, 0xA9, 0xFF, 0xE2]
        var accepted = 0
        var refused = 0
        for iteration in 0..<20_000 {
            var bytes = Array(seeds[iteration % seeds.count].utf8)
            let edits = Int.random(in: 1...4, using: &rng)
            for _ in 0..<edits {
                let k = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[k] = alphabet.randomElement(using: &rng)!
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: k)
                case 2: if bytes.count > 1 { bytes.remove(at: k) }
                default: bytes[k] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            do {
                _ = try TOMLParser.parse(bytes, file: "m.toml")
                accepted += 1
            } catch {
                XCTAssertGreaterThanOrEqual(error.position.line, 1)
                XCTAssertGreaterThanOrEqual(error.position.column, 1)
                refused += 1
            }
        }
        print("FulcrumTOML: 20,000 mutations: \(accepted) accepted, \(refused) refused")
        XCTAssertEqual(accepted + refused, 20_000)
    }
}
