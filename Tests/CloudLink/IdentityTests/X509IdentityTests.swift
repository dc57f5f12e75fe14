import Foundation
import Identity
import TestSupport
import Testing

@Suite("X509Identity: loading, key checks, thumbprints, validity, chain")
struct X509IdentityTests {
    let directory: TemporaryDirectory
    let bundle: DevPKI.Bundle

    init() throws {
        directory = try TemporaryDirectory()
        bundle = try DevPKI.generate(outputDirectory: directory.path, devices: ["pump-7", "valve-2"], now: testNow)
    }

    func device(_ name: String) -> (certificate: String, key: String) {
        (directory.file("\(name).pem"), directory.file("\(name).key"))
    }

    @Test("loads chain and key; the CN is the device id")
    func loads() throws {
        let (certificate, key) = device("pump-7")
        let identity = try X509Identity.load(certificateFile: certificate, keyFile: key)
        #expect(identity.chain.count == 2)
        #expect(identity.intermediates.count == 1)
        #expect(identity.key.keyType.description == "EC P-256")
        try identity.requireDeviceID("pump-7")
        #expect(identity.leaf.commonName == "pump-7")

        let mismatch = identityError { try identity.requireDeviceID("pump-8") }
        #expect(mismatch == .deviceIDMismatch(expected: "pump-8", commonName: "pump-7"))
        #expect(mismatch?.description == "certificate CN is \"pump-7\", expected the device id \"pump-8\"; IoT Hub CA "
            + "authentication requires CN = device id: issue a certificate with CN=pump-8 or fix the configured device id")
    }

    @Test("thumbprints equal `openssl x509 -fingerprint` without colons",
          .enabled(if: OpenSSLCLI.isInstalled, "needs /usr/bin/openssl as an oracle"))
    func thumbprintsMatchOpenSSLCLI() throws {
        for name in ["pump-7", "valve-2"] {
            let leaf = try X509Certificate.load(chainFile: device(name).certificate)[0]
            #expect(leaf.sha1Thumbprint == (try OpenSSLCLI.fingerprint(device(name).certificate, digest: "sha1")))
            #expect(leaf.sha256Thumbprint == (try OpenSSLCLI.fingerprint(device(name).certificate, digest: "sha256")))
            #expect(leaf.sha1Thumbprint.count == 40)
            #expect(leaf.sha256Thumbprint.count == 64)
            #expect(leaf.sha256Thumbprint.allSatisfy { "0123456789ABCDEF".contains($0) })
        }
    }

    @Test("a key that belongs to another certificate is refused, with OpenSSL's reason")
    func keyMismatch() throws {
        let error = identityError {
            try X509Identity.load(certificateFile: device("pump-7").certificate, keyFile: device("valve-2").key)
        }
        guard case let .keyMismatch(certificatePath, keyPath, _, _, errors) = error else {
            Issue.record("expected keyMismatch, got \(String(describing: error))")
            return
        }
        #expect(certificatePath == device("pump-7").certificate)
        #expect(keyPath == device("valve-2").key)
        #expect(errors.contains { $0.reason == "key values mismatch" }, "\(errors)")
        #expect(error?.description.hasPrefix("private key \(keyPath) (EC P-256) does not belong to certificate "
            + "\(certificatePath) (EC P-256); give the key the certificate was issued for; OpenSSL: error:") == true)
    }

    @Test("a key file readable by group or others is refused with the chmod 600 hint", arguments: [0o640, 0o604, 0o660])
    func groupReadableKeyRefused(mode: Int) throws {
        let key = device("pump-7").key
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: key)
        let error = identityError { try X509Identity.load(certificateFile: device("pump-7").certificate, keyFile: key) }
        #expect(error == .keyFilePermissions(path: key, mode: UInt32(mode)))
        #expect(error?.description == "private key \(key) has mode 0\(String(mode, radix: 8)) and can be read by group or "
            + "others; the agent refuses it: run `chmod 600 \(key)`")

        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: key)
        _ = try X509Identity.load(certificateFile: device("pump-7").certificate, keyFile: key)
    }

    @Test("an expired certificate is refused with the date and how long ago")
    func expiredRefused() throws {
        let files = try DevPKI.issueDevice(id: "old", issuer: bundle.intermediate, notBefore: testNow - 40 * day,
                                           notAfter: testNow - day, outputDirectory: directory.path)
        let identity = try X509Identity.load(certificateFile: files.certificate, keyFile: files.key)
        let error = identityError { try identity.validity(now: testNow) }
        #expect(error == .expired(subject: "CN=old, O=FieldAgent Dev", notAfter: testNow - day, now: testNow))
        #expect(error?.description == "certificate CN=old, O=FieldAgent Dev expired on 2027-01-14 08:00:00 UTC (1 day ago, "
            + "now 2027-01-15 08:00:00 UTC); the hub refuses it (401003): issue a new certificate with the same CN "
            + "from the same CA")

        let chainError = identityError { try identity.verifyChain(trust: .file(bundle.files.rootCertificate), now: testNow) }
        guard case let .chainVerification(code, text, depth, subject, _) = chainError else {
            Issue.record("expected chainVerification, got \(String(describing: chainError))")
            return
        }
        #expect(code == 10 && text == "certificate has expired" && depth == 0 && subject == "CN=old, O=FieldAgent Dev")
    }

    @Test("a certificate that is not valid yet is refused and points at the clock")
    func notYetValidRefused() throws {
        let files = try DevPKI.issueDevice(id: "early", issuer: bundle.intermediate, notBefore: testNow + 2 * day,
                                           notAfter: testNow + 30 * day, outputDirectory: directory.path)
        let identity = try X509Identity.load(certificateFile: files.certificate, keyFile: files.key)
        let error = identityError { try identity.validity(now: testNow) }
        #expect(error == .notYetValid(subject: "CN=early, O=FieldAgent Dev", notBefore: testNow + 2 * day, now: testNow))
        #expect(error?.description == "certificate CN=early, O=FieldAgent Dev is not valid before 2027-01-17 08:00:00 UTC "
            + "(in 2 days, now 2027-01-15 08:00:00 UTC); check the device clock (NTP) or use a certificate whose "
            + "validity has started")
    }

    @Test("under 30 days left gives a warning, not a refusal")
    func expiringSoonWarns() throws {
        let files = try DevPKI.issueDevice(id: "soon", issuer: bundle.intermediate, notBefore: testNow - day,
                                           notAfter: testNow + 10 * day, outputDirectory: directory.path)
        let identity = try X509Identity.load(certificateFile: files.certificate, keyFile: files.key)
        let validity = try identity.validity(now: testNow)
        #expect(validity.daysLeft == 10)
        #expect(validity.warning == "certificate CN=soon, O=FieldAgent Dev expires in 10 days (2027-01-25 08:00:00 UTC); "
            + "renew it now: issue a new certificate with the same CN from the same CA")

        let healthy = try X509Identity.load(certificateFile: device("pump-7").certificate, keyFile: device("pump-7").key)
        let long = try healthy.validity(now: testNow)
        #expect(long.daysLeft == 365 && long.warning == nil)
        // One second before the 30-day mark: 29 whole days left, so it warns.
        let edge = try healthy.validity(now: testNow + 335 * day + 1)
        #expect(edge.daysLeft == 29 && edge.warning != nil)
    }

    @Test("a chain from another CA fails with OpenSSL's verify error text and depth")
    func wrongCA() throws {
        let other = try TemporaryDirectory()
        let otherPKI = try DevPKI.generate(outputDirectory: other.path, devices: [], now: testNow)
        let identity = try X509Identity.load(certificateFile: device("pump-7").certificate, keyFile: device("pump-7").key)
        let error = identityError { try identity.verifyChain(trust: .file(otherPKI.files.rootCertificate), now: testNow) }
        #expect(error == .chainVerification(code: 20, error: "unable to get local issuer certificate", depth: 1,
                                            subject: "CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev", errors: []))
        #expect(error?.description.hasPrefix("certificate chain does not verify: unable to get local issuer certificate "
            + "(verify error 20) at depth 1 (CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev); the trust anchors lack") == true)

        // The right CA, as a file and as a folder.
        try identity.verifyChain(trust: .file(bundle.files.rootCertificate), now: testNow)
        let folder = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: bundle.files.rootCertificate, toPath: folder.file("dev-root.pem"))
        #expect(try TrustAnchors.at(folder.path) == .directory(folder.path))
        try identity.verifyChain(trust: .directory(folder.path), now: testNow)
    }

    @Test("openssl verify reports the same error for the wrong CA",
          .enabled(if: OpenSSLCLI.isInstalled, "needs /usr/bin/openssl as an oracle"))
    func wrongCAMatchesOpenSSLCLI() throws {
        let other = try TemporaryDirectory()
        let otherPKI = try DevPKI.generate(outputDirectory: other.path, devices: [], now: Date())
        let result = try OpenSSLCLI.run(["verify", "-CAfile", otherPKI.files.rootCertificate, "-untrusted",
                                         bundle.files.intermediateCertificate, device("pump-7").certificate])
        #expect(result.status != 0)
        #expect(result.output.contains("error 20 at 1 depth lookup: unable to get local issuer certificate"), "\(result.output)")
    }

    @Test("a leaf without its intermediate fails at depth 0")
    func missingIntermediate() throws {
        let leafOnly = directory.file("leaf-only.pem")
        let leaf = try X509Certificate.load(chainFile: device("pump-7").certificate)[0]
        try DevPKI.writeCertificates([leaf], to: leafOnly)
        let error = identityError {
            try ChainVerifier.verify(chain: X509Certificate.load(chainFile: leafOnly), trust: .file(bundle.files.rootCertificate),
                                     now: testNow)
        }
        guard case let .chainVerification(code, text, depth, _, _) = error else {
            Issue.record("expected chainVerification, got \(String(describing: error))")
            return
        }
        #expect(code == 20 && text == "unable to get local issuer certificate" && depth == 0)
        #expect(error?.description.contains("append the intermediate to the certificate file") == true)
    }

    @Test("RSA 1024 and P-521 keys are refused with a reason; RSA 2048 and P-384 (DPS issuance) are accepted")
    func keyPolicy() throws {
        let rsa1024 = try DevPKI.issueDevice(id: "weak", keySpec: .rsa(bits: 1024), issuer: bundle.intermediate,
                                             notBefore: testNow - day, notAfter: testNow + 100 * day,
                                             outputDirectory: directory.path)
        let weak = identityError { try X509Identity.load(certificateFile: rsa1024.certificate, keyFile: rsa1024.key) }
        #expect(weak == .unsupportedKey(path: rsa1024.key, key: "RSA 1024", reason: "an RSA key of 1024 bits is too weak (minimum 2048)"))
        #expect(weak?.description == "unsupported key RSA 1024 in \(rsa1024.key): an RSA key of 1024 bits is too weak "
            + "(minimum 2048); use an EC P-256 or P-384 key or RSA with at least 2048 bits")

        let p521 = try DevPKI.issueDevice(id: "p521", keySpec: .ec(curve: "P-521"), issuer: bundle.intermediate,
                                          notBefore: testNow - day, notAfter: testNow + 100 * day,
                                          outputDirectory: directory.path)
        let curve = identityError { try X509Identity.load(certificateFile: p521.certificate, keyFile: p521.key) }
        #expect(curve == .unsupportedKey(path: p521.key, key: "EC secp521r1",
                                         reason: "curve secp521r1 is not supported; the agent accepts EC keys on P-256 and P-384 only"))

        let p384 = try DevPKI.issueDevice(id: "p384", keySpec: .ec(curve: "P-384"), issuer: bundle.intermediate,
                                          notBefore: testNow - day, notAfter: testNow + 100 * day,
                                          outputDirectory: directory.path)
        #expect(try X509Identity.load(certificateFile: p384.certificate, keyFile: p384.key).leaf.keyType
            == .ec(curve: "secp384r1"))

        let rsa2048 = try DevPKI.issueDevice(id: "rsa", keySpec: .rsa(bits: 2048), issuer: bundle.intermediate,
                                             notBefore: testNow - day, notAfter: testNow + 100 * day,
                                             outputDirectory: directory.path)
        let identity = try X509Identity.load(certificateFile: rsa2048.certificate, keyFile: rsa2048.key)
        #expect(identity.leaf.keyType == .rsa(bits: 2048))
        try identity.verifyChain(trust: .file(bundle.files.rootCertificate), now: testNow)
    }

    @Test("an encrypted key is refused without prompting for a passphrase",
          .enabled(if: OpenSSLCLI.isInstalled, "needs /usr/bin/openssl to encrypt a key"))
    func encryptedKeyRefused() throws {
        let encrypted = directory.file("encrypted.key")
        let result = try OpenSSLCLI.run(["pkey", "-in", device("pump-7").key, "-aes256", "-passout", "pass:secret",
                                         "-out", encrypted])
        #expect(result.status == 0, "\(result.output)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: encrypted)
        let error = identityError { try X509Identity.load(certificateFile: device("pump-7").certificate, keyFile: encrypted) }
        #expect(error == .encryptedKey(path: encrypted))
    }

    @Test("missing and wrong files say which file and what is wrong")
    func fileErrors() throws {
        let missing = directory.file("nope.pem")
        let error = identityError { try X509Certificate.load(chainFile: missing) }
        #expect(error == .file(path: missing, operation: "open", errno: ENOENT, reason: "No such file or directory"))
        #expect(error?.description == "open \(missing) failed: No such file or directory (errno 2); check the path "
            + "(configuration or command line)")

        // A key file given where the certificate belongs.
        let noCertificate = identityError { try X509Certificate.load(chainFile: device("pump-7").key) }
        guard case .noCertificate(path: device("pump-7").key, _) = noCertificate else {
            Issue.record("expected noCertificate, got \(String(describing: noCertificate))")
            return
        }
        // A certificate given where the key belongs.
        let noKey = identityError { try PrivateKey.load(file: device("pump-7").certificate, checkPermissions: false) }
        guard case let .malformedPEM(_, what, errors) = noKey else {
            Issue.record("expected malformedPEM, got \(String(describing: noKey))")
            return
        }
        #expect(what == "private key" && !errors.isEmpty)

        let empty = try TemporaryDirectory()
        #expect(identityError { try TrustAnchors.directory(empty.path).certificates() } == .noTrustAnchors(path: empty.path))
    }
}
