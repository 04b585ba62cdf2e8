// Support for the HA (VRRPv3) tests: a small L2 world in network namespaces the test makes and
// removes — a bridge, two Fulcrum nodes, a client and a member — on 198.18.0.0/24 only:
//
//     ns fx-ha-br:  br0 ── p-n1 ─┐  ┌─ p-n2 ── p-cl ── p-mb   (veth ports of one bridge)
//     ns node1:     eth0 198.18.0.11       ns node2:  eth0 198.18.0.12
//     ns client:    eth0 198.18.0.50       ns member: eth0 198.18.0.60, "who" echo server :7000
//
// The VIP is 198.18.0.100/24, served on :8080 by a listener on both nodes (IP_FREEBIND). The
// member tells each connection which node it came from ("from 198.18.0.12\n", then echoes), so
// the client knows which node carried it. The host's root namespace is untouched except for
// creating and removing the namespaces; namespaces left by a crashed earlier run (their
// creator's pid is gone) are removed, with the processes still inside them, before a new world
// is built.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Running code inside a namespace

private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32
/// setns(2), looked up at run time (Swift's Glibc module does not declare it without _GNU_SOURCE).
private let setnsFunction: SetnsFunction? = {
    guard let symbol = dlsym(nil, "setns") else { return nil }  // RTLD_DEFAULT
    return unsafeBitCast(symbol, to: SetnsFunction.self)
}()

private let cloneNewNet: Int32 = 0x4000_0000

/// Moves the calling thread (only it) into network namespace `name` (/run/netns/NAME).
func enterNetns(_ name: String) throws {
    guard let setns = setnsFunction else { throw TestFailure("setns(2) not found in libc") }
    let fd = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw TestFailure("open /run/netns/\(name): \(errnoDescription(errno))") }
    defer { close(fd) }
    guard setns(fd, cloneNewNet) == 0 else { throw TestFailure("setns \(name): \(errnoDescription(errno))") }
}

/// Runs `body` on a fresh thread inside namespace `name` and returns its result. Sockets made
/// there stay in that namespace wherever they are used later; threads started there inherit it.
func inNetns<R>(_ name: String, timeout: Double = 60, _ body: @escaping () throws -> R) throws -> R {
    let result = Locked<Result<R, Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    startThread(name: "fulcrum-it-netns") {
        let r = Result<R, Error> {
            try enterNetns(name)
            return try body()
        }
        result.withLock { $0 = r }
        done.signal()
    }
    guard done.wait(timeout: .now() + timeout) == .success else {
        throw TestFailure("work inside namespace \(name) did not finish within \(timeout) s")
    }
    return try result.current!.get()
}

/// The IPv4 and IPv6 addresses on interface `interface` of the calling thread's namespace
/// (getifaddrs reads them over netlink, in that namespace; a down interface keeps its IPv4 ones).
func interfaceAddresses(on interface: String) -> [String] {
    var head: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&head) == 0 else { return [] }
    defer { freeifaddrs(head) }
    var result: [String] = []
    var cursor = head
    while let entry = cursor {
        defer { cursor = entry.pointee.ifa_next }
        guard let addr = entry.pointee.ifa_addr, String(cString: entry.pointee.ifa_name) == interface else { continue }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(addr.pointee.sa_family) {
        case AF_INET:
            addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var a = sin.pointee.sin_addr
                _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            }
        case AF_INET6:
            addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var a = sin6.pointee.sin6_addr
                _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
            }
        default:
            continue
        }
        result.append(String(cString: text))
    }
    return result
}

// MARK: - Child processes (keepalived, fulcrumctl…)

/// A child process with stdout and stderr captured together; `stop()` is SIGTERM then SIGKILL.
final class ChildProcess {
    let argv: [String]
    private let process = Process()
    private let pipe = Pipe()
    private let output = Locked<[UInt8]>([])

    init(_ argv: [String]) throws {
        self.argv = argv
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let fd = pipe.fileHandleForReading.fileDescriptor
        let output = self.output
        startThread(name: "fulcrum-it-child") {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                output.withLock { $0 += buffer[0..<n] }
            }
        }
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var text: String { String(decoding: output.current, as: UTF8.self) }

    func signal(_ signal: Int32) { if process.isRunning { kill(pid, signal) } }

