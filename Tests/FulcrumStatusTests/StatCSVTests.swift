import XCTest
@testable import FulcrumStatus

final class StatCSVTests: XCTestCase {
    /// Rows of the CSV as column → value, checking every row has exactly the header's columns.
    private func rows(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [[String: String]] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard let header = lines.first, header.hasPrefix("# ") else {
            XCTFail("no header", file: file, line: line)
            return []
        }
        let columns = CSV.split(header.dropFirst(2))
        XCTAssertEqual(columns, StatCSV.columns, file: file, line: line)
        return lines.dropFirst().map { row in
            let fields = CSV.split(row)
            XCTAssertEqual(fields.count, columns.count, "row \(row)", file: file, line: line)
            return Dictionary(uniqueKeysWithValues: zip(columns, fields))
        }
    }

    func testColumnOrderFollowsHAProxyThenFulcrum() {
        XCTAssertEqual(Array(StatCSV.columns.prefix(25)), [
            "pxname", "svname", "scur", "smax", "slim", "stot", "bin", "bout", "ereq", "econ", "eresp",
            "status", "weight", "act", "bck", "chkfail", "chkdown", "lastchg", "downtime", "lbtot", "type",
            "rate", "rate_max", "check_status", "check_duration",
        ])
        XCTAssertEqual(StatCSV.columns.count, 43)
        XCTAssertEqual(Set(StatCSV.columns).count, StatCSV.columns.count, "no column twice")
        XCTAssertEqual(StatCSV.columns.last, "udp_refused")
    }

    func testHeaderAndRowOrder() {
        let text = StatCSV.render(SnapshotFixture.make())
        assertSocketSafe(text)
        XCTAssertTrue(text.hasPrefix("# pxname,svname,scur,smax,slim,stot,bin,bout,ereq,econ,eresp,status,"), text)
        let order = rows(text).map { "\($0["pxname"]!)/\($0["svname"]!)" }
        XCTAssertEqual(order, ["web/FRONTEND", "dns/FRONTEND",
                               "dns/dns-a", "dns/dns-b", "dns/BACKEND",
                               "web/web-1", "web/web-2", "web/web-3", "web/BACKEND"])
    }

    func testTCPFrontendExactLine() {
        let text = StatCSV.render(SnapshotFixture.make())
        let line = text.split(separator: "\n")[1]
        XCTAssertEqual(line, "web,FRONTEND,12,30,10000,1000,123456,654321,8,,,OPEN,,,,,,,,,0,17,42,,,"
                       + "127.0.0.1:8080,TCP,,,5,3,7,13,,,,,,,,,,")
    }

    func testUDPFrontend() {
        let row = rows(StatCSV.render(SnapshotFixture.make()))[1]
        XCTAssertEqual(row["scur"], "6")
        XCTAssertEqual(row["slim"], "", "unlimited")
        XCTAssertEqual(row["stot"], "60")
        XCTAssertEqual(row["bin"], "40000")
        XCTAssertEqual(row["bout"], "90000")
        XCTAssertEqual(row["ereq"], "11", "denied + truncated")
        XCTAssertEqual(row["proto"], "UDP")
        XCTAssertEqual(row["addr"], "[::1]:5353")
        XCTAssertEqual(row["dcon"], "")
        XCTAssertEqual(row["idle_timeouts"], "")
        let udp = ["udp_din", "udp_dout", "udp_sess_cur", "udp_sess_tot", "udp_expired", "udp_evicted",
                   "udp_denied", "udp_truncated", "udp_dropped", "udp_refused"].map { row[$0]! }
        XCTAssertEqual(udp, ["500", "480", "6", "60", "50", "4", "9", "2", "1", ""])
    }

