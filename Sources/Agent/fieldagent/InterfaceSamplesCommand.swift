import CLISupport
import AgentRuntime
import ArgumentParser
import FoundationEssentials
import HAL
import JSON
import Logging

extension FieldAgent {
    /// Prints what the agent would put on the twin and answer to methods, one JSON object per
    /// line, for scripts/check-firmware-interface.py to validate against firmware-interface/.
    struct InterfaceSamples: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "interface-samples",
            abstract: "Print sample twin patches and method responses (for the firmware-interface golden check).",
            shouldDisplay: false)

        @OptionGroup var options: BoardOptions

        func run() throws {
            let board = try openBoard(options)
            // A log ring of its own (no bootstrap), so getLogs and the bundle have lines to show.
            let ring = LogRing()
            let logger = Logger(label: "interface-samples") { label in RingLogHandler(label: label, ring: ring, level: .info) }
            let agent = Agent(board: board, options: .init(agentVersion: FieldAgent.configuration.version, count: 1, logRing: ring),
                              hub: nil, logger: logger)
            logger.notice("interface samples on \(board.file.name)", metadata: ["feature": "samples"])
            try agent.run()
            @Sendable func emit(_ kind: String, _ name: String, _ status: Int?, _ body: [UInt8]) {
                var line: [String: JSONValue] = ["kind": .string(kind), "name": .string(name),
                                                 "body": (try? JSONValue.parse(body)) ?? .string(String(decoding: body, as: UTF8.self))]
                if let status { line["status"] = .integer(Int64(status)) }
                writeLine(String(decoding: JSONValue.object(line).encoded(), as: UTF8.self))
            }
            emit("reported", "readOnly", nil, agent.readOnlyPropertiesForInterfaceCheck())
            let sensors = Dictionary(board.sensors.map { ($0.chip.name, $0.chip.kind.descriptor.channels) }) { first, _ in first }
            var twin = TwinProperties(settings: agent.settings, sensors: sensors)
            let first = board.sensors.first.map { ($0.chip.name, $0.chip.kind.descriptor.channels.first?.channel.rawValue ?? "temperature") } ?? ("none", "temperature")
            let calibration = #"{"calibration":{"\#(first.0)":{"\#(first.1)":{"offset":0.1}}}}"#
            let document = Array(#"{"desired":{"$version":1},"reported":{"$version":1}}"#.utf8)
            if let defaults = twin.defaultsReport(for: document) { emit("reported", "defaults", nil, defaults) }
            let patches = [
                #"{"sendFrequency":"2s","channels":{"humidity":false},"spikeThreshold":0.8,"route":"predictor"}"#,
                #"{"sendFrequency":"banana","channels":{"co2":true},"spikeThreshold":"high","route":7}"#,
                #"{"sendFrequency":null}"#,
                calibration,
                #"{"calibration":{"no-such-sensor":{"temperature":{"offset":1}}}}"#,
                #"{"calibration":{"\#(first.0)":{"\#(first.1)":null}}}"#,
            ]
            for (i, patch) in patches.enumerated() {
                if let acks = twin.applyPatch(version: i + 2, body: Array(patch.utf8)).reportedPatch {
                    emit("reported", "acks-\(i + 2)", nil, acks)
                }
            }
            // A calibration from the technician's page: ac 203 and calibrationChange.
            if let value = try? JSONValue.parse(#"{"\#(first.0)":{"\#(first.1)":{"offset":0.2}}}"#),
               case .success(let update) = twin.applyLocalCalibration(value, source: "page", at: Date().formatted(Date.ISO8601FormatStyle()),
                                                                      channel: "\(first.0).\(first.1)"),
               let patch = update.reportedPatch {
                emit("reported", "page-calibration", nil, patch)
            }
            for (name, payload) in [("runDiagnostics", ""), ("blinkLed", #"{"seconds":1}"#), ("blinkLed", #"{"seconds":"x"}"#),
                                    ("getHealth", ""), ("selfDestruct", "{}"), ("getLogs", #"{"level":"info","maxBytes":4096}"#),
                                    ("getLogs", #"{"level":"loud"}"#), ("getSupportBundle", #"{"maxBytes":32768}"#)] {
                let (status, body) = agent.invoke(name, payload: Array(payload.utf8))
                emit("method", name, status, body)
            }
            // The board as a real one before NTP: stamped with a wall clock that is not synchronised
            // (long enough for sim-factory-line's spike at 2:00 to raise an alert).
            let unsynchronisedBoard = try openBoard(options)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let unsynchronised = Agent(board: unsynchronisedBoard,
                                       options: .init(agentVersion: FieldAgent.configuration.version, count: 10,
                                                      wallClock: UnsynchronisedClock(following: unsynchronisedBoard.clock)),
                                       hub: nil, logger: Logger(label: "interface-samples"),
                                       output: { message in
                                           if let data = try? encoder.encode(message) { emit("telemetry", "unsynchronised", nil, Array(data)) }
                                       }, alertOutput: { alert in
                                           if let data = try? encoder.encode(alert) { emit("alert", "unsynchronised", nil, Array(data)) }
                                       })
            // Calibrated readings say which calibration produced them.
            unsynchronised.applyDesiredPatchForTesting(version: 1, body: Array(calibration.utf8))
            try unsynchronised.run()
        }
    }
}

/// A wall clock that runs with the board's clock from now and is never synchronised.
final class UnsynchronisedClock: WallClock {
    let clock: any HALClock
    let start: Duration

    init(following clock: any HALClock) {
        self.clock = clock
        start = .seconds(Date().timeIntervalSince1970) - clock.now
    }

    var sinceEpoch: Duration { start + clock.now }
    var synchronisation: ClockSynchronisation { ClockSynchronisation(synchronised: false, source: "interface samples") }
}
