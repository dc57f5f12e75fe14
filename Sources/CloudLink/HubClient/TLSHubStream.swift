import FoundationEssentials
import Identity
import Logging
import Synchronization
import Transport

/// The real ``HubByteStream``: TCP + mutual TLS to the configured hub with ``TLSConnection``,
/// waiting in one `poll` on the socket and a ``WakeUpSignal``. With a WebSocket path in the
/// settings (a `wss://` hub address) MQTT runs inside a WebSocket on that TLS connection
/// (``WebSocketClient``: binary frames out masked, server frames unwrapped, pings answered).
final class TLSHubStream: HubByteStream {
    let settings: HubClient.Settings
    let logger: Logger
    let signal: WakeUpSignal
    /// Used by the link's thread only; the lock is there to make that checkable (`Sendable`).
    private let state = Mutex(State())

    struct State {
        var connection: TLSConnection?
        var lastCertificateWarning: String?
        /// Why the last wait failed: the next read reports it.
        var waitError: TransportError?
        /// The WebSocket inside the TLS connection (`wss://` hubs); nil for plain MQTT over TLS.
        var webSocket: WebSocketClient?
        /// MQTT bytes unwrapped from frames and not handed out yet (those behind the 101 answer).
        var webSocketData: [UInt8] = []
        var webSocketClosed = false
    }

    /// One key object across reconnects (a TPM key is opened once, a file again only when it changed).
    let deviceKey: DeviceKey

    init(settings: HubClient.Settings, logger: Logger, signal: WakeUpSignal) {
        self.settings = settings
        self.logger = logger
        self.signal = signal
        deviceKey = DeviceKey(KeyLocation(settings.keyFile))
    }

    func connect() throws -> String {
        close()
        let key = try deviceKey.current()
        let identity = try X509Identity(chain: X509Certificate.load(chainFile: settings.certificateFile), key: key,
                                        certificatePath: settings.certificateFile, keyPath: settings.keyFile)
        // An expired (or not yet valid) certificate is refused here, with its dates, rather than
        // left to the hub's TLS alert, which may arrive as a bare connection reset.
        let validity = try identity.validity(now: Date())
        if let warning = validity.warning, warning != state.withLock({ $0.lastCertificateWarning }) {
            if let renewal = settings.certificateRenewal {
                logger.info("certificate \(identity.leaf.subject) expires \(UTC.text(validity.notAfter)); \(renewal)",
                            metadata: ["feature": "identity"])
            } else {
                logger.warning("\(warning)", metadata: ["feature": "identity"])
            }
            state.withLock { $0.lastCertificateWarning = warning }
        }
        let trust = try TrustAnchors.at(settings.trustAnchors)
        let connection = try TLSConnection.connect(host: settings.host, port: settings.port,
                                                   configuration: .client(trustAnchors: trust, identity: identity),
                                                   expectedHostName: settings.expectedHostName, proxy: settings.proxy)
        guard let path = settings.webSocketPath else {
            state.withLock { $0.connection = connection }
            return connection.protocolVersion
        }
        do {
            let (client, data) = try WebSocketClient.open(over: connection, host: settings.expectedHostName ?? settings.host,
                                                          port: settings.port, path: path)
            state.withLock {
                $0.connection = connection
                $0.webSocket = client
                $0.webSocketData = data
            }
        } catch {
            connection.close()
            throw error
        }
        return "\(connection.protocolVersion), WebSocket \(path)"
    }

    private var connection: TLSConnection? { state.withLock { $0.connection } }

    func write(_ bytes: [UInt8]) throws {
        guard let connection else { throw TransportError.closed(peer: "\(settings.host):\(settings.port)", reason: "not connected") }
        if let webSocket = state.withLock({ $0.webSocket }) {
            try connection.enqueue(webSocket.frame(bytes))
        } else {
            try connection.enqueue(bytes)
        }
    }

    var unsentByteCount: Int { connection?.unsentByteCount ?? 0 }

    func readAvailable() throws -> HubStreamRead {
        guard let connection else { return .closed }
        if let error = state.withLock({ s in defer { s.waitError = nil }; return s.waitError }) { throw error }
        if state.withLock({ $0.webSocket != nil }) { return try readWebSocket(connection) }
        switch try connection.readAvailable() {
        case nil: return .nothing
        case let bytes? where bytes.isEmpty: return .closed
        case let bytes?: return .bytes(bytes)
        }
    }

    /// Frames from the TLS connection unwrapped: their data, or the end when the server closed.
    private func readWebSocket(_ connection: TLSConnection) throws -> HubStreamRead {
        let raw = try connection.readAvailable()
        let (data, reply, closed) = try state.withLock { s throws -> ([UInt8], [UInt8], Bool) in
            var output = WebSocketClient.Output()
            if let raw, !raw.isEmpty, !s.webSocketClosed {
                do { output = try s.webSocket?.feed(raw) ?? output } catch {
                    throw WebSocketError("\(settings.host):\(settings.port): \(error)")
                }
                if output.closed {
                    s.webSocketClosed = true
                    logger.info("the hub closed the WebSocket (\(output.closeReason ?? "no reason"))")
                }
            }
            let data = s.webSocketData + output.data
            s.webSocketData = []
            return (data, output.reply, s.webSocketClosed || raw?.isEmpty == true)
        }
        if !reply.isEmpty { try? connection.enqueue(reply) }
        if !data.isEmpty { return .bytes(data) }
        return closed ? .closed : .nothing
    }

    func close() {
        let (connection, webSocket) = state.withLock { s in
            defer {
                s.connection = nil
                s.waitError = nil
                s.webSocket = nil
                s.webSocketData = []
                s.webSocketClosed = false
            }
            return (s.connection, s.webSocketClosed ? nil : s.webSocket)
        }
        if let connection, let webSocket { try? connection.enqueue(webSocket.closeFrame()) }
        connection?.close()
    }

    func wait(timeout: Duration?) {
        if state.withLock({ !$0.webSocketData.isEmpty }) { return }
        if let connection {
            do throws(TransportError) {
                try connection.wait(timeout: timeout, wakeUp: signal)
            } catch {
                state.withLock { $0.waitError = error }
            }
        } else {
            signal.wait(timeout: timeout)
        }
    }

    func wakeUp() {
        signal.signal()
    }
}
