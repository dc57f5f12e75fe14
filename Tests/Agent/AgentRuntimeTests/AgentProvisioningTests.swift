@testable import AgentRuntime
import Configuration
import Diagnostics
import Foundation
import HubClient
import Identity
import Logging
import Provisioning
import Synchronization
import SystemCalls
import Testing
import TestSupport

/// The provisioning settings and the agent's use of DPS: validated at start, the assignment
/// kept in state_dir/provisioning.json and used again while it matches.
@Suite struct AgentProvisioningTests {
    @Test func anEndpointWithoutIDScopeOrIdentityIsRefusedNamingEachKey() {
        do {
            _ = try parse("provisioning: { endpoint: global.azure-devices-provisioning.net }\n", path: "agent.yaml")
            Issue.record("expected problems")
        } catch {
            #expect(error.issues.map(\.field) == ["provisioning.id_scope", "hub.cert", "hub.key", "hub.ca"], "\(error)")
            #expect(error.issues[0].message.contains("ID scope") && error.issues[0].message.contains("--id-scope"), "\(error)")
        }
    }

    @Test func badIDScopeRegistrationIDAndBooleanAreRefusedWithTheRule() {
        let text = """
            provisioning: { endpoint: dps.example, id_scope: "0ne 00", registration_id: "dev/1", issue_certificate: yes }
            hub: { cert: c.pem, key: k.pem, ca: ca.pem }
            """
        do {
            _ = try parse(text, path: "agent.yaml")
            Issue.record("expected problems")
        } catch {
            #expect(error.issues.map(\.field) == ["provisioning.id_scope", "provisioning.registration_id", "provisioning.issue_certificate"],
                    "\(error)")
            #expect(error.issues[0].message.contains("ID Scope"))
            #expect(error.issues[1].message.contains("letters, digits and - . _ :"))
        }
    }

    @Test func issuanceNeedsAStateDirectory() throws {
        let text = """
            provisioning: { endpoint: dps.example, id_scope: 0ne00ABC, issue_certificate: true }
            hub: { cert: c.pem, key: k.pem, ca: ca.pem }
            """
        #expect(throws: ConfigIssues.self) { try parse(text, path: "agent.yaml") }
        let withState = try parse(text + "\nstate_dir: /var/lib/fa\n", path: "/etc/agent.yaml")
        #expect(withState.provisioning.issueCertificate)
    }

    @Test func valuesAndDefaults() throws {
        let config = try AgentConfig.load(file: nil, environment: ["FIELDAGENT_PROVISIONING_HUB_PORT": "18883"], flags: [
            ("--dps", "wss://dps.example"), ("--id-scope", "0ne00LOCAL1"), ("--cert", "/c.pem"), ("--key", "/k.pem"), ("--ca", "/ca.pem"),
        ])
        #expect(config.provisioning.endpoint == HubEndpoint(host: "dps.example", webSocketPath: "/$iothub/websocket"))
        #expect(config.provisioning.idScope == "0ne00LOCAL1")
        #expect(config.provisioning.hubPort == 18883)
        #expect(config.provisioning.registrationID == nil)
        #expect(config.provisioning.issueCertificate == false)
    }

    /// A scripted DPS: counts registrations and assigns `hub` as `device`.
    final class FakeDPS: Sendable {
        let calls = Mutex<[DeviceProvisioning.Settings]>([])
        let hub: String
        init(hub: String = "hub-1.example") { self.hub = hub }
        var count: Int { calls.withLock { $0.count } }
        func register(_ settings: DeviceProvisioning.Settings, _: Logger) throws(ProvisioningError) -> DeviceProvisioning.Outcome {
            calls.withLock { $0.append(settings) }
            return DeviceProvisioning.Outcome(assignment: ProvisioningAssignment(
                registrationID: settings.registrationID, assignedHub: hub, deviceID: "assigned-" + settings.registrationID))
        }
    }

    @Test func theAssignmentIsKeptAndUsedAgainWhileItMatches() throws {
        let device = try DPSDevice()
        let folder = device.folder
        func config(idScope: String = "0ne00LOCAL1") throws -> AgentConfig { try device.config(idScope: idScope) }
        let dps = FakeDPS()
        let logger = Logger(label: "test")
        let first = AgentProvisioning(config: try config(), register: dps.register)
        let (settings, record) = try first.hubSettings(logger: logger)
        #expect(dps.count == 1)
        let asked = try #require(dps.calls.withLock { $0.first })
        #expect(asked.registrationID == "dev-1", "the default registration id is the certificate's CN")
        #expect(asked.host == "127.0.0.1" && asked.port == 4443 && asked.idScope == "0ne00LOCAL1")
        #expect(asked.certificateFile == device.files.certificate && asked.issuance == nil)
        #expect(settings.host == "hub-1.example" && settings.port == 8883 && settings.deviceID == "assigned-dev-1")
        #expect(settings.certificateFile == device.files.certificate && settings.keyFile == device.files.key)

        let saved = try #require(ProvisioningRecord.load(stateDirectory: folder.file("state")))
        // A first start: the state folder is made when the assignment is kept.
        var fresh = try config()
        fresh.core.stateDirectory = folder.file("new/state")
        _ = try AgentProvisioning(config: fresh, register: dps.register).hubSettings(logger: logger)
        #expect(ProvisioningRecord.load(stateDirectory: folder.file("new/state")) != nil)
        dps.calls.withLock { $0.removeLast() }
        #expect(saved == record)
        #expect(saved.assignedHub == "hub-1.example" && saved.deviceID == "assigned-dev-1" && saved.endpoint == "127.0.0.1:4443")

        // A restart: the cached assignment, DPS not asked.
        let (again, _) = try AgentProvisioning(config: try config(), register: dps.register).hubSettings(logger: logger)
        #expect(dps.count == 1)
        #expect(again.host == "hub-1.example" && again.deviceID == "assigned-dev-1")
        // Another ID scope: provisioned again.
        _ = try AgentProvisioning(config: try config(idScope: "0ne00OTHER"), register: dps.register).hubSettings(logger: logger)
        #expect(dps.count == 2)
        // Asked to (reprovision): DPS again even though the record matches.
        _ = try AgentProvisioning(config: try config(idScope: "0ne00OTHER"), register: dps.register).hubSettings(fresh: true, logger: logger)
        #expect(dps.count == 3)
    }

    @Test func issuedFilesAreKeptForTwoGenerationsAndRemovedWhenIssuanceFails() throws {
        let device = try DPSDevice()
        var config = try device.config()
        config.provisioning.issueCertificate = true
        let identity = device.folder.file("state/identity")
        let failing = Mutex(false)
        let provisioning = AgentProvisioning(config: config, register: { settings, _ throws(ProvisioningError) in
            guard let issuance = settings.issuance else { throw .certificate("the test expected issuance to be asked for") }
            try? POSIX.writeFileDurably(issuance.keyFile, Array("key".utf8), mode: 0o600)
            if failing.withLock({ $0 }) { throw .refused(registrationID: "dev-1", httpStatus: 400, errorCode: 400004, message: "bad CSR") }
            try? POSIX.writeFileDurably(issuance.certificateFile, Array("chain".utf8), mode: 0o644)
            return DeviceProvisioning.Outcome(assignment: ProvisioningAssignment(registrationID: "dev-1", assignedHub: "h", deviceID: "dev-1"),
                                              issued: issuance)
        })
        let logger = Logger(label: "test")
        var records: [ProvisioningRecord] = []
        for _ in 0..<3 { records.append(try provisioning.provision(logger: logger)) }
        let kept = Set(records.suffix(2).flatMap { [$0.certificateFile!, $0.keyFile!] })
        #expect(Set(try POSIX.listDirectory(identity).map { identity + "/" + $0 }) == kept)
        #expect(provisioning.cachedRecord() == records.last)
        failing.withLock { $0 = true }
        #expect(throws: ProvisioningError.self) { try provisioning.provision(logger: logger) }
        #expect(Set(try POSIX.listDirectory(identity).map { identity + "/" + $0 }) == kept, "the failed issuance's key is gone")
    }

    @Test func theDoctorShowsTheAssignmentOrWhatToDo() throws {
        let device = try DPSDevice()
        let config = try device.config()
        #expect(AgentChecks.provisioning(AgentConfig()) == nil, "no DPS, no row")
        let before = try #require(AgentChecks.provisioning(config))
        #expect(before.status == .warn && before.detail.contains("not provisioned yet"))
        #expect(before.fix?.contains("add an enrollment for the CA that issued hub.cert") == true)
        _ = try AgentProvisioning(config: config, register: FakeDPS().register).hubSettings(logger: Logger(label: "test"))
        let after = try #require(AgentChecks.provisioning(config))
        #expect(after.status == .ok, "\(after)")
        #expect(after.detail.hasPrefix("hub-1.example as assigned-dev-1 (assigned "))
    }

    @Test func recordsReadBackAndDamagedOnesAreIgnored() {
        let record = ProvisioningRecord(endpoint: "dps:8883", idScope: "s", registrationID: "r", assignedHub: "h", deviceID: "d",
                                        certificateFile: "/i.pem", keyFile: "/i.key", issuedNotAfter: "2027-01-01 00:00:00 UTC",
                                        issuedThumbprint: "AB", at: "2026-12-05 07:00:00 UTC")
        #expect(ProvisioningRecord(json: record.json) == record)
        #expect(ProvisioningRecord(json: Array("{\"endpoint\":1}".utf8)) == nil)
        #expect(ProvisioningRecord(json: Array("not json".utf8)) == nil)
    }
}

