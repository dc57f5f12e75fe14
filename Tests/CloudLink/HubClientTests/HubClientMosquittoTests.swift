import Foundation
import HubClient
import Identity
import IoTHub
import Logging
import Testing
import TestSupport

/// Issue 3 acceptance against a real Mosquitto 2 with mutual TLS (started per test).
@Suite(.serialized, .enabled(if: MosquittoBroker.available, "needs mosquitto (scripts/test.sh installs it)"))
struct HubClientMosquittoTests {
    func client(_ broker: MosquittoBroker, device: String = "dev-1", certificateOf: String? = nil,
                trust: String? = nil, expectedHost: String? = nil, key: String? = nil,
                certificate: String? = nil, source: (any HubMessageSource)? = nil) -> HubClient {
        let files = broker.pki.files.devices[certificateOf ?? device]!
        var settings = HubClient.Settings(host: "127.0.0.1", port: broker.port, deviceID: device,
                                          certificateFile: certificate ?? files.certificate, keyFile: key ?? files.key,
                                          trustAnchors: trust ?? broker.pki.files.caChain)
        settings.expectedHostName = expectedHost
        settings.backoffBase = .milliseconds(50)
        settings.backoffCap = .milliseconds(500)
        return HubClient(settings: settings, logger: Logger(label: "test"), source: source)
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func properties(_ id: String) -> IoTHubMessageProperties {
        IoTHubMessageProperties(messageID: id, contentType: "application/json", contentEncoding: "utf-8",
                                applicationProperties: [.init(name: "alert", value: "none")])
    }

    func waitFor(_ timeout: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if condition() { return true }; usleep(10_000) }
        return condition()
    }

    @Test func telemetryReachesASubscriberByteExactWithItsProperties() throws {
        let broker = try MosquittoBroker()
        let subscriber = try Subscriber(broker: broker)
        let hub = client(broker)
        hub.start()
        defer { hub.stop() }
        let bodies = (1...3).map { Array(#"{"deviceId":"dev-1","seq":\#($0),"temperature":22.5}"#.utf8) }
        for (i, body) in bodies.enumerated() { try hub.send(body, properties: properties("dev-1-\(i + 1)")) }
        #expect(hub.flush(timeout: .seconds(10)))
        let lines = subscriber.waitFor(count: 3)
        #expect(lines.count == 3)
        for (i, line) in lines.enumerated() {
            let parts = line.split(separator: "\t").map(String.init)
            #expect(parts.count == 2)
            #expect(parts.first == "devices/dev-1/messages/events/%24.mid=dev-1-\(i + 1)&%24.ct=application%2Fjson&%24.ce=utf-8&alert=none",
                    "topic \(parts.first ?? "")")
            #expect(parts.last == hex(bodies[i]))
        }
        #expect(hub.statistics.acknowledged == 3)
    }

    @Test func messagesFromASourceAreSentInOrderAndEachPubackReturnsItsToken() throws {
        let broker = try MosquittoBroker()
        let subscriber = try Subscriber(broker: broker)
        let source = ListSource((1...60).map { seq in
            HubOutgoing(topic: "devices/dev-1/messages/events/%24.mid=dev-1-\(seq)", payload: Array("{\"seq\":\(seq)}".utf8),
                        token: UInt64(seq))
        })
        let hub = client(broker, source: source)
        hub.start()
        defer { hub.stop() }
        #expect(hub.flush(timeout: .seconds(10)))
        #expect(source.acknowledgedTokens.sorted() == (1...60).map(UInt64.init))
        let lines = subscriber.waitFor(count: 60)
        #expect(lines.map { $0.split(separator: "\t").first.map(String.init) ?? "" }
            == (1...60).map { "devices/dev-1/messages/events/%24.mid=dev-1-\($0)" })
    }

    @Test func againstPlainMosquittoTheTwinIsUnavailableOnceAndTelemetryStillFlows() throws {
        let broker = try MosquittoBroker()
        let hub = client(broker)
        hub.start()
        defer { hub.stop() }
        // Mosquitto grants the $iothub/ subscriptions but nothing answers the twin GET.
        #expect(waitFor(15) { if case .unavailable = hub.twin { true } else { false } })
        if case .unavailable(let reason) = hub.twin {
            #expect(reason.contains("refused the subscription to $iothub/") || reason.contains("no answer to the twin GET"))
        }
        try hub.send(Array("{}".utf8), properties: properties("x"))
        #expect(hub.flush(timeout: .seconds(10)))
        #expect(hub.state == .connected)
    }

