/// What --version prints, shared by fulcrumd and fulcrumctl (they ship together).
/// `buildCommit` comes from a file the BuildCommit plugin writes before each build.
public enum BuildInfo {
    /// The release.
    public static let version = "0.1.0"

    /// "git 1a2b3c4d5e6f", or "unknown commit" for a tree outside git built without
    /// FULCRUM_COMMIT.
    public static var commit: String { buildCommit.isEmpty ? "unknown commit" : "git \(buildCommit)" }

    /// "0.1.0 (git 1a2b3c4d5e6f)".
    public static var versionLine: String { "\(version) (\(commit))" }
}
