import TestSupport
import AgentRuntime
import Boards
import Foundation
import HubClient
import Identity
import LocalHub
import Logging
import Provisioning
import Synchronization
import SystemCalls
import Testing

/// Re-provisioning end to end over real mutual TLS on 127.0.0.1: a kept assignment names a
/// device the hub (LocalHub) does not know; the hub's CONNACK refusal makes the agent ask DPS (a
/// stand-in that registers the device at LocalHub, as LocalHub's DPS will) again, the new
/// assignment ends the run, and an agent on it sends telemetry.
@Suite(.serialized) struct AgentReprovisionLocalHubTests {
    @Test func aHubRefusalProvisionsAgainAndTheNewAssignmentIsUsed() async throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-reprovision-e2e")
        let pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: ["factory-line-01"], now: Date())
        let device = try #require(pki.files.devices["factory-line-01"])
        var configuration = LocalHubServer.Configuration(stateDirectory: folder.file("hub"), port: 0, logger: Logger(label: "localhub"))
        configuration.serverCertificateFile = pki.files.serverCertificate
        configuration.serverKeyFile = pki.files.serverKey
        configuration.adminSocket = false
        let hub = try LocalHubServer(configuration)
        let port = try await hub.start()
        _ = try hub.registerCertificateAuthority(pem: Array(try Data(contentsOf: URL(fileURLWithPath: pki.files.rootCertificate))))

        var config = testConfig(sendFrequency: .seconds(2), stateDirectory: folder.file("agent"))
        config.core.flushTimeout = .seconds(1)
        config.provisioning.endpoint = HubEndpoint(host: "127.0.0.1", port: 1)
        config.provisioning.idScope = "0ne00LOCAL1"
        config.provisioning.hubPort = Int(port)
        (config.link.cert, config.link.key, config.link.ca) = (device.certificate, device.key, pki.files.caChain)
        try FileManager.default.createDirectory(atPath: folder.file("agent"), withIntermediateDirectories: true)
        // The kept assignment: this hub, but as a device it never registered.
        let stale = ProvisioningRecord(endpoint: "127.0.0.1:1", idScope: "0ne00LOCAL1", registrationID: "factory-line-01",
                                       assignedHub: "127.0.0.1", deviceID: "factory-line-01", at: "2026-12-01 00:00:00 UTC")
        try POSIX.writeFileDurably(folder.file("agent/provisioning.json"), stale.json, mode: 0o644)

        let asked = Mutex(0)
        let provisioning = AgentProvisioning(config: config, register: { settings, _ throws(ProvisioningError) in
            asked.withLock { $0 += 1 }
            do { try hub.registerDevice(settings.registrationID, authentication: .certificateAuthority) } catch {
                throw .connection("\(error)")
            }
            return DeviceProvisioning.Outcome(assignment: ProvisioningAssignment(
                registrationID: settings.registrationID, assignedHub: "localhost", deviceID: settings.registrationID))
        })
        func start(_ record: ProvisioningRecord) throws -> Agent {
            var settings = try provisioning.settings(for: record)
            settings.backoffBase = .milliseconds(50)
            settings.backoffCap = .milliseconds(200)
            var options = Agent.Options(agentVersion: "test", config: config)
            options.provisioned = ProvisionedHub(provisioning: provisioning, record: record)
            let board = try Board.open(try BoardFile.load(path: "\(repositoryRoot)/boards/sim-factory-line.yaml"), timeScale: 1)
            let agent = Agent(board: board, options: options, hub: settings, logger: Logger(label: "agent"))
            Thread.detachNewThread { _ = try? agent.run() }
            return agent
        }

        let (_, cached) = try provisioning.hubSettings(logger: Logger(label: "test"))
        #expect(cached == stale, "the kept assignment is used without asking DPS")
        #expect(asked.withLock { $0 } == 0)
        let first = try start(cached)
        #expect(eventually { first.reassigned != nil }, "the refused CONNACK made the agent provision again")
        #expect(asked.withLock { $0 } == 1)
        let record = try #require(first.reassigned)
        #expect(record.assignedHub == "localhost")
        #expect(ProvisioningRecord.load(stateDirectory: folder.file("agent")) == record)
        #expect(eventually { first.hubClient?.state == .stopped && first.outbox == nil }, "the first run ended")

        let second = try start(record)
        #expect(eventually { hub.isConnected("factory-line-01") })
        #expect(eventually { ((try? hub.telemetry("factory-line-01")) ?? []).count >= 2 })
        #expect(second.status().provisioning?.hasPrefix("localhost as factory-line-01 (assigned ") == true)
        second.stop()
        #expect(eventually { second.hubClient?.state == .stopped && second.outbox == nil })
        await hub.stop()
    }

}

/// Whether `condition` holds within `timeout` seconds of real time (end-to-end tests against a
/// real hub, where nothing else tells when telemetry arrived).
func eventually(_ timeout: Double = 20, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}
