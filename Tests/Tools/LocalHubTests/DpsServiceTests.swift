import Foundation
import Identity
import JSON
import MQTT
import TestSupport
import Testing
@testable import LocalHub

/// DPS registration against real certificates (the dev PKI, CSRs made by the `openssl` CLI) and
/// LocalHub's own registry: enrollment matching, issuance, assignment, persistence.
@Suite(.serialized)
struct DpsServiceTests {
    /// An issuing CA of its own (self-signed), written to a fresh folder.
    static func issuingCA() throws -> (folder: TemporaryDirectory, certificate: String, key: String) {
        let folder = try TemporaryDirectory(prefix: "dps-issuer")
        let authority = try DevPKI.makeAuthority(commonName: "LocalHub DPS Issuing CA", profile: .rootCA, issuer: nil,
                                                 notBefore: Date().addingTimeInterval(-60), notAfter: Date().addingTimeInterval(86_400 * 3650))
        let certificate = folder.file("issuing.pem")
        let key = folder.file("issuing.key")
        try DevPKI.writeCertificates([authority.certificate], to: certificate)
        try DevPKI.writeKey(authority.key, to: key)
        return (folder, certificate, key)
    }

    static func dps(issuing: (certificate: String, key: String)? = nil) -> DpsConfiguration {
        var configuration = DpsConfiguration()
        configuration.issuingCertificateFile = issuing?.certificate
        configuration.issuingKeyFile = issuing?.key
        return configuration
    }

    func chain(_ fixture: HubFixture, _ device: String) throws -> [X509Certificate] {
        try X509Certificate.load(chainFile: try #require(fixture.pki.files.devices[device]).certificate)
    }

    func pem(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func register(_ fixture: HubFixture, _ device: String, as id: String? = nil, csr: [UInt8]? = nil) throws
        -> Result<DpsRegistrationState, DpsError> {
        let service = try #require(fixture.server.dps)
        return service.register(chain: try chain(fixture, device),
                                body: .init(registrationID: id ?? device, payload: nil, csr: csr))
    }

    func failure(_ result: Result<DpsRegistrationState, DpsError>) -> DpsError? {
        if case .failure(let error) = result { return error }
        return nil
    }

    func hubAccepts(_ fixture: HubFixture, _ deviceID: String, chain: [X509Certificate]) -> Bool {
        fixture.server.core.authenticate(clientID: deviceID, username: "localhost/\(deviceID)/?api-version=2021-04-12",
                                         chain: chain) == .accepted(deviceID: deviceID)
    }

    @Test func withoutAnEnrollmentADeviceIsRefused401002NamingTheFix() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps())
        defer { Task { await fixture.cleanUp() } }
        let error = try #require(failure(try register(fixture, "dev-1")))
        #expect(error.errorCode == 401_002)
        #expect(error.message.contains("localhub dps add-device dev-1 --cert DEVICE.pem"))
        #expect(fixture.server.devices().isEmpty)
    }

