import FulcrumAddress
import FulcrumConfig
import XCTest

final class DropInTests: XCTestCase {
    private let main = ("fulcrum.toml", """
        workers = 2
        [status]
        socket = "/run/fulcrum/test.sock"

        """)

    private let web = ("conf.d/50-web.toml", """
        [listener.web]
        address = "127.0.0.1"
        protocol_port = 8080
        default_pool = "web"
        allowed_cidrs = ["10.0.0.0/8", "192.168.0.0/16"]

        [pool.web.members.app1]
        address = "10.0.0.11"
        protocol_port = 80
        weight = 5
        backup = true

        [pool.web.members.app2]
        address = "10.0.0.12"
        protocol_port = 80

        """)

    func testLaterDropInOverridesSingleAttributesAndTheRestSurvives() throws {
        let maintenance = ("conf.d/90-maint.toml", """
            [pool.web.members.app1]
            admin_state_up = false
            weight = 0

            """)
        let loaded = try ConfigLoader.load(sources: [main, web, maintenance], onlineCPUs: 8)
        let pool = try XCTUnwrap(loaded.config.pool(named: "web"))
        XCTAssertEqual(pool.members, [
            Member(name: "app1", address: IPAddress("10.0.0.11")!, port: 80, weight: 0, backup: true, adminStateUp: false),
            Member(name: "app2", address: IPAddress("10.0.0.12")!, port: 80),
        ])
        XCTAssertEqual(loaded.config.workers, 2)
        XCTAssertEqual(loaded.config.statusSocket, "/run/fulcrum/test.sock")
        XCTAssertEqual(loaded.files, ["fulcrum.toml", "conf.d/50-web.toml", "conf.d/90-maint.toml"])
        XCTAssertEqual(loaded.summary, "configuration OK: 1 listener, 1 pool, 2 members, 2 workers (3 files)")
    }

    func testArraysAreReplacedWholeNotConcatenated() throws {
        let narrow = ("conf.d/60-narrow.toml", "[listener.web]\nallowed_cidrs = [\"127.0.0.0/8\"]\n")
        let loaded = try ConfigLoader.load(sources: [main, web, narrow], onlineCPUs: 1)
        XCTAssertEqual(loaded.config.listeners.first?.allowedCIDRs, [CIDR("127.0.0.0/8")!])
    }

    func testEarlierFileLosesToLaterOneForTheSameKey() throws {
        let first = ("conf.d/10-a.toml", "workers = 3\n")
        let second = ("conf.d/20-b.toml", "workers = 4\n")
        let loaded = try ConfigLoader.load(sources: [main, web, first, second], onlineCPUs: 1)
        XCTAssertEqual(loaded.config.workers, 4)
    }

    func testProblemInDropInNamesThatFileAndLine() {
        let maintenance = ("conf.d/90-maint.toml", """
            # members under maintenance
            [pool.web.members.app1]
            weight = 300

            [pool.web.members.app3]
            weight = 1

            """)
        assertProblems(problems([main, web, maintenance]), [
            ExpectedProblem("conf.d/90-maint.toml", 3, "pool.web.members.app1.weight", "300 is out of range; allowed: 0..256"),
            // app3 exists only in the drop-in, so its missing keys are the drop-in's.
            ExpectedProblem("conf.d/90-maint.toml", 5, "pool.web.members.app3.address", "required key is missing"),
            ExpectedProblem("conf.d/90-maint.toml", 5, "pool.web.members.app3.protocol_port", "required key is missing"),
        ])
    }

    func testMissingKeyIsReportedWhereTheObjectWasFirstDefined() {
        let partial = ("fulcrum.toml", "[listener.web]\ndefault_pool = \"web\"\n")
        let laterAddress = ("conf.d/50-addr.toml", "[listener.web]\naddress = \"127.0.0.1\"\n")
        let pool = ("conf.d/60-pool.toml", webPool)
        assertProblems(problems([partial, laterAddress, pool]), [
            ExpectedProblem("fulcrum.toml", 1, "listener.web.protocol_port", "required key is missing"),
        ])
    }

    func testDropInCanReplaceAValueWithOneOfAnotherType() {
        let typo = ("conf.d/90-typo.toml", "[pool.web.members.app2]\nprotocol_port = \"eighty\"\n")
        assertProblems(problems([main, web, typo]), [
            ExpectedProblem("conf.d/90-typo.toml", 2, "pool.web.members.app2.protocol_port",
                            "\"eighty\" is a string; expected an integer 1..65535"),
        ])
    }

    func testInlineTablesReportTheLineOfTheirKey() {
        let inline = ("conf.d/70-inline.toml", """
            [pool.api]
            retries = 1
            members = { a = { address = "10.0.0.1", protocol_port = 99999 } }

            """)
        assertProblems(problems([main, web, inline]), [
            ExpectedProblem("conf.d/70-inline.toml", 3, "pool.api.members.a.protocol_port", "99999 is out of range"),
        ])
    }

    func testDottedAndQuotedKeysReportTheirOwnLine() {
        let dotted = ("conf.d/70-dotted.toml", """
            pool.api.members."a.1".address = "10.0.0.1"
            pool.api.members."a.1".protocol_port = 80
            pool.api.members."a.1".weight = 257

            """)
        assertProblems(problems([main, web, dotted]), [
            ExpectedProblem("conf.d/70-dotted.toml", 3, "pool.api.members.\"a.1\".weight", "257 is out of range"),
        ])
    }
}
