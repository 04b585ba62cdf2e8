// Health test members over TLS, run as child processes (python3 for HTTPS, openssl s_server
// for TLS-HELLO) with throwaway certificates; killed by HealthTestCase.tearDown, and by the
// kernel if the test process dies (PR_SET_PDEATHSIG).

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Child processes (python3 HTTPS server, openssl s_server)

enum HealthTools {
    /// The path of an executable: preferred absolute paths first, then $PATH.
    static func find(_ name: String, preferring: [String] = []) throws -> String {
        var candidates = preferring
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        candidates += path.split(separator: ":").map { "\($0)/\(name)" }
        candidates += ["/usr/local/bin/\(name)", "/usr/bin/\(name)", "/bin/\(name)"]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        throw TestFailure("""
            \(name) is needed by the health monitor tests and was not found (looked in \(candidates.joined(separator: ", "))); \
            install it (Debian: apt-get install \(name == "python3" ? "python3" : "openssl"))
            """)
    }

    static func python3() throws -> String { try find("python3", preferring: ["/usr/bin/python3"]) }
    static func openssl() throws -> String { try find("openssl", preferring: ["/usr/bin/openssl"]) }

    /// Runs a command to completion (≤ timeout), returning its exit status and output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 60) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let collected = Locked<Data>(Data())
        let reader = DispatchSemaphore(value: 0)
        startThread(name: "fulcrum-it-tool-output") {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            collected.withLock { $0 = data }
            reader.signal()
        }
        if !waitUntil(timeout: timeout, interval: 0.02, { !process.isRunning }) {
            kill(process.processIdentifier, SIGKILL)
            _ = waitUntil(timeout: 5) { !process.isRunning }
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
        }
        _ = reader.wait(timeout: .now() + 5)
        let text = String(decoding: collected.current, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) failed (status \(process.terminationStatus)):\n\(text)")
        }
        return text
    }
}

/// A throwaway self-signed certificate (CN localhost; subjectAltName localhost / 127.0.0.1
/// unless told otherwise) in a temporary directory, removed in tearDown.
final class TestCertificate {
    let directory: URL
    let certPath: String
    let keyPath: String

