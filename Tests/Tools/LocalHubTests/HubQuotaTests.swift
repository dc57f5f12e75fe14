import Foundation
import IoTHub
import JSON
import MQTT
import Testing
@testable import LocalHub

/// LocalHub as IoT Hub throttles and meters device-to-cloud messages, so an agent's backlog
/// behaviour can be tested against it.
struct HubQuotaTests {
    @Test func messagesAreMeteredInFourKilobyteUnits() {
        let quota = HubQuota(tier: .s1, units: 1)
        #expect(quota.meterUnits(0) == 1)
        #expect(quota.meterUnits(4096) == 1)
        #expect(quota.meterUnits(4097) == 2)
        #expect(quota.meterUnits(256 * 1024) == 64)
    }

    @Test func sendsBeyondTheUnitsRateAreThrottled() {
        var quota = HubQuota(tier: .s1, units: 2)
        let verdicts = (0..<201).map { _ in quota.admit(bytes: 100, now: .seconds(1), day: 1) }
        #expect(verdicts.prefix(200).allSatisfy { $0 == .accepted })
        guard case .throttled(let reason) = verdicts.last else {
            Issue.record("expected a throttle, got \(String(describing: verdicts.last))")
            return
        }
        #expect(reason.contains("429001"))
        #expect(quota.admit(bytes: 100, now: .seconds(1) + .milliseconds(10), day: 1) == .accepted, "the rate refills")
    }

    @Test func theDailyQuotaIsUsedUpAndRenewedAtMidnight() {
        var quota = HubQuota(tier: IoTHubTier(name: "tiny", sendsPerSecondPerUnit: 1_000, messagesPerDayPerUnit: 10, meterBytes: 4096), units: 1)
        #expect(quota.admit(bytes: 9000, now: .seconds(1), day: 5) == .accepted)   // 3 units
        for second in 2...8 { #expect(quota.admit(bytes: 10, now: .seconds(Int64(second)), day: 5) == .accepted) }
        #expect(quota.used == 10)
        guard case .quotaExceeded(let reason) = quota.admit(bytes: 10, now: .seconds(9), day: 5) else {
            Issue.record("expected the quota to be used up")
            return
        }
        #expect(reason.contains("403002"))
        #expect(quota.admit(bytes: 10, now: .seconds(10), day: 6) == .accepted)
        #expect(quota.used == 1)
    }

    /// Over MQTT a throttled device is disconnected; the message is neither stored nor acknowledged.
    @Test func aThrottledDeviceIsDisconnectedAndItsMessageNotAcknowledged() async throws {
        let hub = try await HubFixture.make { configuration in
            configuration.tier = IoTHubTier(name: "tiny", sendsPerSecondPerUnit: 0.001, messagesPerDayPerUnit: 1_000, meterBytes: 4096)
        }
        defer { Task { await hub.cleanUp() } }
        try hub.registerAllByCA()
        let device = try TestDevice(port: hub.port, fixture: hub, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        try device.publish("devices/dev-1/messages/events/", "{\"n\":1}", qos: .atLeastOnce)
        guard case .pubAck? = try device.receive() else {
            Issue.record("the first message is within the burst")
            return
        }
        try device.publish("devices/dev-1/messages/events/", "{\"n\":2}", qos: .atLeastOnce)
        #expect(try device.receive() == nil, "closed without a PUBACK")
        #expect(hub.waitForLog("429001 ThrottlingException"))
        #expect(try hub.server.telemetry("dev-1").count == 1)
        #expect(hub.server.quotaUsed?.used == 1)
    }
}