/// The re-provisioning feature: the `reprovision` method and a new assignment handed on.
@Suite struct ProvisioningFeatureTests {
    /// A DPS that answers only when the test opens the gate.
    final class GatedDPS: Sendable {
        let gate = DispatchSemaphore(value: 0)
        func register(_ settings: DeviceProvisioning.Settings, _: Logger) throws(ProvisioningError) -> DeviceProvisioning.Outcome {
            guard gate.wait(timeout: .now() + 10) == .success else { throw .connection("the test never opened the gate") }
            return DeviceProvisioning.Outcome(assignment: ProvisioningAssignment(
                registrationID: settings.registrationID, assignedHub: "hub-2.example", deviceID: settings.registrationID))
        }
    }

    @Test func reprovisionAnswers202Then409WhileRunningAndHandsOnTheNewAssignment() throws {
        let device = try DPSDevice()
        let folder = device.folder
        let config = try device.config()
        let dps = GatedDPS()
        let old = ProvisioningRecord(endpoint: "127.0.0.1:4443", idScope: "0ne00LOCAL1", registrationID: "dev-1",
                                     assignedHub: "hub-1.example", deviceID: "dev-1", at: "2026-12-01 00:00:00 UTC")
        let handed = Mutex<ProvisioningRecord?>(nil)
        let done = DispatchSemaphore(value: 0)
        let feature = ProvisioningFeature(configuration: .init(provisioning: AgentProvisioning(config: config, register: dps.register),
                                                               record: old),
                                          link: nil, logger: Logger(label: "test"), onReassigned: { record in
                                              handed.withLock { $0 = record }
                                              done.signal()
                                          })
        let method = try #require(feature.methods.first { $0.name == "reprovision" })
        let accepted = method.handle([])
        #expect(accepted.status == 202)
        #expect(String(decoding: accepted.body, as: UTF8.self) == #"{"status":"provisioning"}"#, "methods.v1 reprovision.response")
        let busy = method.handle([])
        #expect(busy.status == 409)
        #expect(String(decoding: busy.body, as: UTF8.self).contains("already running"))
        #expect(feature.statusLine()?.hasSuffix("; asking DPS again") == true)
        dps.gate.signal()
        #expect(done.wait(timeout: .now() + 10) == .success)
        let record = try #require(handed.withLock { $0 })
        #expect(record.assignedHub == "hub-2.example" && record.deviceID == "dev-1")
        #expect(ProvisioningRecord.load(stateDirectory: folder.file("state")) == record)
        #expect(feature.statusLine() == "hub-2.example as dev-1 (assigned \(record.at))")
        // A new assignment waits for the restart: no second run meanwhile.
        #expect(method.handle([]).status == 409)
    }

