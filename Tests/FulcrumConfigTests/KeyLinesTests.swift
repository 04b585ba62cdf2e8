@testable import FulcrumConfig
import XCTest

final class KeyLinesTests: XCTestCase {
    private let text = #"""
        top = 1                          # 1
        [a.b]                            # 2
        plain = "x # not a comment"      # 3
        "quoted key" = 'its'             # 4
        dotted.key = 2                   # 5
        "esc\u0041\"" = 3                # 6
        text = """
        fake = "inside a multi-line string"
        [not.a.header]
        """                              # 10
        list = [                         # 11
          "a", # [comment with bracket
          { inner = 1 },
        ]
        after = true                     # 15
        [[arr]]                          # 16
        x = 1                            # 17
        [ 'c' . "d" ]                    # 18
        y = '''
        z = 1
        '''
        w = 0                            # 22
        """#

    func testLinesOfKeysAndHeaders() {
        let lines = KeyLines(scanning: text)
        XCTAssertEqual(lines.line(for: ["top"]), 1)
        XCTAssertEqual(lines.line(for: ["a"]), 2, "implicit parent of [a.b]")
        XCTAssertEqual(lines.line(for: ["a", "b"]), 2)
        XCTAssertEqual(lines.line(for: ["a", "b", "plain"]), 3)
        XCTAssertEqual(lines.line(for: ["a", "b", "quoted key"]), 4)
        XCTAssertEqual(lines.line(for: ["a", "b", "dotted"]), 5)
        XCTAssertEqual(lines.line(for: ["a", "b", "dotted", "key"]), 5)
        XCTAssertEqual(lines.line(for: ["a", "b", "escA\""]), 6)
        XCTAssertEqual(lines.line(for: ["a", "b", "text"]), 7)
        XCTAssertNil(lines.line(for: ["a", "b", "fake"]))
        XCTAssertNil(lines.line(for: ["not", "a", "header"]))
        XCTAssertEqual(lines.line(for: ["a", "b", "list"]), 11)
        XCTAssertNil(lines.line(for: ["a", "b", "inner"]))
        XCTAssertEqual(lines.line(for: ["a", "b", "after"]), 15)
        XCTAssertEqual(lines.line(for: ["arr"]), 16)
        XCTAssertEqual(lines.line(for: ["arr", "x"]), 17)
        XCTAssertEqual(lines.line(for: ["c", "d"]), 18)
        XCTAssertEqual(lines.line(for: ["c", "d", "y"]), 19)
        XCTAssertNil(lines.line(for: ["c", "d", "z"]))
        XCTAssertEqual(lines.line(for: ["c", "d", "w"]), 22)
    }

    func testTheScannedTextIsValidTOML() {
        // The scanner only ever sees text the parser accepted; keep this fixture honest.
        let found = problems([("fixture.toml", text)])
        XCTAssertFalse(found.isEmpty)
        XCTAssertFalse(found.contains { $0.message.contains("syntax error") }, "\(found)")
    }

    func testExplicitHeaderWinsOverAnEarlierImplicitOne() {
        let lines = KeyLines(scanning: "[pool.web.members.a]\nx = 1\n[pool.web]\nretries = 1\n")
        XCTAssertEqual(lines.line(for: ["pool"]), 1)
        XCTAssertEqual(lines.line(for: ["pool", "web"]), 3)
    }

    func testCRLFLineEndings() {
        let lines = KeyLines(scanning: "a = 1\r\n[t]\r\nb = \"x\"\r\n")
        XCTAssertEqual(lines.line(for: ["a"]), 1)
        XCTAssertEqual(lines.line(for: ["t", "b"]), 3)
    }
}
