import COpenSSL
import COpenSSLShims
import FoundationEssentials
import SystemCalls

/// A PKCS#10 certificate signing request as a CA receives it (DER), parsed and its signature
/// verified by OpenSSL: the side that *signs* (LocalHub's DPS issuing certificates). Creating a
/// request is the device's business, not this type's.
///
/// Contract: ``init(der:)`` succeeds only for a well-formed request whose self-signature
/// verifies with the public key it carries (proof that the requester holds the private key);
/// immutable afterwards and shareable between threads.
public final class SigningRequest: @unchecked Sendable {
    /// The owned `X509_REQ *`.
    let pointer: OpaquePointer

    /// Parses DER (no PEM armour) and verifies the request's signature.
    /// - Throws: ``IdentityError/openSSL(operation:errors:)`` naming what is wrong: not DER
    ///   PKCS#10, trailing bytes, no public key, or a signature that does not verify.
    public init(der: [UInt8]) throws(IdentityError) {
        OpenSSLError.clear()
        var consumed = 0
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let request = d2i_X509_REQ(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return request
        }
        guard let parsed else {
            throw .openSSL(operation: "reading the CSR (expected DER PKCS#10, \(der.count) bytes)", errors: OpenSSLError.drain())
        }
        pointer = parsed
        guard consumed == der.count else {
            throw .openSSL(operation: "reading the CSR: \(der.count - consumed) bytes follow the DER PKCS#10 request", errors: [])
        }
        guard let key = X509_REQ_get0_pubkey(parsed) else {
            throw .openSSL(operation: "reading the CSR's public key", errors: OpenSSLError.drain())
        }
        guard X509_REQ_verify(parsed, key) == 1 else {
            throw .openSSL(operation: "verifying the CSR's signature with its own public key (the request was altered "
                + "or not signed by the key it names)", errors: OpenSSLError.drain())
        }
    }

    deinit { X509_REQ_free(pointer) }

    /// The requested public key's type (`EC secp384r1`, `RSA 2048`).
    public var keyType: KeyType {
        guard let key = X509_REQ_get0_pubkey(pointer) else { return .other("unreadable public key") }
        return KeyType(of: key)
    }

    /// The curve of an EC key in OpenSSL's name (`secp384r1` is P-384, `prime256v1` P-256); nil for other keys.
    public var publicKeyCurve: String? {
        if case .ec(let curve) = keyType { return curve }
        return nil
    }

    /// Whether the key is EC P-384 (`secp384r1`, `P-384`).
    public var isP384: Bool { ["secp384r1", "P-384"].contains(publicKeyCurve ?? "") }

    /// The subject's (last) common name, if it has one.
    public var commonName: String? {
        guard let name = X509_REQ_get_subject_name(pointer) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index) else { return nil }
        return X509Certificate.utf8(X509_NAME_ENTRY_get_data(entry))
    }

    /// The public key in DER (SubjectPublicKeyInfo), to compare with a certificate's.
    public var publicKeyDER: [UInt8] { subjectPublicKeyInfo(X509_REQ_get0_pubkey(pointer)) }
}

extension X509Certificate {
    /// The certified public key in DER (SubjectPublicKeyInfo): equal to a ``SigningRequest``'s
    /// ``SigningRequest/publicKeyDER`` when the certificate was issued for that request.
    public var publicKeyDER: [UInt8] { subjectPublicKeyInfo(X509_get0_pubkey(pointer)) }
}

func subjectPublicKeyInfo(_ key: OpaquePointer?) -> [UInt8] {
    guard let key else { return [] }
    let length = i2d_PUBKEY(key, nil)
    guard length > 0 else {
        _ = OpenSSLError.drain()
        return []
    }
    var bytes = [UInt8](repeating: 0, count: Int(length))
    bytes.withUnsafeMutableBufferPointer { buffer in
        var cursor = buffer.baseAddress
        _ = i2d_PUBKEY(key, &cursor)
    }
    return bytes
}

extension CertificateAuthority {
    /// An issuing CA from its certificate (PEM; the first certificate of the file) and key (PEM,
    /// owner-only as every key file); the key must belong to the certificate, which must be a CA.
    public init(certificateFile: String, keyFile: String) throws(IdentityError) {
        let certificates = try X509Certificate.load(chainFile: certificateFile)
        let key = try PrivateKey.load(file: keyFile)
        try X509Identity.requireMatch(certificate: certificates[0], key: key, certificatePath: certificateFile,
                                      keyPath: keyFile)
        guard certificates[0].isCertificateAuthority else {
            throw .openSSL(operation: "using \(certificateFile) (\(certificates[0].subject)) as an issuing CA: it is not a "
                + "CA certificate (basicConstraints CA:TRUE); give a root or intermediate CA", errors: [])
        }
        self.init(certificate: certificates[0], key: key)
    }

    /// Issues a device certificate for a verified `request`: subject `CN=` the request's common
    /// name, the request's public key, keyUsage digitalSignature, extendedKeyUsage clientAuth
    /// (``CertificateProfile/device``), a random serial, valid from ``DevPKI/backdating`` before
    /// `now` for `validity`, signed (SHA-256) by this CA.
    public func issue(request: SigningRequest, validity: Duration, now: Date) throws(IdentityError) -> X509Certificate {
        guard let commonName = request.commonName, let key = X509_REQ_get0_pubkey(request.pointer) else {
            throw .openSSL(operation: "issuing a certificate: the CSR has no subject CN or no public key", errors: [])
        }
        let seconds = TimeInterval(validity.components.seconds)
        return try DevPKI.issue(commonName: commonName, organization: nil, profile: .device, publicKey: key, signer: self.key,
                                issuer: self, notBefore: now.addingTimeInterval(-DevPKI.backdating),
                                notAfter: now.addingTimeInterval(seconds))
    }
}
