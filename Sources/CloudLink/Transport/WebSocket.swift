import COpenSSL
import FoundationEssentials

/// The client side of a WebSocket (RFC 6455) as MQTT over WebSockets uses it: the opening
/// handshake (`Sec-WebSocket-Protocol: mqtt`) and binary frames, pure and without I/O. Bytes from
/// the server go in (``feed(_:)``); what to hand to MQTT, what to answer (a pong, the close
/// reply) and whether the connection ended come out. Bytes for the server leave masked
/// (``frame(_:)``), as the RFC requires of a client.
///
/// MQTT sees a byte stream: the payload of every data frame is passed on as it arrives, so a
/// fragmented message costs no reassembly buffer; the fragment sequence is still checked.
/// Every frame is bounded (``maximumFramePayload``) before any of it is buffered.
public struct WebSocketClient: Sendable {
    /// RFC 6455 §1.3: appended to the key before hashing.
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// The longest response head read before the server is refused.
    static let maximumResponseHead = 8 * 1024

    /// The `Sec-WebSocket-Key`: base64 of 16 random bytes.
    public let key: String
    public let maximumFramePayload: Int
    private var buffer: [UInt8] = []
    private var handshakeDone = false
    /// A data message is open (its first frame came without FIN): only continuations may follow.
    private var inMessage = false
    private var closed = false

    /// - Parameter nonce: 16 bytes, random for each connection (tests give fixed ones).
    public init(nonce: [UInt8], maximumFramePayload: Int = 1 << 20) {
        precondition(nonce.count == 16, "the WebSocket key is 16 bytes")
        key = Data(nonce).base64EncodedString()
        self.maximumFramePayload = maximumFramePayload
    }

    /// `Sec-WebSocket-Accept` for `key`: base64(SHA-1(key + GUID)).
    public static func accept(forKey key: String) -> String {
        Data(sha1(Array((key + guid).utf8))).base64EncodedString()
    }

