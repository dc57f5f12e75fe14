import COpenSSL
import COpenSSLShims
import Identity
import SystemCalls

/// An `SSL_CTX` shared by many ``TLSMemorySession``s: LocalHub's listener (one per hub) or a
/// fleet of simulated devices (one for all of them).
///
/// ## Contract
/// - Built once from a ``TLSConfiguration``; thread-safe to share (OpenSSL contexts are
///   reference-counted and only read after setup).
/// - Server side, ``ClientCertificates/requireAny`` asks every client for a certificate and
///   fails the handshake without one, but accepts any chain: the caller decides who it is
///   (LocalHub matches a registered thumbprint or verifies the chain to a registered CA, as IoT
///   Hub does for X.509 devices). Possession of the key is still proven by the handshake itself.
public final class TLSMemoryContext: Sendable {
    /// What a server asks of its clients.
    public enum ClientCertificates: Sendable {
        /// No client certificate is requested.
        case none
        /// One is required; any chain is accepted and left for the caller to judge.
        case requireAny
        /// One is required and must verify against the configuration's trust anchors.
        case requireVerified
    }

    let context: TLSContext
    let clientCertificates: ClientCertificates

    private init(context: TLSContext, clientCertificates: ClientCertificates) {
        self.context = context
        self.clientCertificates = clientCertificates
    }

    /// A server context presenting `configuration.identity`.
    public static func server(_ configuration: TLSConfiguration, clientCertificates: ClientCertificates,
                              name: String = "server") throws(TransportError) -> TLSMemoryContext {
        var configuration = configuration
        configuration.requireClientCertificate = clientCertificates == .requireVerified
        if configuration.identity == nil {
            throw .identity(.noCertificate(path: "(no server certificate configured for \(name))", errors: []))
        }
        return TLSMemoryContext(context: try TLSContext(configuration, server: true, peer: name),
                                clientCertificates: clientCertificates)
    }

    /// A client context: verifies the server against `configuration.trustAnchors`.
    public static func client(_ configuration: TLSConfiguration, name: String = "client") throws(TransportError)
        -> TLSMemoryContext {
        TLSMemoryContext(context: try TLSContext(configuration, server: false, peer: name), clientCertificates: .none)
    }

    /// A new session for one connection. `expectedHostName` (client side) is the name the
    /// server's certificate must carry; also sent as SNI unless it is an IP address.
    public func makeSession(peer: String, expectedHostName: String? = nil) throws(TransportError) -> TLSMemorySession {
        try TLSMemorySession(context: self, peer: peer, expectedHostName: expectedHostName)
    }
}

/// One TLS connection driven purely through memory: ciphertext goes in with
/// ``receive(_:)``, plaintext comes out of it; plaintext goes in with ``send(_:)`` and the
/// ciphertext to put on the wire comes out of ``takeCiphertext()``. No file descriptor, no
/// blocking, no clock: a SwiftNIO channel handler (LocalHub, the fleet benchmark), the socket
/// pump of ``TLSConnection`` or a test moves the bytes (the pattern swift-nio-ssl follows with
/// BoringSSL). It is the one OpenSSL engine of the package, so every side reports a failure alike.
///
/// ## Contract
/// - Not thread-safe: one owner (an event loop) calls it.
/// - Client side, call ``start()`` once to produce the ClientHello; a server waits for bytes.
/// - Plaintext given to ``send(_:)`` before the handshake completes is kept and encrypted as
///   soon as it does.
/// - After ``receive(_:)`` or ``send(_:)`` always take the ciphertext: it may hold handshake
///   records, or the alert that tells the peer why the handshake failed.
/// - A thrown error ends the session (``isFailed``); close the connection.
/// - ``peerClosed`` turns true when the peer sent close_notify.
public final class TLSMemorySession {
    public let peer: String
    let ssl: OpaquePointer
    let readBIO: OpaquePointer
    let writeBIO: OpaquePointer
    private let context: TLSMemoryContext
    private let record = VerifyRecord()
    private var pendingPlaintext: [UInt8] = []
    private let expectedHostName: String?
    /// One scratch buffer for `SSL_read` (a session has one owner), so a busy link does not
    /// allocate and zero 16 KB per receive.
    private var chunk = [UInt8](repeating: 0, count: 16_384)
    /// True once the handshake finished.
    public private(set) var isHandshakeComplete = false
    /// True once the peer sent close_notify.
    public private(set) var peerClosed = false
    /// True after an error; the session is unusable.
    public private(set) var isFailed = false

