import Foundation
import Identity
import TestSupport
import Testing

/// The signing side of certificate issuance, with the `openssl` command as the independent oracle:
/// it makes the requests and checks the certificates.
@Suite("CertificateSigning: a CSR verified, then signed by a CA")
struct CertificateSigningTests {
    /// An EC key on `curve` and a DER CSR for `/CN=commonName`, made by `openssl`.
    func request(_ commonName: String, curve: String, in directory: TemporaryDirectory) throws -> [UInt8] {
        let key = directory.file("\(commonName)-\(curve).key")
        let csr = directory.file("\(commonName)-\(curve).csr")
        let made = try OpenSSLCLI.run(["ecparam", "-name", curve, "-genkey", "-noout", "-out", key])
        try #require(made.status == 0, "\(made.output)")
        let requested = try OpenSSLCLI.run(["req", "-new", "-key", key, "-subj", "/CN=\(commonName)", "-outform", "DER", "-out", csr])
        try #require(requested.status == 0, "\(requested.output)")
        return Array(try Data(contentsOf: URL(fileURLWithPath: csr)))
    }

    @Test("parses and verifies an openssl CSR: curve, CN, public key")
    func parsesARequest() throws {
        let directory = try TemporaryDirectory()
        let request = try SigningRequest(der: try request("dev-1", curve: "secp384r1", in: directory))
        #expect(request.publicKeyCurve == "secp384r1")
        #expect(request.isP384)
        #expect(request.commonName == "dev-1")
        #expect(request.keyType.description == "EC secp384r1")
        let p256 = try SigningRequest(der: try self.request("dev-2", curve: "prime256v1", in: directory))
        #expect(!p256.isP384)
    }

    @Test("refuses what is not a CSR, trailing bytes and an altered request")
    func refusesBadRequests() throws {
        let directory = try TemporaryDirectory()
        let der = try request("dev-1", curve: "secp384r1", in: directory)
        #expect(identityError { try SigningRequest(der: Array("not a CSR".utf8)) }?.description.contains("expected DER PKCS#10") == true)
        #expect(identityError { try SigningRequest(der: der + [0]) }?.description.contains("1 bytes follow") == true)
        var altered = der
        altered[altered.count - 3] ^= 0x01  // inside the signature
        #expect(identityError { try SigningRequest(der: altered) } != nil)
    }

    @Test("issues a client certificate for the request's key that openssl verifies against the CA")
    func issues() throws {
        let directory = try TemporaryDirectory()
        let pki = try DevPKI.generate(outputDirectory: directory.file("pki"), devices: [], now: Date())
        let authority = try CertificateAuthority(certificateFile: pki.files.intermediateCertificate, keyFile: pki.files.intermediateKey)
        let request = try SigningRequest(der: try request("dev-7", curve: "secp384r1", in: directory))
        let now = Date()
        let issued = try authority.issue(request: request, validity: .seconds(7 * 86_400), now: now)
        #expect(issued.commonName == "dev-7")
        #expect(issued.subject == "CN=dev-7")
        #expect(issued.publicKeyDER == request.publicKeyDER)
        #expect(issued.issuer == authority.certificate.subject)
        #expect(abs(issued.notAfter.timeIntervalSince(now) - 7 * 86_400) < 2)
        #expect(!issued.isCertificateAuthority)
        let file = directory.file("issued.pem")
        try DevPKI.writeCertificates([issued], to: file)
        let verified = try OpenSSLCLI.run(["verify", "-purpose", "sslclient", "-CAfile", pki.files.caChain, file])
        #expect(verified.status == 0, "\(verified.output)")
        let text = try OpenSSLCLI.run(["x509", "-in", file, "-noout", "-text"]).output
        #expect(text.contains("Digital Signature"))
        #expect(text.contains("TLS Web Client Authentication"))

        let other = try DevPKI.generate(outputDirectory: directory.file("other"), devices: ["x"], now: Date())
        #expect(identityError { try CertificateAuthority(certificateFile: try #require(other.files.devices["x"]).certificate,
                                                         keyFile: try #require(other.files.devices["x"]).key) }?
            .description.contains("not a CA certificate") == true)
    }
}
