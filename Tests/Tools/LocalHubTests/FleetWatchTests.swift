import Foundation
import IoTHub
import JSON
import MQTT
import TestSupport
import Testing
@testable import LocalHub

/// Issue 15: `localhub watch`, the recipe's device-count and liveness alerts on one machine.
@Suite struct FleetWatchTests {
    func device(_ id: String, connected: Bool = true, silent: Duration? = .seconds(1), period: Duration? = nil) -> FleetWatch.Device {
        FleetWatch.Device(deviceID: id, connected: connected, silentFor: connected ? silent : nil, reportedSendPeriod: period)
    }

    @Test func fewerConnectedDevicesThanTheMinimumIsAProblem() {
        let rules = FleetWatch.Rules(minimumDevices: 2)
        let one = FleetWatch.problems([device("a"), device("b", connected: false)], rules: rules)
        #expect(one.map(\.subject) == ["devices"])
        #expect(one.first?.description == "1 device connected, fewer than 2 (a)")
        #expect(FleetWatch.problems([device("a"), device("b")], rules: rules).isEmpty)
    }

    @Test func aDeviceSilentLongerThanKPeriodsIsAProblem() {
        let rules = FleetWatch.Rules(minimumDevices: 1, silentFactor: 3)
        // 10 s period: 29 s of silence is fine, 31 s is not.
        #expect(FleetWatch.problems([device("a", silent: .seconds(29), period: .seconds(10))], rules: rules).isEmpty)
        let late = FleetWatch.problems([device("a", silent: .seconds(31), period: .seconds(10))], rules: rules)
        #expect(late.map(\.description) == ["a silent for 31s, longer than 3 × its period 10s"])
        // No reported period: the agent's default 30 s is assumed, and said.
        let assumed = FleetWatch.problems([device("a", silent: .seconds(91))], rules: rules)
        #expect(assumed.first?.description.hasSuffix("its period 30s (assumed; it reported none)") == true)
    }

    @Test func thePeriodComesFromTheReportedSendFrequencyOrTheHeartbeatInAlertsOnlyMode() throws {
        let reported = try JSONValue.parse(Array(#"{"sendFrequency":{"value":"10s","ac":200,"av":3},"heartbeatInterval":"15m"}"#.utf8))
        #expect(FleetWatch.reportedPeriod(reported.objectValue ?? [:]) == .seconds(10))
        var alertsOnly = reported.objectValue ?? [:]
        alertsOnly["upstream"] = .object(["value": .string("alerts-only"), "ac": .integer(200), "av": .integer(4)])
        #expect(FleetWatch.reportedPeriod(alertsOnly) == .seconds(900))
        #expect(FleetWatch.reportedPeriod([:]) == nil)
    }

    @Test func livenessRoundTripsThroughTheAdminAnswer() {
        let original = device("a", silent: .milliseconds(1500), period: .seconds(30))
        #expect(FleetWatch.Device(json: original.json) == original)
        let offline = device("b", connected: false)
        #expect(FleetWatch.Device(json: offline.json) == offline)
    }

    /// The acceptance check: `localhub watch --min-devices 2 --once` fails with one device
    /// connected and passes with two.
    @Test func watchOnceFailsWithOneDeviceConnectedAndPassesWithTwo() async throws {
        let fixture = try await HubFixture.make()
        try fixture.registerAllByCA()
        let watch = { try run(builtExecutable("localhub"), ["watch", "--min-devices", "2", "--once", "--state-dir", fixture.stateDirectory]) }

        let first = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try first.connect("dev-1") == .accepted)
        let one = try watch()
        #expect(one.status == 1, "\(one.stdout)\(one.stderr)")
        #expect(one.stdout == "ALERT 1 device connected, fewer than 2 (dev-1)\n")

        let second = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-2")
        #expect(try second.connect("dev-2") == .accepted)
        let two = try watch()
        #expect(two.status == 0, "\(two.stdout)\(two.stderr)")
        #expect(two.stdout == "ok: at least 2 connected, none silent\n")
        await fixture.cleanUp()
    }
}

/// Issue 15: LocalHub queues cloud-to-device messages for an offline device as IoT Hub does.
@Suite struct CloudToDeviceQueueTests {
    @Test func anOfflineDeviceGetsItsQueuedMessagesInOrderWhenItSubscribesAndTheQueueIsBounded() async throws {
        let fixture = try await HubFixture.make()
        try fixture.registerAllByCA()
        for i in 1...50 {
            #expect(try fixture.server.sendCloudToDevice("dev-1", payload: Array("message \(i)".utf8)) == false, "queued, not delivered")
        }
        #expect(throws: HubError.self) { try fixture.server.sendCloudToDevice("dev-1", payload: Array("one too many".utf8)) }

        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        #expect(try device.subscribe(["devices/dev-1/messages/devicebound/#"]) == [.granted(.atMostOnce)])
        var received: [String] = []
        while received.count < 50, let publish = try device.nextPublish() {
            received.append(String(decoding: publish.payload, as: UTF8.self))
        }
        #expect(received == (1...50).map { "message \($0)" })
        await fixture.cleanUp()
    }

