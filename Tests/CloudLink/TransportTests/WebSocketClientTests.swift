import Testing
@testable import Transport

/// The pure WebSocket client (RFC 6455) with the RFC's own byte vectors.
@Suite("WebSocket client framing (RFC 6455 vectors)")
struct WebSocketClientTests {
    /// RFC 6455 §1.3's sample nonce "the sample nonce" (base64 dGhlIHNhbXBsZSBub25jZQ==).
    let nonce = Array("the sample nonce".utf8)

    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func response(accept: String, extra: String = "") -> [UInt8] {
        bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(accept)\r\nSec-WebSocket-Protocol: mqtt\r\n\(extra)\r\n")
    }

    /// A client past the handshake.
    func opened() throws -> WebSocketClient {
        var client = WebSocketClient(nonce: nonce)
        let output = try client.feed(response(accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        #expect(output.opened)
        return client
    }

    /// A masked frame's payload unmasked (header without extended length: payload < 126).
    func unmask(_ frame: [UInt8]) -> [UInt8] {
        let mask = Array(frame[2..<6])
        return frame[6...].enumerated().map { $0.element ^ mask[$0.offset & 3] }
    }

    @Test("§1.3: key dGhlIHNhbXBsZSBub25jZQ== gives accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo= (also `openssl sha1 -binary | base64`)")
    func acceptValue() {
        #expect(WebSocketClient(nonce: nonce).key == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(WebSocketClient.accept(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        // FIPS 180 "abc" vector for the SHA-1 underneath.
        #expect(WebSocketClient.sha1(bytes("abc")).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
            == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    @Test("the upgrade request names the path, the key, version 13 and the mqtt subprotocol; Host has the port unless 443")
    func request() {
        let client = WebSocketClient(nonce: nonce)
        #expect(String(decoding: client.handshakeRequest(host: "hub.azure-devices.net", port: 443, path: "/$iothub/websocket"), as: UTF8.self)
            == "GET /$iothub/websocket HTTP/1.1\r\nHost: hub.azure-devices.net\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
        #expect(String(decoding: client.handshakeRequest(host: "127.0.0.1", port: 8443, path: "/mqtt"), as: UTF8.self)
            .contains("\r\nHost: 127.0.0.1:8443\r\n"))
    }

    @Test("the 101 answer is checked: status, Upgrade, accept value, subprotocol; bytes after it are frames")
    func handshakeChecks() throws {
        var client = WebSocketClient(nonce: nonce)
        // Split anywhere: nothing until the head is complete.
        let full = response(accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") + [0x82, 0x02, 0x20, 0x02]
        #expect(try client.feed(Array(full[0..<40])) == WebSocketClient.Output())
        let output = try client.feed(Array(full[40...]))
        #expect(output.opened)
        #expect(output.data == [0x20, 0x02])  // a CONNACK's first two bytes right behind the head

        var wrongAccept = WebSocketClient(nonce: nonce)
        #expect(throws: WebSocketError("the server's Sec-WebSocket-Accept is 'AAAA', expected 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='")) {
            try wrongAccept.feed(response(accept: "AAAA"))
        }
        var refused = WebSocketClient(nonce: nonce)
        let error = #expect(throws: WebSocketError.self) { try refused.feed(bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")) }
        #expect(error?.description.contains("refused the WebSocket upgrade: HTTP/1.1 404 Not Found") == true)
        var otherProtocol = WebSocketClient(nonce: nonce)
        #expect(throws: WebSocketError.self) {
            try otherProtocol.feed(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: amqp\r\n\r\n"))
        }
        var endless = WebSocketClient(nonce: nonce)
        #expect(throws: WebSocketError("the server's answer to the upgrade request has no end")) {
            try endless.feed(bytes("HTTP/1.1 101 Switching Protocols\r\n") + [UInt8](repeating: 0x41, count: 9000))
        }
    }

    @Test("§5.7: a masked 'Hello' is 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58; lengths 126 and 127 use 16- and 64-bit fields")
    func maskedFrames() {
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        #expect(WebSocketClient.encodeFrame(opcode: 0x1, bytes("Hello"), mask: mask)
            == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        // §5.7's masked pong with a body of "Hello".
        #expect(WebSocketClient.encodeFrame(opcode: 0xA, bytes("Hello"), mask: mask)
            == [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        let f256 = WebSocketClient.encodeFrame(opcode: 0x2, [UInt8](repeating: 7, count: 256), mask: [0, 0, 0, 0])
        #expect(Array(f256[0..<4]) == [0x82, 0xFE, 0x01, 0x00] && f256.count == 4 + 4 + 256)
        let f64k = WebSocketClient.encodeFrame(opcode: 0x2, [UInt8](repeating: 7, count: 65536), mask: [0, 0, 0, 0])
        #expect(Array(f64k[0..<10]) == [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0] && f64k.count == 10 + 4 + 65536)
        // What the client sends: binary, FIN, masked with a fresh key, the payload recoverable.
        let client = WebSocketClient(nonce: nonce)
        let frame = client.frame([0x10, 0x02, 0x00, 0x04])
        #expect(Array(frame[0..<2]) == [0x82, 0x84])
        #expect(unmask(frame) == [0x10, 0x02, 0x00, 0x04])
    }

    @Test("§5.7: unmasked server frames, fragmented ones (0x01 0x03 'Hel', 0x80 0x02 'lo', as binary) and 16-bit lengths, split at every byte")
    func serverFrames() throws {
        // The RFC's fragmented "Hello" with the binary opcode (MQTT is binary), then a 256-byte frame.
        let stream: [UInt8] = [0x02, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F]
            + [0x82, 0x7E, 0x01, 0x00] + [UInt8](repeating: 9, count: 256)
        for split in 0...stream.count {
            var client = try opened()
            let first = try client.feed(Array(stream[0..<split]))
            let second = try client.feed(Array(stream[split...]))
            #expect(first.data + second.data == bytes("Hello") + [UInt8](repeating: 9, count: 256), "split at \(split)")
            #expect(first.reply.isEmpty && second.reply.isEmpty && !first.closed && !second.closed)
        }
    }

    @Test("§5.7: a ping 0x89 0x05 'Hello' is answered with a masked pong carrying 'Hello'; a pong is ignored")
    func pingPong() throws {
        var client = try opened()
        let output = try client.feed([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x8A, 0x00])
        #expect(output.data.isEmpty)
        #expect(Array(output.reply[0..<2]) == [0x8A, 0x85])
        #expect(unmask(output.reply) == bytes("Hello"))
    }

    @Test("a close frame ends the WebSocket: its code is reported, the close is echoed, later bytes are ignored")
    func close() throws {
        var client = try opened()
        let output = try client.feed([0x88, 0x04, 0x03, 0xE9, 0x6F, 0x6B] + [0x82, 0x01, 0x00])
        #expect(output.closed)
        #expect(output.closeReason == "close code 1001: ok")
        #expect(Array(output.reply[0..<2]) == [0x88, 0x82] && unmask(output.reply) == [0x03, 0xE9])
        #expect(output.data.isEmpty)
        #expect(try client.feed([0x82, 0x01, 0x00]) == WebSocketClient.Output())
        #expect(Array(client.closeFrame()[0..<2]) == [0x88, 0x82])
    }

    @Test("protocol errors are refused with a reason: masked, text, reserved bits/opcodes, bad fragments, over-long frames")
    func refusals() throws {
        let cases: [([UInt8], String)] = [
            ([0x82, 0x81, 1, 2, 3, 4, 5], "the server masked a frame (RFC 6455 §5.1 forbids it)"),
            ([0x81, 0x01, 0x41], "the server sent a text frame; MQTT over WebSockets uses binary frames"),
            ([0xC2, 0x00], "the server set reserved bits in a frame (no extension was agreed)"),
            ([0x83, 0x00], "the server sent a frame with the reserved opcode 3"),
            ([0x80, 0x00], "a continuation frame came with no message open"),
            ([0x02, 0x01, 0x00, 0x82, 0x00], "a new message began before the last one ended"),
            ([0x09, 0x00], "the server sent a fragmented or over-long control frame"),
            ([0x89, 0x7E, 0x00, 0x7E], "the server sent a fragmented or over-long control frame"),
            ([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], "the server sent a frame of 9223372036854775808 bytes; at most 1048576 are accepted"),
        ]
        for (frame, reason) in cases {
            var client = try opened()
            #expect(throws: WebSocketError(reason), "\(frame)") { try client.feed(frame) }
        }
        // The bound is checked on the header, before the payload is buffered.
        var small = WebSocketClient(nonce: nonce, maximumFramePayload: 100)
        _ = try small.feed(response(accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        #expect(throws: WebSocketError("the server sent a frame of 200 bytes; at most 100 are accepted")) {
            try small.feed([0x82, 0x7E, 0x00, 0xC8])
        }
    }
}
