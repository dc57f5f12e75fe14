import ArgumentParser
import Logging
import SystemCalls

/// What every FieldAgent executable (`fieldagent`, `localhub`, `spike-predictor`) does the same
/// way: named exit codes, setting up logging once, and writing whole lines to stdout and stderr
/// without Foundation.

/// Named exit codes (README, "Exit codes").
public enum Exit {
    public static let success = ExitCode(0)
    /// `doctor` found warnings; a command that did part of its work.
    public static let degraded = ExitCode(1)
    /// `doctor` found failures, or the command failed.
    public static let failed = ExitCode(2)
    /// A usage or board-file error.
    public static let usage = ExitCode(64)
}

/// Sets up logging once per process, to standard error at `level` (only executables bootstrap
/// logging; libraries take a `Logger`), and returns the executable's own logger.
///
/// - Parameter tee: another handler for every logger (the agent's in-memory log ring), given the
///   logger's label.
public func bootstrapLogging(_ level: Logger.Level, label: String,
                             tee: (@Sendable (String) -> any LogHandler)? = nil) -> Logger {
    LoggingSystem.bootstrap { name in
        var handler = StreamLogHandler.standardError(label: name)
        handler.logLevel = level
        guard let tee else { return handler }
        return MultiplexLogHandler([handler, tee(name)])
    }
    return Logger(label: label)
}

/// One line to standard error.
public func printError(_ text: String) {
    writeAll(2, text + "\n")
}

/// One line to standard output.
public func writeLine(_ text: String) {
    writeAll(1, text + "\n")
}

private func writeAll(_ fd: Int32, _ text: String) {
    // Nowhere left to report a failed write to stdout or stderr.
    try? POSIX.writeAll(fd, Array(text.utf8))
}

/// `--log-level trace|debug|info|notice|warning|error|critical`.
extension Logger.Level: @retroactive ExpressibleByArgument {}
