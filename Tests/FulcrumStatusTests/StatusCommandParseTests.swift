import XCTest
@testable import FulcrumStatus

final class StatusCommandParseTests: XCTestCase {
    private func parse(_ line: String) -> Result<StatusCommand, StatusCommandError> {
        StatusCommand.parse(line[...])
    }

    private func command(_ line: String, file: StaticString = #filePath, line number: UInt = #line) -> StatusCommand? {
        switch parse(line) {
        case .success(let command): return command
        case .failure(let error):
            XCTFail("\(line.debugDescription) refused: \(error.message)", file: file, line: number)
            return nil
        }
    }

    private func error(_ line: String, file: StaticString = #filePath, line number: UInt = #line) -> String? {
        switch parse(line) {
        case .success(let command):
            XCTFail("\(line.debugDescription) accepted as \(command)", file: file, line: number)
            return nil
        case .failure(let error): return error.message
        }
    }

    func testEveryCommand() {
        XCTAssertEqual(command("help"), .help)
        XCTAssertEqual(command("show info"), .showInfo)
        XCTAssertEqual(command("show stat"), .showStat(json: false))
        XCTAssertEqual(command("show stat json"), .showStat(json: true))
        XCTAssertEqual(command("show members"), .showMembers(pool: nil))
        XCTAssertEqual(command("show members web"), .showMembers(pool: "web"))
        XCTAssertEqual(command("show ha"), .showHA)
        XCTAssertEqual(command("show anycast"), .showAnycast)
        XCTAssertEqual(command("show metrics"), .showMetrics)
        XCTAssertEqual(command("set member web/web-1 state ready"), .setState(pool: "web", member: "web-1", state: .ready))
        XCTAssertEqual(command("set member web/web-1 state drain"), .setState(pool: "web", member: "web-1", state: .drain))
        XCTAssertEqual(command("set member web/web-1 state maint"), .setState(pool: "web", member: "web-1", state: .maint))
        XCTAssertEqual(command("set member a.b_c/D-9 weight 0"), .setWeight(pool: "a.b_c", member: "D-9", weight: 0))
        XCTAssertEqual(command("set member web/w weight 256"), .setWeight(pool: "web", member: "w", weight: 256))
        XCTAssertEqual(command("set member web/w weight 007"), .setWeight(pool: "web", member: "w", weight: 7))
        XCTAssertEqual(command("shutdown sessions member web/web-2"), .shutdownSessions(pool: "web", member: "web-2"))
        XCTAssertEqual(command("anycast withdraw"), .anycast(steer: .withdraw, vip: nil))
        XCTAssertEqual(command("anycast announce"), .anycast(steer: .announce, vip: nil))
        XCTAssertEqual(command("anycast withdraw 192.0.2.10"), .anycast(steer: .withdraw, vip: "192.0.2.10"))
        XCTAssertEqual(command("anycast announce 2001:db8::10"), .anycast(steer: .announce, vip: "2001:db8::10"))
        XCTAssertEqual(command("reload"), .reload)
        XCTAssertEqual(command("quit"), .quit)
    }

    func testAnycast() {
        // The VIP in the text `show anycast` lists it with, so the daemon compares plain strings.
        XCTAssertEqual(command("  anycast\twithdraw   2001:DB8:0::0010 \r"), .anycast(steer: .withdraw, vip: "2001:db8::10"))
        XCTAssertEqual(error("anycast"), "usage: anycast withdraw [VIP], or anycast announce [VIP]")
        XCTAssertEqual(error("anycast show"), "anycast \"show\": allowed withdraw, announce")
        XCTAssertEqual(error("anycast Withdraw"), "anycast \"Withdraw\": allowed withdraw, announce")
        XCTAssertEqual(error("anycast 192.0.2.10 withdraw"), "anycast \"192.0.2.10\": allowed withdraw, announce")
        XCTAssertEqual(error("anycast withdraw 192.0.2.10 192.0.2.11"),
                       "usage: anycast withdraw [VIP], or anycast announce [VIP]")
        XCTAssertEqual(error("anycast announce 192.0.2.10 now"),
                       "usage: anycast withdraw [VIP], or anycast announce [VIP]")
        let expected = "expected one IPv4 or IPv6 address, like 192.0.2.10 or 2001:db8::10"
        XCTAssertEqual(error("anycast withdraw 192.0.2.256"), "VIP \"192.0.2.256\": \(expected)")
        XCTAssertEqual(error("anycast withdraw 192.0.2.10/32"), "VIP \"192.0.2.10/32\": \(expected)")
        XCTAssertEqual(error("anycast announce [2001:db8::10]"), "VIP \"[2001:db8::10]\": \(expected)")
        XCTAssertEqual(error("anycast announce web"), "VIP \"web\": \(expected)")
        XCTAssertEqual(error("anycast withdraw all"), "VIP \"all\": \(expected)")
        XCTAssertEqual(error("anycast withdraw 10.0.0.1\u{1B}[2J"), "VIP \"10.0.0.1\\x1b[2J\": \(expected)")
        XCTAssertEqual(error("show anycast now"), "unexpected \"now\" after \"show anycast\"")
        XCTAssertEqual(error("Anycast withdraw"), "unknown command \"Anycast withdraw\"; try \"help\"")
    }

