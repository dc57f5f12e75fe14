import ArgumentParser
import Boards
import Configuration
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Named exit codes of every subcommand (README, "Exit codes").
enum Exit {
    static let success = ExitCode(0)
    static let degraded = ExitCode(1)
    static let failed = ExitCode(2)
    static let usage = ExitCode(64)
}

/// Sets up logging once per process (CONVENTIONS.md 14: only executables bootstrap logging).
func bootstrapLogging(_ level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "fieldagent")
}

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// Loads and opens a board, printing every problem of a bad board file and exiting 64.
func openBoard(_ options: BoardOptions) throws -> Board {
    try openBoard(path: options.board, timeScale: options.timeScale)
}

func openBoard(path: String, timeScale: Double?) throws -> Board {
    let file: BoardFile
    do {
        file = try BoardFile.load(path: path)
    } catch {
        printError("fieldagent: the board file has \(error)")
        throw Exit.usage
    }
    do {
        return try Board.open(file, timeScale: timeScale)
    } catch {
        printError("fieldagent: \(error)")
        throw Exit.failed
    }
}

func writeLine(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}