    @discardableResult
    func waitExit(timeout: Double) -> Bool { waitUntil(timeout: timeout, interval: 0.01) { !process.isRunning } }

    func stop() {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if !waitExit(timeout: 5) {
            signal(SIGKILL)
            waitExit(timeout: 5)
        }
    }

    func tail(_ lines: Int = 60) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

// MARK: - The member: who-am-I echo server

/// On each connection, writes "from PEER\n" (the connecting node's address), or what
/// `greeting` makes of PEER, then echoes until EOF. Build it inside the member's namespace
/// (`inNetns`).
final class WhoServer {
    let port: UInt16
    private let listener: TCPListener
    private let greeting: (String) -> String
    private let state = Locked<(stopping: Bool, fds: Set<Int32>, accepted: Int, done: Bool)>((false, [], 0, false))

    init(host: String, port: UInt16, greeting: @escaping (String) -> String = { "from \($0)\n" }) throws {
        self.greeting = greeting
        listener = try TCPListener(host: host, port: port)
        self.port = listener.port
        startThread(name: "fulcrum-it-who") { [self] in acceptLoop() }
    }

    var acceptedCount: Int { state.current.accepted }

    private func acceptLoop() {
        while !state.current.stopping {
            guard (try? Sock.poll(listener.fd, events: Int16(POLLIN), timeout: 0.1)) == true else { continue }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener.fd, $0, &length) }
            }
            if fd < 0 { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let peer = SocketAddress(storage: storage, length: length).host
            let admitted = state.withLock { s -> Bool in
                if s.stopping { return false }
                s.fds.insert(fd)
                s.accepted += 1
                return true
            }
            guard admitted else { Glibc.close(fd); break }
            startThread(name: "fulcrum-it-who-conn") { [self] in serve(fd, peer: peer) }
        }
        listener.close()
        state.withLock { $0.done = true }
    }

    private func serve(_ fd: Int32, peer: String) {
        Sock.setTimeouts(fd, receive: 30, send: 5)
        let hello = Array(greeting(peer).utf8)
        var buffer = [UInt8](repeating: 0, count: 16384)
        if (try? hello.withUnsafeBytes({ try Sock.sendAll(fd, $0, timeout: 5) })) != nil {
            while let n = try? buffer.withUnsafeMutableBytes({ try Sock.recv(fd, $0) }), n > 0 {
                guard (try? buffer.withUnsafeBytes({ try Sock.sendAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<n]), timeout: 5) })) != nil else { break }
            }
        }
        state.withLock { _ = $0.fds.remove(fd) }
        Glibc.close(fd)
    }

    func stop() {
        let fds = state.withLock { s -> Set<Int32> in
            s.stopping = true
            return s.fds
        }
        for fd in fds { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
        waitUntil(timeout: 2) { state.current.done }
    }

    deinit { stop() }
}

// MARK: - VRRPv3 advertisements (for spoofing)

enum VRRPv3 {
    static let ipProtocol: Int32 = 112

    static func ipv4Bytes(_ text: String) throws -> [UInt8] {
        var a = in_addr()
        guard inet_pton(AF_INET, text, &a) == 1 else { throw TestFailure("not an IPv4 address: \(text)") }
        return withUnsafeBytes(of: &a) { Array($0) }
    }

    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// An IPv4 VRRPv3 advertisement (RFC 5798 §5.1, without the IP header), its checksum over
    /// the IPv4 pseudo-header for `source` → `destination`.
    static func advert(vrid: UInt8, priority: UInt8, intervalCentiseconds: UInt16, addresses: [String],
                       source: String, destination: String) throws -> [UInt8] {
        var packet: [UInt8] = [0x31, vrid, priority, UInt8(addresses.count),
                               UInt8((intervalCentiseconds >> 8) & 0x0f), UInt8(intervalCentiseconds & 0xff), 0, 0]
        for address in addresses { packet += try ipv4Bytes(address) }
        let pseudo = try ipv4Bytes(source) + ipv4Bytes(destination)
            + [0, UInt8(ipProtocol), UInt8(packet.count >> 8), UInt8(packet.count & 0xff)]
        let sum = checksum(pseudo + packet)
        packet[6] = UInt8(sum >> 8)
        packet[7] = UInt8(sum & 0xff)
        return packet
    }