    /// What fulcrumctl sends is what the daemon parses back (the fuzz target checks the same).
    func testAnycastWireLines() {
        let commands: [StatusCommand] = [.showAnycast, .anycast(steer: .withdraw, vip: nil),
                                         .anycast(steer: .announce, vip: nil),
                                         .anycast(steer: .withdraw, vip: "192.0.2.10"),
                                         .anycast(steer: .announce, vip: "2001:db8::10")]
        XCTAssertEqual(commands.map(\.wireLine), ["show anycast", "anycast withdraw", "anycast announce",
                                                  "anycast withdraw 192.0.2.10", "anycast announce 2001:db8::10"])
        for command in commands {
            XCTAssertEqual(parse(command.wireLine), .success(command), command.wireLine)
        }
    }

    /// `reload` takes nothing: the daemon reloads its own config directory, never a path sent
    /// over the socket.
    func testReload() {
        XCTAssertEqual(command("  reload\t\r"), .reload)
        XCTAssertEqual(error("reload /etc/fulcrum"), "unexpected \"/etc/fulcrum\" after \"reload\"")
        XCTAssertEqual(error("reload now please"), "unexpected \"now\" after \"reload\"")
        XCTAssertEqual(error("Reload"), "unknown command \"Reload\"; try \"help\"")
        XCTAssertEqual(error("RELOAD"), "unknown command \"RELOAD\"; try \"help\"")
    }

    func testBlanksAndCarriageReturn() {
        XCTAssertEqual(command("  show \t stat\tjson  \r"), .showStat(json: true))
        XCTAssertEqual(command("help\r"), .help)
        XCTAssertEqual(command("\tset  member   p/m   weight\t12 "), .setWeight(pool: "p", member: "m", weight: 12))
    }

    func testEmptyLine() {
        XCTAssertEqual(error(""), "empty command")
        XCTAssertEqual(error(" \t "), "empty command")
        XCTAssertEqual(error("\r"), "empty command")
    }

    func testUnknownCommand() {
        XCTAssertEqual(error("shwo info"), "unknown command \"shwo info\"; try \"help\"")
        XCTAssertEqual(error("SHOW info"), "unknown command \"SHOW info\"; try \"help\"")
        XCTAssertEqual(error("set pool web/a weight 1"), "unknown command \"set pool web/a weight 1\"; try \"help\"")
        XCTAssertEqual(error("shutdown sessions web/a"), "unknown command \"shutdown sessions web/a\"; try \"help\"")
        XCTAssertEqual(error("reloads"), "unknown command \"reloads\"; try \"help\"")
    }

    func testShowErrors() {
        XCTAssertEqual(error("show"), "\"show\" needs one of: info, stat, stat json, members [POOL], ha, anycast, metrics")
        XCTAssertEqual(error("show Info"),
                       "unknown show \"Info\"; allowed info, stat, stat json, members [POOL], ha, anycast, metrics")
        XCTAssertEqual(error("show info now"), "unexpected \"now\" after \"show info\"")
        XCTAssertEqual(error("show stat xml"), "unexpected \"xml\" after \"show stat\"; allowed json")
        XCTAssertEqual(error("show stat json json"), "unexpected \"json json\" after \"show stat\"; allowed json")
        XCTAssertEqual(error("show members a b"), "usage: show members [POOL]")
        XCTAssertEqual(error("show members a/b"), "pool name \"a/b\": allowed 1..64 of A-Z a-z 0-9 _ . -")
        XCTAssertEqual(error("help me"), "unexpected \"me\" after \"help\"")
        XCTAssertEqual(error("quit now"), "unexpected \"now\" after \"quit\"")
    }

    func testWeight() {
        XCTAssertEqual(error("set member web/a weight 300"), "weight \"300\": allowed 0..256")
        XCTAssertEqual(error("set member web/a weight 257"), "weight \"257\": allowed 0..256")
        XCTAssertEqual(error("set member web/a weight -1"), "weight \"-1\": allowed 0..256")
        XCTAssertEqual(error("set member web/a weight +1"), "weight \"+1\": allowed 0..256")
        XCTAssertEqual(error("set member web/a weight 1.5"), "weight \"1.5\": allowed 0..256")
        XCTAssertEqual(error("set member web/a weight 0x10"), "weight \"0x10\": allowed 0..256")
        // Far past Int.max: refused, not trapped.
        XCTAssertEqual(error("set member web/a weight 99999999999999999999999999"),
                       "weight \"99999999999999999999999999\": allowed 0..256")
        XCTAssertEqual(StatusCommand.parseWeight("٣"), nil, "only ASCII digits")
    }

