import COpenSSL
import FoundationEssentials
import SystemCalls

/// Where the CA certificates that end a chain come from: one PEM file (any number of
/// certificates) or a folder whose `*.pem`, `*.crt` and `*.cer` files are all read (no
/// `openssl rehash` needed; `/etc/ssl/certs` works as it is).
public enum TrustAnchors: Sendable, Equatable, CustomStringConvertible {
    case file(String)
    case directory(String)

    /// A file or a folder, whichever `path` is.
    public static func at(_ path: String) throws(IdentityError) -> TrustAnchors {
        do {
            return try POSIX.status(path).kind == .directory ? .directory(path) : .file(path)
        } catch {
            throw IdentityError(error, path: path)
        }
    }

    public var path: String {
        switch self {
        case let .file(path), let .directory(path): path
        }
    }

    public var description: String {
        switch self {
        case let .file(path): "CA file \(path)"
        case let .directory(path): "CA folder \(path)"
        }
    }

    /// Every CA certificate, in file order (folder: files sorted by name).
    public func certificates() throws(IdentityError) -> [X509Certificate] {
        switch self {
        case let .file(path):
            return try X509Certificate.load(chainFile: path)
        case let .directory(path):
            let names: [String]
            do { names = try POSIX.listDirectory(path) } catch { throw IdentityError(error, path: path) }
            var all: [X509Certificate] = []
            for name in names where [".pem", ".crt", ".cer"].contains(where: { name.hasSuffix($0) }) {
                let file = path.hasSuffix("/") ? path + name : path + "/" + name
                // Sub-folders that happen to end in .pem are not certificates.
                if POSIX.isDirectory(file) { continue }
                all += try X509Certificate.load(chainFile: file)
            }
            if all.isEmpty { throw .noTrustAnchors(path: path) }
            return all
        }
    }

    /// A new `X509_STORE *` holding ``certificates()``; the caller owns it (`X509_STORE_free`, or
    /// hand it to `SSL_CTX_set_cert_store`, which takes it over).
    package func makeStore() throws(IdentityError) -> OpaquePointer {
        let anchors = try certificates()
        OpenSSLError.clear()
        guard let store = X509_STORE_new() else {
            throw .openSSL(operation: "X509_STORE_new", errors: OpenSSLError.drain())
        }
        for anchor in anchors where X509_STORE_add_cert(store, anchor.pointer) != 1 {
            let errors = OpenSSLError.drain()
            X509_STORE_free(store)
            throw .openSSL(operation: "X509_STORE_add_cert \(anchor.subject) from \(self)", errors: errors)
        }
        return store
    }
}

/// What a verified chain is for; checked against extendedKeyUsage like a TLS peer would.
public enum CertificatePurpose: Sendable, Equatable {
    /// A device presenting itself to a hub (extendedKeyUsage clientAuth).
    case clientAuthentication
    /// A hub or broker presenting itself to devices (extendedKeyUsage serverAuth).
    case serverAuthentication

    var openSSLPurpose: Int32 {
        switch self {
        case .clientAuthentication: X509_PURPOSE_SSL_CLIENT
        case .serverAuthentication: X509_PURPOSE_SSL_SERVER
        }
    }
}

/// Chain verification with OpenSSL's `X509_verify_cert`, at an injected time.
public enum ChainVerifier {
    /// Verifies `chain` (leaf first, then intermediates, which are untrusted helpers) against
    /// `trust` at `now`, for `purpose`.
    ///
    /// - Returns: the subjects of the verified path, leaf first, trust anchor last.
    /// - Throws: ``IdentityError/chainVerification(code:error:depth:subject:errors:)`` with
    ///   OpenSSL's verify error text (`unable to get local issuer certificate`) and the depth
    ///   (0 = the leaf) and subject where it stopped.
    @discardableResult
    public static func verify(chain: [X509Certificate], trust: TrustAnchors,
                              purpose: CertificatePurpose = .clientAuthentication,
                              now: Date) throws(IdentityError) -> [String] {
        guard !chain.isEmpty else { throw .noCertificate(path: "(empty chain)", errors: []) }
        let store = try trust.makeStore()
        defer { X509_STORE_free(store) }
        return try verify(chain: chain, store: store, partialChain: false, purpose: purpose, now: now)
    }

