/// [process]: user and group, checked for form here and, when the loader was given an
/// AccountDirectory, for existence (an operator wants `--check-config` to say that "_fulcrum"
/// is misspelt, not the next restart).
enum ProcessSchema {
    static let keys = ["user", "group"]

    static func decode(_ table: TableReader, accounts: AccountDirectory?) -> ProcessSettings? {
        table.rejectUnknownKeys(allowed: keys)
        let user = optionalName(table, "user", kind: "user", exists: accounts?.userExists)
        let group = optionalName(table, "group", kind: "group", exists: accounts?.groupExists)
        guard let user, let group else { return nil }
        // "root" means no switch at all (as HAProxy without `user`): a group would not be used.
        if user == "root", let group {
            table.report("group", "\(quoted(group)) has no effect with user = \"root\" (fulcrumd then keeps "
                + "running as root); allowed: remove group, or set user to the account to switch to")
            return nil
        }
        return ProcessSettings(user: user, group: group)
    }

    /// nil: wrong (reported); .some(nil): absent.
    private static func optionalName(_ table: TableReader, _ key: String, kind: String,
                                     exists: (@Sendable (String) -> Bool)?) -> String?? {
        guard table.entries[key] != nil else { return .some(nil) }
        let name = table.plainString(key, expected: "a \(kind) name string", default: nil) { name -> Check<String> in
            guard (1...32).contains(name.utf8.count),
                  name.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: ":") }) else {
                return .invalid("\(quoted(name)) is not a \(kind) name; allowed: 1..32 printable characters without spaces or colons")
            }
            if let exists, !exists(name) {
                return .invalid("no \(kind) \(quoted(name)) on this system; allowed: an existing \(kind) "
                    + "(getent \(kind == "user" ? "passwd" : "group") \(name))")
            }
            return .valid(name)
        }
        return name.map { .some($0) }
    }
}
