// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Fulcrum",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fulcrumd", targets: ["fulcrumd"]),
        .executable(name: "fulcrumctl", targets: ["fulcrumctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"4.0.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // Only what Swift cannot reach well: splice, pipe sizing, accept4, epoll, socket options.
        .target(
            name: "CFulcrumLinux",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // libcap and the capability prctls: the privilege drop after the sockets are open.
        .target(
            name: "CFulcrumCaps",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("cap")]
        ),
        // OpenSSL's calls that are macros in C (SNI, protocol floor), for HTTPS health checks.
        .target(
            name: "CFulcrumTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // The release and commit --version prints; the commit is written by the plugin below.
        .target(name: "FulcrumBuildInfo", plugins: ["BuildCommit"]),
        .plugin(name: "BuildCommit", capability: .buildTool()),
        // IP addresses and CIDRs as plain values: parsed once, compared without allocation.
        .target(name: "FulcrumAddress"),
        // TOML 1.0 with positions: pure Swift, no recursion input can drive, linear time.
        .target(name: "FulcrumTOML"),
        // One syscall layer: EINTR retried in one place, EAGAIN as a value, typed errno errors.
        .target(name: "FulcrumSystem", dependencies: ["CFulcrumLinux", "CFulcrumCaps", "FulcrumAddress"]),
        // Drop-in discovery, merge, decode and validation into an immutable model.
        .target(name: "FulcrumConfig", dependencies: [
            "FulcrumAddress",
            "FulcrumTOML",
        ]),
        // What the status outputs show: one snapshot type, its renderers (CSV, JSON, table,
        // Prometheus text, HTML page) and the status-socket command grammar. Pure values.
        .target(name: "FulcrumStatus", dependencies: ["FulcrumAddress"]),
        // Maglev consistent hashing and flow hashing: pure, identical on every node.
        .target(name: "FulcrumHashing", dependencies: ["FulcrumAddress"]),
        // PROXY protocol v1/v2 headers, encoded without allocation.
        .target(name: "FulcrumProxyProtocol", dependencies: ["FulcrumAddress"]),
        // VRRPv3 (RFC 5798): advert codec and the Initialize/Backup/Master state machine. Pure:
        // no sockets, no clock read (time is passed in), so every transition is a unit test.
        .target(name: "FulcrumVRRP", dependencies: ["FulcrumAddress"]),
        // Member choice behind one small interface.
        .target(name: "FulcrumPools", dependencies: [
            "FulcrumConfig", "FulcrumHashing", "FulcrumAddress", "FulcrumStatus",
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        // Worker event loops, timer wheel, TCP splice engine.
        .target(name: "FulcrumForwarding", dependencies: [
            "CFulcrumLinux", "FulcrumSystem", "FulcrumConfig", "FulcrumPools", "FulcrumAddress", "FulcrumProxyProtocol",
            "FulcrumStatus",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        // Health monitors: check codecs and state machine (pure), and the checker thread.
        .target(name: "FulcrumHealth", dependencies: [
            "CFulcrumLinux", "CFulcrumTLS", "FulcrumSystem", "FulcrumConfig", "FulcrumPools", "FulcrumAddress",
            "FulcrumStatus",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "HeapModule", package: "swift-collections"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        // The only room that changes interfaces: VIPs on and off via rtnetlink, gratuitous ARP
        // and unsolicited neighbour advertisements via AF_PACKET; a fake for the daemon's tests.
        .target(name: "FulcrumNetlink", dependencies: ["CFulcrumLinux", "FulcrumSystem", "FulcrumAddress"]),
        // The control thread: status socket, HTTP endpoint, rate sampler, runtime member changes.
        // VRRP on its own thread: the pure state machine wired to the interface room.
        .target(name: "FulcrumHA", dependencies: [
            "CFulcrumLinux", "FulcrumSystem", "FulcrumAddress", "FulcrumConfig", "FulcrumVRRP", "FulcrumNetlink",
            "FulcrumStatus",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Anycast on its own thread: announce_when and hold_down (pure), VIPs on the anycast
        // interface through the same room as HA, for BIRD to export.
        .target(name: "FulcrumAnycast", dependencies: [
            "CFulcrumLinux", "FulcrumSystem", "FulcrumAddress", "FulcrumConfig", "FulcrumNetlink", "FulcrumStatus",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "FulcrumControl", dependencies: [
            "CFulcrumLinux", "FulcrumSystem", "FulcrumStatus", "FulcrumConfig", "FulcrumForwarding",
            "FulcrumHealth", "FulcrumPools",
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "fulcrumd", dependencies: [
            "FulcrumConfig", "FulcrumForwarding", "FulcrumHealth", "FulcrumSystem", "CFulcrumLinux",
            "FulcrumControl", "FulcrumStatus", "FulcrumHA", "FulcrumAnycast", "FulcrumNetlink", "FulcrumBuildInfo",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // libFuzzer target for the config loader (scripts/fuzz config); a replayer when built plainly.
        .executableTarget(name: "fuzz-config", dependencies: ["FulcrumConfig", "FuzzSupport"], path: "Fuzz/FuzzConfig"),
        // The other fuzz targets (scripts/fuzz TARGET), replayers when built plainly; FuzzSupport
        // is their invariant check and file replay, compiled into each harness when fuzzing.
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "fuzz-status-command", dependencies: ["FulcrumStatus", "FuzzSupport"],
                          path: "Fuzz/FuzzStatusCommand"),
        .executableTarget(name: "fuzz-http-request", dependencies: ["FulcrumStatus", "FuzzSupport"],
                          path: "Fuzz/FuzzHTTPRequest"),
        .executableTarget(name: "fuzz-proxy", dependencies: ["FulcrumProxyProtocol", "FulcrumAddress", "FuzzSupport"],
                          path: "Fuzz/FuzzProxy"),
        .executableTarget(name: "fuzz-http-status", dependencies: ["FulcrumHealth", "FuzzSupport"],
                          path: "Fuzz/FuzzHTTPStatus"),
        .executableTarget(name: "fuzz-tls-hello", dependencies: ["FulcrumHealth", "FuzzSupport"],
                          path: "Fuzz/FuzzTLSHello"),
        .executableTarget(name: "fuzz-vrrp", dependencies: ["FulcrumVRRP", "FulcrumAddress", "FuzzSupport"],
                          path: "Fuzz/FuzzVRRP"),
        // The operator's CLI over the status socket.
        .executableTarget(name: "fulcrumctl", dependencies: [
            "FulcrumStatus", "FulcrumSystem", "FulcrumBuildInfo",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "FulcrumAddressTests", dependencies: ["FulcrumAddress"]),
        .testTarget(name: "FulcrumTOMLTests", dependencies: ["FulcrumTOML"], resources: [.copy("toml-test")]),
        .testTarget(name: "FulcrumHashingTests", dependencies: ["FulcrumHashing", "FulcrumAddress"]),
        .testTarget(name: "FulcrumVRRPTests", dependencies: ["FulcrumVRRP", "FulcrumAddress"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FulcrumProxyProtocolTests", dependencies: ["FulcrumProxyProtocol", "FulcrumAddress", "CAllocationCounter"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FulcrumHealthTests", dependencies: [
            "FulcrumHealth", "FulcrumConfig", "FulcrumAddress", "FulcrumPools", "FulcrumStatus",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "HeapModule", package: "swift-collections"),
        ],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FulcrumStatusTests", dependencies: ["FulcrumStatus"]),
        .testTarget(name: "FulcrumSystemTests", dependencies: ["FulcrumSystem"]),
        .testTarget(name: "FulcrumNetlinkTests", dependencies: ["FulcrumNetlink", "FulcrumAddress", "FulcrumSystem", "CFulcrumLinux"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "FulcrumAnycastTests", dependencies: [
            "FulcrumAnycast", "FulcrumConfig", "FulcrumNetlink", "FulcrumStatus", "FulcrumSystem", "FulcrumAddress",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "FulcrumConfigTests", dependencies: ["FulcrumConfig", "FulcrumAddress"]),
        .testTarget(name: "FulcrumPoolsTests", dependencies: [
            "FulcrumPools", "FulcrumConfig", "FulcrumAddress", "CAllocationCounter",
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        // Test-only malloc counter (replaces malloc in the test executable, forwards to glibc).
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(name: "FulcrumForwardingTests", dependencies: [
            "FulcrumForwarding", "FulcrumSystem", "FulcrumConfig", "FulcrumAddress", "CAllocationCounter",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "FulcrumIntegrationTests", dependencies: [
            "FulcrumAddress",
            .product(name: "Crypto", package: "swift-crypto"),
        ],
                    // Python helpers the tests run (selenium driver, Prometheus parser).
                    exclude: ["browser", "metrics"]),
    ],
    swiftLanguageModes: [.v5]
)