    /// SHA-1 through OpenSSL (the one crypto stack).
    static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha1(), nil)
        }
        precondition(ok == 1 && length == 20, "OpenSSL's SHA-1 failed")  // no input can make it fail
        return digest
    }

    /// The upgrade request: `GET path` with the key and the `mqtt` subprotocol. `host` is what
    /// the `Host` header names (the port is added when it is not 443).
    public func handshakeRequest(host: String, port: UInt16, path: String, subprotocol: String = "mqtt") -> [UInt8] {
        let name = host.contains(":") ? "[\(host)]" : host
        let authority = port == 443 ? name : "\(name):\(port)"
        let text = "GET \(path) HTTP/1.1\r\nHost: \(authority)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: \(subprotocol)\r\n\r\n"
        return Array(text.utf8)
    }

    /// What the server's bytes mean.
    public struct Output: Sendable, Equatable {
        /// Payload of data frames, in order: the MQTT byte stream.
        public var data: [UInt8] = []
        /// Frames to send back at once (pong, the close reply), already masked.
        public var reply: [UInt8] = []
        /// The server closed the WebSocket (a close frame); `closeReason` says how.
        public var closed = false
        public var closeReason: String?
        /// The handshake completed with this call.
        public var opened = false

        public init() {}
    }

    /// Feeds bytes from the server: first the handshake response (checked: `101`, `Upgrade:
    /// websocket`, the accept value, the subprotocol), then frames. Throws ``WebSocketError``
    /// when the server breaks the protocol; the connection should then be dropped.
    public mutating func feed(_ bytes: [UInt8]) throws(WebSocketError) -> Output {
        var output = Output()
        guard !closed else { return output }
        buffer += bytes
        if !handshakeDone {
            guard let length = try checkResponse(buffer) else {
                if buffer.count > Self.maximumResponseHead { throw WebSocketError("the server's answer to the upgrade request has no end") }
                return output
            }
            buffer.removeFirst(length)
            handshakeDone = true
            output.opened = true
        }
        var start = 0
        defer { buffer.removeFirst(start) }
        while let header = try Self.parseFrame(buffer, from: start, limit: maximumFramePayload) {
            start = header.end
            let payload = buffer[header.payload]
            switch header.opcode {
            case 0x0:
                guard inMessage else { throw WebSocketError("a continuation frame came with no message open") }
                output.data += payload
                inMessage = !header.fin
            case 0x2:
                guard !inMessage else { throw WebSocketError("a new message began before the last one ended") }
                output.data += payload
                inMessage = !header.fin
            case 0x1:
                throw WebSocketError("the server sent a text frame; MQTT over WebSockets uses binary frames")
            case 0x8:
                let code = payload.count >= 2 ? UInt16(payload[payload.startIndex]) << 8 | UInt16(payload[payload.startIndex + 1]) : nil
                let text = payload.count > 2 ? String(decoding: payload.dropFirst(2), as: UTF8.self) : ""
                output.closeReason = code.map { "close code \($0)\(text.isEmpty ? "" : ": \(text)")" } ?? "no close code"
                output.reply += frame(opcode: 0x8, code.map { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } ?? [])
                output.closed = true
                closed = true
                return output
            case 0x9:
                output.reply += frame(opcode: 0xA, Array(payload))
            case 0xA:
                break  // an unsolicited pong is allowed and ignored
            default:
                throw WebSocketError("the server sent a frame with the reserved opcode \(header.opcode)")
            }
        }
        return output
    }

    /// Checks the response head; its length once complete, nil while it is not.
    func checkResponse(_ bytes: [UInt8]) throws(WebSocketError) -> Int? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let index = (0...(bytes.count - 4)).first(where: { bytes[$0..<$0 + 4].elementsEqual(end) }) else {
            return nil
        }
        let lines = String(decoding: bytes[0..<index], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let status = lines.first ?? ""
        let parts = status.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1.") else {
            throw WebSocketError("the server's answer to the upgrade request is not HTTP: \(status.prefix(80))")
        }
        guard parts[1] == "101" else {
            throw WebSocketError("the server refused the WebSocket upgrade: \(status.prefix(120)) (check the hub address's path and that the port serves WebSockets)")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            headers[line[..<colon].lowercased()] = String(value.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
        }
        guard headers["upgrade"]?.lowercased() == "websocket" else {
            throw WebSocketError("the server's 101 answer lacks 'Upgrade: websocket'")
        }
        let expected = Self.accept(forKey: key)
        guard headers["sec-websocket-accept"] == expected else {
            throw WebSocketError("the server's Sec-WebSocket-Accept is '\(headers["sec-websocket-accept"] ?? "missing")', expected '\(expected)'")
        }
        if let chosen = headers["sec-websocket-protocol"], chosen.lowercased() != "mqtt" {
            throw WebSocketError("the server chose the subprotocol '\(chosen.prefix(40))', not mqtt")
        }
        return index + 4
    }

    struct Frame {
        var fin: Bool
        var opcode: UInt8
        var payload: Range<Int>
        var end: Int
    }

    /// One complete server frame at `start` (nil while incomplete). Server frames are unmasked
    /// (RFC 6455 §5.1) and carry no extension bits (none was negotiated).
    static func parseFrame(_ bytes: [UInt8], from start: Int, limit: Int) throws(WebSocketError) -> Frame? {
        guard bytes.count - start >= 2 else { return nil }
        let first = bytes[start], second = bytes[start + 1]
        let fin = first & 0x80 != 0
        let opcode = first & 0x0F
        guard first & 0x70 == 0 else { throw WebSocketError("the server set reserved bits in a frame (no extension was agreed)") }
        guard second & 0x80 == 0 else { throw WebSocketError("the server masked a frame (RFC 6455 §5.1 forbids it)") }
        var length = Int(second & 0x7F)
        var header = 2
        if length == 126 {
            guard bytes.count - start >= 4 else { return nil }
            length = Int(bytes[start + 2]) << 8 | Int(bytes[start + 3])
            header = 4
        } else if length == 127 {
            guard bytes.count - start >= 10 else { return nil }
            var value: UInt64 = 0
            for i in 2..<10 { value = value << 8 | UInt64(bytes[start + i]) }
            guard value <= UInt64(limit) else { throw tooLong(value, limit) }
            length = Int(value)
            header = 10
        }
        if opcode >= 0x8 {
            guard fin, length <= 125 else { throw WebSocketError("the server sent a fragmented or over-long control frame") }
        }
        guard length <= limit else { throw tooLong(UInt64(length), limit) }
        guard bytes.count - start >= header + length else { return nil }
        return Frame(fin: fin, opcode: opcode, payload: (start + header)..<(start + header + length), end: start + header + length)
    }

    static func tooLong(_ length: UInt64, _ limit: Int) -> WebSocketError {
        WebSocketError("the server sent a frame of \(length) bytes; at most \(limit) are accepted")
    }

    /// `bytes` as one masked binary frame for the server.
    public func frame(_ bytes: [UInt8]) -> [UInt8] { frame(opcode: 0x2, bytes) }

    /// The close frame (code 1000, normal closure) a client sends before it closes.
    public func closeFrame() -> [UInt8] { frame(opcode: 0x8, [0x03, 0xE8]) }

    func frame(opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let mask = withUnsafeBytes(of: generator.next() as UInt32) { Array($0) }
        return Self.encodeFrame(opcode: opcode, payload, mask: mask)
    }

    /// A final frame with `opcode`, its payload masked with `mask` (4 bytes).
    static func encodeFrame(opcode: UInt8, _ payload: [UInt8], mask: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x80 | opcode]
        out.reserveCapacity(payload.count + 14)
        switch payload.count {
        case ..<126: out.append(0x80 | UInt8(payload.count))
        case ..<65536: out += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default:
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> UInt64(shift))) }
        }
        out += mask
        for (i, byte) in payload.enumerated() { out.append(byte ^ mask[i & 3]) }
        return out
    }
}

/// The server broke the WebSocket protocol, or refused the upgrade.
public struct WebSocketError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension WebSocketClient {
    /// Opens a WebSocket over `connection` (TLS already up): sends the upgrade request for
    /// `path` and reads the answer within `timeout`. Returns the client and the MQTT bytes that
    /// came right behind the answer. `host` and `port` are what the `Host` header names.
    public static func open(over connection: TLSConnection, host: String, port: UInt16, path: String,
                            timeout: Duration = .seconds(10)) throws -> (client: WebSocketClient, data: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        var client = WebSocketClient(nonce: (0..<16).map { _ in generator.next() as UInt8 })
        let end = ContinuousClock.now.advanced(by: timeout)
        try connection.write(client.handshakeRequest(host: host, port: port, path: path), timeout: timeout)
        while true {
            let left = ContinuousClock.now.duration(to: end)
            guard left > .zero else {
                throw TransportError.timeout(operation: "WebSocket upgrade of \(path)", peer: connection.peer, after: timeout)
            }
            let bytes = try connection.read(max: 4096, timeout: left)
            guard !bytes.isEmpty else {
                throw WebSocketError("\(connection.peer) closed the connection instead of answering the WebSocket upgrade of \(path)")
            }
            let output: Output
            do { output = try client.feed(bytes) } catch {
                throw WebSocketError("\(connection.peer)\(path): \(error.description)")
            }
            if output.opened { return (client, output.data) }
        }
    }
}
