import CLISupport
import AgentRuntime
import ArgumentParser
import FoundationEssentials
import SensorCore

extension FieldAgent {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the running agent's link state, sensors, backlog and last error (from its runtime directory).")

        @Option(help: "The agent's runtime directory, where it writes status.json. Default: $FIELDAGENT_RUNTIME_DIR, else $RUNTIME_DIRECTORY, \(AgentStatus.defaultRuntimeDirectory), then the state directory.")
        var runtimeDir: String?

        @Option(help: "The agent's state directory (a run by hand writes status.json there). Default: $FIELDAGENT_STATE_DIR, else \(CoreConfig.defaultStateDirectory).")
        var stateDir: String?

        @Flag(help: "Print the status as JSON.")
        var json = false

        func run() throws {
            let core = try loadSettings(file: nil, flags: givenOptions(self), required: []).core
            let found = AgentStatus.find(runtime: core.runtimeDirectory, state: core.stateDirectory,
                                         environment: ProcessInfo.processInfo.environment)
            guard let status = found.status else {
                let places = found.searched.map { AgentStatus.path(in: $0) }.joined(separator: ", ")
                printError("fieldagent: no agent status in \(places); is `fieldagent run` running (with a hub, or with --state-dir)?")
                throw Exit.failed
            }
            let age = Date().timeIntervalSince(status.updated)
            let running = status.processAlive && age < 30
            writeLine(json ? Self.json(status) : Self.text(status, running: running, age: age))
            if !running { throw Exit.degraded }
        }

        static func json(_ status: AgentStatus) -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            return (try? encoder.encode(status)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }

        static func text(_ status: AgentStatus, running: Bool, age: Double) -> String {
            var lines = [
                "agent     \(running ? "running (pid \(status.pid))" : "NOT running — last seen \(Int(age)) s ago (pid \(status.pid))")",
                "device    \(status.deviceID) on \(status.board)",
                "link      \(status.link)",
                "sent      \(status.sent) message(s) acknowledged by the hub",
                "twin      \(status.twin)",
                "clock     \(status.clock ?? "unknown")",
                "route     \(status.route)\(status.detector.map { " (spike detection: \($0)\(status.detectorModel.map { ", \($0)" } ?? ""))" } ?? "")",
                "settings  " + status.settings.keys.sorted().map { "\($0)=\(status.settings[$0]?.description ?? "")" }.joined(separator: " "),
            ]
            for sensor in status.sensors ?? [] {
                let readings = sensor.readings.keys.sorted().compactMap { channel -> String? in
                    guard let reading = sensor.readings[channel] else { return nil }
                    let digits = Channel(rawValue: channel)?.facts.digits ?? 2
                    return "\(channel)=\(formatFixed(reading.value, digits: digits)) \(reading.unit)"
                }
                var line = "sensor    \(sensor.name) (\(sensor.chip)) \(sensor.status)"
                if let error = sensor.error { line += ": \(error)" }
                if !readings.isEmpty { line += " — " + readings.joined(separator: ", ") }
                lines.append(line)
            }
            if let outbox = status.outbox {
                let oldest = outbox.oldestAgeSeconds.map { "oldest \(Self.age($0))" } ?? "empty"
                lines.append("outbox    \(outbox.depth) waiting (\(outbox.bytes) bytes, \(oldest)), \(outbox.mode)")
                lines.append("dropped   \(outbox.droppedAggregates) aggregate(s), \(outbox.droppedAlerts) alert(s), \(outbox.droppedUnreadable) unreadable")
            }
            if let quota = status.quota {
                lines.append("quota     \(quota.text)")
            }
            if let provisioning = status.provisioning {
                lines.append("dps       \(provisioning)")
            }
            lines.append("error     \(status.lastError ?? "none")")
            return lines.joined(separator: "\n")
        }

        static func age(_ seconds: Double) -> String {
            switch seconds {
            case ..<120: "\(Int(seconds)) s"
            case ..<7200: "\(Int(seconds / 60)) min"
            case ..<172_800: formatFixed(seconds / 3600, digits: 1) + " h"
            default: formatFixed(seconds / 86400, digits: 1) + " days"
            }
        }
    }
}
