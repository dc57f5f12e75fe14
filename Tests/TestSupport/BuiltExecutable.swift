import Foundation
import Testing

/// What a command printed and how it exited.
public struct Outcome: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// One of the package's executables as built for these tests: next to the test bundle, or in
/// `.build/debug`.
public func builtExecutable(_ name: String) throws -> String {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path,
        repositoryPath(".build/debug/\(name)"),
    ]
    return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, "build \(name) first")
}

/// Runs `executable` in the repository's root with `arguments` (and `environment` added to this
/// process's), waits for it, and returns what it printed.
public func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    try execute(executable, arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                directory: repositoryRoot)
}