    init(subjectAltName: String = "DNS:localhost,IP:127.0.0.1") throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("fulcrum-it-tls-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certPath = directory.appendingPathComponent("cert.pem").path
        keyPath = directory.appendingPathComponent("key.pem").path
        try HealthTools.run(try HealthTools.openssl(), [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "2",
            "-addext", "subjectAltName=\(subjectAltName)",
            "-keyout", keyPath, "-out", certPath,
        ])
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// A server run as a child process on a fixed loopback port: started, killed (SIGKILL, so
/// the port closes at once) and started again on the same port. Its output goes to a log file
/// shown in failure messages. The child is started through a tiny python3 wrapper that sets
/// PR_SET_PDEATHSIG, so it cannot outlive a crashed test process either.
final class ChildServer {
    let name: String
    let port: UInt16
    private let executable: String
    private let arguments: [String]
    private let logPath: String
    private let lock = NSLock()
    private var process: Process?
    private var stdinPipe: Pipe?

    init(name: String, port: UInt16, executable: String, arguments: [String], logPath: String) {
        self.name = name
        self.port = port
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
    }

    var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return process?.isRunning ?? false }
    var pid: Int32? { lock.lock(); defer { lock.unlock() }; return process?.processIdentifier }

    var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)).map { $0.isEmpty ? "(empty)" : $0 } ?? "(no log)"
    }

    /// Starts the child and waits until its port accepts a TCP connection.
    func start(timeout: Double = 15) throws {
        guard !isRunning else { return }
        let python = try HealthTools.python3()
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let logHandle = FileHandle(forWritingAtPath: logPath) else { throw TestFailure("cannot write \(logPath)") }
        logHandle.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", """
            import ctypes, os, sys
            try:
                ctypes.CDLL(None).prctl(1, 9)
            except Exception:
                pass
            os.execv(sys.argv[1], sys.argv[1:])
            """, executable] + arguments
        process.standardOutput = logHandle
        process.standardError = logHandle
        // A pipe we never write to nor close: stdin stays open and quiet (s_server reads it).
        let input = Pipe()
        process.standardInput = input
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        try process.run()
        try? logHandle.close()
        lock.lock()
        self.process = process
        stdinPipe = input
        lock.unlock()
        let ready = waitUntil(timeout: timeout, interval: 0.05) {
            guard process.isRunning else { return true }
            guard let socket = try? TCPSocket.connect(host: "127.0.0.1", port: port, timeout: 0.5, ioTimeout: 1) else {
                return false
            }
            socket.close()
            return true
        }
        guard ready, process.isRunning else {
            let status = process.isRunning ? "still running" : "exited with status \(process.terminationStatus)"
            kill()
            throw TestFailure("\(name) (\(executable) \(arguments.joined(separator: " "))) did not accept connections on 127.0.0.1:\(port) within \(timeout) s (\(status)); its output:\n\(log)")
        }
    }

    /// SIGKILL and wait for the exit: the port is closed when this returns.
    func kill() {
        lock.lock()
        let process = self.process
        self.process = nil
        let input = stdinPipe
        stdinPipe = nil
        lock.unlock()
        guard let process else { return }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        _ = waitUntil(timeout: 10, interval: 0.01) { !process.isRunning }
        try? input?.fileHandleForWriting.close()
    }
}

/// The HTTPS member: python3's http.server behind the ssl module, answering every request
/// with the status code in a control file it re-reads per request.
final class HTTPSTestServer {
    let server: ChildServer
    let certificate: TestCertificate
    private let controlPath: String

    var port: UInt16 { server.port }

    init(certificate: TestCertificate, status: Int = 200) throws {
        self.certificate = certificate
        let id = UUID().uuidString.prefix(8)
        controlPath = certificate.path("status-\(id)")
        let scriptPath = certificate.path("https-\(id).py")
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let port = try freePort()
        server = ChildServer(name: "python3 HTTPS server", port: port, executable: try HealthTools.python3(),
                             arguments: [scriptPath, String(port), certificate.certPath, certificate.keyPath, controlPath],
                             logPath: certificate.path("https-\(id).log"))
        try setStatus(status)
    }

    /// Takes effect with the next request (written atomically: never a half-written file).
    func setStatus(_ code: Int) throws {
        try "\(code)\n".write(toFile: controlPath, atomically: true, encoding: .utf8)
    }

    func start() throws { try server.start() }
    func kill() { server.kill() }

    static let script = """
        import http.server, ssl, sys, time
        port, cert, key, control = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            def answer(self, with_body):
                try:
                    code = int(open(control).read().strip())
                except Exception:
                    code = 500
                body = b"" if code in (204, 304) or not with_body else b"health\\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self): self.answer(True)
            def do_POST(self): self.answer(True)
            def do_OPTIONS(self): self.answer(True)
            def do_HEAD(self): self.answer(False)
            def log_message(self, *args): pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128
            def finish_request(self, request, client_address):
                # The TLS handshake runs here, on the connection's own thread, so a client that
                # connects and says nothing never blocks the accept loop.
                request.settimeout(5)
                try:
                    tls = context.wrap_socket(request, server_side=True)
                except Exception:
                    return
                try:
                    self.RequestHandlerClass(tls, client_address, self)
                except Exception:
                    pass
                finally:
                    try:
                        tls.close()
                    except Exception:
                        pass
            def handle_error(self, request, client_address):
                pass

        deadline = time.monotonic() + 10
        while True:
            try:
                server = Server(("127.0.0.1", port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        print("listening on 127.0.0.1:%d" % port, flush=True)
        server.serve_forever()
        """
}

/// The TLS member: `openssl s_server -www` (a TLS server that answers a ServerHello to any
/// ClientHello), killable and restartable on the same port.
final class TLSTestServer {
    let server: ChildServer
    var port: UInt16 { server.port }

    /// `extraArguments` go to s_server (e.g. `-servername NAME -servername_fatal`).
    init(certificate: TestCertificate, extraArguments: [String] = []) throws {
        let port = try freePort()
        let id = UUID().uuidString.prefix(8)
        server = ChildServer(name: "openssl s_server", port: port, executable: try HealthTools.openssl(),
                             arguments: ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificate.certPath,
                                         "-key", certificate.keyPath, "-www", "-quiet"] + extraArguments,
                             logPath: certificate.path("s_server-\(id).log"))
    }

    func start() throws { try server.start() }
    func kill() { server.kill() }
}
