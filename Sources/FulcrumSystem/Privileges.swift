import CFulcrumCaps
import Glibc

/// A process's capability sets as kernel bit masks (bit 10 = CAP_NET_BIND_SERVICE), the way
/// /proc/PID/status shows them.
public struct CapabilitySets: Sendable, Equatable {
    public var effective: UInt64
    public var permitted: UInt64
    public var inheritable: UInt64
    public var bounding: UInt64
    public var ambient: UInt64

    /// This thread's sets.
    public static func current() throws(SystemError) -> CapabilitySets {
        var sets = CapabilitySets(effective: 0, permitted: 0, inheritable: 0, bounding: 0, ambient: 0)
        try syscall("cap_get_proc") { cfc_caps_get(&sets.effective, &sets.permitted, &sets.inheritable) }
        try syscall("prctl(PR_CAPBSET_READ)") { cfc_bounding_get(&sets.bounding) }
        try syscall("prctl(PR_CAP_AMBIENT_IS_SET)") { cfc_ambient_get(&sets.ambient) }
        return sets
    }

    /// Every capability the running kernel knows, as a mask (what root holds).
    public static var all: UInt64 {
        let last = UInt64(cfc_last_cap())
        return last >= 63 ? UInt64.max : (1 << (last + 1)) - 1
    }

    /// "cap_net_bind_service,cap_net_raw" (libcap's names, lowercase as getpcaps prints them);
    /// "all" for every capability, "none" for none.
    public static func names(_ mask: UInt64) -> String {
        if mask == 0 { return "none" }
        if mask & all == all { return "all" }
        var names: [String] = []
        for bit in 0..<64 where mask & (1 << UInt64(bit)) != 0 {
            var buffer = [CChar](repeating: 0, count: 64)
            if cfc_cap_name(Int32(bit), &buffer, Int32(buffer.count)) == 0 {
                names.append(String(cString: buffer))
            } else {
                names.append("cap_\(bit)")
            }
        }
        return names.joined(separator: ",")
    }
}

/// Dropping root once the sockets are open. Capability sets are per thread, so this must run
/// before any thread is started: the threads started afterwards inherit the reduced sets
/// (setresuid/setresgid are process-wide through glibc either way).
public enum Privileges {
    /// Started as root: becomes `uid`/`gid` (with `groups` as supplementary groups) keeping
    /// only `keep`, in an order where each step still has what the next one needs:
    /// 1. PR_SET_KEEPCAPS, so setresuid away from 0 keeps the permitted set;
    /// 2. bounding set reduced to `keep` (needs CAP_SETPCAP, which root still has);
    /// 3. setgroups, setresgid, setresuid (real, effective and saved: no way back to 0);
    /// 4. effective = permitted = `keep`, inheritable empty, ambient cleared: the only program
    ///    fulcrumd runs is the [ha] notify command, which needs no capability of ours;
    /// 5. PR_SET_NO_NEW_PRIVS: no setuid bit or file capability can give a program it runs
    ///    (the notify command) more than this process has, as under the unit's
    ///    NoNewPrivileges=yes.
    public static func become(uid: uid_t, gid: gid_t, groups: [gid_t], keeping keep: UInt64) throws(SystemError) {
        try syscall("prctl(PR_SET_KEEPCAPS)") { cfc_keep_caps(1) }
        try syscall("prctl(PR_CAPBSET_DROP)") { cfc_bounding_drop_except(keep) }
        try syscall("setgroups") { groups.withUnsafeBufferPointer { setgroups($0.count, $0.baseAddress) } }
        try syscall("setresgid") { cfc_setresgid(gid) }
        try syscall("setresuid") { cfc_setresuid(uid) }
        try syscall("cap_set_proc") { cfc_caps_set(keep) }
        try syscall("prctl(PR_CAP_AMBIENT_CLEAR_ALL)") { cfc_ambient_clear() }
        try syscall("prctl(PR_SET_KEEPCAPS)") { cfc_keep_caps(0) }
        try syscall("prctl(PR_SET_NO_NEW_PRIVS)") { cfc_no_new_privs() }
    }

    /// Started as another user (systemd's User=_fulcrum with AmbientCapabilities=): no uid
    /// change, only the capabilities outside `keep` leave the effective, permitted,
    /// inheritable and ambient sets. The bounding set only shrinks with CAP_SETPCAP, which
    /// such a process normally lacks (the unit's CapabilityBoundingSet= has already bounded
    /// it); when it does hold CAP_SETPCAP, the bounding set is reduced too.
    public static func restrict(keeping keep: UInt64) throws(SystemError) {
        let now = try CapabilitySets.current()
        let setpcap: UInt64 = 1 << 8
        if now.effective & setpcap != 0 {
            try syscall("prctl(PR_CAPBSET_DROP)") { cfc_bounding_drop_except(keep) }
        }
        try syscall("prctl(PR_CAP_AMBIENT_CLEAR_ALL)") { cfc_ambient_clear() }
        try syscall("cap_set_proc") { cfc_caps_set(keep & now.permitted) }
        try syscall("prctl(PR_SET_NO_NEW_PRIVS)") { cfc_no_new_privs() }
    }
}