    /// keepalived 2.2.7's advertisement (vrid 42, priority 200, 10 cs, 198.18.0.100; from
    /// 198.18.0.11 to 224.0.0.18), the VRRP part of the captured frame: the builder must match it.
    static let keepalivedPrio200 = "312ac801000a99a6c6120064"

    /// Sends `packet` as IP protocol 112 with TTL 255 from `source` to each of `destinations`,
    /// `count` rounds `interval` apart. Call inside the sender's namespace.
    static func send(vrid: UInt8, priority: UInt8, addresses: [String], source: String, destinations: [String],
                     count: Int, interval: Double) throws {
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), ipProtocol)
        guard fd >= 0 else { throw SocketError("socket(AF_INET, SOCK_RAW, 112)", errno) }
        defer { close(fd) }
        try Sock.bind(fd, SocketAddress(host: source, port: 0))
        var ttl: Int32 = 255
        guard setsockopt(fd, Int32(IPPROTO_IP), IP_TTL, &ttl, socklen_t(MemoryLayout<Int32>.size)) == 0,
              setsockopt(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, &ttl, socklen_t(MemoryLayout<Int32>.size)) == 0
        else { throw SocketError("setsockopt IP_TTL", errno) }
        var packets: [(SocketAddress, [UInt8])] = []
        for destination in destinations {
            packets.append((try SocketAddress(host: destination, port: 0),
                            try advert(vrid: vrid, priority: priority, intervalCentiseconds: 10, addresses: addresses,
                                       source: source, destination: destination)))
        }
        for round in 0..<count {
            if round > 0 { sleepSeconds(interval) }
            for (address, packet) in packets {
                let n = packet.withUnsafeBytes { raw in address.withSockaddr { sendto(fd, raw.baseAddress, raw.count, 0, $0, $1) } }
                guard n == packet.count else { throw SocketError("sendto \(address.host)", errno) }
            }
        }
    }
}

// MARK: - The world

final class HAWorld {
    static let vip4 = "198.18.0.100"
    static let vip4CIDR = "198.18.0.100/24"
    static let vip6 = "fd00:198:18::100"
    static let vip6CIDR = "fd00:198:18::100/64"
    /// Each namespace's address suffix: node1 ::11, node2 ::12, client ::50, member ::60.
    static func ipv6(_ v4: String) -> String { "fd00:198:18::" + v4.split(separator: ".").last! }
    static let port: UInt16 = 8080
    static let memberAddress = "198.18.0.60"
    static let memberPort: UInt16 = 7000
    static let clientAddress = "198.18.0.50"
    static let nodeAddresses = ["198.18.0.11", "198.18.0.12"]
    /// The interface name inside every namespace (the veth end).
    static let interface = "eth0"
    static let prefix = "fx-ha"

    let bridge: NetworkNamespace
    let nodes: [NetworkNamespace]
    let client: NetworkNamespace
    let member: NetworkNamespace
    private(set) var who: WhoServer?
    /// The VIP the nodes are configured with (IPv4 unless `useIPv6VIP()`).
    private(set) var vip = HAWorld.vip4
    private(set) var vipCIDR = HAWorld.vip4CIDR
    private var all: [NetworkNamespace] { [client, member] + nodes + [bridge] }
    private var removed = false

