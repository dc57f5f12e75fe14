import TestSupport
@testable import AgentRuntime
import Boards
import Foundation
import HubClient
import Identity
import LocalHub
import Logging
import Synchronization
import Testing
import Transport

/// DPS end to end: a device with only an onboarding certificate (dev PKI) and an ID scope
/// provisions at LocalHub's DPS over real mutual TLS on 127.0.0.1 through a group enrollment,
/// connects to the assigned hub and its telemetry arrives; with issuance the hub sees the issued
/// certificate; a restart uses the kept provisioning.json without asking DPS.
@Suite(.serialized) struct AgentProvisioningLocalHubTests {
    let registrationID = "factory-line-01"

    final class Harness: @unchecked Sendable {
        let folder: TemporaryDirectory
        let pki: DevPKI.Bundle
        let hub: LocalHubServer
        let port: UInt16
        let dpsPort: UInt16

        /// LocalHub with its DPS endpoint; the device is NOT registered at the hub (DPS does it).
        /// `issuing`: give DPS an issuing CA (certificate issuance on).
        /// `webSockets`: the hub and DPS serve WebSockets on TLS too (``webSocketPort``, ``dpsWebSocketPort``).
        init(issuing: Bool = false, validity: Duration = .seconds(30 * 86_400), webSockets: Bool = false) async throws {
            folder = try TemporaryDirectory(prefix: "fieldagent-dps-e2e")
            pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: ["factory-line-01"], now: Date())
            var dps = DpsConfiguration()
            dps.idScope = "0ne00LOCAL1"
            dps.retryAfterSeconds = 1
            dps.webSocketPort = webSockets ? 0 : nil
            if issuing {
                let start = Date().addingTimeInterval(-DevPKI.backdating)
                let issuer = try DevPKI.makeAuthority(commonName: "FieldAgent Dev Issuing CA", profile: .intermediateCA,
                                                      issuer: pki.root, notBefore: start, notAfter: start + 365 * 86_400)
                try DevPKI.writeCertificates([issuer.certificate, pki.root.certificate], to: folder.file("pki/issuing.pem"))
                try DevPKI.writeKey(issuer.key, to: folder.file("pki/issuing.key"))
                dps.issuingCertificateFile = folder.file("pki/issuing.pem")
                dps.issuingKeyFile = folder.file("pki/issuing.key")
                dps.certificateValidity = validity
            }
            var configuration = LocalHubServer.Configuration(stateDirectory: folder.file("hub"), port: 0,
                                                             logger: Logger(label: "localhub"))
            configuration.serverCertificateFile = pki.files.serverCertificate
            configuration.serverKeyFile = pki.files.serverKey
            configuration.adminSocket = false
            configuration.dps = dps
            configuration.webSocketPort = webSockets ? 0 : nil
            hub = try LocalHubServer(configuration)
            port = try await hub.start()
            dpsPort = try #require(hub.dpsPort)
            // A group enrollment for the CA the onboarding certificate chains to.
            try hub.dpsAddGroup(name: "fleet", caPEM: Array(try Data(contentsOf: URL(fileURLWithPath: pki.files.rootCertificate))))
        }

        var onboarding: DevPKIFiles.DeviceFiles { pki.files.devices["factory-line-01"]! }

        /// The agent's configuration: DPS on, the hub only from DPS (assigned hub name, LocalHub's port).
        func config(issueCertificate: Bool = false) -> AgentConfig {
            var config = testConfig(sendFrequency: .seconds(2), stateDirectory: folder.file("agent"))
            config.core.flushTimeout = .seconds(2)
            config.provisioning.endpoint = HubEndpoint(host: "127.0.0.1", port: dpsPort)
            config.provisioning.idScope = "0ne00LOCAL1"
            config.provisioning.hubPort = Int(port)
            config.provisioning.issueCertificate = issueCertificate
            config.link.cert = onboarding.certificate
            config.link.key = onboarding.key
            config.link.ca = pki.files.caChain
            return config
        }

