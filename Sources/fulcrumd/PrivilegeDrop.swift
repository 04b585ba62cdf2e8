import FulcrumConfig
import FulcrumSystem
import Glibc
import Logging

/// Least privilege outside systemd: once every socket that needs root is open (listeners,
/// status sockets, the VRRP socket), fulcrumd becomes the [process] account keeping only the
/// capabilities PrivilegePlan says its configuration needs, before any thread starts.
///
/// Decisions (issue 14):
/// - No `user`: `_fulcrum` when the account exists; otherwise stay root with one warning, so
///   a machine without the package's account still runs. A named user or group that does
///   not exist is a startup error (and a --check-config problem).
/// - `user = "root"`: no switch and no drop, as HAProxy without `user`.
/// - Started as another user (systemd's User=_fulcrum with AmbientCapabilities=): no setuid;
///   only the capabilities not needed leave the effective, permitted, inheritable and ambient
///   sets. The bounding set stays as systemd's CapabilityBoundingSet= left it (shrinking it
///   needs CAP_SETPCAP).
/// - PR_SET_NO_NEW_PRIVS is set after the drop, as the unit's NoNewPrivileges=yes does: the
///   [ha] notify command (the only program fulcrumd runs) runs as the [process] user with no
///   capabilities and cannot gain any through sudo or a setuid binary. A notify script that
///   needs root must hand the work to something running as root, or use user = "root".
enum PrivilegeDrop {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Drops what the configuration does not need; returns the user name now in effect.
    static func apply(_ config: Config, logger: Logger) throws(Failure) -> String {
        let plan = PrivilegePlan(config: config)
        let keep = plan.mask
        if geteuid() == 0 {
            let account: Account
            var group: String?
            switch PrivilegePlan.target(config.process) {
            case .stayRoot:
                try logHeld(logger)
                return "root"
            case let .defaultAccount(named):
                guard let found = try lookUpUser(ProcessSettings.defaultUser) else {
                    logger.warning("running as root: no \(ProcessSettings.defaultUser) account; set [process] user")
                    try logHeld(logger)
                    return "root"
                }
                account = found
                group = named
            case let .named(user, named):
                guard let found = try lookUpUser(user) else {
                    throw Failure(description: "[process] user \"\(user)\": no such user on this system")
                }
                account = found
                group = named
            }
            var gid = account.gid
            if let group {
                let found: gid_t?
                do { found = try Accounts.group(named: group) } catch {
                    throw Failure(description: "[process] group \"\(group)\": cannot look it up: \(error)")
                }
                guard let found else { throw Failure(description: "[process] group \"\(group)\": no such group on this system") }
                gid = found
            }
            do {
                let groups = try Accounts.groups(of: account.name, primary: gid)
                try Privileges.become(uid: account.uid, gid: gid, groups: groups, keeping: keep)
            } catch {
                throw Failure(description: "cannot switch to user \(account.name) (uid \(account.uid), gid \(gid)): \(error)")
            }
        } else {
            do {
                try Privileges.restrict(keeping: keep)
            } catch {
                throw Failure(description: "cannot drop capabilities not needed: \(error)")
            }
        }
        let held = try logHeld(logger)
        try check(plan, held: held, config: config, logger: logger)
        return Accounts.userName(geteuid())
    }

    /// The one start line: `privileges capabilities=cap_net_bind_service group=_fulcrum user=_fulcrum`.
    @discardableResult
    private static func logHeld(_ logger: Logger) throws(Failure) -> UInt64 {
        let sets: CapabilitySets
        do { sets = try CapabilitySets.current() } catch {
            throw Failure(description: "cannot read the capabilities held: \(error)")
        }
        logger.info("privileges", metadata: [
            "user": "\(Accounts.userName(geteuid()))", "group": "\(Accounts.groupName(getegid()))",
            "capabilities": "\(CapabilitySets.names(sets.effective))",
        ])
        return sets.effective
    }

    /// What the configuration needs but the process does not hold (started without it, or a
    /// bounding set that lacked it): fatal where nothing could work without it, a warning
    /// where there is a way around it.
    private static func check(_ plan: PrivilegePlan, held: UInt64, config: Config, logger: Logger) throws(Failure) {
        for capability in plan.capabilities where held & (1 << UInt64(capability.rawValue)) == 0 {
            let features = (plan.needs[capability] ?? []).joined(separator: "; ")
            switch capability {
            case .netAdmin:
                let section = config.ha != nil ? "[ha]" : "[anycast]"
                throw Failure(description: "\(section): needs \(capability) (\(features)); fulcrumd does not hold it")
            case .netRaw where config.ha != nil:
                throw Failure(description: "[ha]: needs \(capability) (\(features)); fulcrumd does not hold it")
            case .netRaw:
                logger.warning("no \(capability): PING health checks work only where net.ipv4.ping_group_range covers the daemon's group",
                               metadata: ["needed_for": "\(features)"])
            case .netBindService:
                logger.notice("no \(capability): listeners on ports below 1024 cannot be bound")
            }
        }
    }

    private static func lookUpUser(_ name: String) throws(Failure) -> Account? {
        do { return try Accounts.user(named: name) } catch {
            throw Failure(description: "[process] user \"\(name)\": cannot look it up: \(error)")
        }
    }
}

extension AccountDirectory {
    /// The system's accounts, for validating [process]. A lookup that fails (NSS unreachable)
    /// counts as existing: the start then says exactly what went wrong.
    static let system = AccountDirectory(
        userExists: { name in
            do { return try Accounts.user(named: name) != nil } catch { return true }
        },
        groupExists: { name in
            do { return try Accounts.group(named: name) != nil } catch { return true }
        })
}