    init(context: TLSMemoryContext, peer: String, expectedHostName: String?) throws(TransportError) {
        self.context = context
        self.peer = peer
        self.expectedHostName = expectedHostName
        OpenSSLError.clear()
        guard let ssl = SSL_new(context.context.pointer) else {
            throw .tls(operation: "SSL_new", peer: peer, errors: OpenSSLError.drain())
        }
        guard let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw .tls(operation: "BIO_new", peer: peer, errors: OpenSSLError.drain())
        }
        SSL_set_bio(ssl, readBIO, writeBIO)  // the SSL owns both BIOs from here
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        // The verify callback of TLSConfiguration.swift finds the record through ex_data index 0.
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(record).toOpaque())
        if context.context.isServer {
            if context.clientCertificates == .requireAny {
                SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, acceptAnyCertificate)
            }
            SSL_set_accept_state(ssl)
        } else {
            if let host = expectedHostName {
                // A name must be in the subjectAltName: no fallback to the CN, and a wildcard only
                // as a whole leftmost label (`*.example.com`, never `hub*.example.com`).
                SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
                let ok = POSIX.isIPAddress(host)
                    ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
                    : COpenSSLShims_SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1
                if !ok {
                    let errors = OpenSSLError.drain()
                    SSL_free(ssl)
                    throw .tls(operation: "setting the expected host name \(host)", peer: peer, errors: errors)
                }
            }
            SSL_set_connect_state(ssl)
        }
    }

    deinit { SSL_free(ssl) }

    /// Client side: begins the handshake (the ClientHello lands in ``takeCiphertext()``).
    public func start() throws(TransportError) {
        guard !context.context.isServer else { return }
        try advanceHandshake()
    }

    /// Feeds ciphertext from the wire; returns the plaintext it decrypts to (possibly none).
    public func receive(_ ciphertext: [UInt8]) throws(TransportError) -> [UInt8] {
        var plaintext: [UInt8] = []
        try receive(ciphertext, count: ciphertext.count, into: &plaintext)
        return plaintext
    }

    /// ``receive(_:)`` of the first `count` bytes of `buffer`, appending to `plaintext`: the
    /// socket pump's path, without copies.
    func receive(_ buffer: [UInt8], count: Int, into plaintext: inout [UInt8]) throws(TransportError) {
        try requireUsable()
        if count > 0 {
            let length = Int32(clamping: count)
            let written = buffer.withUnsafeBytes { BIO_write(readBIO, $0.baseAddress, length) }
            if written != length {
                isFailed = true
                throw .tls(operation: "BIO_write", peer: peer, errors: OpenSSLError.drain())
            }
        }
        if !isHandshakeComplete {
            try advanceHandshake()
            if !isHandshakeComplete { return }
        }
        while !peerClosed {
            OpenSSLError.clear()
            let count = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if count > 0 {
                plaintext += chunk[0..<Int(count)]
                continue
            }
            let status = SSL_get_error(ssl, count)
            let errors = OpenSSLError.drain()
            switch status {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return
            case SSL_ERROR_ZERO_RETURN: peerClosed = true
            default:
                isFailed = true
                throw classify(operation: "read", handshake: false, errors: errors)
            }
        }
    }

    /// Encrypts `plaintext` (kept until the handshake completes); take the result with ``takeCiphertext()``.
    public func send(_ plaintext: [UInt8]) throws(TransportError) {
        try requireUsable()
        guard isHandshakeComplete else {
            pendingPlaintext += plaintext
            return
        }
        guard !plaintext.isEmpty else { return }
        OpenSSLError.clear()
        // Memory BIOs grow as needed, so SSL_write takes everything or fails.
        let result = plaintext.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32(clamping: $0.count)) }
        if result <= 0 {
            let errors = OpenSSLError.drain()
            isFailed = true
            throw classify(operation: "write", handshake: false, errors: errors)
        }
    }

    /// Whether ciphertext waits to be sent.
    public var hasCiphertext: Bool { BIO_ctrl_pending(writeBIO) > 0 }

    /// Everything OpenSSL wrote for the peer since the last call.
    public func takeCiphertext() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(writeBIO))
        guard pending > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: pending)
        let count = readCiphertext(into: &bytes)
        return count == pending ? bytes : Array(bytes[0..<count])
    }

    /// Ciphertext waiting for the peer, in bytes.
    var ciphertextCount: Int { Int(BIO_ctrl_pending(writeBIO)) }

    /// Moves up to `buffer.count` bytes of ciphertext into `buffer` (the socket pump's path,
    /// which streams it in chunks); returns how many.
    func readCiphertext(into buffer: inout [UInt8]) -> Int {
        let count = buffer.withUnsafeMutableBytes { BIO_read(writeBIO, $0.baseAddress, Int32(clamping: $0.count)) }
        return Int(max(0, count))
    }

    /// Queues close_notify (when the session is still sound); take it with ``takeCiphertext()``.
    public func shutdown() {
        guard !isFailed, isHandshakeComplete else { return }
        OpenSSLError.clear()
        _ = SSL_shutdown(ssl)
        _ = OpenSSLError.drain()
    }

    /// The certificate the peer presented (on a server: the client's, whose CN is the device id).
    public var peerCertificate: X509Certificate? {
        SSL_get1_peer_certificate(ssl).map { X509Certificate(taking: $0) }
    }

    /// The peer's certificates, leaf first (on a server: the client's, then the intermediates it sent).
    public var peerCertificateChain: [X509Certificate] {
        guard let leaf = SSL_get1_peer_certificate(ssl) else { return [] }
        var chain = [X509Certificate(taking: leaf)]
        let leafDER = chain[0].derBytes
        if let stack = SSL_get_peer_cert_chain(ssl) {
            for index in 0..<OPENSSL_sk_num(stack) {
                guard let raw = OPENSSL_sk_value(stack, index) else { continue }
                let certificate = OpaquePointer(raw)
                guard X509_up_ref(certificate) == 1 else { continue }
                let wrapped = X509Certificate(taking: certificate)
                // A client-side chain starts with the leaf itself; don't list it twice.
                if wrapped.derBytes != leafDER { chain.append(wrapped) }
            }
        }
        return chain
    }

    /// The negotiated version as OpenSSL names it (`TLSv1.3`).
    public var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    private func advanceHandshake() throws(TransportError) {
        OpenSSLError.clear()
        let result = SSL_do_handshake(ssl)
        let status = SSL_get_error(ssl, result)
        let errors = OpenSSLError.drain()
        switch status {
        case SSL_ERROR_NONE:
            isHandshakeComplete = true
            if !pendingPlaintext.isEmpty {
                let waiting = pendingPlaintext
                pendingPlaintext = []
                try send(waiting)
            }
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return
        case SSL_ERROR_ZERO_RETURN:
            isFailed = true
            throw Self.closedDuringHandshake(peer: peer)
        default:
            isFailed = true
            throw classify(operation: "handshake", handshake: true, errors: errors)
        }
    }

    private func requireUsable() throws(TransportError) {
        if isFailed { throw .closed(peer: peer, reason: "an earlier TLS error ended the session") }
    }

    /// The peer went away before the handshake finished: the one message for every side.
    static func closedDuringHandshake(peer: String) -> TransportError {
        .closed(peer: peer, reason: "the peer closed the connection during the TLS handshake "
            + "(it may not speak TLS on this port, or it refused us without an alert)")
    }

    /// Maps a failed OpenSSL call to the case a user can act on.
    private func classify(operation: String, handshake: Bool, errors: [OpenSSLError]) -> TransportError {
        func has(_ reason: Int32) -> Bool { errors.contains(library: ERR_LIB_SSL, reason: reason) }
        if handshake, let code = record.code {
            if code == X509_V_ERR_HOSTNAME_MISMATCH || code == X509_V_ERR_IP_ADDRESS_MISMATCH {
                let expected = expectedHostName ?? "?"
                guard let certificate = record.certificate, let names = certificate.subjectAlternativeNames else {
                    return .noSubjectAlternativeName(peer: peer, expected: expected,
                                                     subject: record.certificate?.subject ?? "unknown", errors: errors)
                }
                let partial = names.split(separator: ", ").filter { name in
                    guard name.hasPrefix("DNS:"), let label = name.dropFirst(4).split(separator: ".").first else { return false }
                    return label.contains("*") && label != "*"
                }
                if !partial.isEmpty {
                    return .partialWildcard(peer: peer, expected: expected, names: partial.joined(separator: ", "),
                                            errors: errors)
                }
                return .hostnameMismatch(peer: peer, expected: expected, presented: names, errors: errors)
            }
            return .tlsHandshake(peer: peer, verifyResult: record.text, errors: errors)
        }
        if has(SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
            return .protocolVersion(peer: peer, detail: "the peer answered with a protocol_version alert: it "
                + "supports no version from \(versionRange) that we offered", errors: errors)
        }
        if has(SSL_R_UNSUPPORTED_PROTOCOL) || has(SSL_R_NO_PROTOCOLS_AVAILABLE) || has(SSL_R_WRONG_VERSION_NUMBER) {
            return .protocolVersion(peer: peer, detail: "the peer offered a TLS version outside \(versionRange)",
                                    errors: errors)
        }
        // A handshake_failure alert before the server showed a certificate answers our ClientHello:
        // nothing in it was acceptable, and with TLS 1.2 that means the cipher suites.
        let refusedHello = has(SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE) && !context.context.isServer
            && SSL_get0_peer_certificate(ssl) == nil
        if refusedHello || has(SSL_R_NO_SHARED_CIPHER) || has(SSL_R_WRONG_CIPHER_RETURNED) {
            return .noSharedCipher(peer: peer, errors: errors)
        }
        if has(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) { return .peerCertificateMissing(peer: peer, errors: errors) }
        let rejections = [SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE,
                          SSL_R_TLSV1_ALERT_UNKNOWN_CA, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
                          SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED,
                          SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE, SSL_R_TLSV1_ALERT_ACCESS_DENIED]
        if let alert = errors.first(where: { $0.libraryCode == ERR_LIB_SSL && rejections.contains($0.reasonCode) }) {
            return .certificateRejectedByPeer(peer: peer, alert: alert.reason, errors: errors)
        }
        if handshake { return .tlsHandshake(peer: peer, verifyResult: nil, errors: errors) }
        return .tls(operation: operation, peer: peer, errors: errors)
    }

    /// `TLS 1.2 and newer` / `TLS 1.0 to TLS 1.1`, from the context's configuration.
    private var versionRange: String {
        let context = context.context
        guard let maximum = context.maximumVersion else { return "\(context.minimumVersion) and newer" }
        return "\(context.minimumVersion) to \(maximum)"
    }
}

/// Accepts whatever chain the client presents: the application judges it after the handshake.
private let acceptAnyCertificate: @convention(c) (Int32, OpaquePointer?) -> Int32 = { _, _ in 1 }
