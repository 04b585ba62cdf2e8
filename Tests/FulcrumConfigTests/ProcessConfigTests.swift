import FulcrumConfig
import XCTest

/// A pool (lines 1-3), then `lines` from line 4.
private func text(_ lines: String) -> String { webPool + lines + "\n" }

/// Accounts this test pretends exist: users root, nobody, _fulcrum; groups root, nogroup.
private let accounts = AccountDirectory(userExists: { ["root", "nobody", "_fulcrum"].contains($0) },
                                        groupExists: { ["root", "nogroup"].contains($0) })

private func load(_ lines: String, accounts: AccountDirectory? = accounts) throws -> Config {
    try ConfigLoader.load(sources: [(name: "fulcrum.toml", text: text(lines))], onlineCPUs: 1,
                          options: LoadOptions(accounts: accounts)).config
}

private func problems(_ lines: String, accounts: AccountDirectory? = accounts) -> [ConfigProblem] {
    do {
        let loaded = try ConfigLoader.load(sources: [(name: "fulcrum.toml", text: text(lines))], onlineCPUs: 1,
                                           options: LoadOptions(accounts: accounts))
        XCTFail("expected problems, got \(loaded.summary)")
        return []
    } catch {
        return error.problems
    }
}

final class ProcessConfigTests: XCTestCase {
    func testAbsentTableMeansTheDefaultAccountAndItsGroup() throws {
        let process = try load("").process
        XCTAssertEqual(process, ProcessSettings(user: nil, group: nil))
        XCTAssertEqual(PrivilegePlan.target(process), .defaultAccount(group: nil))
    }

    func testNamedUserAndGroup() throws {
        let process = try load("[process]\nuser = \"nobody\"\ngroup = \"nogroup\"").process
        XCTAssertEqual(process, ProcessSettings(user: "nobody", group: "nogroup"))
        XCTAssertEqual(PrivilegePlan.target(process), .named(user: "nobody", group: "nogroup"))
    }

    func testGroupAloneKeepsTheDefaultUser() throws {
        let process = try load("[process]\ngroup = \"nogroup\"").process
        XCTAssertEqual(PrivilegePlan.target(process), .defaultAccount(group: "nogroup"))
    }

    func testRootMeansNoSwitch() throws {
        let process = try load("[process]\nuser = \"root\"").process
        XCTAssertEqual(PrivilegePlan.target(process), .stayRoot)
    }

    func testRootWithAGroupIsRefused() {
        assertProblems(problems("[process]\nuser = \"root\"\ngroup = \"nogroup\""), [
            ExpectedProblem("fulcrum.toml", 6, "process.group", "\"nogroup\" has no effect with user = \"root\""),
        ])
    }

    func testUnknownAccountsAreNamedWithFileAndLine() {
        assertProblems(problems("[process]\nuser = \"nobdy\"\ngroup = \"nogrup\""), [
            ExpectedProblem("fulcrum.toml", 5, "process.user", "no user \"nobdy\" on this system; allowed: an existing user (getent passwd nobdy)"),
            ExpectedProblem("fulcrum.toml", 6, "process.group", "no group \"nogrup\" on this system; allowed: an existing group (getent group nogrup)"),
        ])
    }

    func testAccountsAreOnlyCheckedWhenALookupIsGiven() throws {
        // A plain load (unit tests, the fuzzer) stays pure; fulcrumd always passes the system's.
        XCTAssertEqual(try load("[process]\nuser = \"nobdy\"", accounts: nil).process.user, "nobdy")
    }

    func testAnAbsentDefaultAccountIsNoProblem() throws {
        // No `user`: `_fulcrum` is looked up at start, and its absence only means staying root.
        let none = AccountDirectory(userExists: { _ in false }, groupExists: { _ in false })
        XCTAssertEqual(try load("", accounts: none).process, ProcessSettings())
    }

    func testMalformedNamesAndUnknownKeys() {
        assertProblems(problems("[process]\nuser = \"no body\"\ngroup = 7\nchroot = \"/var/empty\""), [
            ExpectedProblem("fulcrum.toml", 5, "process.user", "\"no body\" is not a user name; allowed: 1..32 printable characters without spaces or colons"),
            ExpectedProblem("fulcrum.toml", 6, "process.group", "is an integer; expected a group name string"),
            ExpectedProblem("fulcrum.toml", 7, "process.chroot", "unknown key \"chroot\""),
        ])
        do {
            _ = try ConfigLoader.load(sources: [(name: "fulcrum.toml", text: "process = \"nobody\"\n" + webPool)], onlineCPUs: 1)
            XCTFail("a string for [process] loaded")
        } catch {
            assertProblems(error.problems, [
                ExpectedProblem("fulcrum.toml", 1, "process", "\"nobody\" is a string; expected a table [process]"),
            ])
        }
    }

    func testChangingTheAccountNeedsARestart() throws {
        let before = try load("[process]\nuser = \"nobody\"")
        let after = try load("[process]\nuser = \"_fulcrum\"\ngroup = \"nogroup\"")
        XCTAssertEqual(ConfigChanges(from: before, to: after).needsRestart, [
            "process.user: \"nobody\" -> \"_fulcrum\" needs a restart",
            "process.group: default -> \"nogroup\" needs a restart",
        ])
        XCTAssertEqual(ConfigChanges(from: before, to: before).needsRestart, [])
    }
}
