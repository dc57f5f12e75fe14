import COpenSSL
import COpenSSLShims
import Identity

/// A TLS protocol version.
public enum TLSVersion: Sendable, Comparable, CustomStringConvertible {
    case tls1_0, tls1_1, tls1_2, tls1_3

    var openSSLValue: Int32 {
        switch self {
        case .tls1_0: TLS1_VERSION
        case .tls1_1: TLS1_1_VERSION
        case .tls1_2: TLS1_2_VERSION
        case .tls1_3: TLS1_3_VERSION
        }
    }

    public var description: String {
        switch self {
        case .tls1_0: "TLS 1.0"
        case .tls1_1: "TLS 1.1"
        case .tls1_2: "TLS 1.2"
        case .tls1_3: "TLS 1.3"
        }
    }
}

/// How one side of a TLS connection is set up.
///
/// A client always verifies the server against ``trustAnchors`` and its host name; a server
/// verifies client certificates against them when ``requireClientCertificate`` is set.
public struct TLSConfiguration: Sendable {
    /// CAs that end the peer's chain (IoT Hub: DigiCert Global Root G2 and Microsoft RSA Root
    /// CA 2017, as IoT Hub's TLS documentation lists; LocalHub: the dev root).
    public var trustAnchors: TrustAnchors?
    /// Our certificate chain and key (a device's client certificate, a server's certificate).
    public var identity: X509Identity?
    /// TLS 1.2 unless a test needs otherwise (IoT Hub accepts TLS 1.2 and later only).
    public var minimumVersion: TLSVersion = .tls1_2
    /// Only tests set this, to play an outdated server.
    public var maximumVersion: TLSVersion?
    /// OpenSSL security level (`SSL_CTX_set_security_level`); only tests lower it, e.g. to 0
    /// so a server can still speak TLS 1.1.
    public var securityLevel: Int32?
    /// Server side: refuse clients without a certificate that verifies against ``trustAnchors``.
    public var requireClientCertificate = false
    /// The TLS 1.2 cipher suites offered or accepted, in OpenSSL's syntax; only tests change it,
    /// to play an outdated server. TLS 1.3's suites are all AEAD already.
    public var tls12CipherSuites = Self.aeadCipherSuites

    /// TLS 1.2 with forward secrecy and authenticated encryption only: ECDHE with AES-GCM or
    /// ChaCha20-Poly1305 (IoT Hub, Mosquitto and LocalHub all offer them). CBC suites and SHA-1
    /// MACs, whose record padding and MAC-then-encrypt have a long record of attacks, are left out.
    public static let aeadCipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// A device or test client: verify the server against `trustAnchors`, present `identity`.
    public static func client(trustAnchors: TrustAnchors, identity: X509Identity?) -> TLSConfiguration {
        TLSConfiguration(trustAnchors: trustAnchors, identity: identity)
    }

    /// A server (LocalHub, tests): present `identity`; with `clientTrustAnchors`, ask for and
    /// require a client certificate issued under them.
    public static func server(identity: X509Identity, clientTrustAnchors: TrustAnchors?) -> TLSConfiguration {
        var configuration = TLSConfiguration(trustAnchors: clientTrustAnchors, identity: identity)
        configuration.requireClientCertificate = clientTrustAnchors != nil
        return configuration
    }

    public init(trustAnchors: TrustAnchors?, identity: X509Identity?) {
        self.trustAnchors = trustAnchors
        self.identity = identity
    }
}

/// An `SSL_CTX *` built from a ``TLSConfiguration``; owned, shared by the connections made from it.
final class TLSContext: @unchecked Sendable {
    let pointer: OpaquePointer
    let isServer: Bool
    let minimumVersion: TLSVersion
    let maximumVersion: TLSVersion?

    deinit { SSL_CTX_free(pointer) }

    init(_ configuration: TLSConfiguration, server: Bool, peer: String) throws(TransportError) {
        isServer = server
        minimumVersion = configuration.minimumVersion
        maximumVersion = configuration.maximumVersion
        OpenSSLError.clear()
        guard let context = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw .tls(operation: "SSL_CTX_new", peer: peer, errors: OpenSSLError.drain())
        }
        pointer = context
        func require(_ ok: Bool, _ operation: String) throws(TransportError) {
            if !ok { throw .tls(operation: operation, peer: peer, errors: OpenSSLError.drain()) }
        }
        if let level = configuration.securityLevel { SSL_CTX_set_security_level(context, level) }
        try require(COpenSSLShims_SSL_CTX_set_min_proto_version(context, configuration.minimumVersion.openSSLValue) == 1,
                    "SSL_CTX_set_min_proto_version(\(configuration.minimumVersion))")
        if let maximum = configuration.maximumVersion {
            try require(COpenSSLShims_SSL_CTX_set_max_proto_version(context, maximum.openSSLValue) == 1,
                        "SSL_CTX_set_max_proto_version(\(maximum))")
        }
        try require(SSL_CTX_set_cipher_list(context, configuration.tls12CipherSuites) == 1,
                    "SSL_CTX_set_cipher_list(\(configuration.tls12CipherSuites))")
        if let trust = configuration.trustAnchors {
            let store: OpaquePointer
            do { store = try trust.makeStore() } catch { throw .identity(error) }
            SSL_CTX_set_cert_store(context, store)  // the context owns the store from here
        } else if !server {
            throw .identity(.noTrustAnchors(path: "(none configured)"))
        }
        var mode = SSL_VERIFY_NONE
        if !server {
            mode = SSL_VERIFY_PEER
        } else if configuration.requireClientCertificate {
            mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        }
        SSL_CTX_set_verify(context, mode, verifyCallback)
        if let identity = configuration.identity {
            try require(SSL_CTX_use_certificate(context, identity.leaf.pointer) == 1, "SSL_CTX_use_certificate")
            for intermediate in identity.intermediates {
                try require(COpenSSLShims_SSL_CTX_add1_chain_cert(context, intermediate.pointer) == 1,
                            "SSL_CTX_add1_chain_cert(\(intermediate.subject))")
            }
            try require(SSL_CTX_use_PrivateKey(context, identity.key.pointer) == 1, "SSL_CTX_use_PrivateKey")
            try require(SSL_CTX_check_private_key(context) == 1, "SSL_CTX_check_private_key")
        }
    }
}

/// What the verify callback saw first: OpenSSL keeps only the error code, not where it happened.
final class VerifyRecord {
    var code: Int32?
    var depth: Int32 = 0
    var subject: String?
    var certificate: X509Certificate?

    var text: String? {
        guard let code else { return nil }
        var text = String(cString: X509_verify_cert_error_string(Int(code))) + " (verify error \(code)) at depth \(depth)"
        if let subject { text += ": \(subject)" }
        return text
    }
}

/// Records the first failure into the `VerifyRecord` stored as the SSL's app data (ex_data
/// index 0), then lets OpenSSL decide as it would without a callback.
private let verifyCallback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { preverified, store in
    guard preverified == 0, let store,
          let ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
          let box = SSL_get_ex_data(OpaquePointer(ssl), 0) else { return preverified }
    let record = Unmanaged<VerifyRecord>.fromOpaque(box).takeUnretainedValue()
    if record.code == nil {
        record.code = X509_STORE_CTX_get_error(store)
        record.depth = X509_STORE_CTX_get_error_depth(store)
        if let current = X509_STORE_CTX_get_current_cert(store), X509_up_ref(current) == 1 {
            let certificate = X509Certificate(taking: current)
            record.certificate = certificate
            record.subject = certificate.subject
        }
    }
    return preverified
}
