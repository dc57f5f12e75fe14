import Foundation
import HubClient
import Identity
import IoTHub
import JSON
import Logging
import MQTT
import Testing
@testable import LocalHub

/// LocalHub over real TLS and real sockets on 127.0.0.1, with certificates from the dev PKI.
@Suite(.serialized)
struct LocalHubEndToEndTests {
    func hubClient(_ fixture: HubFixture, device: String) -> HubClient {
        let files = fixture.pki.files.devices[device]
        var settings = HubClient.Settings(host: "127.0.0.1", port: fixture.port, deviceID: device,
                                          certificateFile: files?.certificate ?? "", keyFile: files?.key ?? "",
                                          trustAnchors: fixture.pki.files.caChain)
        settings.backoffBase = .milliseconds(50)
        settings.backoffCap = .milliseconds(500)
        return HubClient(settings: settings, logger: Logger(label: "device"))
    }

    @Test func fieldAgentTelemetryIsLoggedByteExactWithItsPropertiesAndTheTwinAnswers() async throws {
        let fixture = try await HubFixture.make()
        defer { Task { await fixture.cleanUp() } }
        try fixture.registerAllByCA()
        let client = hubClient(fixture, device: "dev-1")
        client.start()
        defer { client.stop() }
        let bodies = [#"{"deviceId":"dev-1","seq":1,"temperature":22.5}"#, "ünïcødé ✓", "{\"seq\":3}"]
        for (index, body) in bodies.enumerated() {
            try client.send(Array(body.utf8), properties: IoTHubMessageProperties(
                messageID: "dev-1-\(index + 1)", contentType: "application/json", contentEncoding: "utf-8",
                applicationProperties: [.init(name: "alert", value: "none")]))
        }
        #expect(client.flush(timeout: .seconds(10)), "the hub acknowledged every message")
        let records = try fixture.server.telemetry("dev-1")
        #expect(records.count == 3)
        for (index, record) in records.enumerated() where index < bodies.count {
            #expect(record.payloadBytes == Array(bodies[index].utf8))
            #expect(record.payload == bodies[index])
            #expect(record.properties["$.mid"] == .string("dev-1-\(index + 1)"))
            #expect(record.properties["$.ct"] == .string("application/json"))
            #expect(record.properties["$.ce"] == .string("utf-8"))
            #expect(record.properties["alert"] == .string("none"))
            #expect(record.arrivedAt.hasSuffix("Z"))
        }
        // The JSONL file on disk holds the same lines.
        let file = try String(contentsOfFile: fixture.stateDirectory + "/telemetry/dev-1.jsonl", encoding: .utf8)
        #expect(file.split(separator: "\n").count == 3)
        #expect(waitUntil { client.twin == .available }, "HubClient's twin GET was answered 200: \(client.twin)")
        #expect(fixture.server.isConnected("dev-1"))
        #expect(fixture.server.certificateThumbprint("dev-1") == (try fixture.certificate("dev-1")).sha256Thumbprint,
                "the hub records which certificate the device connected with")
        #expect(fixture.server.certificateThumbprint("dev-2") == nil)
    }

