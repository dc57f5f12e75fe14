import Foundation
import Identity
import TestSupport
import Testing

@Suite("DevPKI: root → intermediate → device and server certificates")
struct DevPKITests {
    @Test("writes every file, keys with mode 0600, certificates with the profile IoT Hub expects")
    func generatesFiles() throws {
        let directory = try TemporaryDirectory()
        let bundle = try DevPKI.generate(outputDirectory: directory.path, devices: ["pump-7", "valve-2"], now: testNow)
        let files = bundle.files

        for name in ["root.pem", "intermediate.pem", "ca-chain.pem", "server.pem", "pump-7.pem", "valve-2.pem"] {
            #expect(try fileMode(directory.file(name)) == 0o644, "\(name)")
        }
        for name in ["root.key", "intermediate.key", "server.key", "pump-7.key", "valve-2.key"] {
            #expect(try fileMode(directory.file(name)) == 0o600, "\(name) must be owner-only")
        }
        #expect(files.devices["pump-7"] == .init(certificate: directory.file("pump-7.pem"), key: directory.file("pump-7.key")))

        let device = try X509Certificate.load(chainFile: directory.file("pump-7.pem"))
        #expect(device.count == 2, "DEVICE.pem is the leaf followed by the intermediate")
        #expect(device[0].subject == "CN=pump-7, O=FieldAgent Dev")
        #expect(device[0].commonName == "pump-7")
        #expect(device[0].issuer == "CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev")
        #expect(device[1].subject == "CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev")
        #expect(device[0].keyType == .ec(curve: "prime256v1"))
        #expect(device[0].keyType.description == "EC P-256")
        #expect(!device[0].isCertificateAuthority)
        #expect(device[1].isCertificateAuthority)
        #expect(device[0].notAfter == testNow.addingTimeInterval(365 * day))
        #expect(device[0].notBefore == testNow.addingTimeInterval(-DevPKI.backdating))

        let chain = try X509Certificate.load(chainFile: files.caChain)
        #expect(chain.map(\.commonName) == ["FieldAgent Dev Intermediate CA", "FieldAgent Dev Root CA"])
        let root = try X509Certificate.load(chainFile: files.rootCertificate)
        #expect(root.count == 1 && root[0].isSelfIssued && root[0].isCertificateAuthority)

        let server = try X509Certificate.load(chainFile: files.serverCertificate)
        #expect(server.count == 2)
        #expect(server[0].commonName == "localhost")
        #expect(server[0].subjectAlternativeNames == "DNS:localhost, IP Address:127.0.0.1")
    }

    @Test("the device certificate verifies for clientAuth only; the server certificate for serverAuth")
    func extendedKeyUsage() throws {
        let directory = try TemporaryDirectory()
        let bundle = try DevPKI.generate(outputDirectory: directory.path, devices: ["pump-7"], now: testNow)
        let trust = TrustAnchors.file(bundle.files.rootCertificate)
        let device = try X509Certificate.load(chainFile: directory.file("pump-7.pem"))
        let path = try ChainVerifier.verify(chain: device, trust: trust, purpose: .clientAuthentication, now: testNow)
        #expect(path == ["CN=pump-7, O=FieldAgent Dev", "CN=FieldAgent Dev Intermediate CA, O=FieldAgent Dev",
                         "CN=FieldAgent Dev Root CA, O=FieldAgent Dev"])

        let wrongUse = identityError { try ChainVerifier.verify(chain: device, trust: trust, purpose: .serverAuthentication, now: testNow) }
        guard case let .chainVerification(code, error, depth, _, _) = wrongUse else {
            Issue.record("expected chainVerification, got \(String(describing: wrongUse))")
            return
        }
        #expect(code == 26, "\(error)")
        #expect(error == "unsuitable certificate purpose" && depth == 0)

        let server = try X509Certificate.load(chainFile: bundle.files.serverCertificate)
        try ChainVerifier.verify(chain: server, trust: trust, purpose: .serverAuthentication, now: testNow)
    }

    @Test("openssl verify (an independent implementation) accepts the device chain",
          .enabled(if: OpenSSLCLI.isInstalled, "needs /usr/bin/openssl as an oracle"))
    func opensslVerifies() throws {
        let directory = try TemporaryDirectory()
        let bundle = try DevPKI.generate(outputDirectory: directory.path, devices: ["pump-7"], now: Date())
        let result = try OpenSSLCLI.run(["verify", "-purpose", "sslclient", "-CAfile", bundle.files.rootCertificate,
                                         "-untrusted", bundle.files.intermediateCertificate, directory.file("pump-7.pem")])
        #expect(result.status == 0)
        #expect(result.output.hasSuffix(": OK\n"), "\(result.output)")
        let text = try OpenSSLCLI.run(["x509", "-in", directory.file("pump-7.pem"), "-noout", "-ext",
                                       "basicConstraints,keyUsage,extendedKeyUsage"]).output
        #expect(text.contains("critical\n    CA:FALSE"), "\(text)")
        #expect(text.contains("Digital Signature"), "\(text)")
        #expect(text.contains("TLS Web Client Authentication"), "\(text)")
    }

    @Test("generates RSA keys of a given size and refuses curves OpenSSL does not know")
    func keySpecs() throws {
        #expect(try DevPKI.makeKey(.rsa(bits: 2048)).keyType == .rsa(bits: 2048))
        #expect(try DevPKI.makeKey(.ec(curve: "P-384")).keyType == .ec(curve: "secp384r1"))
        let error = identityError { try DevPKI.makeKey(.ec(curve: "no-such-curve")) }
        guard case let .openSSL(operation, errors) = error else {
            Issue.record("expected .openSSL, got \(String(describing: error))")
            return
        }
        #expect(operation.contains("no-such-curve"))
        #expect(!errors.isEmpty, "the OpenSSL error queue is drained into the error")
    }
}
