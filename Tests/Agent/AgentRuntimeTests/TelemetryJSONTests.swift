@testable import AgentRuntime
import Boards
import Foundation
import Logging
import TestSupport
import Testing

/// `TelemetryMessage.jsonBytes()` writes what `JSONEncoder` (the oracle, with the options the
/// agent used before) writes for the same message, byte for byte.
@Suite struct TelemetryJSONTests {
    static func foundation(_ message: TelemetryMessage) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(message), as: UTF8.self)
    }

    static func expectSame(_ message: TelemetryMessage, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ours = String(decoding: message.jsonBytes(), as: UTF8.self), oracle = try foundation(message)
        #expect(ours == oracle, "ours:\n\(ours)\nJSONEncoder:\n\(oracle)", sourceLocation: sourceLocation)
    }

    @Test(arguments: ["sim-factory-line", "sim-air-quality", "sim-faulty"])
    func theSimulatedBoardsMessagesAreWrittenAsJSONEncoderWritesThem(_ name: String) throws {
        let path = repositoryPath("boards/\(name).yaml")
        try #require(FileManager.default.fileExists(atPath: path), "no board \(path)")
        let board = try Board.open(try BoardFile.load(path: path), timeScale: 0)
        var messages: [TelemetryMessage] = []
        TelemetryLoop(sendFrequency: .seconds(6), interval: .seconds(2), count: 40)
            .run(board: board, logger: Logger(label: "test")) { messages.append($0) }
        #expect(messages.count == 40)
        for message in messages { try Self.expectSame(message) }
    }

    @Test func edgeValuesAndStringsAreWrittenAsJSONEncoderWritesThem() throws {
        let numbers: [Double] = [0, -0.0, 1e-5, 1.5e-7, 0.1 + 0.2, 123_456_789.125, 1e21, 9.007199254740993e15, -273.15,
                                 2.5e300, 5e-324, 101_325, -3]
        for (i, x) in numbers.enumerated() {
            let aggregate = ChannelAggregate(avg: x, min: -x, max: x * 3, count: i, unit: "°C",
                                             calibration: i % 2 == 0 ? "two-point 20.10→20.00 \"q\" / \\ \n\t\u{1}" : nil)
            let message = TelemetryMessage(
                deviceId: "dev/é\"\(i)", seq: i == 0 ? UInt64(Int64.max) : UInt64(i), timestamp: "2026-12-05T17:00:00.125Z",
                periodSeconds: x, temperature: i % 3 == 0 ? nil : x, humidity: x / 7, pressure: nil,
                vibration: i % 2 == 0 ? x : nil, vibrationPeak: nil,
                readings: ["ambient": ["temperature": aggregate], "motor \(i)": ["vibrationRMS": aggregate, "a": aggregate]],
                sensorHealth: ["ambient": SensorHealth(chip: "BME280", status: "ok", unavailable: i, error: i % 2 == 1 ? "bus: \u{7f} nack" : nil)],
                clockSynchronised: i % 3 == 1 ? false : nil)
            try Self.expectSame(message)
        }
    }
}