    init() throws {
        removeStaleNamespaces(prefix: Self.prefix)
        var made: [NetworkNamespace] = []
        do {
            bridge = try NetworkNamespace(prefix: "\(Self.prefix)-br"); made.append(bridge)
            let n1 = try NetworkNamespace(prefix: "\(Self.prefix)-n1"); made.append(n1)
            let n2 = try NetworkNamespace(prefix: "\(Self.prefix)-n2"); made.append(n2)
            nodes = [n1, n2]
            client = try NetworkNamespace(prefix: "\(Self.prefix)-cl"); made.append(client)
            member = try NetworkNamespace(prefix: "\(Self.prefix)-mb"); made.append(member)

            // No duplicate address detection (addresses, link-locals included, usable at once).
            for ns in [n1, n2, client, member] {
                try inNetns(ns.name, timeout: 10) {
                    for conf in ["all", "default"] {
                        try "0\n".write(toFile: "/proc/sys/net/ipv6/conf/\(conf)/accept_dad", atomically: false, encoding: .utf8)
                    }
                }
            }
            try bridge.run("link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
            try bridge.run("link", "set", "br0", "up")
            for (port, ns, address) in [("p-n1", n1, Self.nodeAddresses[0]), ("p-n2", n2, Self.nodeAddresses[1]),
                                        ("p-cl", client, Self.clientAddress), ("p-mb", member, Self.memberAddress)] {
                try bridge.run("link", "add", port, "type", "veth", "peer", "name", Self.interface, "netns", ns.name)
                try bridge.run("link", "set", port, "master", "br0")
                try bridge.run("link", "set", port, "up")
                try ns.run("addr", "add", "\(address)/24", "dev", Self.interface)
                try ns.run("addr", "add", "\(Self.ipv6(address))/64", "dev", Self.interface, "nodad")
                try ns.run("link", "set", Self.interface, "up")
            }
            who = try inNetns(member.name) { try WhoServer(host: Self.memberAddress, port: Self.memberPort) }
            // The client can reach the member directly: the L2 world works before any node does.
            let direct = try inNetns(client.name) { () -> String in
                let s = try TCPSocket.connect(host: Self.memberAddress, port: Self.memberPort, timeout: 5, ioTimeout: 5)
                defer { s.close() }
                return try Self.readLine(s)
            }
            guard direct == "from \(Self.clientAddress)" else { throw TestFailure("member's greeting: \(direct)") }
        } catch {
            who?.stop()
            for ns in made.reversed() { ns.remove() }
            throw error
        }
    }

    /// Nodes, client and checks use the IPv6 VIP (call before configuring nodes).
    func useIPv6VIP() {
        vip = Self.vip6
        vipCIDR = Self.vip6CIDR
    }

    /// Removes the namespaces (idempotent). Stop the processes running inside first.
    func remove() {
        guard !removed else { return }
        removed = true
        who?.stop()
        for ns in all { ns.remove() }
    }

    var namespaceNames: [String] { all.map(\.name) }

    // MARK: Observations

    /// Which nodes (0, 1) hold the VIP on their interface right now: one thread visits both
    /// namespaces in turn, so the two reads are microseconds apart.
    func vipHolders() throws -> [Int] {
        let names = nodes.map(\.name)
        let vip = self.vip
        return try inNetns(names[0], timeout: 10) { () -> [Int] in
            var holders: [Int] = []
            for (index, name) in names.enumerated() {
                if index > 0 { try enterNetns(name) }
                if interfaceAddresses(on: Self.interface).contains(vip) { holders.append(index) }
            }
            return holders
        }
    }

    /// `ip -n NODE addr show dev eth0` mentions the VIP (what an operator would look at; slower).
    func ipAddrShowHasVIP(_ node: Int) throws -> Bool {
        try nodes[node].run("-o", "addr", "show", "dev", Self.interface).contains(" \(vipCIDR) ")
    }

    func mac(of ns: NetworkNamespace) throws -> String {
        let text = try ns.run("-o", "link", "show", "dev", Self.interface)
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\\" }).map(String.init)
        guard let i = words.firstIndex(of: "link/ether"), i + 1 < words.count else {
            throw TestFailure("no link/ether in: \(text)")
        }
        return words[i + 1].lowercased()
    }

    /// The client's neighbour entry for the VIP: (lladdr or nil, the whole line).
    func clientNeighbour() throws -> (mac: String?, line: String) {
        let text = try client.run("neigh", "show", vip, "dev", Self.interface)
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        if let i = words.firstIndex(of: "lladdr"), i + 1 < words.count { return (words[i + 1].lowercased(), text) }
        return (nil, text)
    }

    // MARK: Client traffic

    static func readLine(_ socket: TCPSocket) throws -> String {
        var line: [UInt8] = []
        while true {
            let byte = try socket.recvExactly(1)[0]
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
            if line.count > 200 { throw TestFailure("no newline in \(String(decoding: line, as: UTF8.self))") }
        }
    }

    /// From the client: one connection to VIP:8080, the member's greeting and an echo. Returns
    /// the address of the node the member saw (the node that carried the connection).
    func clientExchange(timeout: Double = 3) throws -> String {
        let vip = self.vip
        return try inNetns(client.name, timeout: timeout + 10) { () -> String in
            let s = try TCPSocket.connect(host: vip, port: Self.port, timeout: timeout, ioTimeout: timeout)
            defer { s.close() }
            let greeting = try Self.readLine(s)
            guard greeting.hasPrefix("from ") else { throw TestFailure("unexpected greeting through the VIP: \(greeting)") }
            try s.exchange("hello through the VIP\n")
            return String(greeting.dropFirst(5))
        }
    }

    /// Opens a client connection to the VIP (in the client namespace) and keeps it open.
    func clientConnection(timeout: Double = 3) throws -> (socket: TCPSocket, via: String) {
        let vip = self.vip
        return try inNetns(client.name, timeout: timeout + 10) { () -> (TCPSocket, String) in
            let s = try TCPSocket.connect(host: vip, port: Self.port, timeout: timeout, ioTimeout: timeout)
            let greeting = try Self.readLine(s)
            return (s, String(greeting.dropFirst(5)))
        }
    }

    struct Usable {
        /// Monotonic time the first good exchange completed.
        var time: Double
        var attempts: Int
        /// Attempts answered through another node than the expected one.
        var wrongNode: Int
    }

    /// From the client: a new non-blocking connection to VIP:8080 every `interval` (earlier
    /// ones stay pending, so a SYN lost before the switch does not stall the measure), until one
    /// connects, is greeted "from EXPECTED" by the member and gets its echo. Nil on timeout.
    func waitUsable(via expected: String, timeout: Double, interval: Double = 0.01) throws -> Usable? {
        let target = try SocketAddress(host: vip, port: Self.port)
        let want = Array("from \(expected)\nping\n".utf8)
        return try inNetns(client.name, timeout: timeout + 10) { () -> Usable? in
            struct Attempt { var fd: Int32; var started: Double; var connected = false; var received: [UInt8] = [] }
            var attempts: [Attempt] = []
            var count = 0, wrong = 0
            defer { for a in attempts { close(a.fd) } }
            let deadline = monotonicNow() + timeout
            var nextLaunch = monotonicNow()
            var buffer = [UInt8](repeating: 0, count: 256)
            while monotonicNow() < deadline {
                let now = monotonicNow()
                if now >= nextLaunch {
                    nextLaunch = now + interval
                    let fd = socket(target.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                    if fd >= 0 {
                        count += 1
                        let rc = target.withSockaddr { connect(fd, $0, $1) }
                        if rc == 0 || errno == EINPROGRESS { attempts.append(Attempt(fd: fd, started: now)) } else { close(fd) }
                    }
                }
                // Abandon attempts older than a second (their SYN went nowhere).
                attempts.removeAll { a in
                    if now - a.started > 1.0 { close(a.fd); return true }
                    return false
                }
                var pfds = attempts.map { pollfd(fd: $0.fd, events: Int16($0.connected ? POLLIN : POLLOUT), revents: 0) }
                let wait = max(0, Int32(((nextLaunch - monotonicNow()) * 1000).rounded(.up)))
                let rc = pfds.isEmpty ? Int32(usleep(useconds_t(wait) * 1000)) : poll(&pfds, nfds_t(pfds.count), wait)
                guard rc > 0, !pfds.isEmpty else { continue }
                var finished: Set<Int32> = []
                for (i, p) in pfds.enumerated() where p.revents != 0 {
                    if !attempts[i].connected {
                        var soError: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        _ = getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                        if soError != 0 { finished.insert(p.fd); continue }
                        attempts[i].connected = true
                        let ping = Array("ping\n".utf8)
                        if send(p.fd, ping, ping.count, Int32(MSG_NOSIGNAL)) != ping.count { finished.insert(p.fd) }
                        continue
                    }
                    let n = recv(p.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                    if n <= 0 {
                        if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                        finished.insert(p.fd)
                        continue
                    }
                    attempts[i].received += buffer[0..<n]
                    let got = attempts[i].received
                    if let newline = got.firstIndex(of: UInt8(ascii: "\n")), got[..<newline] != want[..<want.firstIndex(of: UInt8(ascii: "\n"))!] {
                        wrong += 1
                        finished.insert(p.fd)
                    } else if got.count >= want.count {
                        if Array(got.prefix(want.count)) == want { return Usable(time: monotonicNow(), attempts: count, wrongNode: wrong) }
                        finished.insert(p.fd)
                    }
                }
                attempts.removeAll { a in
                    if finished.contains(a.fd) { close(a.fd); return true }
                    return false
                }
            }
            return nil
        }
    }
}

// MARK: - nftables inside a namespace

enum NFT {
    static func binary() throws -> String {
        for path in ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw TestFailure("nft not found: the HA tests need the nftables package (apt-get install -y nftables; scripts/test installs it)")
    }

    /// Runs each `nft` command (one argv word each, e.g. "add table inet fxha") inside `ns`.
    static func run(_ ns: NetworkNamespace, _ commands: [String]) throws {
        let nft = try binary()
        for command in commands { try runCommand(ns.launcher + [nft, command]) }
    }

    /// Table `fxha` with a `chain` hooked at `hook`, holding `rules`.
    static func add(_ ns: NetworkNamespace, hook: String, rules: [String]) throws {
        try run(ns, ["add table inet fxha",
                     "add chain inet fxha \(hook) { type filter hook \(hook) priority 0 ; policy accept ; }"]
                 + rules.map { "add rule inet fxha \(hook) \($0)" })
    }

    static func flush(_ ns: NetworkNamespace) throws {
        try run(ns, ["delete table inet fxha"])
    }
}

// MARK: - keepalived

enum Keepalived {
    static func binary() throws -> String {
        for path in ["/usr/sbin/keepalived", "/sbin/keepalived", "/usr/bin/keepalived"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw TestFailure("keepalived not found: the HA interoperability tests need the keepalived package (apt-get install -y keepalived; scripts/test installs it)")
    }

    static func config(routerID: String, vrid: Int, priority: Int, advertInterval: Double) -> String {
        """
        global_defs {
            router_id \(routerID)
            vrrp_version 3
        }
        vrrp_instance fxha {
            state BACKUP
            interface \(HAWorld.interface)
            virtual_router_id \(vrid)
            priority \(priority)
            advert_int \(advertInterval)
            virtual_ipaddress {
                \(HAWorld.vip4CIDR) dev \(HAWorld.interface)
            }
        }

        """
    }
}

/// keepalived (VRRP subsystem only, in the foreground, no respawn) in a node's namespace.
final class KeepalivedNode {
    let process: ChildProcess
    let dir: ConfigDir
    let priority: Int

    init(in ns: NetworkNamespace, dir: ConfigDir, vrid: Int, priority: Int, advertInterval: Double = 0.1) throws {
        self.dir = dir
        self.priority = priority
        try dir.write("keepalived.conf", Keepalived.config(routerID: ns.name, vrid: vrid, priority: priority, advertInterval: advertInterval))
        for pid in ["keepalived.pid", "vrrp.pid", "checkers.pid", "bfd.pid"] {
            try? FileManager.default.removeItem(atPath: dir.filePath(pid))
        }
        process = try ChildProcess(ns.launcher + [try Keepalived.binary(), "-n", "-l", "-D", "-G", "-P", "-R",
            "-f", dir.filePath("keepalived.conf"), "-p", dir.filePath("keepalived.pid"), "-r", dir.filePath("vrrp.pid"),
            "-c", dir.filePath("checkers.pid"), "-b", dir.filePath("bfd.pid")])
    }

    /// The VRRP child's pid (the process that sends the adverts), only while that pid is still
    /// a keepalived started with this node's config file (never someone else's reused pid).
    func vrrpChildPid(timeout: Double = 5) -> Int32? {
        var pid: Int32?
        let conf = dir.filePath("keepalived.conf")
        waitUntil(timeout: timeout) {
            pid = (try? String(contentsOfFile: dir.filePath("vrrp.pid"), encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            guard let p = pid, p != process.pid,
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(p)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains(conf) else {
                pid = nil
                return false
            }
            return true
        }
        return pid
    }

    /// A crash: SIGKILL to the VRRP child, then to the parent (so nothing cleans up).
    func crash() {
        if let child = vrrpChildPid(timeout: 0) { kill(child, SIGKILL) }
        process.signal(SIGKILL)
    }

    /// Stops the parent and makes sure the VRRP child is gone too.
    func stop() {
        process.stop()
        // The child follows its parent; kill it only if it is still ours after a while.
        waitUntil(timeout: 3) { vrrpChildPid(timeout: 0) == nil }
        if let child = vrrpChildPid(timeout: 0) { kill(child, SIGKILL) }
    }

    var log: String { process.text }
    func count(_ text: String) -> Int { log.components(separatedBy: text).count - 1 }
}

// MARK: - Test case base

/// One Fulcrum node: its namespace, config dir and (current) fulcrumd.
final class HATestNode {
    let index: Int
    let ns: NetworkNamespace
    let dir: ConfigDir
    var process: FulcrumProcess?
    var name: String { "node\(index + 1)" }
    var address: String { HAWorld.nodeAddresses[index] }
    var socket: String { dir.statusSocket }

    init(index: Int, ns: NetworkNamespace, dir: ConfigDir) {
        self.index = index
        self.ns = ns
        self.dir = dir
    }
}

class HATestCase: FulcrumTestCase {
    static let vrid = 42
    static let advertInterval = 100  // ms

    private(set) var world: HAWorld?
    private var keepaliveds: [KeepalivedNode] = []
    private var nodes: [HATestNode] = []

    /// Builds the world (removed in tearDown, also on failure) and checks it was.
    func makeWorld() throws -> HAWorld {
        let w = try HAWorld()
        world = w
        return w
    }

    override func tearDown() {
        // Processes first (they live in the namespaces), then the namespaces.
        for node in nodes { node.process?.stop() }
        for k in keepaliveds { k.stop() }
        if let run = testRun, run.totalFailureCount > 0 {
            for k in keepaliveds { print("--- keepalived \(k.dir.path) ---\n\(k.process.tail(80))\n---") }
        }
        keepaliveds = []
        nodes = []
        if let w = world {
            w.remove()
            let left = w.namespaceNames.filter { FileManager.default.fileExists(atPath: "/run/netns/\($0)") }
            XCTAssertEqual(left, [], "namespaces left behind")
        }
        world = nil
        super.tearDown()
    }

    /// Skew_Time in ms for `priority` (RFC 5798 §6.1, with the advert interval in ms).
    static func skew(priority: Int, interval: Int = advertInterval) -> Double {
        Double((256 - priority) * interval) / 256
    }

    static func masterDownInterval(priority: Int, interval: Int = advertInterval) -> Double {
        3 * Double(interval) + skew(priority: priority, interval: interval)
    }

    /// The node's config: listener vip on VIP:8080 → pool web (the member), and [ha] in a drop-in.
    func makeNode(_ index: Int, priority: Int?, ha extra: [String] = [], healthMonitor: [String]? = nil,
                  withHA: Bool = true) throws -> HATestNode {
        let w = try XCTUnwrap(world)
        let config = DaemonConfig(
            workers: 1,
            listeners: [ListenerSpec(name: "vip", address: w.vip, port: HAWorld.port, defaultPool: "web",
                                     timeoutMemberConnect: 1000)],
            pools: [PoolSpec(name: "web", members: [MemberSpec(name: "m1", address: HAWorld.memberAddress, port: HAWorld.memberPort)],
                             healthMonitor: healthMonitor)])
        let dir = try makeConfigDir(config)
        let node = HATestNode(index: index, ns: w.nodes[index], dir: dir)
        if withHA { try writeHA(node, priority: priority, extra: extra) }
        nodes.append(node)
        return node
    }

    func writeHA(_ node: HATestNode, priority: Int?, extra: [String] = []) throws {
        var lines = [
            "[ha]",
            "interface = \"\(HAWorld.interface)\"",
            "virtual_router_id = \(Self.vrid)",
            "advert_interval = \(Self.advertInterval)",
            "virtual_ips = [\"\(try XCTUnwrap(world).vipCIDR)\"]",
        ]
        if let priority { lines.append("priority = \(priority)") }
        lines += extra
        try node.dir.write("conf.d/70-ha.toml", lines.joined(separator: "\n") + "\n")
    }

    /// Launches the node's fulcrumd inside its namespace (without waiting).
    @discardableResult
    func launch(_ node: HATestNode) throws -> FulcrumProcess {
        let p = try launchFulcrum(configDir: node.dir, logLevel: "info", launcher: node.ns.launcher)
        node.process = p
        return p
    }

    func start(_ nodes: HATestNode...) throws {
        for n in nodes { try launch(n) }
        for n in nodes { try n.process!.waitReady(timeout: 30) }
    }

    func startKeepalived(_ index: Int, priority: Int) throws -> KeepalivedNode {
        let w = try XCTUnwrap(world)
        let k = try KeepalivedNode(in: w.nodes[index], dir: try makeConfigDir(), vrid: Self.vrid, priority: priority)
        keepaliveds.append(k)
        return k
    }

    // MARK: show ha

    func showHA(_ node: HATestNode) throws -> [String: String] {
        let reply = try StatusSocketClient(path: node.socket, timeout: 2).command("show ha")
        var fields: [String: String] = [:]
        for line in reply.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].trimmingCharacters(in: .whitespaces)] =
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        guard fields["state"] != nil else {
            throw TestFailure("\(node.name): `show ha` has no state line: \(reply.prefix(500))")
        }
        return fields
    }

    func haInt(_ node: HATestNode, _ key: String) throws -> Int {
        let fields = try showHA(node)
        guard let value = fields[key].flatMap({ Int($0) }) else {
            throw TestFailure("\(node.name): `show ha` \(key) is not an integer: \(fields[key] ?? "missing")\n\(fields)")
        }
        return value
    }

    func state(_ node: HATestNode) -> String? { (try? showHA(node))?["state"] }

    /// `show ha` may trail what the network already shows by a few ms (it is published once
    /// per turn of the HA loop): waits ≤ 1 s for `state`, failing otherwise; returns the lag
    /// after `since`.
    @discardableResult
    func statusLag(_ node: HATestNode, _ expected: String, since: Double, _ context: String,
                   file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        var end = monotonicNow()
        let ok = waitUntil(timeout: 1, interval: 0.002) {
            end = monotonicNow()
            return state(node) == expected
        }
        XCTAssertTrue(ok, "\(context): \(node.name)'s show ha not \(expected) within 1 s\n\(describe([node]))", file: file, line: line)
        return max(0, end - since)
    }

    /// Everything about the nodes, for a failure message.
    func describe(_ nodes: [HATestNode]) -> String {
        let holders = (try? world?.vipHolders()).map { "\($0)" } ?? "?"
        var text = "VIP holders (node index): \(holders)\n"
        for n in nodes {
            let ha = (try? showHA(n)).map { $0.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }.joined(separator: "\n") } ?? "  (no show ha)"
            let log = n.process.map { $0.logLines.filter { $0.message.hasPrefix("ha") }.map(\.raw).suffix(10).joined(separator: "\n  ") } ?? ""
            text += "\(n.name) show ha:\n\(ha)\n  ha log:\n  \(log)\n"
        }
        return text
    }

    /// Waits until `master` says MASTER, every other node BACKUP, and only `master` holds the
    /// VIP. Returns the seconds waited.
    @discardableResult
    func waitConverged(master: HATestNode, backups: [HATestNode], timeout: Double = 5, _ context: String = "") throws -> Double {
        let start = monotonicNow()
        let ok = waitUntil(timeout: timeout, interval: 0.02) {
            guard state(master) == "MASTER", backups.allSatisfy({ state($0) == "BACKUP" }) else { return false }
            return (try? world?.vipHolders()) == [master.index]
        }
        guard ok else {
            throw TestFailure("\(context): not converged to \(master.name) MASTER within \(timeout) s\n\(describe([master] + backups))")
        }
        return monotonicNow() - start
    }

    /// Waits until exactly `holders` hold the VIP.
    @discardableResult
    func waitHolders(_ holders: [Int], timeout: Double, _ context: String) throws -> Double {
        let start = monotonicNow()
        guard waitUntil(timeout: timeout, interval: 0.01, { (try? world?.vipHolders()) == holders }) else {
            throw TestFailure("\(context): VIP holders not \(holders) within \(timeout) s\n\(describe(nodes))")
        }
        return monotonicNow() - start
    }

    /// Samples VIP holders every `interval` for `duration`: the distinct holder sets seen, and
    /// how many samples had each.
    func sampleHolders(duration: Double, interval: Double = 0.02) throws -> [[Int]: Int] {
        var seen: [[Int]: Int] = [:]
        let end = monotonicNow() + duration
        while monotonicNow() < end {
            seen[try XCTUnwrap(world).vipHolders(), default: 0] += 1
            sleepSeconds(interval)
        }
        return seen
    }

    /// The `ha: ` transition lines the node logged.
    func haTransitions(_ node: HATestNode) -> [LogLine] {
        node.process?.logLines.filter { $0.raw.contains(" ha: ") && $0.raw.contains(" -> ") } ?? []
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.0f ms", seconds * 1000) }
}
