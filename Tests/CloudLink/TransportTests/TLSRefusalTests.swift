import Foundation
import Identity
import TestSupport
import Testing
import Transport

/// What the client must refuse, each for its own reason, against servers and certificates made by
/// the `openssl` command.
@Suite("TLS client refusals against openssl's own server and certificates",
       .enabled(if: OpenSSLCertificates.isInstalled, "needs the openssl command (scripts/test.sh installs it)"))
struct TLSRefusalTests {
    @Test("a TLS 1.2 server offering only CBC suites with SHA-1 MACs is refused: no shared cipher")
    func cbcOnlyServerRefused() throws {
        let pki = try OpenSSLCertificates()
        let server = try pki.server("hub", commonName: "hub.example.test", alternativeNames: "DNS:hub.example.test")
        let cbc = try OpenSSLServer(certificate: server.certificate, key: server.key,
                                    arguments: ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"])
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: cbc.port, configuration: .client(trustAnchors: pki.trust, identity: nil),
                                      expectedHostName: "hub.example.test")
        }
        guard case .noSharedCipher = error else {
            Issue.record("expected noSharedCipher, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("only ECDHE with AES-GCM or ChaCha20-Poly1305 (no CBC, no SHA-1 MACs)") == true)
    }

    @Test("the same TLS 1.2 server with an AES-GCM suite is accepted, so the refusal is about the suites")
    func gcmServerAccepted() throws {
        let pki = try OpenSSLCertificates()
        let server = try pki.server("hub", commonName: "hub.example.test", alternativeNames: "DNS:hub.example.test")
        let gcm = try OpenSSLServer(certificate: server.certificate, key: server.key,
                                    arguments: ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
        let client = try TLSConnection.connect(host: "127.0.0.1", port: gcm.port,
                                               configuration: .client(trustAnchors: pki.trust, identity: nil),
                                               expectedHostName: "hub.example.test")
        defer { client.close() }
        #expect(client.protocolVersion == "TLSv1.2")
    }

    @Test("a certificate naming the host through a partial wildcard (hu*.example.test) is refused")
    func partialWildcardRefused() throws {
        let pki = try OpenSSLCertificates()
        let partial = try pki.server("partial", commonName: "hub.example.test", alternativeNames: "DNS:hu*.example.test")
        let tls = try OpenSSLServer(certificate: partial.certificate, key: partial.key, arguments: [])
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: tls.port, configuration: .client(trustAnchors: pki.trust, identity: nil),
                                      expectedHostName: "hub.example.test")
        }
        guard case let .partialWildcard(_, expected, names, _) = error else {
            Issue.record("expected partialWildcard, got \(String(describing: error))")
            return
        }
        #expect(expected == "hub.example.test")
        #expect(names == "DNS:hu*.example.test")
    }

    @Test("a whole-label wildcard (*.example.test) is accepted")
    func wholeLabelWildcardAccepted() throws {
        let pki = try OpenSSLCertificates()
        let wildcard = try pki.server("wildcard", commonName: "example.test", alternativeNames: "DNS:*.example.test")
        let tls = try OpenSSLServer(certificate: wildcard.certificate, key: wildcard.key, arguments: [])
        let client = try TLSConnection.connect(host: "127.0.0.1", port: tls.port,
                                               configuration: .client(trustAnchors: pki.trust, identity: nil),
                                               expectedHostName: "hub.example.test")
        client.close()
    }

    @Test("a certificate with the host only in its CN (no subjectAltName) is refused: no CN fallback")
    func commonNameOnlyRefused() throws {
        let pki = try OpenSSLCertificates()
        let cnOnly = try pki.server("cn-only", commonName: "hub.example.test", alternativeNames: nil)
        let tls = try OpenSSLServer(certificate: cnOnly.certificate, key: cnOnly.key, arguments: [])
        let error = transportError {
            try TLSConnection.connect(host: "127.0.0.1", port: tls.port, configuration: .client(trustAnchors: pki.trust, identity: nil),
                                      expectedHostName: "hub.example.test")
        }
        guard case let .noSubjectAlternativeName(_, expected, subject, _) = error else {
            Issue.record("expected noSubjectAlternativeName, got \(String(describing: error))")
            return
        }
        #expect(expected == "hub.example.test")
        #expect(subject == "CN=hub.example.test")
    }
}
