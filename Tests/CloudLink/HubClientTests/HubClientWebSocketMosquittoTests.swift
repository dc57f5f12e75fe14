import Foundation
import HubClient
import IoTHub
import Logging
import Testing
import TestSupport
import Transport

/// Issue 17 item 5 against a broker that is not ours: Mosquitto's websockets listener with
/// mutual TLS (`require_certificate`, `use_identity_as_username`), directly and through a real
/// CONNECT proxy (scripts/connect-proxy.py), on 127.0.0.1.
@Suite(.serialized, .enabled(if: MosquittoBroker.available, "needs mosquitto (scripts/test.sh installs it)"))
struct HubClientWebSocketMosquittoTests {
    func client(_ broker: MosquittoBroker, device: String, proxy: HTTPProxy? = nil) throws -> HubClient {
        let files = try #require(broker.pki.files.devices[device])
        var settings = HubClient.Settings(host: "127.0.0.1", port: try #require(broker.webSocketPort), deviceID: device,
                                          certificateFile: files.certificate, keyFile: files.key,
                                          trustAnchors: broker.pki.files.caChain)
        settings.webSocketPath = "/$iothub/websocket"
        settings.proxy = proxy
        settings.backoffBase = .milliseconds(50)
        settings.backoffCap = .milliseconds(500)
        return HubClient(settings: settings, logger: Logger(label: "test"), source: nil)
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func sendAndCheck(_ hub: HubClient, _ subscriber: Subscriber, device: String) throws {
        // The third body needs a 16-bit frame length, the fourth a 64-bit one.
        let bodies = [Array(#"{"deviceId":"\#(device)","seq":1}"#.utf8), Array("ünïcødé".utf8),
                      [UInt8](repeating: 0x41, count: 300), [UInt8](repeating: 0x42, count: 70_000)]
        for (i, body) in bodies.enumerated() {
            try hub.send(body, properties: IoTHubMessageProperties(messageID: "\(device)-\(i + 1)"))
        }
        #expect(hub.flush(timeout: .seconds(10)), "acknowledged: \(hub.lastError ?? "")")
        let lines = subscriber.waitFor(count: bodies.count)
        #expect(lines.count == bodies.count)
        for (i, line) in lines.enumerated() where i < bodies.count {
            let parts = line.split(separator: "\t").map(String.init)
            #expect(parts.first == "devices/\(device)/messages/events/%24.mid=\(device)-\(i + 1)")
            #expect(parts.last == hex(bodies[i]), "body \(i + 1)")
        }
    }

    @Test("telemetry reaches Mosquitto over wss with mutual TLS, byte-exact (7-, 16- and 64-bit frame lengths)")
    func telemetryOverWebSockets() throws {
        let broker = try MosquittoBroker(webSockets: true)
        let subscriber = try Subscriber(broker: broker)
        let hub = try client(broker, device: "dev-1")
        hub.start()
        defer { hub.stop() }
        try sendAndCheck(hub, subscriber, device: "dev-1")
        #expect(hub.state == .connected)
        #expect(broker.logText().contains("New client connected from 127.0.0.1") && broker.logText().contains("as dev-1"))
    }

    @Test("wss through an HTTP CONNECT proxy with basic authentication reaches Mosquitto")
    func throughProxy() throws {
        let broker = try MosquittoBroker(webSockets: true)
        let subscriber = try Subscriber(broker: broker)
        let proxy = try ConnectProxy(user: "plant:s3cret")
        let hub = try client(broker, device: "dev-2",
                             proxy: HTTPProxy(host: "127.0.0.1", port: proxy.port, user: "plant", password: "s3cret"))
        hub.start()
        defer { hub.stop() }
        try sendAndCheck(hub, subscriber, device: "dev-2")
        #expect(proxy.nextLine() == "CONNECT 127.0.0.1:\(broker.webSocketPort ?? 0)")
    }
}