    func testStateAndSetting() {
        XCTAssertEqual(error("set member web/a state down"), "state \"down\": allowed ready, drain, maint")
        XCTAssertEqual(error("set member web/a state READY"), "state \"READY\": allowed ready, drain, maint")
        XCTAssertEqual(error("set member web/a color red"), "setting \"color\": allowed state, weight")
        XCTAssertEqual(error("set member web/a state"),
                       "usage: set member POOL/MEMBER state ready|drain|maint, or set member POOL/MEMBER weight N")
        XCTAssertEqual(error("set member"),
                       "usage: set member POOL/MEMBER state ready|drain|maint, or set member POOL/MEMBER weight N")
        XCTAssertEqual(error("shutdown sessions member"), "usage: shutdown sessions member POOL/MEMBER")
        XCTAssertEqual(error("shutdown sessions member a/b c"), "usage: shutdown sessions member POOL/MEMBER")
    }

    func testMemberPath() {
        XCTAssertEqual(error("set member web state ready"), "\"web\": expected POOL/MEMBER")
        XCTAssertEqual(error("set member a/b/c state ready"), "\"a/b/c\": expected POOL/MEMBER")
        XCTAssertEqual(error("set member /b state ready"), "pool name \"\": allowed 1..64 of A-Z a-z 0-9 _ . -")
        XCTAssertEqual(error("set member a/ state ready"), "member name \"\": allowed 1..64 of A-Z a-z 0-9 _ . -")
        XCTAssertEqual(error("shutdown sessions member a/b$c"),
                       "member name \"b$c\": allowed 1..64 of A-Z a-z 0-9 _ . -")
        let longest = String(repeating: "p", count: 64)
        XCTAssertEqual(command("set member \(longest)/m weight 1"), .setWeight(pool: longest, member: "m", weight: 1))
        XCTAssertNotNil(error("set member \(longest)p/m weight 1"))
    }

    func testMessagesAreOnePrintableLineAndCut() {
        let hostile = "shwo \u{1B}[31mred\u{07} \u{0}x\"\\ é " + String(repeating: "z", count: 200)
        let message = error(hostile) ?? ""
        XCTAssertTrue(message.hasPrefix("unknown command \"shwo \\x1b[31mred\\x07 \\x00x\\\"\\\\ \\xc3\\xa9 zz"), message)
        XCTAssertTrue(message.hasSuffix("zzz...\"; try \"help\""), message)
        XCTAssertTrue(message.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }, message)
        // 80 bytes of input shown: the escapes above stand for 12 input bytes... count the z's.
        let shownInput = hostile.utf8.prefix(80)
        let zs = shownInput.filter { $0 == UInt8(ascii: "z") }.count
        XCTAssertEqual(message.filter { $0 == "z" }.count, zs)
        XCTAssertFalse(message.contains("\n"))
    }

    func testReadOnlyClassification() {
        XCTAssertTrue((try? parse("show stat json").get())?.isReadOnly ?? false)
        XCTAssertFalse((try? parse("set member a/b weight 1").get())?.isReadOnly ?? true)
        // A reload changes the whole running config: refused on the read-only socket.
        XCTAssertFalse((try? parse("reload").get())?.isReadOnly ?? true)
        let readOnly: [StatusCommand] = [.help, .showInfo, .showStat(json: false), .showStat(json: true),
                                         .showMembers(pool: nil), .showHA, .showAnycast, .showMetrics, .quit]
        // A withdrawn VIP moves traffic off this node: admin socket only.
        let changes: [StatusCommand] = [.setState(pool: "p", member: "m", state: .drain),
                                        .setWeight(pool: "p", member: "m", weight: 1),
                                        .shutdownSessions(pool: "p", member: "m"), .reload,
                                        .anycast(steer: .withdraw, vip: nil),
                                        .anycast(steer: .announce, vip: "192.0.2.10")]
        XCTAssertEqual(readOnly.filter { !$0.isReadOnly }, [])
        XCTAssertEqual(changes.filter(\.isReadOnly), [])
    }

    func testHelpTextListsEveryCommandOnePerLine() {
        let lines = StatusCommand.helpText.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.last, "", "ends with a newline")
        let body = lines.dropLast()
        XCTAssertEqual(body.count, 15)
        XCTAssertTrue(body.contains { $0.hasPrefix("reload ") }, "reload is listed")
        XCTAssertFalse(body.contains { $0.trimmingSpaces.isEmpty })
        // The command part of every line (before the description) parses, with placeholders filled in.
        for line in body {
            let usage = line.prefix(50).trimmingSpaces
            let example = usage
                .replacing("[POOL]", with: "web")
                .replacing("[VIP]", with: "192.0.2.10")
                .replacing("POOL/MEMBER", with: "web/web-1")
                .replacing("ready|drain|maint", with: "drain")
                .replacing(" N", with: " 5")
            XCTAssertNoThrow(try parse(example).get(), "help line \(line) does not parse as \(example)")
            XCTAssertGreaterThan(line.count, 52, "line \(line) has no description")
        }
        assertSocketSafe(StatusCommand.helpText)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

}
