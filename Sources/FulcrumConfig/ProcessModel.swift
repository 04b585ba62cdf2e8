/// [process]: the account fulcrumd runs as once its sockets are open (see PrivilegePlan).
public struct ProcessSettings: Sendable, Equatable {
    /// nil: the default account `_fulcrum` when it exists, else stay root with a warning (a
    /// machine without the package's account still runs). "root": no switch at all.
    public var user: String?
    /// nil: the user's primary group.
    public var group: String?

    public init(user: String? = nil, group: String? = nil) {
        self.user = user
        self.group = group
    }

    /// The account the Debian package creates (adduser --system, no home, no shell).
    public static let defaultUser = "_fulcrum"
}

/// Whether accounts exist, asked while validating [process] so `--check-config` catches a
/// misspelt user before a restart does. Supplied by the caller (fulcrumd looks them up through
/// the system layer; tests pass a fixed list), so this module stays free of system calls.
public struct AccountDirectory: Sendable {
    public var userExists: @Sendable (String) -> Bool
    public var groupExists: @Sendable (String) -> Bool

    public init(userExists: @escaping @Sendable (String) -> Bool, groupExists: @escaping @Sendable (String) -> Bool) {
        self.userExists = userExists
        self.groupExists = groupExists
    }
}

/// What the loader needs beyond the files: both optional, so a plain load is pure.
public struct LoadOptions: Sendable {
    /// When set, [process] user and group must name existing accounts.
    public var accounts: AccountDirectory?
    /// The user the daemon runs as after dropping root, named in "permission denied" problems
    /// (a reload reads the files as that user).
    public var runningAs: String?

    public init(accounts: AccountDirectory? = nil, runningAs: String? = nil) {
        self.accounts = accounts
        self.runningAs = runningAs
    }
}
