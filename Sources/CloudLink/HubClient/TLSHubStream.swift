import FoundationEssentials
import Identity
import Logging
import Synchronization
import Transport

/// The real ``HubByteStream``: TCP + mutual TLS to the configured hub with ``TLSConnection``,
/// waiting in one `poll` on the socket and a ``WakeUpSignal``.
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
            logger.warning("\(warning)", metadata: ["feature": "identity"])
            state.withLock { $0.lastCertificateWarning = warning }
        }
        let trust = try TrustAnchors.at(settings.trustAnchors)
        let connection = try TLSConnection.connect(host: settings.host, port: settings.port,
                                                   configuration: .client(trustAnchors: trust, identity: identity),
                                                   expectedHostName: settings.expectedHostName, proxy: settings.proxy)
        state.withLock { $0.connection = connection }
        return connection.protocolVersion
    }

    private var connection: TLSConnection? { state.withLock { $0.connection } }

    func write(_ bytes: [UInt8]) throws {
        guard let connection else { throw TransportError.closed(peer: "\(settings.host):\(settings.port)", reason: "not connected") }
        try connection.enqueue(bytes)
    }

    var unsentByteCount: Int { connection?.unsentByteCount ?? 0 }

    func readAvailable() throws -> HubStreamRead {
        guard let connection else { return .closed }
        if let error = state.withLock({ s in defer { s.waitError = nil }; return s.waitError }) { throw error }
        switch try connection.readAvailable() {
        case nil: return .nothing
        case let bytes? where bytes.isEmpty: return .closed
        case let bytes?: return .bytes(bytes)
        }
    }

    func close() {
        let connection = state.withLock { s in
            defer {
                s.connection = nil
                s.waitError = nil
            }
            return s.connection
        }
        connection?.close()
    }

    func wait(timeout: Duration?) {
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
