import ArgumentParser
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Named exit codes (docs/localhub.md, "CLI").
enum Exit {
    static let degraded = ExitCode(1)
    static let failed = ExitCode(2)
}

/// Sets up logging once per process: this executable's job, not LocalHub's (it takes a Logger).
func bootstrapLogging(_ level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "localhub")
}

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

func writeLine(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