    @Test func aGroupByTheRootCAAssignsTheDeviceAndTheHubThenAcceptsItsCertificate() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps())
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: try pem(fixture.pki.files.rootCertificate))
        #expect(!hubAccepts(fixture, "dev-1", chain: try chain(fixture, "dev-1")))
        let state = try register(fixture, "dev-1").get()
        #expect(state.assignedHub == fixture.server.assignedHubName)
        #expect(state.assignedHub == "localhost")
        #expect(state.deviceID == "dev-1")
        #expect(fixture.server.devices().map(\.deviceID) == ["dev-1"])
        #expect(hubAccepts(fixture, "dev-1", chain: try chain(fixture, "dev-1")))
        let registrations = fixture.server.dpsRegistrations()
        #expect(registrations.map(\.registrationId) == ["dev-1"])
        #expect(registrations.first?.issuedThumbprint == nil)
    }

    @Test func aGroupByTheIntermediateCAMatchesToo() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps())
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "line-2", caPEM: try pem(fixture.pki.files.intermediateCertificate))
        _ = try register(fixture, "dev-1").get()
        #expect(hubAccepts(fixture, "dev-1", chain: try chain(fixture, "dev-1")))
    }

    @Test func aDisabledGroupOrIndividualEnrollmentIsRefused403() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1", "dev-2"], dps: Self.dps())
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: try pem(fixture.pki.files.rootCertificate), enabled: false)
        let group = try #require(failure(try register(fixture, "dev-1")))
        #expect(group.errorCode == 403_000)
        #expect(group.status == 403)
        #expect(group.message.contains("localhub dps enable fleet"))

        // Individual beats group: dev-2 is refused by its own disabled enrollment though the group is enabled.
        try fixture.server.dpsSetEnabled("fleet", true)
        try fixture.server.dpsAddDevice(registrationID: "dev-2", certificatePEM: try pem(try #require(fixture.pki.files.devices["dev-2"]).certificate),
                                        enabled: false)
        #expect(try failure(register(fixture, "dev-2"))?.errorCode == 403_000)
        _ = try register(fixture, "dev-1").get()
    }

    @Test func anIndividualEnrollmentBeatsTheGroupAndNamesTheDeviceID() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps())
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: try pem(fixture.pki.files.rootCertificate))
        try fixture.server.dpsAddDevice(registrationID: "dev-1", certificatePEM: try pem(try #require(fixture.pki.files.devices["dev-1"]).certificate),
                                        deviceID: "boiler-7")
        let state = try register(fixture, "dev-1").get()
        #expect(state.deviceID == "boiler-7")
        #expect(fixture.server.devices().map(\.deviceID) == ["boiler-7"])
        #expect(fixture.server.devices().first?.authentication == .thumbprint(primary: try fixture.certificate("dev-1").sha256Thumbprint, secondary: nil))
        #expect(hubAccepts(fixture, "boiler-7", chain: try chain(fixture, "dev-1")))
    }

    @Test func aCSRIsSignedByTheIssuingCAAndTheHubAcceptsTheIssuedCertificate() async throws {
        let issuer = try Self.issuingCA()
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps(issuing: (issuer.certificate, issuer.key)))
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: try pem(fixture.pki.files.rootCertificate))
        let csr = try OpenSSLCSR(commonName: "dev-1", curve: "secp384r1", folder: issuer.folder)
        let state = try register(fixture, "dev-1", csr: csr.der).get()
        let encoded = try #require(state.issuedCertificateChain)
        #expect(encoded.count == 2)
        let issued = try encoded.map { text in
            try OpenSSLCSR.certificate(der: Array(try #require(Data(base64Encoded: text))), folder: issuer.folder)
        }
        #expect(issued[0].commonName == "dev-1")
        #expect(issued[0].publicKeyDER == (try SigningRequest(der: csr.der)).publicKeyDER)
        #expect(issued[1].sha256Thumbprint == (try X509Certificate.load(chainFile: issuer.certificate))[0].sha256Thumbprint)
        #expect(issued[0].notAfter.timeIntervalSince(Date()) > 29 * 86_400 && issued[0].notAfter.timeIntervalSince(Date()) <= 30 * 86_400)

        // openssl verify: the leaf chains to the issuing CA, for client authentication.
        let leafFile = issuer.folder.file("issued.pem")
        try DevPKI.writeCertificates([issued[0]], to: leafFile)
        let verify = try runOpenSSL(["verify", "-purpose", "sslclient", "-CAfile", issuer.certificate, leafFile])
        #expect(verify.status == 0 && verify.output.contains("OK"), "\(verify.output)")

        #expect(hubAccepts(fixture, "dev-1", chain: issued))
        #expect(fixture.server.dpsRegistrations().first?.issuedThumbprint == issued[0].sha256Thumbprint)
    }

    @Test("a renewal (a second registration with a new CSR) leaves the previous issued certificate working, not the one before")
    func renewalKeepsThePreviousIssuedCertificateUntilTheNext() async throws {
        let issuer = try Self.issuingCA()
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps(issuing: (issuer.certificate, issuer.key)))
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: try pem(fixture.pki.files.rootCertificate))
        func issue() throws -> [X509Certificate] {
            let csr = try OpenSSLCSR(commonName: "dev-1", curve: "secp384r1", folder: issuer.folder)
            return try #require(try register(fixture, "dev-1", csr: csr.der).get().issuedCertificateChain).map { text in
                try OpenSSLCSR.certificate(der: Array(try #require(Data(base64Encoded: text))), folder: issuer.folder)
            }
        }
        let first = try issue(), second = try issue(), third = try issue()
        #expect(hubAccepts(fixture, "dev-1", chain: second) && hubAccepts(fixture, "dev-1", chain: third))
        #expect(!hubAccepts(fixture, "dev-1", chain: first), "two renewals later, the first certificate is gone")
    }

    @Test func badCSRsAre400WithTheReason() async throws {
        let issuer = try Self.issuingCA()
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps(issuing: (issuer.certificate, issuer.key)))
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: try pem(fixture.pki.files.rootCertificate))

        let p256 = try OpenSSLCSR(commonName: "dev-1", curve: "prime256v1", folder: issuer.folder)
        let curve = try #require(failure(try register(fixture, "dev-1", csr: p256.der)))
        #expect(curve.errorCode == 400_004)
        #expect(curve.message.contains("CSR key must be EC P-384"))

        let other = try OpenSSLCSR(commonName: "dev-9", curve: "secp384r1", folder: issuer.folder)
        #expect(try failure(register(fixture, "dev-1", csr: other.der))?.message.contains("CN is 'dev-9', not the registration id 'dev-1'") == true)

        var tampered = try OpenSSLCSR(commonName: "dev-1", curve: "secp384r1", folder: issuer.folder).der
        tampered[tampered.count - 5] ^= 0x55
        let broken = try #require(failure(try register(fixture, "dev-1", csr: tampered)))
        #expect(broken.errorCode == 400_004)
        #expect(broken.message.contains("the CSR cannot be used"))
        #expect(fixture.server.devices().isEmpty)
    }

    @Test func withoutAnIssuingCAACSRIsRefusedNamingTheFlags() async throws {
        let fixture = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps())
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: try pem(fixture.pki.files.rootCertificate))
        let folder = try TemporaryDirectory(prefix: "dps-csr")
        let csr = try OpenSSLCSR(commonName: "dev-1", curve: "secp384r1", folder: folder)
        let error = try #require(failure(try register(fixture, "dev-1", csr: csr.der)))
        #expect(error.errorCode == 400_004)
        #expect(error.message == "this DPS has no issuing CA (localhub serve --dps-issuing-ca/--dps-issuing-key)")
    }

    @Test func enrollmentsAndRegistrationsSurviveARestartInDpsJSON() async throws {
        let first = try await HubFixture.make(devices: ["dev-1"], dps: Self.dps())
        try first.server.dpsAddGroup(name: "fleet", caPEM: try pem(first.pki.files.rootCertificate))
        _ = try register(first, "dev-1").get()
        await first.cleanUp()
        #expect(FileManager.default.fileExists(atPath: first.stateDirectory + "/dps.json"))
        let second = try await HubFixture.make(reusing: first, dps: Self.dps())
        defer { Task { await second.cleanUp() } }
        #expect(second.server.dpsEnrollments().map(\.name) == ["fleet"])
        #expect(second.server.dpsRegistrations().map(\.registrationId) == ["dev-1"])
        try second.server.dpsRemove("fleet")
        #expect(second.server.dpsEnrollments().isEmpty)
    }
}

