import Foundation
import TestSupport
import Testing

/// `fieldagent status` reads `status.json` from the agent's runtime directory. The file here is
/// written as the agent writes it (the format is the contract between the two).
@Suite struct StatusCommandTests {
    /// A status as a running agent (this test process, so it counts as alive) wrote it just now.
    func writeStatus(in directory: String, pid: Int32 = getpid(), updated: Date = Date()) throws {
        let stamp = ISO8601DateFormatter().string(from: updated)
        let json = """
            {
              "board" : "sim-factory-line", "clock" : "simulated time", "detector" : "robust z-score (fallback)",
              "deviceID" : "factory-line-01", "lastError" : "connect(127.0.0.1:8883) failed: Connection refused",
              "link" : "waiting(reason: \\"connection refused\\")", "pid" : \(pid), "route" : "predictor", "sent" : 12,
              "settings" : { "sendFrequency" : "PT10S" }, "twin" : "not fetched yet", "updated" : "\(stamp)",
              "outbox" : { "bytes" : 2048, "depth" : 3, "droppedAggregates" : 0, "droppedAlerts" : 0, "droppedUnreadable" : 0,
                           "mode" : "durable", "nextSequence" : 16, "oldestAgeSeconds" : 30 },
              "quota" : { "day" : "2026-12-03", "messages" : 263, "units" : 9852, "dailyQuota" : 400000, "fractionUsed" : 0.02463 },
              "sensors" : [
                { "name" : "env", "chip" : "BME280", "status" : "ok",
                  "readings" : { "temperature" : { "value" : 21.456, "unit" : "°C" }, "pressure" : { "value" : 101325.04, "unit" : "Pa" } } },
                { "name" : "vib", "chip" : "ADXL345", "status" : "failed", "error" : "no ACK at 0x53", "readings" : {} }
              ]
            }
            """
        try json.write(toFile: directory + "/status.json", atomically: true, encoding: .utf8)
    }

    @Test func textShowsTheLinkTheSensorsWithTheirReadingsAndTheBacklog() throws {
        let folder = try TemporaryDirectory(prefix: "status")
        try writeStatus(in: folder.path)
        let result = try fieldagent(["status", "--runtime-dir", folder.path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "agent     running (pid \(getpid()))")
        #expect(lines.contains("sensor    env (BME280) ok — pressure=101325.0 Pa, temperature=21.46 °C"))
        #expect(lines.contains("sensor    vib (ADXL345) failed: no ACK at 0x53"))
        #expect(lines.contains("outbox    3 waiting (2048 bytes, oldest 30 s), durable"))
        #expect(lines.contains("quota     263 message(s), 9852 unit(s) of 4 KB (2.5 % of 400000) on 2026-12-03 (UTC)"))
        #expect(lines.last == "error     connect(127.0.0.1:8883) failed: Connection refused")
    }

    @Test func jsonGivesTheSameFieldsAndAStoppedAgentExitsDegraded() throws {
        let folder = try TemporaryDirectory(prefix: "status")
        // No process has the largest pid; an hour-old file would count as stale anyway.
        try writeStatus(in: folder.path, pid: Int32.max, updated: Date().addingTimeInterval(-3600))
        let result = try fieldagent(["status", "--runtime-dir", folder.path, "--json"])
        #expect(result.status != 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["deviceID"] as? String == "factory-line-01")
        let sensors = try #require(json["sensors"] as? [[String: Any]])
        #expect(sensors.map { $0["name"] as? String } == ["env", "vib"])
        #expect((sensors[0]["readings"] as? [String: Any])?.keys.sorted() == ["pressure", "temperature"])
        #expect(sensors[1]["error"] as? String == "no ACK at 0x53")
        let quota = try #require(json["quota"] as? [String: Any])
        #expect(quota["units"] as? Int == 9852)
        #expect(quota["fractionUsed"] as? Double == 0.02463)

        let text = try fieldagent(["status", "--runtime-dir", folder.path])
        // 3600 s, or a little more when the machine is slow to start the command.
        let seen = text.stdout.split(separator: "\n").first.flatMap { line in
            line.hasPrefix("agent     NOT running — last seen ") ? Int(line.dropFirst(34).prefix { $0.isNumber }) : nil
        }
        #expect(seen.map { (3600...3660).contains($0) } == true, "\(text.stdout)")
    }

    @Test func withoutAStatusItNamesEveryPlaceItLooked() throws {
        let folder = try TemporaryDirectory(prefix: "status")
        let result = try fieldagent(["status"], environment: ["RUNTIME_DIRECTORY": folder.path, "FIELDAGENT_STATE_DIR": folder.file("state")])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(folder.path)/status.json, /run/fieldagent/status.json, \(folder.file("state"))/status.json"))
    }
}
