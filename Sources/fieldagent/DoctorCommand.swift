import ArgumentParser
import Boards
import Diagnostics
import Foundation

extension FieldAgent {
    struct Doctor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every bus, sensor, reading and GPIO line of a board and say how to fix what fails.",
            discussion: """
                Scans each I2C bus (like i2cdetect), identifies each chip by its ID, compares with the board \
                file, reads each sensor several times (range, stuck, noise, CRC errors), runs self-tests, \
                toggles the status LED and reads the button.
                Exit codes: 0 healthy, 1 degraded (warnings), 2 failed, 64 usage or board-file error.
                """)

        @OptionGroup var options: BoardOptions

        @Flag(help: "Print the report as JSON (for scripts) instead of the table.")
        var json = false

        @Option(help: "Readings per sensor.")
        var reads = 6

        func validate() throws {
            guard (1...100).contains(reads) else { throw ValidationError("--reads must be 1…100") }
        }

        func run() async throws {
            _ = bootstrapLogging(options.logLevel)
            // The doctor needs no watchable pace: simulated time runs as fast as the code unless asked.
            var options = options
            options.timeScale = options.timeScale ?? 0
            let board = try openBoard(options)
            let quiet = json
            let doctor = Diagnostics.Doctor(reads: reads) { line in
                if !quiet { printError("… " + line) }
            }
            let report = doctor.run(board)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let data = try encoder.encode(report)
                writeLine(String(decoding: data, as: UTF8.self))
            } else {
                writeLine(report.table())
            }
            if report.exitCode != .healthy { throw ExitCode(report.exitCode.rawValue) }
        }
    }
}
