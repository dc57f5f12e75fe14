import Foundation
import HubClient
import Identity
import IoTHub
import JSON
import Logging
import TestSupport
import Testing
import Transport
@testable import LocalHub

/// Issue 17 item 5: MQTT over WebSockets on TLS, FieldAgent's hub client against LocalHub's
/// WebSocket listener (NIOHTTP1 upgrade + NIOWebSocket), directly and through a real CONNECT
/// proxy (scripts/connect-proxy.py), all on 127.0.0.1.
@Suite("LocalHub over WebSockets (wss)", .serialized)
struct LocalHubWebSocketTests {
    func hubClient(_ fixture: HubFixture, device: String, proxy: HTTPProxy? = nil) throws -> HubClient {
        let files = fixture.pki.files.devices[device]
        var settings = HubClient.Settings(host: "127.0.0.1", port: try #require(fixture.server.webSocketPort), deviceID: device,
                                          certificateFile: files?.certificate ?? "", keyFile: files?.key ?? "",
                                          trustAnchors: fixture.pki.files.caChain)
        settings.webSocketPath = "/$iothub/websocket"
        settings.proxy = proxy
        settings.backoffBase = .milliseconds(50)
        settings.backoffCap = .milliseconds(500)
        return HubClient(settings: settings, logger: Logger(label: "device"))
    }

    func sendThree(_ client: HubClient, device: String) throws -> [String] {
        let bodies = [#"{"deviceId":"\#(device)","seq":1,"temperature":22.5}"#, "ünïcødé ✓", String(repeating: "x", count: 70_000)]
        for (index, body) in bodies.enumerated() {
            try client.send(Array(body.utf8), properties: IoTHubMessageProperties(
                messageID: "\(device)-\(index + 1)", contentType: "application/json", contentEncoding: "utf-8"))
        }
        return bodies
    }

    @Test("telemetry reaches LocalHub over wss byte-exact (a 70 KB message too: 64-bit frame lengths), and the twin answers")
    func telemetryOverWebSockets() async throws {
        let fixture = try await HubFixture.make(webSockets: true)
        defer { Task { await fixture.cleanUp() } }
        try fixture.registerAllByCA()
        let client = try hubClient(fixture, device: "dev-1")
        client.start()
        defer { client.stop() }
        let bodies = try sendThree(client, device: "dev-1")
        #expect(client.flush(timeout: .seconds(10)), "the hub acknowledged every message: \(client.lastError ?? "")")
        let records = try fixture.server.telemetry("dev-1")
        #expect(records.map(\.payloadBytes) == bodies.map { Array($0.utf8) })
        #expect(records.first?.properties["$.mid"] == .string("dev-1-1"))
        #expect(waitUntil { client.twin == .available }, "the twin GET is answered over the WebSocket too")
        #expect(fixture.server.isConnected("dev-1"))
        // A clean stop (DISCONNECT, close frame, close_notify) leaves no warning at the hub.
        client.stop()
        #expect(waitUntil { !fixture.server.isConnected("dev-1") && fixture.server.core.openConnections.total == 0 })
        usleep(200_000)
        #expect(fixture.warnings.isEmpty, "\(fixture.warnings)")
    }

    @Test("through an HTTP CONNECT proxy with basic authentication: the proxy sees only the tunnel, the hub the device")
    func throughProxy() async throws {
        let fixture = try await HubFixture.make(webSockets: true)
        defer { Task { await fixture.cleanUp() } }
        try fixture.registerAllByCA()
        let proxy = try ConnectProxy(user: "plant:s3cret")
        let wsPort = try #require(fixture.server.webSocketPort)
        let client = try hubClient(fixture, device: "dev-2",
                                   proxy: HTTPProxy(host: "127.0.0.1", port: proxy.port, user: "plant", password: "s3cret"))
        client.start()
        defer { client.stop() }
        let bodies = try sendThree(client, device: "dev-2")
        #expect(client.flush(timeout: .seconds(10)), "the hub acknowledged every message: \(client.lastError ?? "")")
        #expect(proxy.nextLine() == "CONNECT 127.0.0.1:\(wsPort)")
        #expect(try fixture.server.telemetry("dev-2").map(\.payloadBytes) == bodies.map { Array($0.utf8) })
    }

    @Test("the WebSocket port answers 404 to another path or subprotocol, and the connection leaves the hub's count")
    func refusesOtherRequests() async throws {
        let fixture = try await HubFixture.make(webSockets: true)
        defer { Task { await fixture.cleanUp() } }
        let port = try #require(fixture.server.webSocketPort)
        let files = fixture.pki.files.devices["dev-1"]
        let identity = try X509Identity.load(certificateFile: files?.certificate ?? "", keyFile: files?.key ?? "")
        for path in ["/other", "/mqtt"] {
            let tls = try TLSConnection.connect(host: "127.0.0.1", port: port,
                                                configuration: .client(trustAnchors: .file(fixture.pki.files.caChain), identity: identity))
            defer { tls.close() }
            let error = #expect(throws: WebSocketError.self) {
                _ = try WebSocketClient.open(over: tls, host: "127.0.0.1", port: port, path: path)
            }
            #expect(error?.description.contains("refused the WebSocket upgrade: HTTP/1.1 404 Not Found") == true, "\(path): \(String(describing: error))")
        }
        let tls = try TLSConnection.connect(host: "127.0.0.1", port: port,
                                            configuration: .client(trustAnchors: .file(fixture.pki.files.caChain), identity: identity))
        defer { tls.close() }
        try tls.write(Array(("GET /$iothub/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: amqp\r\n\r\n").utf8))
        let answer = String(decoding: try tls.read(max: 4096, timeout: .seconds(5)), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 404 Not Found"), "\(answer)")
        #expect(waitUntil { fixture.server.core.openConnections.total <= 1 })
        tls.close()
        #expect(waitUntil { fixture.server.core.openConnections == (total: 0, unauthenticated: 0) })
    }
}
