import Foundation
import PackagePlugin

/// Writes the commit `--version` names into FulcrumBuildInfo. Neither a value in Package.swift
/// nor a prebuild command is enough: SwiftPM caches the evaluated manifest and the build plan and
/// looks at neither again when HEAD moves (measured: two commits later both still named the old
/// one). This is a build command whose inputs are git's HEAD and HEAD reflog, which every commit,
/// checkout and reset rewrites, so llbuild runs it exactly when HEAD may have moved; it rewrites
/// its output only when the commit changed, so nothing else recompiles otherwise.
///
/// A tree without .git (packaging/build-deb.sh's copy) has a `.fulcrum-commit` file instead.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        let script = root.appending(path: "scripts/lib/build-commit.sh")
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildCommit.swift")
        var inputs = [script]
        let commitFile = root.appending(path: ".fulcrum-commit")
        if FileManager.default.fileExists(atPath: commitFile.path) {
            inputs.append(commitFile)
        } else if let gitDirectory = Self.gitDirectory(root) {
            for file in ["HEAD", "logs/HEAD"] {
                let url = gitDirectory.appending(path: file)
                if FileManager.default.fileExists(atPath: url.path) { inputs.append(url) }
            }
        }
        return [.buildCommand(
            displayName: "Recording the commit for --version",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [script.path, root.path, output.path],
            inputFiles: inputs,
            outputFiles: [output])]
    }

    /// `git rev-parse --absolute-git-dir`: .git, or .git/worktrees/NAME in a worktree; nil outside git.
    static func gitDirectory(_ root: URL) -> URL? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", root.path, "rev-parse", "--absolute-git-dir"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return path.isEmpty ? nil : URL(fileURLWithPath: path)
    }
}