    @Test func twinGetReportedPatchAndDesiredPushCarryVersions() async throws {
        let fixture = try await HubFixture.make()
        defer { Task { await fixture.cleanUp() } }
        try fixture.registerAllByCA()
        try fixture.server.setDesired("dev-1", patch: .object(["sendFrequency": .string("30s")]))  // $version 2, offline
        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        #expect(try device.subscribe([IoTHubTopic.twinResponseFilter, IoTHubTopic.twinDesiredPatchFilter])
            == [.granted(.atMostOnce), .granted(.atMostOnce)])
        try device.publish("$iothub/twin/GET/?$rid=1", "")
        let get = try #require(try device.nextPublish())
        #expect(get.topic == "$iothub/twin/res/200/?$rid=1")
        #expect(String(decoding: get.payload, as: UTF8.self)
            == #"{"desired":{"$version":2,"sendFrequency":"30s"},"reported":{"$version":1}}"#)
        try device.publish("$iothub/twin/PATCH/properties/reported/?$rid=2",
                           #"{"sendFrequency":{"value":"30s","ac":200,"av":2}}"#, qos: .atLeastOnce)
        let patched = try #require(try device.nextPublish())
        #expect(patched.topic == "$iothub/twin/res/204/?$rid=2&$version=2")
        #expect(try fixture.server.twin("dev-1").reported["sendFrequency"]
            == .object(["value": .string("30s"), "ac": .integer(200), "av": .integer(2)]))
        try device.publish("$iothub/twin/PATCH/properties/reported/?$rid=3", "not json")
        #expect(try device.nextPublish()?.topic == "$iothub/twin/res/400/?$rid=3")
        let version = try fixture.server.setDesired("dev-1", patch: .object(["sendFrequency": .string("5s")]))
        #expect(version == 3)
        let pushed = try #require(try device.nextPublish())
        #expect(pushed.topic == "$iothub/twin/PATCH/properties/desired/?$version=3")
        #expect(String(decoding: pushed.payload, as: UTF8.self) == #"{"$version":3,"sendFrequency":"5s"}"#)
    }

    @Test func directMethodRoundTripAndTimeOut() async throws {
        let fixture = try await HubFixture.make()
        defer { Task { await fixture.cleanUp() } }
        try fixture.registerAllByCA()
        let offline = await fixture.server.invokeMethod("dev-1", name: "getHealth")
        #expect(offline.status == 404)
        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        let unsubscribed = await fixture.server.invokeMethod("dev-1", name: "getHealth", timeout: .seconds(5))
        #expect(unsubscribed.status == 404)
        #expect(String(decoding: unsubscribed.payload, as: UTF8.self).contains("404103"))
        #expect(try device.subscribe([IoTHubTopic.methodRequestFilter]) == [.granted(.atMostOnce)])
        // The device answers on its own thread, as a real one would: a thread of its own, not a task, because its
        // read blocks and the cooperative pool (two threads on a 2-core machine, shared with every test running in
        // parallel) may have no thread free to start it before the method times out.
        let answering = onOwnThread { () throws -> String in
            guard let request = try device.nextPublish(timeout: .seconds(10)) else { return "" }
            let parsed = try IoTHubTopic.parseMethodRequest(request.topic)
            try device.publish(try IoTHubTopic.methodResponse(status: 200, requestID: parsed.requestID),
                               #"{"healthy":true,"echo":\#(String(decoding: request.payload, as: UTF8.self))}"#)
            return parsed.name
        }
        let result = await fixture.server.invokeMethod("dev-1", name: "getHealth", payload: .object(["verbose": .bool(true)]),
                                                       timeout: .seconds(10))
        #expect(try await answering() == "getHealth")
        #expect(result.status == 200)
        #expect(result.json == .object(["healthy": .bool(true), "echo": .object(["verbose": .bool(true)])]))
        // Nobody answers this one: 504 after the caller's time-out.
        let silent = await fixture.server.invokeMethod("dev-1", name: "blinkLed", timeout: .milliseconds(300))
        #expect(silent.status == 504)
        #expect(try device.nextPublish()?.topic.hasPrefix("$iothub/methods/POST/blinkLed/") == true)
    }

    @Test func cloudToDeviceReachesASubscribedDevice() async throws {
        let fixture = try await HubFixture.make()
        defer { Task { await fixture.cleanUp() } }
        try fixture.registerAllByCA()
        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        #expect(try device.subscribe(["devices/dev-1/messages/devicebound/#"]) == [.granted(.atMostOnce)])
        #expect(try fixture.server.sendCloudToDevice("dev-1", payload: Array("hello".utf8),
                                                     properties: IoTHubPropertyBag([.init(name: "color", value: "red")])))
        let message = try #require(try device.nextPublish())
        #expect(message.topic == "devices/dev-1/messages/devicebound/color=red")
        #expect(message.payload == Array("hello".utf8))
        #expect(message.qos == .atLeastOnce)
    }

    @Test func refusalsAreEachVisibleInTheHubLog() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1", "dev-2", "stranger"])
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.registerCertificateAuthority(pem: Array(try Data(contentsOf: URL(fileURLWithPath: fixture.pki.files.rootCertificate))))
        try fixture.server.registerDevice("dev-1", authentication: .certificateAuthority)
        // dev-2 is registered by thumbprint, but of dev-1's certificate: a wrong thumbprint for its own.
        try fixture.server.registerDevice("dev-2", authentication: .thumbprint(primary: try fixture.certificate("dev-1").sha1Thumbprint,
                                                                                 secondary: nil))

        let unknown = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "stranger")
        #expect(try unknown.connect("stranger") == .notAuthorized)
        #expect(fixture.waitForLog("device 'stranger' is not registered"))

        let wrongPrint = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-2")
        #expect(try wrongPrint.connect("dev-2") == .notAuthorized)
        #expect(fixture.waitForLog("Thumbprint does not match configuration"))

        let impostor = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try impostor.connect("dev-1") == .accepted)
        try impostor.publish("devices/dev-2/messages/events/", "fake", qos: .atLeastOnce)
        #expect(try impostor.receive() == nil, "the hub closed the connection instead of acknowledging")
        #expect(fixture.waitForLog("dev-1 published to 'devices/dev-2/messages/events/'"))
        #expect(try fixture.server.telemetry("dev-2").isEmpty)

        let greedy = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try greedy.connect("dev-1") == .accepted)
        try greedy.publish("devices/dev-1/messages/events/", "qos2", qos: .exactlyOnce)
        #expect(try greedy.receive() == nil)
        #expect(fixture.waitForLog("published with QoS 2"))
        #expect(try fixture.server.telemetry("dev-1").isEmpty)

        // A valid certificate from the registered CA, but for another device (CN = stranger).
        let borrowed = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "stranger")
        #expect(try borrowed.connect("dev-1") == .notAuthorized, "stranger's certificate cannot connect as dev-1")
        #expect(fixture.waitForLog("the certificate's CN is 'stranger', not the device id 'dev-1'"))
        #expect(fixture.warnings.count >= 5, "\(fixture.warnings)")
    }

    @Test func aSecondConnectionOfTheSameDeviceReplacesTheFirst() async throws {
        let fixture = try await HubFixture.make()
        defer { Task { await fixture.cleanUp() } }
        try fixture.registerAllByCA()
        let first = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try first.connect("dev-1") == .accepted)
        let second = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try second.connect("dev-1") == .accepted)
        #expect(try first.receive() == nil)
        #expect(fixture.waitForLog("400027"))
        try second.send(.pingReq)
        #expect(try second.receive() == .pingResp)
    }

    @Test func aRestartKeepsRegistryTwinsAndTelemetry() async throws {
        let fixture = try await HubFixture.make()
        try fixture.registerAllByCA()
        try fixture.server.registerDevice("dev-2", authentication: .thumbprint(
            primary: try fixture.certificate("dev-2").sha256Thumbprint.lowercased(), secondary: nil))
        try fixture.server.setDesired("dev-1", patch: .object(["sendFrequency": .string("2s")]))
        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        try device.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", #"{"fw":"1.2.0"}"#, qos: .atLeastOnce)
        try device.publish("devices/dev-1/messages/events/", "before restart", qos: .atLeastOnce)
        #expect(waitUntil { (try? fixture.server.twin("dev-1").reportedVersion) == 2 })
        #expect(waitUntil { (try? fixture.server.telemetry("dev-1").count) == 1 })
        await fixture.server.stop()

        let again = try await HubFixture.make(reusing: fixture)
        defer { Task { await again.cleanUp() } }
        #expect(again.server.devices().map(\.deviceID) == ["dev-1", "dev-2"])
        let twin = try again.server.twin("dev-1")
        #expect(twin.desired == ["sendFrequency": .string("2s")])
        #expect(twin.desiredVersion == 2)
        #expect(twin.reported == ["fw": .string("1.2.0")])
        #expect(twin.reportedVersion == 2)
        #expect(try again.server.telemetry("dev-1").map(\.payload) == ["before restart"])
        // The thumbprint device still gets in after the restart.
        let thumbprintDevice = try TestDevice(port: again.port, fixture: again, certificateOf: "dev-2")
        #expect(try thumbprintDevice.connect("dev-2") == .accepted)
    }

    @Test func theAdminSocketDrivesTheHubAndTailStreamsTelemetry() async throws {
        let fixture = try await HubFixture.make()
        defer { Task { await fixture.cleanUp() } }
        let admin = AdminClient(stateDirectory: fixture.stateDirectory)
        let mode = try FileManager.default.attributesOfItem(atPath: admin.socketPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        var add = AdminRequest(op: "device.add", deviceId: "dev-1")
        add.caPEM = try String(contentsOfFile: fixture.pki.files.rootCertificate, encoding: .utf8)
        _ = try admin.send(add)
        var set = AdminRequest(op: "twin.set", deviceId: "dev-1")
        set.patch = .object(["sendFrequency": .string("5s")])
        #expect(try admin.send(set) == .object(["$version": .integer(2)]))
        #expect(try admin.send(AdminRequest(op: "twin.show", deviceId: "dev-1")).objectValue?["desired"]
            == .object(["$version": .integer(2), "sendFrequency": .string("5s")]))
        #expect(throws: HubError.self) { try admin.send(AdminRequest(op: "twin.show", deviceId: "nobody")) }

        let tailed = TailBox()
        let tail = Thread {
            try? AdminClient(stateDirectory: fixture.stateDirectory).tail(deviceID: "dev-1") { record in
                tailed.add(record.payload)
                return tailed.count < 2
            }
        }
        tail.start()
        let device = try TestDevice(port: fixture.port, fixture: fixture, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        #expect(try device.subscribe([IoTHubTopic.methodRequestFilter]) == [.granted(.atMostOnce)])
        usleep(300_000)  // let the tail subscription register before the messages
        try device.publish("devices/dev-1/messages/events/", "one", qos: .atLeastOnce)
        try device.publish("devices/dev-1/messages/events/", "two", qos: .atLeastOnce)
        #expect(waitUntil { tailed.count == 2 }, "tail saw \(tailed.values)")
        #expect(tailed.values == ["one", "two"])

        var method = AdminRequest(op: "method", deviceId: "dev-1")
        method.method = "getHealth"
        method.timeoutSeconds = 0.3
        #expect(try admin.send(method).objectValue?["status"] == .integer(504))
    }

    @Test func withoutTheHubRunningTheAdminClientSaysHowToStartIt() {
        let client = AdminClient(stateDirectory: "/tmp/no-such-localhub-state")
        do {
            _ = try client.send(AdminRequest(op: "device.list"))
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("LocalHub is not running"))
            #expect(error.description.contains("/tmp/no-such-localhub-state/admin.sock"))
            #expect(error.description.contains("localhub serve --state-dir /tmp/no-such-localhub-state"))
        }
    }
}

final class TailBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ value: String) { lock.withLock { items.append(value) } }
    var values: [String] { lock.withLock { items } }
    var count: Int { values.count }
}

/// Starts `body` on a thread of its own at once (not when a task gets scheduled) and gives a function that awaits
/// its result.
private func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> @Sendable () async throws -> T {
    let box = ThreadResultBox<T>()
    Thread {
        let result = Result { try body() }
        box.lock.lock()
        let waiter = box.waiter
        if waiter == nil { box.result = result }
        box.lock.unlock()
        waiter?.resume(with: result)
    }.start()
    return {
        try await withCheckedThrowingContinuation { continuation in
            box.lock.lock()
            if let result = box.result {
                box.lock.unlock()
                continuation.resume(with: result)
            } else {
                box.waiter = continuation
                box.lock.unlock()
            }
        }
    }
}

private final class ThreadResultBox<T: Sendable>: @unchecked Sendable {
    let lock = NSLock()
    var result: Result<T, any Error>?
    var waiter: CheckedContinuation<T, any Error>?
}
