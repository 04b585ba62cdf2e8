import FulcrumSystem
import Synchronization
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class EventLoopTests: XCTestCase {
    /// A loop thread sleeping in epoll wakes for `wake()`, ends on `requestStop()`, runs under
    /// its own name, and `join` reports the end (again on a second join).
    func testWakeStopAndJoin() throws {
        let loop = try EventLoop(name: "fulcrum-test", capacity: 4, wakeData: 7)
        let wakes = Atomic<Int>(0)
        let name = Mutex("")
        try loop.start {
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            name.withLock { $0 = comm.trimmingCharacters(in: .newlines) }
            while !loop.stopRequested {
                let n = (try? loop.poll.wait(timeoutMs: 5000)) ?? 0
                for i in 0..<n where loop.poll.data(at: i) == loop.wakeData {
                    loop.consumeWake()
                    wakes.add(1, ordering: .relaxed)
                }
            }
        }
        XCTAssertFalse(loop.join(timeoutMs: 100), "the loop runs until asked to stop")
        loop.wake()
        let deadline = Date().addingTimeInterval(5)
        while wakes.load(ordering: .relaxed) == 0 && Date() < deadline { usleep(1000) }
        XCTAssertEqual(wakes.load(ordering: .relaxed), 1, "one wake, one event (the eventfd was reset)")
        loop.requestStop()
        XCTAssertTrue(loop.join(timeoutMs: 5000))
        XCTAssertTrue(loop.join(timeoutMs: 0), "a second join sees the end too")
        XCTAssertEqual(name.withLock { $0 }, "fulcrum-test")
    }

    func testJoinOfALoopNeverStartedReturnsAtOnce() throws {
        let loop = try EventLoop(name: "idle", capacity: 1, wakeData: 0)
        XCTAssertTrue(loop.join(timeoutMs: 0))
    }
}

final class UnixSocketTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = "/tmp/fulcrum-unix-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(mkdir(dir, 0o700), 0)
    }

    override func tearDown() {
        _ = try? FileManager.default.removeItem(atPath: dir)
    }

    func testListensWithModeReplacesAStaleSocketAndRefusesALiveOne() throws {
        let path = dir + "/s.sock"
        let first = try UnixSocket.listen(path: path, mode: 0o660)
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o660)
        XCTAssertThrowsError(try UnixSocket.listen(path: path, mode: 0o660), "someone is listening") { error in
            XCTAssertEqual((error as? SystemError)?.code, EADDRINUSE)
        }
        let client = try UnixSocket.connect(path: path)
        let peer = UnixSocket.peerCredentials(client)
        XCTAssertEqual(peer?.pid, getpid())
        close(client)
        close(first)  // the file stays behind: stale
        let second = try UnixSocket.listen(path: path, mode: 0o600)
        XCTAssertEqual(lstat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        close(second)
    }

    func testRefusesToReplaceARegularFileAndNamesAMissingDirectory() throws {
        let file = dir + "/data"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("keep".utf8)))
        XCTAssertThrowsError(try UnixSocket.listen(path: file, mode: 0o660)) { error in
            XCTAssertEqual((error as? SystemError)?.code, EEXIST)
        }
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "keep", "the file was not touched")
        XCTAssertThrowsError(try UnixSocket.listen(path: dir + "/missing/s.sock", mode: 0o660)) { error in
            XCTAssertEqual((error as? SystemError)?.code, ENOENT)
        }
        XCTAssertThrowsError(try UnixSocket.connect(path: dir + "/none.sock")) { error in
            XCTAssertEqual((error as? SystemError)?.description.hasPrefix("connect: ENOENT"), true)
        }
    }
}
