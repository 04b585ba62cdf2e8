import Glibc

/// A user account as the daemon switches to it.
public struct Account: Sendable, Equatable {
    public var name: String
    public var uid: uid_t
    /// The primary group from the passwd entry.
    public var gid: gid_t
}

/// passwd/group lookups (NSS, so LDAP or systemd-userdb accounts count too). The *_r calls
/// return their error instead of setting errno; it is thrown as a SystemError all the same.
public enum Accounts {
    /// nil when no such user exists.
    public static func user(named name: String) throws(SystemError) -> Account? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        return try withGrowingBuffer("getpwnam_r") { buffer in
            getpwnam_r(name, &entry, buffer.baseAddress!, buffer.count, &result)
        } found: {
            result.map { Account(name: name, uid: $0.pointee.pw_uid, gid: $0.pointee.pw_gid) }
        }
    }

    /// nil when no such group exists.
    public static func group(named name: String) throws(SystemError) -> gid_t? {
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        return try withGrowingBuffer("getgrnam_r") { buffer in
            getgrnam_r(name, &entry, buffer.baseAddress!, buffer.count, &result)
        } found: {
            result.map { $0.pointee.gr_gid }
        }
    }

    /// The name of a uid, or its number when it has none (for the start log line).
    public static func userName(_ uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        let name = try? withGrowingBuffer("getpwuid_r") { buffer in
            getpwuid_r(uid, &entry, buffer.baseAddress!, buffer.count, &result)
        } found: {
            result.map { String(cString: $0.pointee.pw_name) }
        }
        return (name ?? nil) ?? "\(uid)"
    }

    public static func groupName(_ gid: gid_t) -> String {
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        let name = try? withGrowingBuffer("getgrgid_r") { buffer in
            getgrgid_r(gid, &entry, buffer.baseAddress!, buffer.count, &result)
        } found: {
            result.map { String(cString: $0.pointee.gr_name) }
        }
        return (name ?? nil) ?? "\(gid)"
    }

    /// The user's supplementary groups plus `primary` (what initgroups would set), so group
    /// membership the administrator gave the account (a group that may read a TLS CA file,
    /// say) holds after the switch.
    public static func groups(of user: String, primary: gid_t) throws(SystemError) -> [gid_t] {
        var count: Int32 = 32
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            var asked = count
            if getgrouplist(user, primary, &list, &asked) >= 0 {
                return Array(list.prefix(Int(asked)))
            }
            // -1 with `asked` set to the size needed; anything else would loop forever.
            guard asked > count, asked < 65_536 else { throw SystemError(code: EINVAL, call: "getgrouplist") }
            count = asked
        }
    }

    /// Runs a *_r lookup, doubling the buffer on ERANGE (entries with many members are long).
    private static func withGrowingBuffer<T>(_ call: StaticString, _ lookup: (UnsafeMutableBufferPointer<CChar>) -> Int32,
                                             found: () -> T) throws(SystemError) -> T {
        var size = 1024
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            // The entry's strings point into the buffer: read them while it is still lent.
            var value: T?
            let rc = buffer.withUnsafeMutableBufferPointer { pointer -> Int32 in
                let rc = lookup(pointer)
                if rc == 0 { value = found() }
                return rc
            }
            switch rc {
            case 0: return value!
            case EINTR: continue
            case ERANGE where size < 1 << 20: size *= 2
            default: throw SystemError(code: rc, call: call)
            }
        }
    }
}