    func testMembers() {
        let all = rows(StatCSV.render(SnapshotFixture.make()))
        let web1 = all[5], web2 = all[6], web3 = all[7]
        XCTAssertEqual(web1["scur"], "8")
        XCTAssertEqual(web1["smax"], "20")
        XCTAssertEqual(web1["stot"], "700")
        XCTAssertEqual(web1["lbtot"], "700")
        XCTAssertEqual(web1["bin"], "100000", "bytes to the member")
        XCTAssertEqual(web1["bout"], "500000", "bytes from the member")
        XCTAssertEqual(web1["econ"], "4")
        XCTAssertEqual(web1["eresp"], "")
        XCTAssertEqual(web1["status"], "UP")
        XCTAssertEqual(web1["weight"], "10")
        XCTAssertEqual(web1["act"], "1")
        XCTAssertEqual(web1["bck"], "0")
        XCTAssertEqual(web1["chkfail"], "2")
        XCTAssertEqual(web1["chkdown"], "1")
        XCTAssertEqual(web1["lastchg"], "3600")
        XCTAssertEqual(web1["downtime"], "30")
        XCTAssertEqual(web1["type"], "2")
        XCTAssertEqual(web1["rate"], "12")
        XCTAssertEqual(web1["rate_max"], "30")
        XCTAssertEqual(web1["check_status"], "L7OK")
        XCTAssertEqual(web1["check_duration"], "12")
        XCTAssertEqual(web1["addr"], "10.0.0.11:8080")
        XCTAssertEqual(web1["op_status"], "ONLINE")
        XCTAssertEqual(web1["admin_state"], "ready")
        XCTAssertEqual(web1["udp_din"], "", "a TCP-only pool has no UDP fields")

        XCTAssertEqual(web2["status"], "DOWN")
        XCTAssertEqual(web2["op_status"], "ERROR")
        XCTAssertEqual(web2["check_status"], "L7STS")
        XCTAssertEqual(web2["check_duration"], "1004")
        XCTAssertEqual(web2["lastchg"], "120")

        XCTAssertEqual(web3["status"], "DRAIN")
        XCTAssertEqual(web3["op_status"], "DRAINING")
        XCTAssertEqual(web3["admin_state"], "drain")
        XCTAssertEqual(web3["act"], "0")
        XCTAssertEqual(web3["bck"], "1")
        XCTAssertEqual(web3["check_status"], "", "no check yet")
        XCTAssertEqual(web3["check_duration"], "")
        XCTAssertEqual(web3["chkfail"], "0")

        let dnsA = all[2], dnsB = all[3]
        XCTAssertEqual(dnsA["status"], "no check")
        XCTAssertEqual(dnsA["op_status"], "NO_MONITOR")
        XCTAssertEqual(dnsA["chkfail"], "", "no monitor")
        XCTAssertEqual(dnsA["lastchg"], "")
        XCTAssertEqual(dnsA["downtime"], "")
        XCTAssertEqual(dnsA["econ"], "", "a UDP-only pool has no connect failures")
        XCTAssertEqual(dnsA["scur"], "5")
        XCTAssertEqual(dnsA["bin"], "24000")
        XCTAssertEqual(dnsA["bout"], "60000")
        XCTAssertEqual(dnsA["weight"], "2")
        XCTAssertEqual(["udp_din", "udp_dout", "udp_sess_cur", "udp_sess_tot", "udp_refused"].map { dnsA[$0]! },
                       ["300", "290", "5", "40", "6"])
        XCTAssertEqual(dnsB["status"], "MAINT")
        XCTAssertEqual(dnsB["op_status"], "OFFLINE")
        XCTAssertEqual(dnsB["admin_state"], "maint")
    }

    func testBackends() {
        let all = rows(StatCSV.render(SnapshotFixture.make()))
        let dns = all[4], web = all[8]
        XCTAssertEqual(web["status"], "UP", "DEGRADED still serves")
        XCTAssertEqual(web["op_status"], "DEGRADED")
        XCTAssertEqual(web["weight"], "15", "web-3 drains")
        XCTAssertEqual(web["act"], "1", "web-2 is down")
        XCTAssertEqual(web["bck"], "0", "web-3 drains")
        XCTAssertEqual(web["scur"], "9")
        XCTAssertEqual(web["stot"], "952")
        XCTAssertEqual(web["lbtot"], "952")
        XCTAssertEqual(web["bin"], "120000")
        XCTAssertEqual(web["bout"], "580000")
        XCTAssertEqual(web["econ"], "12")
        XCTAssertEqual(web["rate"], "12")
        XCTAssertEqual(web["type"], "1")
        XCTAssertEqual(web["lastchg"], "")
        XCTAssertEqual(web["downtime"], "")
        XCTAssertEqual(web["smax"], "")

        XCTAssertEqual(dns["status"], "UP")
        XCTAssertEqual(dns["op_status"], "ONLINE")
        XCTAssertEqual(dns["weight"], "2", "dns-b is in maint")
        XCTAssertEqual(dns["act"], "1")
        XCTAssertEqual(dns["stot"], "60")
        XCTAssertEqual(["udp_din", "udp_dout", "udp_sess_cur", "udp_sess_tot", "udp_refused"].map { dns[$0]! },
                       ["490", "479", "5", "60", "6"])
    }

    func testPoolWithoutServingMemberIsDown() {
        var snapshot = SnapshotFixture.make()
        for i in snapshot.pools[1].members.indices { snapshot.pools[1].members[i].adminState = .maint }
        let web = rows(StatCSV.render(snapshot))[8]
        XCTAssertEqual(web["status"], "DOWN")
        XCTAssertEqual(web["op_status"], "ERROR")
        XCTAssertEqual(web["weight"], "0")
        XCTAssertEqual(web["act"], "0")
    }

    func testTextFieldsAreQuoted() {
        var snapshot = SnapshotFixture.make()
        snapshot.pools[1].members[0].health?.lastCheck = "L7RSP bad, \"reply\"\nx"
        let text = StatCSV.render(snapshot)
        assertSocketSafe(text)
        XCTAssertTrue(text.contains(",\"L7RSP bad, \"\"reply\"\" x\","), text)
        XCTAssertEqual(rows(text)[5]["check_status"], "L7RSP bad, \"reply\" x")
    }
}
