import COpenSSL
import FoundationEssentials
import SystemCalls

/// Certificate issuance on the device (DPS `csr`): a new EC P-384 key, written owner-only,
/// atomically and durably before it is used; a DER PKCS#10 request with CN = the registration id;
/// and the issued chain ordered leaf first, the leaf found by its public key (not by position).
public enum CertificateRequest {
    /// Makes an EC P-384 key (the key DPS issuance requires) and writes it as PKCS#8 PEM to
    /// `keyFile` with mode 0600: to `keyFile.tmp`, fsynced, renamed, the folder fsynced, so a
    /// power cut leaves the old key or the new one.
    public static func makeKey(writingTo keyFile: String) throws(IdentityError) -> PrivateKey {
        let key = try DevPKI.makeKey(.ec(curve: "P-384"))
        var pem = try key.pem()
        defer { pem.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) } }
        do { try POSIX.writeFileDurably(keyFile, pem, mode: 0o600) } catch { throw IdentityError(error, path: keyFile) }
        return key
    }

    /// A DER PKCS#10 request for `key` with subject `CN=commonName`, signed with SHA-384.
    public static func der(commonName: String, key: PrivateKey) throws(IdentityError) -> [UInt8] {
        OpenSSLError.clear()
        guard let request = X509_REQ_new() else { throw .openSSL(operation: "X509_REQ_new", errors: OpenSSLError.drain()) }
        defer { X509_REQ_free(request) }
        func step(_ name: String, _ ok: Bool) throws(IdentityError) {
            if !ok { throw .openSSL(operation: "\(name) for the CSR of \(commonName)", errors: OpenSSLError.drain()) }
        }
        try step("X509_REQ_set_version", X509_REQ_set_version(request, 0) == 1)
        guard let name = X509_NAME_new() else { throw .openSSL(operation: "X509_NAME_new", errors: OpenSSLError.drain()) }
        defer { X509_NAME_free(name) }
        let bytes = Array(commonName.utf8)
        try step("X509_NAME_add_entry_by_txt(CN)",
                 X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1)
        try step("X509_REQ_set_subject_name", X509_REQ_set_subject_name(request, name) == 1)
        try step("X509_REQ_set_pubkey", X509_REQ_set_pubkey(request, key.pointer) == 1)
        try step("X509_REQ_sign", X509_REQ_sign(request, key.pointer, EVP_sha384()) > 0)
        let length = i2d_X509_REQ(request, nil)
        try step("i2d_X509_REQ", length > 0)
        var der = [UInt8](repeating: 0, count: Int(length))
        der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            _ = i2d_X509_REQ(request, &cursor)
        }
        return der
    }

    /// The CSR as DPS wants it in the register body: base64 DER, no armour, no line breaks.
    public static func base64(commonName: String, key: PrivateKey) throws(IdentityError) -> String {
        Data(try der(commonName: commonName, key: key)).base64EncodedString()
    }

    /// The issued chain (base64 DER, any order) as certificates, leaf first: the one whose
    /// public key is `key`'s, then the others in the order given.
    public static func issuedChain(_ base64: [String], key: PrivateKey) throws(IdentityError) -> [X509Certificate] {
        var certificates: [X509Certificate] = []
        for (index, text) in base64.enumerated() {
            guard let der = Data(base64Encoded: text).map(Array.init), !der.isEmpty else {
                throw .issuedCertificate(problem: "certificate \(index + 1) is not base64", errors: [])
            }
            certificates.append(try parse(der: der, index: index))
        }
        guard let leafIndex = certificates.firstIndex(where: { $0.hasPublicKey(of: key) }) else {
            throw .issuedCertificate(problem: "none of its \(certificates.count) certificates is for the requested key",
                                     errors: [])
        }
        let leaf = certificates.remove(at: leafIndex)
        return [leaf] + certificates
    }

    /// Writes `chain` as PEM (in order) to `path` with mode 0644, atomically and durably.
    public static func writeChain(_ chain: [X509Certificate], to path: String) throws(IdentityError) {
        var pem: [UInt8] = []
        for certificate in chain { pem += try certificate.pem() }
        do { try POSIX.writeFileDurably(path, pem, mode: 0o644) } catch { throw IdentityError(error, path: path) }
    }

    private static func parse(der: [UInt8], index: Int) throws(IdentityError) -> X509Certificate {
        OpenSSLError.clear()
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            throw .issuedCertificate(problem: "certificate \(index + 1) is not DER X.509", errors: OpenSSLError.drain())
        }
        return X509Certificate(taking: parsed)
    }
}

extension X509Certificate {
    /// Whether this certificate certifies `key`'s public half.
    public func hasPublicKey(of key: PrivateKey) -> Bool {
        guard let publicKey = X509_get0_pubkey(pointer) else { return false }
        return EVP_PKEY_eq(publicKey, key.pointer) == 1
    }
}
