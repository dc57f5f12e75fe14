import CLISupport
import AgentRuntime
import ArgumentParser
import Boards
import Diagnostics
import FoundationEssentials

extension FieldAgent {
    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every bus, sensor, reading and GPIO line of a board and say how to fix what fails.",
            discussion: """
                Scans each I2C bus (like i2cdetect), identifies each chip by its ID, compares with the board \
                file, reads each sensor several times (range, stuck, noise, CRC errors), runs self-tests, \
                toggles the status LED and reads the button. With --state-dir it also reports the outbox \
                (depth, oldest entry, drops); with --cert/--key the device certificate; with --hub the link \
                (a TLS + MQTT CONNECT probe as the device, which briefly takes over a running agent's \
                connection); with --predictor-socket the spike predictor. With --config (and FIELDAGENT_* \
                variables) it reads the agent's settings, and checks what the agent's runDiagnostics \
                method checks.
                Exit codes: 0 healthy, 1 degraded (warnings), 2 failed, 64 usage or board-file error.
                """)

        @OptionGroup var options: BoardOptions

        @Flag(help: "Print the report as JSON (for scripts) instead of the table.")
        var json = false

        @Option(help: "Readings per sensor.")
        var reads = 6

        @Option(help: "The agent configuration file (YAML), as for run: its state directory, certificate, hub and predictor are checked too.")
        var config: String?

        @Option(help: "The agent's state directory: report the outbox (depth, oldest entry, drops).\(environmentNote("state_dir"))")
        var stateDir: String?

        @Option(help: "The spike predictor's socket: check that it answers.\(environmentNote("predictor.socket"))")
        var predictorSocket: String?

        @OptionGroup var link: HubOptions

        func validate() throws {
            guard (1...100).contains(reads) else { throw ValidationError("--reads must be 1…100") }
        }

        func run() throws {
            _ = bootstrapLogging(options.logLevel, label: "fieldagent")
            let settings = try loadSettings(file: config, flags: givenOptions(self) + givenOptions(link), required: [])
            // The doctor needs no watchable pace: simulated time runs as fast as the code unless asked.
            var options = options
            options.timeScale = options.timeScale ?? 0
            let board = try openBoard(options)
            let quiet = json
            let plan = DoctorPlan(config: settings, reads: reads, link: .probe) { line in
                if !quiet { printError("… " + line) }
            }
            let report = plan.run(board)
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