        /// Provisions (or uses the kept assignment) as `fieldagent run` does, then runs an agent on
        /// the assigned hub on its own thread.
        func startAgent(_ config: AgentConfig, timeScale: Double = 1) throws -> (Agent, ProvisioningRecord) {
            try FileManager.default.createDirectory(atPath: folder.file("agent"), withIntermediateDirectories: true)
            let provisioning = AgentProvisioning(config: config)
            var (settings, record) = try provisioning.hubSettings(logger: Logger(label: "provisioning"))
            settings.backoffBase = .milliseconds(50)
            settings.backoffCap = .milliseconds(300)
            let board = try Board.open(try BoardFile.load(path: "\(repositoryRoot)/boards/sim-factory-line.yaml"), timeScale: timeScale)
            var options = Agent.Options(agentVersion: "test", config: config)
            options.provisioned = ProvisionedHub(provisioning: provisioning, record: record)
            let agent = Agent(board: board, options: options, hub: settings, logger: Logger(label: "agent"))
            Thread.detachNewThread { _ = try? agent.run() }
            return (agent, record)
        }

        func stop(_ agent: Agent) {
            agent.stop()
            let end = Date().addingTimeInterval(10)
            while Date() < end, agent.hubClient?.state != .stopped || agent.outbox != nil { usleep(20_000) }
        }

        func telemetryCount(_ deviceID: String) -> Int {
            ((try? hub.telemetry(deviceID)) ?? []).filter { $0.properties["alert"] == nil }.count
        }

        /// Every sequence number the hub holds, from single messages and batches.
        func sequenceNumbers(_ deviceID: String) -> [Int] {
            ((try? hub.telemetry(deviceID)) ?? []).flatMap { record -> [Int] in
                let object = try? JSONSerialization.jsonObject(with: Data(record.payload.utf8)) as? [String: Any]
                if let messages = object?["messages"] as? [[String: Any]] { return messages.compactMap { $0["seq"] as? Int } }
                return (object?["seq"] as? Int).map { [$0] } ?? []
            }
        }

        /// The thumbprint in the twin's reported `certificate` property.
        func reportedThumbprint(_ deviceID: String) -> String? {
            guard case .object(let certificate)? = (try? hub.twin(deviceID))?.reported["certificate"],
                  case .string(let thumbprint)? = certificate["thumbprint"] else { return nil }
            return thumbprint
        }

