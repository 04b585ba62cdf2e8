/// The VRRPv3 instance's state as `show ha`, `/status.json`, the page and `/metrics` show it.
/// Plain values filled by the daemon from its HA runner; nil in `StatusSnapshot.ha` when the
/// configuration has no `[ha]` section, so every renderer can tell "off" from "no adverts yet".
public struct HAStatus: Sendable, Equatable {
    /// RFC 5798's three states, spelled as keepalived and the RFC write them.
    public enum State: String, Sendable, CaseIterable {
        case initialize = "INIT", backup = "BACKUP", master = "MASTER"
    }

    /// Adverts ignored, by reason: a malformed or foreign advert never changes state, so these
    /// counters are the only trace of a misconfigured peer or of spoofing on the segment.
    public struct Discards: Sendable, Equatable {
        public var wrongVersion = 0, wrongType = 0, wrongTTL = 0, badChecksum = 0, badLength = 0, wrongVRID = 0,
            wrongFamily = 0, notAPeer = 0, other = 0

        public init(wrongVersion: Int = 0, wrongType: Int = 0, wrongTTL: Int = 0, badChecksum: Int = 0,
                    badLength: Int = 0, wrongVRID: Int = 0, wrongFamily: Int = 0, notAPeer: Int = 0, other: Int = 0) {
            self.wrongVersion = wrongVersion
            self.wrongType = wrongType
            self.wrongTTL = wrongTTL
            self.badChecksum = badChecksum
            self.badLength = badLength
            self.wrongVRID = wrongVRID
            self.wrongFamily = wrongFamily
            self.notAPeer = notAPeer
            self.other = other
        }
    }

    public var interface: String
    public var virtualRouterID: Int
    public var state: State
    public var configuredPriority: Int
    /// Lowered by track_weight while a tracked pool is down.
    public var effectivePriority: Int
    public var advertIntervalMs: Int
    public var preempt: Bool
    /// Empty = multicast (224.0.0.18 / ff02::12).
    public var unicastPeers: [String]
    /// "192.0.2.10/24".
    public var virtualIPs: [String]
    /// The current master's primary address (ours when master), nil while unknown.
    public var masterAddress: String?
    public var trackedPoolsDown: [String]
    public var advertsSent: Int
    public var advertsReceived: Int
    public var discards: Discards
    public var transitions: Int
    /// Unix seconds.
    public var lastTransitionAt: Int64?
    /// "no advert from 198.18.0.11 for 350 ms (master down)".
    public var lastTransitionReason: String?
    public var becameMasterCount: Int

    public init(interface: String, virtualRouterID: Int, state: State, configuredPriority: Int,
                effectivePriority: Int, advertIntervalMs: Int, preempt: Bool, unicastPeers: [String],
                virtualIPs: [String], masterAddress: String? = nil, trackedPoolsDown: [String] = [],
                advertsSent: Int = 0, advertsReceived: Int = 0, discards: Discards = Discards(),
                transitions: Int = 0, lastTransitionAt: Int64? = nil, lastTransitionReason: String? = nil,
                becameMasterCount: Int = 0) {
        self.interface = interface
        self.virtualRouterID = virtualRouterID
        self.state = state
        self.configuredPriority = configuredPriority
        self.effectivePriority = effectivePriority
        self.advertIntervalMs = advertIntervalMs
        self.preempt = preempt
        self.unicastPeers = unicastPeers
        self.virtualIPs = virtualIPs
        self.masterAddress = masterAddress
        self.trackedPoolsDown = trackedPoolsDown
        self.advertsSent = advertsSent
        self.advertsReceived = advertsReceived
        self.discards = discards
        self.transitions = transitions
        self.lastTransitionAt = lastTransitionAt
        self.lastTransitionReason = lastTransitionReason
        self.becameMasterCount = becameMasterCount
    }
}

extension HAStatus.Discards {
    /// Every reason with its snake_case name, in one order: the text, JSON and metric labels
    /// all come from this list, so a reason added here shows everywhere under the same name.
    var byReason: [(reason: String, count: Int)] {
        [("wrong_version", wrongVersion), ("wrong_type", wrongType), ("wrong_ttl", wrongTTL),
         ("bad_checksum", badChecksum), ("bad_length", badLength), ("wrong_vrid", wrongVRID),
         ("wrong_family", wrongFamily), ("not_a_peer", notAPeer), ("other", other)]
    }
}