    @Test func queuedMessagesExpireAfterAnHour() async throws {
        let clock = Clock()
        let fixture = try await HubFixture.make(now: { clock.now })
        try fixture.registerAllByCA()
        #expect(try fixture.server.sendCloudToDevice("dev-1", payload: Array("stale".utf8)) == false)
        clock.advance(3601)
        #expect(try fixture.server.sendCloudToDevice("dev-1", payload: Array("fresh".utf8)) == false)
        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        _ = try device.subscribe(["devices/dev-1/messages/devicebound/#"])
        let first = try device.nextPublish()
        #expect(first.map { String(decoding: $0.payload, as: UTF8.self) } == "fresh")
        await fixture.cleanUp()
    }

    /// IoT Hub's lock and redelivery: a message delivered and not acknowledged (no PUBACK) comes
    /// again on the device's next connection, with its delivery count in the hub's status and
    /// log; once acknowledged it does not come again.
    @Test func anUnacknowledgedMessageComesAgainOnTheNextConnectionAndNotAfterItsPubAck() async throws {
        let fixture = try await HubFixture.make()
        try fixture.registerAllByCA()
        let filter = "devices/dev-1/messages/devicebound/#"
        #expect(try fixture.server.sendCloudToDevice("dev-1", payload: Array(#"{"command":"identify"}"#.utf8),
                                                     properties: IoTHubPropertyBag([.init(name: "kind", value: "command")])) == false)

        let first = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try first.connect("dev-1") == .accepted)
        _ = try first.subscribe([filter])
        let delivered = try #require(try first.nextPublish())
        #expect(delivered.topic == "devices/dev-1/messages/devicebound/kind=command")
        #expect(delivered.qos == .atLeastOnce)
        #expect(fixture.server.cloudToDeviceCounts("dev-1").locked == 1)
        // No PUBACK; the device goes away.
        try first.send(.disconnect)
        first.tls.close()

        let second = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try second.connect("dev-1") == .accepted)
        _ = try second.subscribe([filter])
        let again = try #require(try second.nextPublish())
        #expect(again.payload == delivered.payload)
        #expect(again.topic == delivered.topic)
        let status = try AdminClient(stateDirectory: fixture.stateDirectory).send(AdminRequest(op: "c2d.status", deviceId: "dev-1"))
        guard case .array(let messages)? = status["messages"], let message = messages.first else {
            Issue.record("c2d.status lists no message: \(status)")
            return
        }
        #expect(message["deliveries"] == .integer(2), "\(status)")
        #expect(message["locked"] == .bool(true))
        #expect(fixture.waitForLog("delivered to dev-1 (delivery 2 of at most 10)"))

        try second.send(.pubAck(.init(packetID: try #require(again.packetID))))
        try second.send(.pingReq)
        #expect(try second.receive() == .pingResp, "the PUBACK was handled before the PINGREQ")
        let counts = fixture.server.cloudToDeviceCounts("dev-1")
        #expect(counts.locked == 0 && counts.queued == 0 && counts.completed == 1, "\(counts)")
        try second.send(.disconnect)
        second.tls.close()

        let third = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try third.connect("dev-1") == .accepted)
        _ = try third.subscribe([filter])
        try third.send(.pingReq)
        #expect(try third.receive() == .pingResp, "nothing delivered again after the PUBACK")
        await fixture.cleanUp()
    }

    /// A lock that runs out on a live connection: the message comes again on it as an MQTT
    /// duplicate (same packet id, DUP), and after the maximum delivery count it is dead-lettered.
    @Test func aLockThatRunsOutRedeliversAsADuplicateThenDeadLetters() async throws {
        var limits = CloudToDeviceLimits()
        limits.lockTimeout = .milliseconds(300)
        limits.maximumDeliveries = 2
        let fixture = try await HubFixture.make(cloudToDevice: limits)
        try fixture.registerAllByCA()
        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        _ = try device.subscribe(["devices/dev-1/messages/devicebound/#"])
        #expect(try fixture.server.sendCloudToDevice("dev-1", payload: Array("ping".utf8)))
        let first = try #require(try device.nextPublish())
        let second = try #require(try device.nextPublish())
        #expect(first.dup == false && second.dup == true)
        #expect(first.packetID == second.packetID)
        #expect(second.payload == Array("ping".utf8))
        #expect(fixture.waitForLog("dead-lettered"))
        let counts = fixture.server.cloudToDeviceCounts("dev-1")
        #expect(counts.deadLettered == 1 && counts.locked == 0 && counts.queued == 0, "\(counts)")
        let stats = try AdminClient(stateDirectory: fixture.stateDirectory).send(AdminRequest(op: "stats"))
        #expect(stats["c2d"]?["deadLettered"] == .integer(1), "\(stats)")
        await fixture.cleanUp()
    }

    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var time = Date()
        var now: Date { lock.withLock { time } }
        func advance(_ seconds: TimeInterval) { lock.withLock { time += seconds } }
    }
}
