import AgentRuntime
import Foundation
import HubClient
import Identity
import IoTHub
import JSON
import LocalHub
import Logging
import Testing
import TestSupport

/// Issue 17 item 6: IoT Edge gateway mode (a "transparent gateway"). The device connects to the
/// gateway's host name, checks the gateway's certificate against the edge CA in its trust file,
/// and its MQTT user name keeps the IoT hub's name (Azure's `HostName` + `GatewayHostName`).
/// LocalHub stands in for the gateway: a server certificate issued by a separate edge CA, and
/// `hubName` set so it refuses a user name that names anything but the hub it fronts.
@Suite(.serialized) struct GatewayModeTests {
    let device = "gateway-child-01"
    let hubName = "fieldagent-test.azure-devices.net"

    final class Gateway: @unchecked Sendable {
        let folder: TemporaryDirectory
        let pki: DevPKI.Bundle
        /// The edge CA's certificate: the trust anchor a device behind the gateway needs.
        let edgeCA: String
        let hub: LocalHubServer
        let port: UInt16
        /// The gateway's log, where LocalHub says why it refused a connection.
        let log: LogRing

        init(device: String, hubName: String) async throws {
            let ring = LogRing()
            log = ring
            folder = try TemporaryDirectory(prefix: "fieldagent-gateway")
            // The device's identity comes from the hub's PKI; the gateway's from its own edge CA.
            pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: [device], now: Date())
            let now = Date()
            let edge = try DevPKI.makeAuthority(commonName: "FieldAgent Test Edge CA", profile: .rootCA, issuer: nil,
                                                notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400))
            let gatewayKey = try DevPKI.makeKey(.ecP256)
            let gatewayCertificate = try DevPKI.issue(commonName: "localhost",
                                                      profile: .server(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]),
                                                      key: gatewayKey, issuer: edge,
                                                      notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400))
            edgeCA = folder.file("edge-ca.pem")
            try DevPKI.writeCertificates([edge.certificate], to: edgeCA)
            try DevPKI.writeCertificates([gatewayCertificate, edge.certificate], to: folder.file("gateway.pem"))
            try DevPKI.writeKey(gatewayKey, to: folder.file("gateway.key"))

            var configuration = LocalHubServer.Configuration(stateDirectory: folder.file("hub"), port: 0,
                                                             logger: Logger(label: "gateway") { RingLogHandler(label: $0, ring: ring, level: .info) })
            configuration.serverCertificateFile = folder.file("gateway.pem")
            configuration.serverKeyFile = folder.file("gateway.key")
            configuration.adminSocket = false
            configuration.hubName = hubName
            hub = try LocalHubServer(configuration)
            port = try await hub.start()
            _ = try hub.registerCertificateAuthority(pem: Array(try Data(contentsOf: URL(fileURLWithPath: pki.files.rootCertificate))))
            try hub.registerDevice(device, authentication: .certificateAuthority)
        }

        /// The hub settings as the agent makes them from its flags (`fieldagent run --hub … --gateway …`).
        func settings(_ flags: [(flag: String, text: String)], device: String) throws -> HubClient.Settings {
            let files = pki.files.devices[device]!
            let config = try AgentConfig.load(file: nil, environment: [:],
                                              flags: flags + [("--cert", files.certificate), ("--key", files.key)])
            var settings = try #require(config.link.clientSettings(defaultDeviceID: device))
            settings.backoffBase = .milliseconds(50)
            settings.backoffCap = .milliseconds(200)
            return settings
        }
    }

    func waitFor(_ timeout: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if condition() { return true }; usleep(10_000) }
        return condition()
    }

    func properties(_ id: String) -> IoTHubMessageProperties {
        var properties = IoTHubMessageProperties()
        properties.messageID = id
        properties.contentType = "application/json"
        return properties
    }

    @Test func throughTheGatewayTheUserNameKeepsTheHubsNameAndTelemetryArrives() async throws {
        let gateway = try await Gateway(device: device, hubName: hubName)
        let settings = try gateway.settings([("--hub", hubName), ("--gateway", "localhost:\(gateway.port)"),
                                             ("--ca", gateway.edgeCA)], device: device)
        #expect(settings.host == "localhost")
        #expect(settings.port == gateway.port)
        #expect(settings.userNameHost == hubName)
        let client = HubClient(settings: settings, logger: Logger(label: "link"))
        client.start()
        for i in 1...3 {
            try client.send(Array(#"{"deviceId":"\#(device)","seq":\#(i)}"#.utf8), properties: properties("gw-\(i)"))
        }
        #expect(client.flush(timeout: .seconds(15)), "acknowledged by the gateway: \(client.lastError ?? "no error")")
        client.stop()
        let records = try gateway.hub.telemetry(device)
        #expect(records.map { $0.properties["$.mid"] } == ["gw-1", "gw-2", "gw-3"].map { JSONValue.string($0) })
        await gateway.hub.stop()
    }

    @Test func theGatewayRefusesAUserNameThatNamesItInsteadOfTheHub() async throws {
        let gateway = try await Gateway(device: device, hubName: hubName)
        // Without --gateway the device puts the host it connects to in its user name.
        let settings = try gateway.settings([("--hub", "localhost:\(gateway.port)"), ("--ca", gateway.edgeCA)], device: device)
        let client = HubClient(settings: settings, logger: Logger(label: "link"))
        client.start()
        #expect(waitFor { client.lastError != nil })
        client.stop()
        #expect(client.statistics.connects == 0)
        #expect(client.lastError?.contains("bad user name or password") == true
                || client.lastError?.lowercased().contains("refused") == true, "\(client.lastError ?? "no error")")
        let log = gateway.log.excerpt(maxBytes: 1 << 20).lines
        #expect(log.contains { $0.contains("names hub 'localhost' but this is '\(hubName)'") }, "\(log)")
        await gateway.hub.stop()
    }

    @Test func withoutTheEdgeCAInItsTrustTheDeviceRefusesTheGateway() async throws {
        let gateway = try await Gateway(device: device, hubName: hubName)
        // The hub's own CA chain is not the gateway's issuer.
        let settings = try gateway.settings([("--hub", hubName), ("--gateway", "localhost:\(gateway.port)"),
                                             ("--ca", gateway.pki.files.caChain)], device: device)
        let client = HubClient(settings: settings, logger: Logger(label: "link"))
        client.start()
        #expect(waitFor { client.lastError != nil })
        client.stop()
        #expect(client.statistics.connects == 0)
        // The gateway sends its chain up to the edge CA, which the device does not trust.
        let reason = client.lastError ?? "no error"
        #expect(reason.contains("the certificate did not verify") && reason.contains("CN=FieldAgent Test Edge CA"), "\(reason)")
        await gateway.hub.stop()
    }
}
