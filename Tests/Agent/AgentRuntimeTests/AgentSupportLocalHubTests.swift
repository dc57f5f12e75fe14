import AgentRuntime
import HTTPServer
import Foundation
import JSON
import LocalHub
import SensorCore
import TestSupport
import Testing

/// Remote support and calibration from the cloud side: LocalHub calls the direct methods and
/// sets the desired calibration, as IoT Hub would, over real mutual TLS on 127.0.0.1.
@Suite(.serialized) struct AgentSupportLocalHubTests {
    let device = "factory-line-01"

    func waitFor(_ timeout: Double = 15, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    @Test func getLogsAndASizeBoundedSupportBundleAreAnsweredThroughTheHub() async throws {
        let harness = try await AgentLocalHubTests.Harness()
        let ring = LogRing()
        let agent = try harness.startAgent(logRing: ring)
        #expect(waitFor { harness.hub.isConnected(device) && harness.reported("agentVersion") != nil })

        let logs = await harness.hub.invokeMethod(device, name: "getLogs", payload: .object(["level": .string("info"), "maxBytes": .integer(4096)]),
                                                  timeout: .seconds(10))
        #expect(logs.status == 200)
        let lines = logs.json?["lines"]
        guard case .array(let entries)? = lines else { Issue.record("no lines: \(String(decoding: logs.payload, as: UTF8.self))"); return }
        #expect(!entries.isEmpty)
        #expect(logs.payload.count <= 4096)

        let bundle = await harness.hub.invokeMethod(device, name: "getSupportBundle", payload: .object(["maxBytes": .integer(8192)]),
                                                    timeout: .seconds(20))
        #expect(bundle.status == 200)
        #expect(bundle.payload.count <= 8192, "\(bundle.payload.count) bytes")
        #expect(bundle.json?["deviceId"] == .string(device))
        #expect(bundle.json?["omitted"] != nil)
        let full = await harness.hub.invokeMethod(device, name: "getSupportBundle", timeout: .seconds(20))
        #expect(full.status == 200)
        #expect(full.payload.count <= 65536)
        #expect(full.json?["outbox"]?["mode"] != nil)
        #expect(full.json?["status"]?["link"] == .string("connected"))
        harness.stop(agent)
        await harness.cleanUp()
    }

    @Test func aCalibrationSetThroughTheTwinIsAcknowledgedAndLabelsTheReadingsAtTheHub() async throws {
        let harness = try await AgentLocalHubTests.Harness()
        let agent = try harness.startAgent(sendFrequency: .seconds(2))
        #expect(waitFor { harness.hub.isConnected(device) && harness.reported("agentVersion") != nil })
        let version = try harness.hub.setDesired(device, patch: .object(["calibration": .object(["ambient": .object([
            "temperature": .object(["offset": .number(-0.75)])])])]))
        #expect(waitFor { harness.reported("calibration")?["av"]?.intValue == version })
        let ack = harness.reported("calibration")
        #expect(ack?["ac"] == .integer(200))
        #expect(ack?["value"]?["ambient"]?["temperature"]?["offset"]?.doubleValue == -0.75)
        #expect(agent.settings.calibration("ambient", .temperature) == .offset(-0.75))
        // Telemetry sent after the change says which calibration produced it.
        func calibrated() -> Bool {
            ((try? harness.hub.telemetry(device)) ?? []).contains { record in
                guard let body = try? JSONValue.parse(record.payload) else { return false }
                return body["readings"]?["ambient"]?["temperature"]?["calibration"] == .string("offset -0.75")
            }
        }
        #expect(waitFor(20, calibrated))
        // A refused calibration is answered 400 and the one in force stays.
        let refused = try harness.hub.setDesired(device, patch: .object(["calibration": .object(["ambient": .object([
            "co2": .object(["offset": .number(5)])])])]))
        #expect(waitFor { harness.reported("calibration")?["av"]?.intValue == refused })
        #expect(harness.reported("calibration")?["ac"] == .integer(400))
        #expect(agent.settings.calibration("ambient", .temperature) == .offset(-0.75))
        harness.stop(agent)
        await harness.cleanUp()
    }

    /// A calibration from the technician's page reaches the cloud for audit: the reported
    /// `calibration` shows it (ac 203 at the desired $version in force) and `calibrationChange`
    /// says the page set it and when; a later desired calibration wins and says so.
    @Test func aCalibrationFromThePageIsReportedAndALaterDesiredOneWins() async throws {
        let harness = try await AgentLocalHubTests.Harness()
        let token = "0123456789abcdef0123456789abcdef"
        let tokenFile = harness.folder.file("page-token")
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        let agent = try harness.startAgent(sendFrequency: .seconds(2)) {
            $0.observe.pageListen = ListenAddress(host: "127.0.0.1", port: 0)
            $0.observe.pageTokenFile = tokenFile
        }
        #expect(waitFor { harness.hub.isConnected(device) && harness.reported("agentVersion") != nil && agent.pagePort != nil })
        let first = try harness.hub.setDesired(device, patch: .object(["calibration": .object(["ambient": .object([
            "humidity": .object(["offset": .number(1)])])])]))
        #expect(waitFor { harness.reported("calibration")?["av"]?.intValue == first })
        let port = try #require(agent.pagePort)

        let before = Date()
        let answer = httpRequest(port: port, method: "POST", path: "/api/calibrate", headers: ["Authorization": "Bearer \(token)"],
                                 body: #"{"ambient":{"temperature":{"points":[{"raw":20,"reference":20.5},{"raw":30,"reference":30.4}]}}}"#)
        #expect(answer?.status == 200, "\(answer?.body ?? "no answer")")
        #expect(waitFor { harness.reported("calibrationChange")?["source"] == .string("page") })
        let change = harness.reported("calibrationChange")
        #expect(change?["channel"] == .string("ambient.temperature"))
        if case .string(let at)? = change?["at"], let when = try? Date(at, strategy: Date.ISO8601FormatStyle()) {
            #expect(when >= before.addingTimeInterval(-1) && when <= Date().addingTimeInterval(1), "\(at)")
        } else {
            Issue.record("no time in \(change?.description ?? "nil")")
        }
        let ack = harness.reported("calibration")
        #expect(ack?["ac"] == .integer(203))
        #expect(ack?["av"]?.intValue == first)
        #expect(ack?["value"]?["ambient"]?["temperature"]?["points"] != nil)
        #expect(ack?["value"]?["ambient"]?["humidity"]?["offset"]?.doubleValue == 1, "the twin's calibration of another channel stays")
        // Telemetry says which calibration produced it.
        func labelled(_ label: String) -> Bool {
            ((try? harness.hub.telemetry(device)) ?? []).contains { record in
                guard let body = try? JSONValue.parse(record.payload) else { return false }
                return body["readings"]?["ambient"]?["temperature"]?["calibration"] == .string(label)
            }
        }
        #expect(waitFor(20) { labelled("two-point 20.00→20.50 30.00→30.40") })

        // A later desired calibration of that channel wins over the page's.
        let later = try harness.hub.setDesired(device, patch: .object(["calibration": .object(["ambient": .object([
            "temperature": .object(["offset": .number(-0.5)])])])]))
        #expect(waitFor { harness.reported("calibration")?["av"]?.intValue == later && harness.reported("calibrationChange")?["source"] == .string("twin") })
        #expect(harness.reported("calibration")?["ac"] == .integer(200))
        #expect(harness.reported("calibrationChange")?["av"]?.intValue == later)
        #expect(agent.settings.calibration("ambient", .temperature) == .offset(-0.5))
        #expect(waitFor(20) { labelled("offset -0.50") })
        harness.stop(agent)
        await harness.cleanUp()
    }
}
