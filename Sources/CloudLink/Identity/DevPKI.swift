import COpenSSL
import COpenSSLShims
import FoundationEssentials
import SystemCalls

/// A certificate with the key that signs for it.
public struct CertificateAuthority: Sendable {
    public let certificate: X509Certificate
    public let key: PrivateKey

    public init(certificate: X509Certificate, key: PrivateKey) {
        self.certificate = certificate
        self.key = key
    }
}

/// The key to generate.
public enum KeySpec: Sendable, Equatable {
    /// EC P-256 (the default for devices and CAs).
    case ecP256
    /// EC on another named curve: `P-384` (DPS certificate issuance), `P-521` (refused by the agent,
    /// for tests of that refusal).
    case ec(curve: String)
    /// RSA with `bits` bits (1024 for tests of the "too weak" refusal).
    case rsa(bits: Int)
}

/// The X.509 v3 extensions a certificate gets (IoT Hub's device-certificate profile for devices).
public enum CertificateProfile: Sendable, Equatable {
    /// basicConstraints critical CA:TRUE; keyUsage critical keyCertSign, cRLSign.
    case rootCA
    /// As ``rootCA`` with pathlen:0: it signs leaves only.
    case intermediateCA
    /// basicConstraints critical CA:FALSE; keyUsage critical digitalSignature;
    /// extendedKeyUsage clientAuth (IoT Hub device certificate, CN = device id).
    case device
    /// basicConstraints critical CA:FALSE; keyUsage critical digitalSignature, keyEncipherment;
    /// extendedKeyUsage serverAuth; subjectAltName with the names and addresses.
    case server(dnsNames: [String], ipAddresses: [String])