        func cleanUp() async { await hub.stop() }
    }


    @Test("(a) an onboarding certificate and an ID scope: DPS assigns the hub through a group enrollment, telemetry arrives there")
    func provisionsThroughAGroupEnrollment() async throws {
        let harness = try await Harness()
        let (agent, record) = try harness.startAgent(harness.config())
        #expect(record.assignedHub == harness.hub.assignedHubName)
        #expect(record.deviceID == registrationID)
        #expect(record.certificateFile == nil, "no issuance: the onboarding certificate is used at the hub")
        #expect(try AgentProvisioning(config: harness.config()).settings(for: record).certificateRenewal == nil,
                "a certificate installed by hand: a nearing expiry is a warning to the operator")
        let registrations = harness.hub.dpsRegistrations()
        #expect(registrations.count == 1)
        #expect(registrations.first?.registrationId == registrationID)
        #expect(registrations.first?.deviceId == registrationID)
        #expect(eventually { harness.hub.isConnected(registrationID) })
        #expect(eventually { harness.telemetryCount(registrationID) >= 2 })
        #expect(agent.status().provisioning?.hasPrefix("\(record.assignedHub) as \(registrationID) (assigned ") == true)
        harness.stop(agent)
        await harness.cleanUp()
    }

    @Test("(b) with issue_certificate the hub sees the issued certificate, not the onboarding one; telemetry arrives")
    func issuedCertificateIsUsedAtTheHub() async throws {
        let harness = try await Harness(issuing: true)
        let (agent, record) = try harness.startAgent(harness.config(issueCertificate: true))
        let onboarding = try #require(try X509Certificate.load(chainFile: harness.onboarding.certificate).first)
        let issuedFile = try #require(record.certificateFile)
        let issued = try #require(try X509Certificate.load(chainFile: issuedFile).first)
        #expect(issued.commonName == registrationID)
        #expect(issued.keyType == .ec(curve: "secp384r1"))
        #expect(issued.sha256Thumbprint != onboarding.sha256Thumbprint)
        #expect(record.issuedThumbprint == issued.sha256Thumbprint)
        let renewal = try AgentProvisioning(config: harness.config(issueCertificate: true)).settings(for: record).certificateRenewal
        #expect(renewal?.contains("the agent renews it through DPS 168h before it expires") == true,
                "an issued certificate's expiry is logged with the renewal plan, not as a call to renew by hand: \(renewal ?? "nil")")
        let registration = try #require(harness.hub.dpsRegistrations().first)
        #expect(registration.issuedThumbprint?.uppercased() == issued.sha256Thumbprint.uppercased())
        #expect(registration.issuedThumbprint?.uppercased() != onboarding.sha256Thumbprint.uppercased())
        #expect(eventually { harness.hub.isConnected(registrationID) })
        #expect(eventually { harness.telemetryCount(registrationID) >= 2 })
        harness.stop(agent)
        await harness.cleanUp()
    }

    @Test("(c) a restart uses the kept provisioning.json without contacting DPS")
    func restartUsesTheKeptAssignment() async throws {
        let harness = try await Harness()
        let (first, record) = try harness.startAgent(harness.config())
        #expect(eventually { harness.telemetryCount(registrationID) >= 1 })
        harness.stop(first)
        #expect(harness.hub.dpsRegistrations().count == 1)
        #expect(ProvisioningRecord.load(stateDirectory: harness.folder.file("agent")) == record)

        let before = harness.telemetryCount(registrationID)
        let (second, again) = try harness.startAgent(harness.config())
        #expect(again == record)
        #expect(harness.hub.dpsRegistrations().count == 1, "DPS was not asked again")
        #expect(eventually { harness.telemetryCount(registrationID) >= before + 2 })
        harness.stop(second)
        await harness.cleanUp()
    }

    @Test("(d) an issued certificate inside its renewal window is renewed under load: a new thumbprint at the hub and in the twin, no reading lost")
    func renewalUnderLoad() async throws {
        // 40-second certificates renewed 25 s before expiry: the first renewal is due 15 s after issuance.
        let harness = try await Harness(issuing: true, validity: .seconds(40))
        var config = harness.config(issueCertificate: true)
        config.telemetry.sendFrequency = .seconds(1)
        config.provisioning.renewBefore = .seconds(25)
        config.provisioning.renewJitter = .zero
        // Ten readings a second of board time: telemetry keeps flowing while the identity changes.
        let (first, record) = try harness.startAgent(config, timeScale: 10)
        let issued = try #require(record.issuedThumbprint).uppercased()
        #expect(eventually { harness.hub.certificateThumbprint(registrationID)?.uppercased() == issued })
        #expect(eventually { harness.reportedThumbprint(registrationID)?.uppercased() == issued }, "the twin reports the certificate in use")
        #expect(eventually(40) { first.reassigned != nil }, "the agent renewed on its own before expiry")
        let renewed = try #require(first.reassigned)
        #expect(eventually { first.hubClient?.state == .stopped && first.outbox == nil }, "the first run ended")
        let renewedThumbprint = try #require(renewed.issuedThumbprint).uppercased()
        #expect(renewedThumbprint != issued)
        #expect(harness.hub.dpsRegistrations().first?.issuedThumbprint?.uppercased() == renewedThumbprint)

        // The restart `fieldagent run` makes on a new assignment: the kept record, the new identity.
        let before = harness.telemetryCount(registrationID)
        let (second, kept) = try harness.startAgent(config, timeScale: 10)
        #expect(kept == renewed)
        #expect(eventually { harness.hub.certificateThumbprint(registrationID)?.uppercased() == renewedThumbprint },
                "the hub sees the new certificate")
        #expect(eventually { harness.reportedThumbprint(registrationID)?.uppercased() == renewedThumbprint })
        #expect(eventually { harness.telemetryCount(registrationID) >= before + 5 }, "telemetry goes on with the new identity")
        harness.stop(second)

        // Every reading captured in both runs reached the hub: the sequence has no gap.
        let sequence = Set(harness.sequenceNumbers(registrationID))
        let top = try #require(sequence.max())
        #expect(top >= 10)
        print("renewal under load: \(sequence.count) readings 1…\(top) at the hub, certificate \(issued.prefix(12))… → \(renewedThumbprint.prefix(12))…")
        #expect(sequence == Set(1...top), "missing: \(Set(1...top).subtracting(sequence).sorted().prefix(20))")
        await harness.cleanUp()
    }

    @Test("(e) a renewed certificate the hub does not accept is not used: the current one stays, in provisioning.json too, and the renewal is tried again")
    func aRefusedRenewalKeepsTheCurrentIdentity() async throws {
        let harness = try await Harness(issuing: true, validity: .seconds(20))
        var config = harness.config(issueCertificate: true)
        config.provisioning.renewBefore = .seconds(15)
        config.provisioning.renewJitter = .zero
        let provisioning = AgentProvisioning(config: config)
        let (_, record) = try provisioning.hubSettings(logger: Logger(label: "provisioning"))
        let reassigned = Mutex<ProvisioningRecord?>(nil)
        var configuration = ProvisioningFeature.Configuration(provisioning: provisioning, record: record,
                                                              renewal: config.provisioning.renewal)
        // The probe really connects, but to a port nobody listens on: the new identity never gets a CONNACK.
        configuration.confirm = { settings in
            var elsewhere = settings
            elsewhere.port = 1
            return AgentChecks.link(elsewhere, timeout: .seconds(2))
        }
        let feature = ProvisioningFeature(configuration: configuration, link: nil, logger: Logger(label: "provisioning"),
                                          onReassigned: { record in reassigned.withLock { $0 = record } })
        try feature.start()
        defer { feature.stop() }
        #expect(eventually(20) { feature.current.lastError != nil }, "the renewal was attempted (due 5 s after issuance)")
        let error = feature.current.lastError ?? ""
        #expect(error.contains("the hub did not accept the renewed certificate"), "\(error)")
        #expect(reassigned.withLock { $0 } == nil, "the agent stays on its current certificate")
        #expect(ProvisioningRecord.load(stateDirectory: harness.folder.file("agent")) == record, "the kept assignment is the current one again")
        #expect(harness.hub.dpsRegistrations().first?.issuedThumbprint?.uppercased() != record.issuedThumbprint?.uppercased(),
                "DPS did issue a new certificate")
        for file in [record.certificateFile, record.keyFile].compactMap({ $0 }) { #expect(FileManager.default.fileExists(atPath: file)) }
        let next = try #require(feature.current.renewAt)
        #expect(next.timeIntervalSinceNow > 30, "tried again after a minute, not at once")
        await harness.cleanUp()
    }

    @Test("(f) out of a locked-down network: DPS and the assigned hub both over wss:// through an HTTP CONNECT proxy with basic authentication")
    func provisionsOverWebSocketsThroughAProxy() async throws {
        let harness = try await Harness(webSockets: true)
        let proxy = try ConnectProxy(user: "plant:s3cret")
        let dpsPort = try #require(harness.hub.dpsWebSocketPort)
        let hubPort = try #require(harness.hub.webSocketPort)
        var config = harness.config()
        config.provisioning.endpoint = HubEndpoint(host: "127.0.0.1", port: dpsPort, webSocketPath: "/$iothub/websocket")
        config.provisioning.hubPort = Int(hubPort)
        config.link.proxy = HTTPProxy(host: "127.0.0.1", port: proxy.port, user: "plant", password: "s3cret")
        let (agent, record) = try harness.startAgent(config)
        #expect(record.assignedHub == harness.hub.assignedHubName)
        #expect(proxy.nextLine() == "CONNECT 127.0.0.1:\(dpsPort)", "DPS was reached through the proxy")
        #expect(eventually { harness.telemetryCount(registrationID) >= 2 })
        #expect(proxy.nextLine() == "CONNECT \(harness.hub.assignedHubName):\(hubPort)", "and so was the assigned hub")
        harness.stop(agent)
        await harness.cleanUp()
    }
}
