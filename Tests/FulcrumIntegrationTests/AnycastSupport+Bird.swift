// BIRD for the anycast world (AnycastSupport.swift): the router's and the nodes' configs, and a
// BIRD process in a namespace with birdc to look at it.
//
// The node config is also the example for operators running fulcrumd active-active behind a
// BGP router: the node announces exactly the addresses on fulcrum0 (the VIPs fulcrumd is
// serving) and nothing else; the router spreads connections over every node announcing a VIP
// (ECMP) and takes a node out as soon as its session or BFD says it is gone.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

enum Bird {
    static func binary(_ name: String) throws -> String {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw TestFailure("\(name) not found: the anycast tests need BIRD 2 (apt-get install -y bird2)")
    }

    /// BFD, the same on both ends: a node that vanishes without closing its BGP session (power
    /// loss, kernel hang, cable) is out of the router's ECMP set in ~0.3 s instead of after the
    /// BGP hold time.
    static let bfdProtocol = """
        # BFD: a hello every 100 ms each way, the peer down after 3 missed (300 ms). It catches a
        # peer that vanishes without closing the BGP session (power loss, hang, cable) long before
        # the hold time does.
        protocol bfd {
            interface "*" {
                min rx interval 100 ms;
                min tx interval 100 ms;
                multiplier 3;
            };
        }


        """

    /// BGP session settings, the same on both ends (the session uses the smaller hold time of
    /// the two), indented for a protocol or template body.
    static func sessionSettings(bfd: Bool) -> String {
        var text = """
                # First connection attempt 1 s after BIRD starts (default 5 s; BIRD 2 takes
                # anything smaller as 1), so a restarted node is soon back in the ECMP set.
                connect delay time 1;
                # While the peer is not there, try again every second (default 120 s).
                connect retry time 1;
                # After a session went down, refuse and make no connection for 1 s only (default
                # 60 s, doubling up to 300 s while errors repeat, to damp flapping): a node that
                # is back should carry traffic again at once.
                error wait time 1, 1;
                # Without BFD, a silent peer is declared dead after 3 s, the smallest hold time
                # BGP allows (RFC 4271), with a keepalive every second.
                hold time 3;
                keepalive time 1;
                # A peer whose BIRD died is withdrawn at once, not kept as a stale route while
                # waiting for it to come back.
                graceful restart off;

            """
        if bfd { text += "    # Take the session down as soon as BFD says the peer is gone.\n    bfd on;\n" }
        return text
    }

    /// A Fulcrum node: announces the /32s on `interface` (the VIPs fulcrumd has put there) to the
    /// router and imports nothing (the node reaches clients through its static default route).
    static func nodeConfig(routerID: String, localAS: Int, neighbor: String, neighborAS: Int,
                           interface: String = "fulcrum0", bfd: Bool) -> String {
        """
        # BIRD 2 on a Fulcrum node: announce the VIPs fulcrumd serves to the upstream router,
        # which spreads connections over every node announcing the same VIP (ECMP).
        router id \(routerID);

        # Interfaces and their addresses.
        protocol device {
        }

        # The VIPs: every address on \(interface) becomes a route in BIRD's table. When fulcrumd
        # removes a VIP from \(interface) (or the interface goes away), the route goes and is
        # withdrawn from the router.
        protocol direct {
            ipv4;
            interface "\(interface)";
        }

        \(bfd ? bfdProtocol : "")protocol bgp uplink {
            local as \(localAS);
            neighbor \(neighbor) as \(neighborAS);
        \(sessionSettings(bfd: bfd))
            ipv4 {
                import none;
                # Only the \(interface) addresses from `protocol direct`, never anything else.
                export where source = RTS_DEVICE;
            };
        }

        """
    }

    /// The router: one eBGP session per node, every node's route for a VIP merged into one
    /// multipath kernel route (`merge paths`), the kernel hashing flows over it.
    static func routerConfig(routerID: String, localAS: Int, nodes: [String], nodeAS: Int, bfd: Bool) -> String {
        var text = """
            router id \(routerID);

            protocol device {
            }

            # Equal routes for a prefix (same AS path from every node) become one ECMP route.
            protocol kernel {
                merge paths on;
                ipv4 {
                    import none;
                    export all;
                };
            }

            \(bfd ? bfdProtocol : "")template bgp fulcrum_node {
                local as \(localAS);
            \(sessionSettings(bfd: bfd))
                ipv4 {
                    import all;
                    export none;
                };
            }

            """
        for (index, address) in nodes.enumerated() {
            text += "\nprotocol bgp node\(index + 1) from fulcrum_node {\n    neighbor \(address) as \(nodeAS);\n}\n"
        }
        return text
    }
}

/// One BIRD (`bird -f`) in a namespace, its config, control socket and pid file in `dir`.
/// `start()` again after `kill()` or `stop()` runs a new one with the same config.
final class BirdProcess {
    let name: String
    let ns: NetworkNamespace
    let configPath: String
    let socketPath: String
    let pidPath: String
    private(set) var process: ChildProcess?

    init(name: String, ns: NetworkNamespace, dir: ConfigDir, config: String) throws {
        self.name = name
        self.ns = ns
        configPath = dir.filePath("\(name).conf")
        socketPath = dir.filePath("\(name).ctl")
        pidPath = dir.filePath("\(name).pid")
        // Logged to stderr, which ChildProcess keeps (shown when a test fails), with every
        // protocol's state changes and events (connects, BFD, session errors).
        try dir.write("\(name).conf", "log stderr all;\ndebug protocols { states, events };\n\n" + config)
        _ = try runCommand([try Bird.binary("bird"), "-p", "-c", configPath])  // parse only
    }

    var isRunning: Bool { process?.isRunning ?? false }

    func start() throws {
        guard !isRunning else { return }
        // ip netns exec execs bird, so the child's pid is BIRD's own.
        process = try ChildProcess(ns.launcher + [try Bird.binary("bird"), "-f", "-c", configPath,
                                                  "-s", socketPath, "-P", pidPath])
    }

    /// A crash: SIGKILL, nothing sent to the peers (the kernel still closes its TCP sessions).
    func kill() {
        process?.signal(SIGKILL)
        process?.waitExit(timeout: 5)
    }

    /// SIGTERM: BIRD closes its sessions (BGP Cease) and exits.
    func stop() { process?.stop() }

    /// `birdc -s SOCKET args…`
    func birdc(_ args: String...) throws -> String {
        try runCommand([try Bird.binary("birdc"), "-s", socketPath] + args, timeout: 5)
    }

    /// The BGP protocols (by name) in state Established, from `show protocols`.
    func establishedSessions() -> [String] {
        guard isRunning, let text = try? birdc("show", "protocols") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count >= 5, words[1] == "BGP", words.last == "Established" else { return nil }
            return String(words[0])
        }
    }

    var log: String { process?.tail(80) ?? "(not started)" }
}