    @Test func anotherDevicesCertificateCannotPublishOnThisDevicesTopics() throws {
        let broker = try MosquittoBroker()
        let subscriber = try Subscriber(broker: broker)
        // dev-2's certificate, dev-1's topics.
        let impostor = client(broker, device: "dev-1", certificateOf: "dev-2")
        impostor.start()
        defer { impostor.stop() }
        try impostor.send(Array("impostor".utf8), properties: properties("i-1"))
        // MQTT 3.1.1 acknowledges a denied QoS 1 publish; the proof is at the subscriber and in the log.
        #expect(impostor.flush(timeout: .seconds(10)))
        let honest = client(broker, device: "dev-2")
        honest.start()
        defer { honest.stop() }
        try honest.send(Array("honest".utf8), properties: properties("h-1"))
        #expect(honest.flush(timeout: .seconds(10)))
        let lines = subscriber.waitFor(count: 1)
        usleep(300_000)
        #expect(subscriber.lines.count == 1)
        #expect(lines.first?.hasPrefix("devices/dev-2/") == true)
        #expect(broker.logText().contains("Denied PUBLISH from"))
    }

    @Test func killingAndRestartingTheBrokerEndsInAReconnectAndResumedPublishing() throws {
        let broker = try MosquittoBroker()
        let hub = client(broker)
        hub.start()
        defer { hub.stop() }
        for i in 1...50 { try hub.send(Array("before-\(i)".utf8), properties: properties("b\(i)")) }
        #expect(hub.flush(timeout: .seconds(10)))
        broker.kill()
        for i in 1...50 { try hub.send(Array("during-\(i)".utf8), properties: properties("d\(i)")) }
        #expect(waitFor(5) { if case .waiting = hub.state { true } else { false } })
        usleep(500_000)
        try broker.start()
        let subscriber = try Subscriber(broker: broker)
        for i in 1...50 { try hub.send(Array("after-\(i)".utf8), properties: properties("a\(i)")) }
        #expect(hub.flush(timeout: .seconds(20)))
        #expect(hub.statistics.connects >= 2)
        #expect(hub.statistics.acknowledged == 150)
        // The subscriber may also see the messages held while the broker was down (when the link
        // came back after it subscribed): wait for the last one sent, not for a count.
        let seen = subscriber.waitFor { $0.hasSuffix(hex(Array("after-50".utf8))) }
        for i in 1...50 {
            #expect(seen.contains { $0.hasSuffix(hex(Array("after-\(i)".utf8))) }, "after-\(i) missing")
        }
    }

    @Test func eachBadCredentialFailsWithItsOwnReason() throws {
        let broker = try MosquittoBroker()
        let other = try DevPKI.generate(outputDirectory: broker.directory + "/other", devices: ["dev-1"], now: Date())
        let dev = broker.pki.files.devices["dev-1"]!
        let expiredCert = try DevPKI.issueDevice(id: "dev-1", issuer: broker.pki.intermediate,
                                                 notBefore: Date().addingTimeInterval(-86_400 * 30),
                                                 notAfter: Date().addingTimeInterval(-86_400),
                                                 outputDirectory: broker.directory, fileName: "expired")
        let readable = broker.directory + "/readable.key"
        try FileManager.default.copyItem(atPath: dev.key, toPath: readable)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: readable)

        let cases: [(String, HubClient, String)] = [
            ("wrong CA", client(broker, trust: other.files.caChain), "unable to get local issuer certificate"),
            ("expired", client(broker, key: expiredCert.key, certificate: expiredCert.certificate), "expired"),
            ("host name", client(broker, expectedHost: "example.com"), "example.com"),
            ("key mismatch", client(broker, key: other.files.devices["dev-1"]!.key), "key values mismatch"),
            ("group-readable key", client(broker, key: readable), "chmod 600"),
        ]
        for (name, hub, expected) in cases {
            hub.start()
            #expect(waitFor { hub.lastError != nil }, "\(name)")
            hub.stop()
            #expect(hub.lastError?.contains(expected) == true, "\(name): \(hub.lastError ?? "no error")")
            #expect(hub.statistics.connects == 0, "\(name)")
        }
    }

    // A TLS 1.1-only server is covered in TransportTests with our own listener capped at TLS 1.1:
    // Mosquitto 2.0.11 on OpenSSL 3 still negotiates TLS 1.2 with `tls_version tlsv1.1`.
}

/// A fixed list of messages handed out a few at a time, remembering what the hub acknowledged.
final class ListSource: HubMessageSource, @unchecked Sendable {
    let lock = NSLock()
    var messages: [HubOutgoing]
    var acknowledgedTokens: [UInt64] = []

    init(_ messages: [HubOutgoing]) { self.messages = messages }

    func take(limit: Int) -> [HubOutgoing] {
        lock.withLock {
            let batch = Array(messages.prefix(min(limit, 7)))
            messages.removeFirst(batch.count)
            taken += batch.count
            return batch
        }
    }

    var taken = 0

    func acknowledged(_ tokens: [UInt64]) { lock.withLock { acknowledgedTokens += tokens } }

    var waiting: Int { lock.withLock { messages.count + taken - acknowledgedTokens.count } }
}
