import Identity
import SystemCalls

/// Why a connection could not be made or used. Each case says where (host, port, operation)
/// and its ``description`` says what to do. Cases from OpenSSL carry the drained error queue.
public enum TransportError: Error, Sendable, CustomStringConvertible {
    /// Name resolution failed (`reason` is `gai_strerror`'s text).
    case dns(host: String, reason: String)
    /// Every address of the host refused the connection (nothing listens on the port).
    case connectRefused(host: String, port: UInt16, addresses: [String])
    /// No address answered within `timeout`.
    case connectTimeout(host: String, port: UInt16, timeout: Duration)
    /// The handshake failed; `verifyResult` is OpenSSL's verify error for the peer's
    /// certificate (`unable to get local issuer certificate (verify error 20) at depth 1: CN=…`)
    /// when verification was the cause.
    case tlsHandshake(peer: String, verifyResult: String?, errors: [OpenSSLError])
    /// The peer's certificate is valid but not for the expected name: `presented` lists its
    /// names (subjectAltName, else the subject).
    case hostnameMismatch(peer: String, expected: String, presented: String, errors: [OpenSSLError])
    /// The peer's certificate names the host only through a partial wildcard (`hub*.example.com`),
    /// which the agent does not accept; `names` lists those entries.
    case partialWildcard(peer: String, expected: String, names: String, errors: [OpenSSLError])
    /// The peer's certificate has no subjectAltName; the agent never falls back to the subject's CN.
    case noSubjectAlternativeName(peer: String, expected: String, subject: String, errors: [OpenSSLError])
    /// The handshake failed on the cipher suite: the peer (TLS 1.2) offers none of
    /// ``TLSConfiguration/aeadCipherSuites``, or answered with a handshake_failure alert.
    case noSharedCipher(peer: String, errors: [OpenSSLError])
    /// The two sides share no TLS version at or above the minimum.
    case protocolVersion(peer: String, detail: String, errors: [OpenSSLError])
    /// The peer refused the certificate we presented (TLS alert text in `alert`).
    case certificateRejectedByPeer(peer: String, alert: String, errors: [OpenSSLError])
    /// A server that requires a client certificate got none.
    case peerCertificateMissing(peer: String, errors: [OpenSSLError])
    /// Nothing happened within the time allowed (`operation`: handshake, read, write, accept).
    case timeout(operation: String, peer: String, after: Duration)
    /// The connection is gone: closed by us, or by the peer.
    case closed(peer: String, reason: String)
    /// A TLS failure outside the handshake (`operation`: read, write, SSL_CTX_new, …).
    case tls(operation: String, peer: String, errors: [OpenSSLError])
    /// The HTTP proxy did not open a tunnel to `target` (`reason`: its status line, or what went wrong).
    case proxy(proxy: String, target: String, reason: String)
    /// The trust anchors or the certificate and key to present are unusable.
    case identity(IdentityError)
    /// Any other failed socket call (`operation` is the libc function).
    case system(operation: String, peer: String, errno: Int32, reason: String)

    public var description: String {
        switch self {
        case let .dns(host, reason):
            return "cannot resolve \(host): \(reason); check the host name in the configuration and the "
                + "device's DNS (/etc/resolv.conf)"
        case let .connectRefused(host, port, addresses):
            return "\(host):\(port) refused the connection (tried \(addresses.joined(separator: ", "))); nothing "
                + "listens there: check the port and that the hub or broker is running"
        case let .connectTimeout(host, port, timeout):
            return "no answer from \(host):\(port) within \(timeout); check the network path and firewalls "
                + "(outbound TCP \(port) must be open)"
        case let .tlsHandshake(peer, verifyResult, errors):
            if let verifyResult {
                return "TLS handshake with \(peer) failed: the certificate did not verify: \(verifyResult); check "
                    + "the trust anchors (CA file or folder) against the CA that issued it\(errors.summary)"
            }
            return "TLS handshake with \(peer) failed; check that the port speaks TLS and the trust "
                + "anchors\(errors.summary)"
        case let .hostnameMismatch(peer, expected, presented, errors):
            return "TLS: \(peer)'s certificate is for \(presented), not \(expected); connect with the name on the "
                + "certificate or issue one that names \(expected)\(errors.summary)"
        case let .partialWildcard(peer, expected, names, errors):
            return "TLS: \(peer)'s certificate names \(expected) only through a partial wildcard (\(names)); the agent "
                + "accepts a wildcard only as a whole leftmost label (*.example.com): issue a certificate that "
                + "names \(expected)\(errors.summary)"
        case let .noSubjectAlternativeName(peer, expected, subject, errors):
            return "TLS: \(peer)'s certificate (\(subject)) has no subjectAltName, and the agent does not accept a "
                + "host name from the CN alone: issue a server certificate with subjectAltName DNS:\(expected)"
                + "\(errors.summary)"
        case let .noSharedCipher(peer, errors):
            return "TLS: \(peer) shares no cipher suite with the agent, which offers TLS 1.3 and, for TLS 1.2, only "
                + "ECDHE with AES-GCM or ChaCha20-Poly1305 (no CBC, no SHA-1 MACs): enable those suites on the "
                + "server or gateway\(errors.summary)"
        case let .protocolVersion(peer, detail, errors):
            return "TLS version with \(peer): \(detail); the agent requires TLS 1.2 minimum (IoT Hub accepts "
                + "only TLS 1.2+): upgrade the server or gateway\(errors.summary)"
        case let .certificateRejectedByPeer(peer, alert, errors):
            return "\(peer) rejected our certificate (\(alert)); check that the hub trusts the CA that issued "
                + "the device certificate and that the certificate is valid\(errors.summary)"
        case let .peerCertificateMissing(peer, errors):
            return "\(peer) presented no client certificate and one is required; configure the client's "
                + "certificate and key\(errors.summary)"
        case let .timeout(operation, peer, after):
            return "\(operation) with \(peer) timed out after \(after); the peer is slow or gone, reconnect"
        case let .closed(peer, reason):
            return "connection to \(peer) closed: \(reason); reconnect"
        case let .tls(operation, peer, errors):
            return "TLS \(operation) with \(peer) failed; reconnect\(errors.summary)"
        case let .proxy(proxy, target, reason):
            let hint = if reason.hasPrefix("407") {
                "check the user and password in the proxy setting (http://user:password@host:port)"
            } else if reason.hasPrefix("403") || reason.hasPrefix("405") {
                "the proxy does not allow CONNECT to \(target): ask for it to be allowed"
            } else {
                "check the proxy setting and that \(proxy) is an HTTP proxy that allows CONNECT"
            }
            return "proxy \(proxy) did not open a tunnel to \(target): \(reason); \(hint)"
        case let .identity(error):
            return error.description
        case let .system(operation, peer, errno, reason):
            return "\(operation) for \(peer) failed: \(reason) (errno \(errno)); check the network"
        }
    }
}

extension TransportError {
    /// A failed socket call (`error.function` names it) about `peer`.
    static func system(_ error: SystemError, peer: String) -> TransportError {
        .system(operation: error.function, peer: peer, errno: error.errno, reason: error.reason)
    }
}
