import CLISupport
import AgentRuntime
import ArgumentParser
import FoundationEssentials
import SensorCore

extension FieldAgent {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the running agent's link state, backlog and last error (from its state directory).")

        @Option(help: "The agent's state directory. Default: $FIELDAGENT_STATE_DIR, else \(CoreConfig.defaultStateDirectory).")
        var stateDir: String?

        @Flag(help: "Print the status as JSON.")
        var json = false

        func run() throws {
            let directory = try loadSettings(file: nil, flags: givenOptions(self), required: []).core.stateDirectory ?? CoreConfig.defaultStateDirectory
            guard let status = AgentStatus.read(from: directory) else {
                printError("fieldagent: no agent status in \(AgentStatus.path(in: directory)); is `fieldagent run --state-dir \(directory)` running (with a hub)?")
                throw Exit.failed
            }
            let age = Date().timeIntervalSince(status.updated)
            let running = status.processAlive && age < 30
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                writeLine(String(decoding: try encoder.encode(status), as: UTF8.self))
                if !running { throw Exit.degraded }
                return
            }
            var lines = [
                "agent     \(running ? "running (pid \(status.pid))" : "NOT running — last seen \(Int(age)) s ago (pid \(status.pid))")",
                "device    \(status.deviceID) on \(status.board)",
                "link      \(status.link)",
                "sent      \(status.sent) message(s) acknowledged by the hub",
                "twin      \(status.twin)",
                "clock     \(status.clock ?? "unknown")",
                "route     \(status.route)\(status.detector.map { " (spike detection: \($0))" } ?? "")",
                "settings  " + status.settings.keys.sorted().map { "\($0)=\(status.settings[$0]?.description ?? "")" }.joined(separator: " "),
            ]
            if let outbox = status.outbox {
                let oldest = outbox.oldestAgeSeconds.map { "oldest \(Self.age($0))" } ?? "empty"
                lines.append("outbox    \(outbox.depth) waiting (\(outbox.bytes) bytes, \(oldest)), \(outbox.mode)")
                lines.append("dropped   \(outbox.droppedAggregates) aggregate(s), \(outbox.droppedAlerts) alert(s), \(outbox.droppedUnreadable) unreadable")
            }
            lines.append("error     \(status.lastError ?? "none")")
            writeLine(lines.joined(separator: "\n"))
            if !running { throw Exit.degraded }
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
