import AgentRuntime
import Foundation
import Logging
import TestSupport
import Testing

/// Issue 15: the edge-analytics recipe's Stream Analytics query (`deploy/azure/fieldagent.asaql`)
/// reads only fields FieldAgent sends: every `t.<field>` in it is in the telemetry schema and in
/// messages captured from the agent on the simulated factory line.
@Suite struct RecipeQueryTests {
    var query: String { get throws { try String(contentsOfFile: repositoryPath("deploy/azure/fieldagent.asaql"), encoding: .utf8) } }

    /// The fields the query reads through its input alias `t` (comments left out).
    func fieldsRead(_ text: String) throws -> Set<String> {
        let code = text.split(separator: "\n").map { line in line.range(of: "--").map { String(line[..<$0.lowerBound]) } ?? String(line) }
            .joined(separator: "\n")
        let field = try Regex(#"\bt\.([A-Za-z_][A-Za-z0-9_]*)"#, as: (Substring, Substring).self)
        return Set(code.matches(of: field).map { String($0.output.1) })
    }

    @Test func theQueryIsTheRecipesOwn() throws {
        let text = try query
        #expect(text.contains("AnomalyDetection_SpikeAndDip(CAST(t.vibration AS float), 95, 120, 'spikesanddips')"))
        #expect(text.contains("TumblingWindow(minute, 5)"))
        #expect(text.contains("COUNT(DISTINCT t.deviceId) < 2"))
        #expect(try fieldsRead(text).isSuperset(of: ["vibration", "deviceId", "timestamp", "temperature"]))
    }

    @Test func everyFieldTheQueryReadsIsInTheSchemaAndInRealMessages() throws {
        let fields = try fieldsRead(try query)
        try #require(!fields.isEmpty)
        let schema = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repositoryPath("firmware-interface/telemetry.v1.schema.json")))) as? [String: Any]
        let properties = Set(((schema?["properties"] as? [String: Any]) ?? [:]).keys)
        #expect(fields.subtracting(properties).isEmpty, "read by the query, not in telemetry.v1: \(fields.subtracting(properties).sorted())")

        // Captured from the agent: four raw messages from the factory line, as sent.
        let board = try openBoard("sim-factory-line")
        var captured: [[String: Any]] = []
        TelemetryLoop(sendFrequency: .seconds(30), interval: board.file.sampling.interval, count: 4)
            .run(board: board, logger: Logger(label: "test")) { message in
                if let object = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(message)) as? [String: Any] { captured.append(object) }
            }
        try #require(captured.count == 4)
        for message in captured {
            let missing = fields.filter { message[$0] == nil }
            #expect(missing.isEmpty, "seq \(message["seq"] ?? "?") lacks \(missing.sorted())")
            #expect(message["vibration"] is Double, "SpikeAndDip needs vibration as a number")
        }
    }

    func schemaProperties(_ name: String) throws -> Set<String> {
        let schema = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repositoryPath("firmware-interface/\(name).v1.schema.json")))) as? [String: Any]
        return Set(((schema?["properties"] as? [String: Any]) ?? [:]).keys)
    }

    /// Issue 19: the dedup recipe (`deploy/azure/fieldagent-dedup.asaql`) reads only fields the
    /// contract has (messages through `t`, batch elements through `e.ArrayValue`), expands
    /// batches and keys readings on deviceId + seq, which every message and batch element the
    /// agent builds carries.
    @Test func theDedupRecipeReadsContractFieldsAndKeysOnDeviceAndSeq() throws {
        let text = try String(contentsOfFile: repositoryPath("deploy/azure/fieldagent-dedup.asaql"), encoding: .utf8)
        let code = text.split(separator: "\n").map { line in line.range(of: "--").map { String(line[..<$0.lowerBound]) } ?? String(line) }
            .joined(separator: "\n")
        let messageFields = try fieldsRead(text)
        let element = try Regex(#"\be\.ArrayValue\.([A-Za-z_][A-Za-z0-9_]*)"#, as: (Substring, Substring).self)
        let elementFields = Set(code.matches(of: element).map { String($0.output.1) })
        try #require(!messageFields.isEmpty && !elementFields.isEmpty)
        let telemetry = try schemaProperties("telemetry"), aggregate = try schemaProperties("aggregate")
        let known = telemetry.union(aggregate).union(try schemaProperties("batch")).union(try schemaProperties("alert"))
        #expect(messageFields.subtracting(known).isEmpty, "not in the contract: \(messageFields.subtracting(known).sorted())")
        #expect(elementFields.subtracting(telemetry.union(aggregate)).isEmpty,
                "batch elements are telemetry or aggregates: \(elementFields.subtracting(telemetry.union(aggregate)).sorted())")
        #expect(code.contains("CROSS APPLY GetArrayElements(t.messages)"))
        #expect(code.contains("PARTITION BY deviceId, seq"))
        #expect(messageFields.isSuperset(of: ["deviceId", "seq", "messageType", "messages"]))
        #expect(elementFields.isSuperset(of: ["deviceId", "seq"]))

        // A batch as the agent builds it from real telemetry: every element has the key.
        let board = try openBoard("sim-factory-line")
        var bodies: [[UInt8]] = []
        TelemetryLoop(sendFrequency: .seconds(30), interval: board.file.sampling.interval, count: 3)
            .run(board: board, logger: Logger(label: "test")) { message in
                if let body = try? JSONEncoder().encode(message) { bodies.append(Array(body)) }
            }
        let batch = try #require(try JSONSerialization.jsonObject(with: Data(BacklogBatching.body(deviceID: board.file.deviceID, bodies: bodies))) as? [String: Any])
        let elements = try #require(batch["messages"] as? [[String: Any]])
        #expect(elements.count == 3)
        for reading in elements {
            #expect(reading["deviceId"] is String && reading["seq"] is Int, "\(reading.keys.sorted())")
        }
    }
}