    /// Verifies `chain` against `anchors` held in memory (a DPS enrollment group's CA, say). With
    /// `partialChain` an anchor need not be self-signed: an intermediate ends the path
    /// (`X509_V_FLAG_PARTIAL_CHAIN`), as DPS accepts an intermediate CA for an enrollment group.
    @discardableResult
    public static func verify(chain: [X509Certificate], anchors: [X509Certificate], partialChain: Bool,
                              purpose: CertificatePurpose = .clientAuthentication,
                              now: Date) throws(IdentityError) -> [String] {
        guard !chain.isEmpty else { throw .noCertificate(path: "(empty chain)", errors: []) }
        OpenSSLError.clear()
        guard let store = X509_STORE_new() else { throw .openSSL(operation: "X509_STORE_new", errors: OpenSSLError.drain()) }
        defer { X509_STORE_free(store) }
        for anchor in anchors where X509_STORE_add_cert(store, anchor.pointer) != 1 {
            throw .openSSL(operation: "X509_STORE_add_cert \(anchor.subject)", errors: OpenSSLError.drain())
        }
        return try verify(chain: chain, store: store, partialChain: partialChain, purpose: purpose, now: now)
    }

    static func verify(chain: [X509Certificate], store: OpaquePointer, partialChain: Bool,
                       purpose: CertificatePurpose, now: Date) throws(IdentityError) -> [String] {
        let leaf = chain[0]
        OpenSSLError.clear()
        guard let context = X509_STORE_CTX_new() else {
            throw .openSSL(operation: "X509_STORE_CTX_new", errors: OpenSSLError.drain())
        }
        defer { X509_STORE_CTX_free(context) }
        guard let untrusted = OPENSSL_sk_new_null() else {
            throw .openSSL(operation: "OPENSSL_sk_new_null", errors: OpenSSLError.drain())
        }
        defer { OPENSSL_sk_free(untrusted) }  // frees the list, not the certificates
        for intermediate in chain.dropFirst()
        where OPENSSL_sk_push(untrusted, UnsafeRawPointer(intermediate.pointer)) <= 0 {
            throw .openSSL(operation: "OPENSSL_sk_push", errors: OpenSSLError.drain())
        }
        guard X509_STORE_CTX_init(context, store, leaf.pointer, untrusted) == 1 else {
            throw .openSSL(operation: "X509_STORE_CTX_init", errors: OpenSSLError.drain())
        }
        X509_STORE_CTX_set_time(context, 0, time_t(now.timeIntervalSince1970.rounded(.down)))
        if partialChain { X509_STORE_CTX_set_flags(context, UInt(X509_V_FLAG_PARTIAL_CHAIN)) }
        guard X509_STORE_CTX_set_purpose(context, purpose.openSSLPurpose) == 1 else {
            throw .openSSL(operation: "X509_STORE_CTX_set_purpose", errors: OpenSSLError.drain())
        }
        if X509_verify_cert(context) == 1 {
            _ = OpenSSLError.drain()
            return subjects(of: X509_STORE_CTX_get0_chain(context))
        }
        let code = X509_STORE_CTX_get_error(context)
        let subject = X509_STORE_CTX_get_current_cert(context).map { X509Certificate.render(X509_get_subject_name($0)) }
        throw .chainVerification(code: code, error: String(cString: X509_verify_cert_error_string(Int(code))),
                                 depth: X509_STORE_CTX_get_error_depth(context), subject: subject,
                                 errors: OpenSSLError.drain())
    }

    static func subjects(of stack: OpaquePointer?) -> [String] {
        guard let stack else { return [] }
        return (0..<OPENSSL_sk_num(stack)).compactMap { index in
            OPENSSL_sk_value(stack, index).map { X509Certificate.render(X509_get_subject_name(OpaquePointer($0))) }
        }
    }
}