/// A CSR made as a device would, by the `openssl` CLI: a new EC key on `curve`, subject CN, DER.
struct OpenSSLCSR {
    let der: [UInt8]
    let keyFile: String

    init(commonName: String, curve: String, folder: TemporaryDirectory) throws {
        let name = "\(commonName)-\(curve)-\(UInt32.random(in: 0...UInt32.max))"
        keyFile = folder.file(name + ".key")
        let derFile = folder.file(name + ".csr")
        let key = try runOpenSSL(["ecparam", "-name", curve, "-genkey", "-noout", "-out", keyFile])
        try #require(key.status == 0, "\(key.output)")
        let request = try runOpenSSL(["req", "-new", "-key", keyFile, "-subj", "/CN=\(commonName)", "-outform", "DER", "-out", derFile])
        try #require(request.status == 0, "\(request.output)")
        der = Array(try Data(contentsOf: URL(fileURLWithPath: derFile)))
    }

    /// A DER certificate as an ``X509Certificate`` (through PEM, with `openssl x509`).
    static func certificate(der: [UInt8], folder: TemporaryDirectory) throws -> X509Certificate {
        let name = folder.file("cert-\(UInt32.random(in: 0...UInt32.max))")
        try Data(der).write(to: URL(fileURLWithPath: name + ".der"))
        let converted = try runOpenSSL(["x509", "-inform", "DER", "-in", name + ".der", "-out", name + ".pem"])
        try #require(converted.status == 0, "\(converted.output)")
        return try X509Certificate.load(chainFile: name + ".pem")[0]
    }
}

/// `openssl ARGUMENTS`: the exit status and stdout + stderr.
func runOpenSSL(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let outcome = try run("/usr/bin/openssl", arguments)
    return (outcome.status, outcome.stdout + outcome.stderr)
}