    @Test func dpsIsAskedAtTheFirstRefusalThenEveryTenthFailure() throws {
        let device = try DPSDevice()
        let old = ProvisioningRecord(endpoint: "127.0.0.1:4443", idScope: "0ne00LOCAL1", registrationID: "dev-1",
                                     assignedHub: "hub-1.example", deviceID: "dev-1", at: "2026-12-01 00:00:00 UTC")
        let feature = ProvisioningFeature(configuration: .init(provisioning: AgentProvisioning(config: try device.config()), record: old),
                                          link: nil, logger: Logger(label: "test"), onReassigned: { _ in })
        func fail(_ n: Int, refused: Bool = false) -> String? {
            feature.trigger(HubConnectFailure(reason: "r\(n)", consecutive: n, refusal: refused ? .notAuthorized : nil))
        }
        #expect(fail(1) == nil)
        #expect(fail(2, refused: true) == "the hub refused the device (r2)")
        #expect((3...11).map { fail($0, refused: true) }.allSatisfy { $0 == nil }, "not again at every refusal")
        #expect(fail(12, refused: true) == "10 hub connects failed in a row (last: r12)")
        // A new run of failures (after a connection): the first refusal asks again.
        #expect(fail(1, refused: true) == "the hub refused the device (r1)")
        // Without refusals: every tenth failure.
        let plain = ProvisioningFeature(configuration: .init(provisioning: AgentProvisioning(config: try device.config()), record: old),
                                        link: nil, logger: Logger(label: "test"), onReassigned: { _ in })
        let asked = (1...20).compactMap { plain.trigger(HubConnectFailure(reason: "down", consecutive: $0)) }
        #expect(asked == ["10 hub connects failed in a row (last: down)", "10 hub connects failed in a row (last: down)"])
    }
}

/// A dev PKI device `dev-1` with a state folder, and the agent settings for DPS at 127.0.0.1:4443.
struct DPSDevice {
    let folder: TemporaryDirectory
    let pki: DevPKI.Bundle
    let files: DevPKIFiles.DeviceFiles

    init() throws {
        folder = try TemporaryDirectory(prefix: "fieldagent-dps-agent")
        pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: ["dev-1"], now: Date())
        files = try #require(pki.files.devices["dev-1"])
        try FileManager.default.createDirectory(atPath: folder.file("state"), withIntermediateDirectories: true)
    }

    func config(idScope: String = "0ne00LOCAL1") throws -> AgentConfig {
        try AgentConfig.load(file: nil, environment: [:], flags: [
            ("--dps", "127.0.0.1:4443"), ("--id-scope", idScope), ("--cert", files.certificate), ("--key", files.key),
            ("--ca", pki.files.caChain), ("--state-dir", folder.file("state")),
        ])
    }
}
