import CLISupport
import AgentRuntime
import ArgumentParser
import Boards
import Diagnostics
import FoundationEssentials
import SensorCore

extension FieldAgent {
    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read every sensor and print the values in SI units with a quality flag per channel.")

        @OptionGroup var options: BoardOptions

        @Flag(help: "Read once and exit (default: every sampling interval until interrupted).")
        var once = false

        @Flag(help: "Print JSON lines instead of a table.")
        var json = false

        func run() throws {
            let logger = bootstrapLogging(options.logLevel, label: "fieldagent")
            let board = try openBoard(options)
            let sampler = Sampler(board: board, logger: logger)
            repeat {
                let readings = sampler.sampleOnce()
                if json {
                    writeLine(try Self.jsonLine(readings, board: board))
                } else {
                    for r in readings {
                        let value = r.value.map { r.channel.format($0.value) } ?? "—"
                        writeLine("\(Self.column(r.sensor, 10)) \(Self.column(r.channel.rawValue, 14)) \(Self.column(value, 16)) \(r.quality.rawValue)")
                    }
                    if !once { writeLine("") }
                }
                if !once { board.clock.sleep(for: board.file.sampling.interval) }
            } while !once && !Task.isCancelled
            // `read --once` is for scripts: a sensor that gave no value makes it exit 2.
            if once, sampler.statuses.values.contains(where: { $0 != .ok }) { throw Exit.failed }
        }

        struct Line: Encodable {
            struct Value: Encodable {
                var sensor: String
                var chip: String
                var channel: String
                var value: Double?
                var unit: String
                var quality: String
            }
            var deviceId: String
            var readings: [Value]
        }

        static func jsonLine(_ readings: [Reading], board: Board) throws -> String {
            let chips = Dictionary(uniqueKeysWithValues: board.sensors.map { ($0.chip.name, $0.chip.kind.name) })
            let line = Line(deviceId: board.file.deviceID, readings: readings.map {
                Line.Value(sensor: $0.sensor, chip: chips[$0.sensor] ?? "?", channel: $0.channel.rawValue,
                           value: $0.value?.value, unit: $0.channel.unit.rawValue, quality: $0.quality.rawValue)
            })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(line), as: UTF8.self)
        }

        /// `text` cut or padded with spaces to `width` characters, for the table's columns.
        static func column(_ text: String, _ width: Int) -> String {
            text.count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - text.count)
        }
    }
}
