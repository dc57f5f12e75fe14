import COpenSSL
import Identity
import Synchronization

/// A TLS connection over TCP with blocking calls, each bounded by a timeout.
///
/// Contract:
/// - ``connect(host:port:configuration:expectedHostName:connectTimeout:handshakeTimeout:)``
///   resolves the host (IPv4 and IPv6), connects within the connect timeout, and completes a
///   handshake with TLS 1.2 at least, SNI, and verification of the server's chain and host name.
/// - ``read(max:timeout:)`` returns what arrived (1…`max` bytes), or `[]` once the peer has
///   closed (close_notify or end of TCP stream); it throws ``TransportError/timeout(operation:peer:after:)``
///   when nothing arrives in time.
/// - Calls are serialised by a lock: a read waiting for data holds back a write from another
///   thread until it returns.
/// - ``close()`` sends close_notify and closes the socket; later calls throw ``TransportError/closed(peer:reason:)``.
public final class TLSConnection: @unchecked Sendable {
    /// `host:port` as given (client) or the remote address (server side).
    public let peer: String
    private let engine: TLSEngine
    private let lock = Mutex(())
    /// Reused by ``read(max:timeout:)`` under the lock (a fresh zeroed 64 KB per read showed up as
    /// 5 % of the publish benchmark's CPU).
    private var readBuffer: [UInt8] = []

    init(engine: TLSEngine) {
        self.engine = engine
        peer = engine.peer
    }

    /// Connects to `host`:`port` and completes the TLS handshake.
    ///
    /// - Parameter expectedHostName: the name the server's certificate must carry (default:
    ///   `host`); also sent as SNI unless it is an IP address.
    public static func connect(host: String, port: UInt16, configuration: TLSConfiguration,
                               expectedHostName: String? = nil, connectTimeout: Duration = .seconds(10),
                               handshakeTimeout: Duration = .seconds(10)) throws(TransportError) -> TLSConnection {
        let peer = "\(host):\(port)"
        let context = try TLSContext(configuration, server: false, peer: peer)
        let fd = try TCPConnector.connect(host: host, port: port, timeout: connectTimeout)
        let engine: TLSEngine
        do {
            engine = try TLSEngine.make(context: context, fd: fd, peer: peer, expectedHost: expectedHostName ?? host)
        } catch {
            System.close(fd)
            throw error
        }
        try engine.handshake(until: Deadline(handshakeTimeout))  // on a throw the engine closes fd
        return TLSConnection(engine: engine)
    }

    /// Sends all of `bytes`.
    public func write(_ bytes: [UInt8], timeout: Duration = .seconds(30)) throws(TransportError) {
        try lock.withLock { (_: inout ()) throws(TransportError) -> Void in
            try requireOpen()
            guard !bytes.isEmpty else { return }
            let deadline = Deadline(timeout)
            let outcome = try engine.run("write", until: deadline) { ssl in
                bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            }
            if case .value = outcome { return }
            throw .closed(peer: peer, reason: "the peer closed the connection before our write")
        }
    }

    /// Up to `max` bytes, waiting at most `timeout` for the first; `[]` once the peer has closed.
    public func read(max: Int, timeout: Duration) throws(TransportError) -> [UInt8] {
        try lock.withLock { (_: inout ()) throws(TransportError) -> [UInt8] in
            try requireOpen()
            if readBuffer.count < max { readBuffer = [UInt8](repeating: 0, count: Swift.max(1, max)) }
            let capacity = Int32(clamping: Swift.max(1, max))
            let outcome = try engine.run("read", until: Deadline(timeout)) { ssl in
                readBuffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, capacity) }
            }
            switch outcome {
            case let .value(count): return Array(readBuffer[0..<Int(count)])
            case .closeNotify, .endOfStream: return []
            }
        }
    }

    /// Sends close_notify and closes the socket; calling it again does nothing.
    public func close() {
        lock.withLock { _ in engine.close() }
    }

    /// The certificate the peer presented (on a server: the client's, whose CN is the device id).
    public var peerCertificate: X509Certificate? {
        lock.withLock { _ in SSL_get1_peer_certificate(engine.ssl).map { X509Certificate(taking: $0) } }
    }

    /// The negotiated version as OpenSSL names it (`TLSv1.3`).
    public var protocolVersion: String {
        lock.withLock { _ in String(cString: SSL_get_version(engine.ssl)) }
    }

    private func requireOpen() throws(TransportError) {
        if engine.isClosed { throw .closed(peer: peer, reason: "close() was called") }
        if engine.failed { throw .closed(peer: peer, reason: "an earlier TLS or socket error ended the connection") }
    }
}
