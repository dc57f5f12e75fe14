import AgentRuntime
import ArgumentParser
import Boards
import Configuration
import Foundation

extension FieldAgent {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent: sample the board and send one telemetry message per send period.")

        enum Sink: String, ExpressibleByArgument, CaseIterable {
            case stdout
        }

        @OptionGroup var options: BoardOptions

        @Option(help: "Where telemetry goes: \(Sink.allCases.map(\.rawValue).joined(separator: ", ")).")
        var sink: Sink = .stdout

        @Option(help: "How often a message is sent: 30s, 5m, 1h or ISO 8601 (PT30S); 1 s … 24 h. Default: the board file's.")
        var sendFrequency: String?

        @Option(help: "Stop after this many messages.")
        var count: Int?

        func validate() throws {
            if let sendFrequency { _ = try parseSendFrequency(sendFrequency) }
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        }

        func run() async throws {
            let logger = bootstrapLogging(options.logLevel)
            let board = try openBoard(options)
            let frequency = try sendFrequency.map(parseSendFrequency) ?? board.file.sampling.sendFrequency
            let loop = TelemetryLoop(sendFrequency: frequency, interval: board.file.sampling.interval, count: count)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            logger.notice("sampling \(board.file.name) every \(DurationText.format(loop.interval)), sending every \(DurationText.format(frequency))")
            loop.run(board: board, logger: logger) { message in
                if let data = try? encoder.encode(message) {
                    writeLine(String(decoding: data, as: UTF8.self))
                }
            }
        }
    }
}

/// DESIGN.md §5: "30s", "5m", "1h" or ISO 8601, 1 s … 24 h.
func parseSendFrequency(_ text: String) throws -> Duration {
    let value: Duration
    do {
        value = try DurationText.parse(text)
    } catch {
        throw ValidationError("--send-frequency: \(error)")
    }
    guard value >= .seconds(1), value <= .seconds(86400) else {
        throw ValidationError("--send-frequency: \(text) is outside 1s…24h")
    }
    return value
}
