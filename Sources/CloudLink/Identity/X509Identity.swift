import COpenSSL
import FoundationEssentials

/// A certificate chain with its private key: what a device (or LocalHub, or a test broker)
/// presents in a TLS handshake.
///
/// Contract: an instance always has at least one certificate (the leaf, first), a key of an
/// accepted type (EC P-256, RSA ≥ 2048) and a key that matches the leaf. Validity, the device
/// id and the chain are checked separately, because they depend on the time, the configuration
/// and the trust anchors.
public struct X509Identity: Sendable {
    /// Leaf first, then the intermediates to send with it.
    public let chain: [X509Certificate]
    public let key: PrivateKey
    /// Where they came from, for messages (`(memory)` when built in memory).
    public let certificatePath: String
    public let keyPath: String

    public var leaf: X509Certificate { chain[0] }
    public var intermediates: ArraySlice<X509Certificate> { chain.dropFirst() }

    /// Checks key type and key match; `chain` must not be empty.
    public init(chain: [X509Certificate], key: PrivateKey, certificatePath: String = "(memory)",
                keyPath: String = "(memory)") throws(IdentityError) {
        guard let leaf = chain.first else { throw .noCertificate(path: certificatePath, errors: []) }
        if let refusal = key.keyType.refusal {
            throw .unsupportedKey(path: keyPath, key: key.keyType.description, reason: refusal)
        }
        try Self.requireMatch(certificate: leaf, key: key, certificatePath: certificatePath, keyPath: keyPath)
        self.chain = chain
        self.key = key
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// Loads a PEM chain (leaf first, then intermediates) and a private key: a PEM file, or a key
    /// URI such as `handle:0x81000001` (a TPM-held key, see ``KeyLocation``).
    ///
    /// Order of refusals: key file readable by group/others (with the `chmod 600` hint),
    /// unreadable or malformed files (or a key URI that cannot be opened), a key type other than
    /// EC P-256 / RSA ≥ 2048, a key that does not match the leaf.
    public static func load(certificateFile: String, keyFile: String) throws(IdentityError) -> X509Identity {
        let key = try PrivateKey.load(KeyLocation(keyFile))
        let chain = try X509Certificate.load(chainFile: certificateFile)
        return try X509Identity(chain: chain, key: key, certificatePath: certificateFile, keyPath: keyFile)
    }

    /// `X509_check_private_key`: the key's public half equals the certificate's public key.
    public static func requireMatch(certificate: X509Certificate, key: PrivateKey, certificatePath: String,
                                    keyPath: String) throws(IdentityError) {
        OpenSSLError.clear()
        if X509_check_private_key(certificate.pointer, key.pointer) != 1 {
            throw .keyMismatch(certificatePath: certificatePath, keyPath: keyPath,
                               certificateKey: certificate.keyType.description, key: key.keyType.description,
                               errors: OpenSSLError.drain())
        }
    }

    /// IoT Hub CA authentication: the leaf's CN must equal the device id exactly.
    public func requireDeviceID(_ deviceID: String) throws(IdentityError) {
        let commonName = leaf.commonName
        if commonName != deviceID { throw .deviceIDMismatch(expected: deviceID, commonName: commonName) }
    }

    /// The leaf's validity at `now`; see ``CertificateValidity/evaluate(_:now:warningDays:)``.
    public func validity(now: Date, warningDays: Int = CertificateValidity.defaultWarningDays) throws(IdentityError)
        -> CertificateValidity {
        try CertificateValidity.evaluate(leaf, now: now, warningDays: warningDays)
    }

    /// Verifies the chain against `trust` for client authentication at `now`.
    @discardableResult
    public func verifyChain(trust: TrustAnchors, now: Date) throws(IdentityError) -> [String] {
        try ChainVerifier.verify(chain: chain, trust: trust, purpose: .clientAuthentication, now: now)
    }
}

/// How long a certificate has left, judged at an injected `now`.
public struct CertificateValidity: Sendable, Equatable {
    /// Renewal should start this many days before notAfter.
    public static let defaultWarningDays = 30

    public var notBefore: Date
    public var notAfter: Date
    /// Whole days until notAfter, rounded down (9 when 9 days and 23 hours are left).
    public var daysLeft: Int
    /// Set when fewer than the warning days are left: what to tell the operator.
    public var warning: String?

    /// - Throws: ``IdentityError/expired(subject:notAfter:now:)`` once `now` is past notAfter,
    ///   ``IdentityError/notYetValid(subject:notBefore:now:)`` while `now` is before notBefore.
    /// - Returns: the days left, with a warning when fewer than `warningDays` remain.
    public static func evaluate(_ certificate: X509Certificate, now: Date,
                                warningDays: Int = defaultWarningDays) throws(IdentityError) -> CertificateValidity {
        let notBefore = certificate.notBefore
        let notAfter = certificate.notAfter
        if now < notBefore { throw .notYetValid(subject: certificate.subject, notBefore: notBefore, now: now) }
        if now > notAfter { throw .expired(subject: certificate.subject, notAfter: notAfter, now: now) }
        let daysLeft = Int((notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
        var warning: String?
        if daysLeft < warningDays {
            let left = UTC.span(notAfter.timeIntervalSince(now))
            warning = "certificate \(certificate.subject) expires in \(left) (\(UTC.text(notAfter))); "
                + "renew it now: issue a new certificate with the same CN from the same CA"
        }
        return CertificateValidity(notBefore: notBefore, notAfter: notAfter, daysLeft: daysLeft, warning: warning)
    }
}
