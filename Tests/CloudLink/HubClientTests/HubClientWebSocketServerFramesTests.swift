import Foundation
import HubClient
import Identity
import Logging
import Testing
import TestSupport
import Transport

/// The hub stream's WebSocket against a hand-written server on real TLS (127.0.0.1): what
/// LocalHub and Mosquitto never send on their own, a ping and a close frame.
@Suite(.serialized)
struct HubClientWebSocketServerFramesTests {
    /// Server side: the next complete client frame in `buffer` (masked, as RFC 6455 requires of
    /// a client), unmasked; nil while incomplete; `masked` false if the client did not mask.
    static func clientFrame(_ buffer: inout [UInt8]) -> (opcode: UInt8, payload: [UInt8], masked: Bool)? {
        guard buffer.count >= 2 else { return nil }
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        let masked = buffer[1] & 0x80 != 0
        let maskLength = masked ? 4 : 0
        guard buffer.count >= offset + maskLength + length else { return nil }
        let mask = masked ? Array(buffer[offset..<offset + 4]) : [0, 0, 0, 0]
        let payload = buffer[(offset + maskLength)..<(offset + maskLength + length)].enumerated().map { $0.element ^ mask[$0.offset & 3] }
        let opcode = buffer[0] & 0x0F
        buffer.removeFirst(offset + maskLength + length)
        return (opcode, payload, masked)
    }

    @Test("a server ping is answered with a masked pong; a server close frame is echoed and the link reconnects")
    func pingAndClose() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-ws")
        let pki = try DevPKI.generate(outputDirectory: folder.path, devices: ["dev-1"], now: Date())
        let listener = try TLSListener(configuration: .server(
            identity: try X509Identity.load(certificateFile: pki.files.serverCertificate, keyFile: pki.files.serverKey),
            clientTrustAnchors: .file(pki.files.rootCertificate)))
        defer { listener.close() }
        let files = try #require(pki.files.devices["dev-1"])
        var settings = HubClient.Settings(host: "127.0.0.1", port: listener.port, deviceID: "dev-1",
                                          certificateFile: files.certificate, keyFile: files.key, trustAnchors: pki.files.caChain)
        settings.webSocketPath = "/$iothub/websocket"
        settings.backoffBase = .milliseconds(50)
        settings.backoffCap = .milliseconds(200)
        let client = HubClient(settings: settings, logger: Logger(label: "test"))
        client.start()
        defer { client.stop() }

        /// Accepts the upgrade (checking the request as a server would) and the MQTT CONNECT.
        func acceptUpgrade() throws -> (TLSConnection, [UInt8]) {
            let connection = try listener.accept(timeout: .seconds(10))
            var head: [UInt8] = []
            while !head.ends(with: Array("\r\n\r\n".utf8)) { head += try connection.read(max: 1, timeout: .seconds(5)) }
            let text = String(decoding: head, as: UTF8.self)
            #expect(text.hasPrefix("GET /$iothub/websocket HTTP/1.1\r\n"))
            #expect(text.contains("\r\nSec-WebSocket-Protocol: mqtt\r\n") && text.contains("\r\nSec-WebSocket-Version: 13\r\n"))
            let key = text.split(separator: "\r\n").first { $0.hasPrefix("Sec-WebSocket-Key: ") }.map { String($0.dropFirst(19)) } ?? ""
            try connection.write(Array(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: \(WebSocketClient.accept(forKey: key))\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n").utf8))
            var buffer: [UInt8] = []
            while true {
                if let frame = Self.clientFrame(&buffer) {
                    #expect(frame.masked && frame.opcode == 0x2)
                    #expect(frame.payload.first == 0x10, "the first frame carries MQTT CONNECT")
                    try connection.write([0x82, 0x04, 0x20, 0x02, 0x00, 0x00])  // CONNACK accepted, unmasked
                    return (connection, buffer)
                }
                buffer += try connection.read(max: 4096, timeout: .seconds(5))
            }
        }

        /// Client frames until one with `opcode` arrives (SUBSCRIBE, the twin GET and so on are skipped).
        func awaitFrame(_ opcode: UInt8, on connection: TLSConnection, _ buffer: inout [UInt8]) throws -> [UInt8]? {
            let end = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < end {
                while let frame = Self.clientFrame(&buffer) {
                    #expect(frame.masked)
                    if frame.opcode == opcode { return frame.payload }
                }
                let bytes = try connection.read(max: 4096, timeout: .seconds(5))
                if bytes.isEmpty { return nil }
                buffer += bytes
            }
            return nil
        }

        var (first, buffer) = try acceptUpgrade()
        #expect(waitForState(client, .connected))
        try first.write([0x89, 0x02, 0x68, 0x69])  // ping "hi"
        #expect(try awaitFrame(0xA, on: first, &buffer) == Array("hi".utf8), "pong with the ping's payload")
        try first.write([0x88, 0x02, 0x03, 0xE9])  // close 1001 (going away)
        #expect(try awaitFrame(0x8, on: first, &buffer) == [0x03, 0xE9], "the close is echoed with its code")
        let (second, _) = try acceptUpgrade()  // the link comes back on a new connection
        #expect(waitForState(client, .connected))
        #expect(client.statistics.connects == 2)
        second.close()
        first.close()
    }

    func waitForState(_ client: HubClient, _ state: HubClient.LinkState, timeout: Double = 10) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if client.state == state { return true }; usleep(10_000) }
        return client.state == state
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
