import CLISupport
import AgentRuntime
import ArgumentParser
import FoundationEssentials
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
            let agent = Agent(board: board, options: .init(agentVersion: FieldAgent.configuration.version, count: 1),
                              hub: nil, logger: Logger(label: "interface-samples"))
            try agent.run()
            func emit(_ kind: String, _ name: String, _ status: Int?, _ body: [UInt8]) {
                var line: [String: JSONValue] = ["kind": .string(kind), "name": .string(name),
                                                 "body": (try? JSONValue.parse(body)) ?? .string(String(decoding: body, as: UTF8.self))]
                if let status { line["status"] = .integer(Int64(status)) }
                writeLine(String(decoding: JSONValue.object(line).encoded(), as: UTF8.self))
            }
            emit("reported", "readOnly", nil, agent.readOnlyPropertiesForInterfaceCheck())
            var twin = TwinProperties(settings: agent.settings)
            let document = Array(#"{"desired":{"$version":1},"reported":{"$version":1}}"#.utf8)
            if let defaults = twin.defaultsReport(for: document) { emit("reported", "defaults", nil, defaults) }
            let patches = [
                #"{"sendFrequency":"2s","channels":{"humidity":false},"spikeThreshold":0.8,"route":"predictor"}"#,
                #"{"sendFrequency":"banana","channels":{"co2":true},"spikeThreshold":"high","route":7}"#,
                #"{"sendFrequency":null}"#,
            ]
            for (i, patch) in patches.enumerated() {
                if let acks = twin.applyPatch(version: i + 2, body: Array(patch.utf8)).reportedPatch {
                    emit("reported", "acks-\(i + 2)", nil, acks)
                }
            }
            for (name, payload) in [("runDiagnostics", ""), ("blinkLed", #"{"seconds":1}"#), ("blinkLed", #"{"seconds":"x"}"#),
                                    ("getHealth", ""), ("selfDestruct", "{}")] {
                let (status, body) = agent.invoke(name, payload: Array(payload.utf8))
                emit("method", name, status, body)
            }
        }
    }
}
