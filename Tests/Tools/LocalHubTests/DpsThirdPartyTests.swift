import Foundation
import Identity
import TestSupport
import Testing
@testable import LocalHub

/// Issue 17: a third-party DPS device client provisions through LocalHub's DPS endpoint as it
/// would through Azure DPS, then uses the assignment. The client is Microsoft's Azure IoT Python
/// device SDK (`ProvisioningDeviceClient`, then `IoTHubDeviceClient`), run from
/// thirdparty/azure_dps_client.py; without python3 and the SDK the test is skipped with that reason.
@Suite(.serialized)
struct DpsThirdPartyTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("thirdparty/azure_dps_client.py").path

    @Test(.enabled(if: LocalHubThirdPartyTests.sdkAvailable, "needs python3 with the Azure IoT device SDK: pip install azure-iot-device"))
    func theAzurePythonProvisioningClientRegistersAndTheAssignedHubStoresItsMessage() async throws {
        let fixture = try await HubFixture.make(devices: ["py-dps"], dps: DpsConfiguration())
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: Array(try Data(contentsOf: URL(fileURLWithPath: fixture.pki.files.rootCertificate))))
        let files = try #require(fixture.pki.files.devices["py-dps"])

        // The SDK polls after retry-after (1 s); the run ends when the script does.
        let outcome = try execute("/usr/bin/env", ["python3", Self.script, "\(fixture.dpsPort)", "\(fixture.port)", "0ne00LOCAL1", "py-dps",
                                                  files.certificate, files.key, fixture.pki.files.rootCertificate])
        let printed = outcome.stdout, stderr = outcome.stderr

        let lines = printed.split(separator: "\n").map(String.init)
        #expect(lines.contains("STEP registered assigned \(fixture.server.assignedHubName) py-dps"), "SDK output: \(lines); stderr: \(stderr.suffix(2000))")
        #expect(lines.contains("STEP done"), "stderr: \(stderr.suffix(2000))")
        #expect(outcome.status == 0)
        #expect(fixture.server.dpsRegistrations().map(\.registrationId) == ["py-dps"])
        let records = try fixture.server.telemetry("py-dps")
        #expect(records.map(\.payload) == [#"{"provisioned":true,"source":"azure-iot-device"}"#])
        #expect(records.first?.properties["$.mid"] == .string("dps-1"))
    }

    static let issuanceScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("thirdparty/dps_issuance_client.py").path

    /// The Azure SDK sends no CSR, so issuance runs with paho (the SDK's MQTT client) by hand:
    /// the onboarding certificate and a P-384 CSR at DPS, then the issued chain and the CSR's key
    /// over TLS at the hub, which stores the message.
    @Test(.enabled(if: LocalHubThirdPartyTests.sdkAvailable, "needs python3 with paho-mqtt (pip install azure-iot-device)"))
    func anIssuedCertificateAndItsP384KeyConnectToTheAssignedHub() async throws {
        let issuer = try DpsServiceTests.issuingCA()
        let fixture = try await HubFixture.make(devices: ["iss-1"], dps: DpsServiceTests.dps(issuing: (issuer.certificate, issuer.key)))
        defer { Task { await fixture.cleanUp() } }
        try fixture.server.dpsAddGroup(name: "fleet", caPEM: Array(try Data(contentsOf: URL(fileURLWithPath: fixture.pki.files.rootCertificate))))
        let files = try #require(fixture.pki.files.devices["iss-1"])
        let csr = try OpenSSLCSR(commonName: "iss-1", curve: "secp384r1", folder: issuer.folder)
        let csrFile = issuer.folder.file("iss-1.csr.der")
        try Data(csr.der).write(to: URL(fileURLWithPath: csrFile))

        let result = try run("/usr/bin/env", ["python3", Self.issuanceScript, "\(fixture.dpsPort)", "\(fixture.port)", "0ne00LOCAL1",
                                              "iss-1", files.certificate, files.key, fixture.pki.files.rootCertificate, csrFile,
                                              csr.keyFile, issuer.folder.path])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines == ["STEP register 202 assigning", "STEP assigned assigned localhost 2", "STEP hub acknowledged"],
                "stderr: \(result.stderr.suffix(2000))")
        #expect(result.status == 0)
        let issued = try X509Certificate.load(chainFile: issuer.folder.file("issued-chain.pem"))
        #expect(issued.first?.keyType.description == "EC secp384r1")
        #expect(fixture.server.dpsRegistrations().first?.issuedThumbprint == issued.first?.sha256Thumbprint)
        #expect(try fixture.server.telemetry("iss-1").map(\.payload) == [#"{"issued":true}"#])
    }
}
