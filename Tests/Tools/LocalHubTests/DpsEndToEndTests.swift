import Foundation
import JSON
import MQTT
import Testing
@testable import LocalHub

/// A device provisions through LocalHub's DPS port over real TLS (hand-built MQTT), then uses
/// the assignment: connects to the hub it was given and sends telemetry the hub stores.
@Suite(.serialized)
struct DpsEndToEndTests {
    @Test func aDeviceProvisionsOverTLSThenConnectsToTheAssignedHubAndSendsTelemetry() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: DpsConfiguration())
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: Array(try Data(contentsOf: URL(fileURLWithPath: fixture.pki.files.rootCertificate))))
        #expect(fixture.waitForLog("LocalHub DPS listening on 127.0.0.1:\(fixture.dpsPort) (id scope 0ne00LOCAL1, assigns to localhost)"))

        let assignment: (hub: String, device: String) = try await Task.detached {
            let device = try TestDevice(port: fixture.dpsPort, fixture: fixture, certificateOf: "dev-1")
            #expect(try device.connect("dev-1", username: "0ne00LOCAL1/registrations/dev-1/api-version=2019-03-31") == .accepted)
            #expect(try device.subscribe(["$dps/registrations/res/#"]) == [.granted(.atMostOnce)])
            try device.publish("$dps/registrations/PUT/iotdps-register/?$rid=1", #"{"registrationId":"dev-1"}"#, qos: .atLeastOnce)
            let accepted = try #require(try device.nextPublish())
            #expect(accepted.topic == "$dps/registrations/res/202/?$rid=1&retry-after=1")
            let operation = try #require(try JSONValue.parse(accepted.payload)["operationId"])
            guard case .string(let operationID) = operation else { throw CancellationError() }
            try device.publish("$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=\(operationID)", "")
            let final = try #require(try device.nextPublish())
            #expect(final.topic == "$dps/registrations/res/200/?$rid=2")
            let body = try JSONValue.parse(final.payload)
            #expect(body["status"] == .string("assigned"))
            guard case .string(let hub)? = body["registrationState"]?["assignedHub"],
                  case .string(let deviceID)? = body["registrationState"]?["deviceId"] else { throw CancellationError() }
            return (hub, deviceID)
        }.value
        #expect(assignment == ("localhost", "dev-1"))

        try await Task.detached {
            let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
            #expect(try device.connect(assignment.device, username: "\(assignment.hub)/\(assignment.device)/?api-version=2021-04-12") == .accepted)
            try device.publish("devices/dev-1/messages/events/", #"{"t":21.5}"#, qos: .atLeastOnce)
            guard case .pubAck? = try device.receive() else { Issue.record("no PUBACK"); return }
        }.value
        #expect(try fixture.server.telemetry("dev-1").map(\.payload) == [#"{"t":21.5}"#])
    }

    @Test func anUnenrolledDeviceGets401OverTheWire() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: DpsConfiguration())
        defer { Task { await fixture.cleanUp() } }
        try await Task.detached {
            let device = try TestDevice(port: fixture.dpsPort, fixture: fixture, certificateOf: "dev-1")
            #expect(try device.connect("dev-1", username: "0ne00LOCAL1/registrations/dev-1/api-version=2019-03-31") == .accepted)
            _ = try device.subscribe(["$dps/registrations/res/#"])
            try device.publish("$dps/registrations/PUT/iotdps-register/?$rid=9", #"{"registrationId":"dev-1"}"#)
            let answer = try #require(try device.nextPublish())
            #expect(answer.topic == "$dps/registrations/res/401/?$rid=9")
            #expect(try JSONValue.parse(answer.payload)["errorCode"] == .integer(401_002))
        }.value
    }
}