    var extensions: [(nid: Int32, value: String)] {
        var list: [(nid: Int32, value: String)]
        switch self {
        case .rootCA:
            list = [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign,cRLSign")]
        case .intermediateCA:
            list = [(NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                    (NID_key_usage, "critical,keyCertSign,cRLSign")]
        case .device:
            list = [(NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature"),
                    (NID_ext_key_usage, "clientAuth")]
        case let .server(dnsNames, ipAddresses):
            list = [(NID_basic_constraints, "critical,CA:FALSE"),
                    (NID_key_usage, "critical,digitalSignature,keyEncipherment"),
                    (NID_ext_key_usage, "serverAuth")]
            let names = dnsNames.map { "DNS:\($0)" } + ipAddresses.map { "IP:\($0)" }
            if !names.isEmpty { list.append((NID_subject_alt_name, names.joined(separator: ","))) }
        }
        // The subject key id must exist before the authority key id can refer to the issuer's.
        list.append((NID_subject_key_identifier, "hash"))
        list.append((NID_authority_key_identifier, "keyid:always"))
        return list
    }
}

/// Paths of everything ``DevPKI/generate(outputDirectory:devices:validityDays:now:)`` wrote.
public struct DevPKIFiles: Sendable, Equatable {
    public var rootCertificate: String
    public var rootKey: String
    public var intermediateCertificate: String
    public var intermediateKey: String
    /// intermediate then root: the trust file for brokers that need the whole CA chain.
    public var caChain: String
    /// server leaf then intermediate.
    public var serverCertificate: String
    public var serverKey: String
    /// Device id → (DEVICE.pem: leaf then intermediate, DEVICE.key).
    public var devices: [String: DeviceFiles]

    public struct DeviceFiles: Sendable, Equatable {
        public var certificate: String
        public var key: String

        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }
}

/// A development PKI: root CA → intermediate CA → one EC P-256 certificate per device
/// (CN = device id) and a server certificate for LocalHub or Mosquitto (CN=localhost,
/// SAN DNS:localhost, IP:127.0.0.1). Built with OpenSSL's C API, never the `openssl` command.
///
/// Never for production: the CA keys sit beside the certificates (mode 0600).
public enum DevPKI {
    /// What ``generate(outputDirectory:devices:validityDays:now:)`` returns: the files and the
    /// CAs in memory, to issue more certificates from (tests: expired, RSA 1024, …).
    public struct Bundle: Sendable {
        public var files: DevPKIFiles
        public var root: CertificateAuthority
        public var intermediate: CertificateAuthority
    }

    /// How far notBefore is put before `now`, so a device whose clock lags a little still
    /// accepts freshly issued certificates.
    public static let backdating: TimeInterval = 300

    /// Writes root.pem, root.key, intermediate.pem, intermediate.key, ca-chain.pem, server.pem
    /// (+ intermediate), server.key and DEVICE.pem (+ intermediate) / DEVICE.key per device into
    /// `outputDirectory` (created if missing). Keys get mode 0600, certificates 0644.
    ///
    /// Leaves are valid `validityDays` from `now`; the CAs ten years or `validityDays`,
    /// whichever is longer.
    public static func generate(outputDirectory: String, devices: [String], validityDays: Int = 365,
                                now: Date) throws(IdentityError) -> Bundle {
        do { try POSIX.makeDirectory(outputDirectory, mode: 0o755) } catch {
            throw IdentityError(error, path: outputDirectory)
        }
        func file(_ name: String) -> String {
            outputDirectory.hasSuffix("/") ? outputDirectory + name : outputDirectory + "/" + name
        }
        let start = now.addingTimeInterval(-backdating)
        let leafEnd = now.addingTimeInterval(TimeInterval(validityDays) * 86_400)
        let caEnd = now.addingTimeInterval(TimeInterval(max(validityDays, 3650)) * 86_400)

        let root = try makeAuthority(commonName: "FieldAgent Dev Root CA", profile: .rootCA, issuer: nil,
                                     notBefore: start, notAfter: caEnd)
        let intermediate = try makeAuthority(commonName: "FieldAgent Dev Intermediate CA", profile: .intermediateCA,
                                             issuer: root, notBefore: start, notAfter: caEnd)
        var files = DevPKIFiles(rootCertificate: file("root.pem"), rootKey: file("root.key"),
                                intermediateCertificate: file("intermediate.pem"),
                                intermediateKey: file("intermediate.key"), caChain: file("ca-chain.pem"),
                                serverCertificate: file("server.pem"), serverKey: file("server.key"), devices: [:])
        try writeCertificates([root.certificate], to: files.rootCertificate)
        try writeKey(root.key, to: files.rootKey)
        try writeCertificates([intermediate.certificate], to: files.intermediateCertificate)
        try writeKey(intermediate.key, to: files.intermediateKey)
        try writeCertificates([intermediate.certificate, root.certificate], to: files.caChain)

        let serverKey = try makeKey(.ecP256)
        let server = try issue(commonName: "localhost",
                               profile: .server(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]),
                               key: serverKey, issuer: intermediate, notBefore: start, notAfter: leafEnd)
        try writeCertificates([server, intermediate.certificate], to: files.serverCertificate)
        try writeKey(serverKey, to: files.serverKey)

        for device in devices {
            files.devices[device] = try issueDevice(id: device, issuer: intermediate, notBefore: start,
                                                    notAfter: leafEnd, outputDirectory: outputDirectory)
        }
        return Bundle(files: files, root: root, intermediate: intermediate)
    }

    /// Issues a device certificate (CN = `id`) and writes `NAME.pem` (leaf + `issuer`'s
    /// certificate) and `NAME.key` (mode 0600); `NAME` defaults to `id`. For tests, any key type
    /// and any validity window (already expired, expiring in 10 days, not yet valid).
    public static func issueDevice(id: String, keySpec: KeySpec = .ecP256, issuer: CertificateAuthority,
                                   notBefore: Date, notAfter: Date, outputDirectory: String,
                                   fileName: String? = nil) throws(IdentityError) -> DevPKIFiles.DeviceFiles {
        let base = (outputDirectory.hasSuffix("/") ? outputDirectory : outputDirectory + "/") + (fileName ?? id)
        let key = try makeKey(keySpec)
        let certificate = try issue(commonName: id, profile: .device, key: key, issuer: issuer,
                                    notBefore: notBefore, notAfter: notAfter)
        let files = DevPKIFiles.DeviceFiles(certificate: base + ".pem", key: base + ".key")
        try writeCertificates([certificate, issuer.certificate], to: files.certificate)
        try writeKey(key, to: files.key)
        return files
    }

    /// A new key and a certificate for it; self-signed when `issuer` is nil.
    public static func makeAuthority(commonName: String, profile: CertificateProfile, issuer: CertificateAuthority?,
                                     notBefore: Date, notAfter: Date,
                                     keySpec: KeySpec = .ecP256) throws(IdentityError) -> CertificateAuthority {
        let key = try makeKey(keySpec)
        let certificate = try issue(commonName: commonName, profile: profile, key: key, issuer: issuer,
                                    notBefore: notBefore, notAfter: notAfter)
        return CertificateAuthority(certificate: certificate, key: key)
    }

    /// Generates a key with `EVP_PKEY_keygen` (`EVP_PKEY_Q_keygen` is variadic, which Swift
    /// cannot call).
    public static func makeKey(_ spec: KeySpec) throws(IdentityError) -> PrivateKey {
        OpenSSLError.clear()
        let algorithm = if case .rsa = spec { "RSA" } else { "EC" }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw .openSSL(operation: "EVP_PKEY_CTX_new_from_name(\(algorithm))", errors: OpenSSLError.drain())
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            throw .openSSL(operation: "EVP_PKEY_keygen_init", errors: OpenSSLError.drain())
        }
        let configured = switch spec {
        case .ecP256: EVP_PKEY_CTX_set_group_name(context, "P-256")
        case let .ec(curve): EVP_PKEY_CTX_set_group_name(context, curve)
        case let .rsa(bits): EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits))
        }
        guard configured == 1 else {
            throw .openSSL(operation: "configuring the \(spec) key", errors: OpenSSLError.drain())
        }
        var key: OpaquePointer?
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw .openSSL(operation: "EVP_PKEY_generate(\(spec))", errors: OpenSSLError.drain())
        }
        return PrivateKey(taking: key)
    }

    /// Builds and signs (SHA-256) an X.509 v3 certificate for `key`'s public half with
    /// subject `CN=commonName, O=FieldAgent Dev`, a random 127-bit serial and `profile`'s extensions.
    public static func issue(commonName: String, profile: CertificateProfile, key: PrivateKey,
                             issuer: CertificateAuthority?, notBefore: Date,
                             notAfter: Date) throws(IdentityError) -> X509Certificate {
        try issue(commonName: commonName, organization: "FieldAgent Dev", profile: profile, publicKey: key.pointer,
                  signer: issuer?.key ?? key, issuer: issuer, notBefore: notBefore, notAfter: notAfter)
    }

    /// ``issue(commonName:profile:key:issuer:notBefore:notAfter:)`` for any public key (an
    /// `EVP_PKEY *` that may hold no private half, as a signing request's), signed by `signer`;
    /// the subject gets `O=organization` when it is given.
    static func issue(commonName: String, organization: String?, profile: CertificateProfile, publicKey: OpaquePointer,
                      signer: PrivateKey, issuer: CertificateAuthority?, notBefore: Date,
                      notAfter: Date) throws(IdentityError) -> X509Certificate {
        OpenSSLError.clear()
        guard let raw = X509_new() else { throw .openSSL(operation: "X509_new", errors: OpenSSLError.drain()) }
        let certificate = X509Certificate(taking: raw)
        func step(_ name: String, _ ok: Bool) throws(IdentityError) {
            if !ok { throw .openSSL(operation: "\(name) for \(commonName)", errors: OpenSSLError.drain()) }
        }
        try step("X509_set_version", X509_set_version(raw, Int(X509_VERSION_3)) == 1)
        try step("serial number", setRandomSerial(raw))
        let name = X509_NAME_new()
        defer { X509_NAME_free(name) }
        for (field, value) in [("CN", commonName)] + (organization.map { [("O", $0)] } ?? []) {
            let bytes = Array(value.utf8)
            try step("X509_NAME_add_entry_by_txt(\(field))",
                     X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0) == 1)
        }
        try step("X509_set_subject_name", X509_set_subject_name(raw, name) == 1)
        let issuerName = issuer.map { X509_get_subject_name($0.certificate.pointer) } ?? name
        try step("X509_set_issuer_name", X509_set_issuer_name(raw, issuerName) == 1)
        try step("notBefore", ASN1_TIME_set(X509_getm_notBefore(raw), time_t(notBefore.timeIntervalSince1970)) != nil)
        try step("notAfter", ASN1_TIME_set(X509_getm_notAfter(raw), time_t(notAfter.timeIntervalSince1970)) != nil)
        try step("X509_set_pubkey", X509_set_pubkey(raw, publicKey) == 1)
        let issuerCertificate = issuer?.certificate.pointer ?? raw
        for (nid, value) in profile.extensions {
            let sn = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "\(nid)"
            let added = COpenSSLShims_X509_add_extension(raw, issuerCertificate, nid, value) == 1
            try step("extension \(sn)=\(value)", added)
        }
        try step("X509_sign", X509_sign(raw, signer.pointer, EVP_sha256()) > 0)
        return certificate
    }

    private static func setRandomSerial(_ certificate: OpaquePointer) -> Bool {
        guard let number = BN_new() else { return false }
        defer { BN_free(number) }
        // 127 random bits: positive, and below the 20-octet limit of RFC 5280 §4.1.2.2.
        guard BN_rand(number, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 else { return false }
        return BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nil
    }

    /// Writes the certificates as PEM, in order, with mode 0644.
    public static func writeCertificates(_ certificates: [X509Certificate], to path: String) throws(IdentityError) {
        var pem: [UInt8] = []
        for certificate in certificates { pem += try certificate.pem() }
        do { try POSIX.writeFile(path, pem, mode: 0o644) } catch { throw IdentityError(error, path: path) }
    }

    /// Writes the key as unencrypted PKCS#8 PEM with `mode` (0600 unless a test wants a wrong one).
    public static func writeKey(_ key: PrivateKey, to path: String, mode: UInt32 = 0o600) throws(IdentityError) {
        let pem = try key.pem()
        do { try POSIX.writeFile(path, pem, mode: mode) } catch { throw IdentityError(error, path: path) }
    }
}

extension X509Certificate {
    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----`).
    public func pem() throws(IdentityError) -> [UInt8] {
        OpenSSLError.clear()
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL(operation: "BIO_new", errors: OpenSSLError.drain()) }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, pointer) == 1 else {
            throw .openSSL(operation: "PEM_write_bio_X509", errors: OpenSSLError.drain())
        }
        return BIOText.drainBytes(bio)
    }
}
