import AgentRuntime
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
                toggles the status LED and reads the button. With --state-dir it also reports the outbox \
                (depth, oldest entry, drops); with --cert/--key the device certificate; with --hub the link \
                (a TLS + MQTT CONNECT probe as the device, which briefly takes over a running agent's \
                connection); with --predictor-socket the spike predictor.
                Exit codes: 0 healthy, 1 degraded (warnings), 2 failed, 64 usage or board-file error.
                """)

        @OptionGroup var options: BoardOptions

        @Flag(help: "Print the report as JSON (for scripts) instead of the table.")
        var json = false

        @Option(help: "Readings per sensor.")
        var reads = 6

        @Option(help: "The agent's state directory: report the outbox (depth, oldest entry, drops).")
        var stateDir: String?

        @Option(help: "The spike predictor's socket: check that it answers.")
        var predictorSocket: String?

        @OptionGroup var link: HubOptions

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
            var report = doctor.run(board)
            if let stateDir {
                report.checks.append(AgentChecks.outbox(stateDirectory: stateDir))
            }
            let deviceID = link.deviceID ?? board.file.deviceID
            if let cert = link.cert, let key = link.key {
                report.checks += AgentChecks.certificate(certificateFile: cert, keyFile: key, trustAnchors: nil, deviceID: deviceID)
            }
            if link.hub != nil {
                do {
                    report.checks.append(AgentChecks.link(try link.settings(defaultDeviceID: board.file.deviceID)))
                } catch {
                    printError("fieldagent: \(error)")
                    throw Exit.usage
                }
            }
            if let predictorSocket {
                report.checks.append(AgentChecks.predictor(socket: predictorSocket))
            }
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
