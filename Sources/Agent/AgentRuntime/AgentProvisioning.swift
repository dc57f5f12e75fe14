import Configuration
import Diagnostics
import FoundationEssentials
import HubClient
import Identity
import JSON
import Logging
import Provisioning
import SystemCalls

/// Azure DPS: where the hub address comes from when `provisioning.endpoint` is set.
public struct ProvisioningConfig: SettingsSection {
    public var endpoint: HubEndpoint?
    public var idScope: String?
    public var registrationID: String?
    public var hubPort = 8883
    public var issueCertificate = false
    public var renewBefore: Duration = .seconds(7 * 86_400)
    public var renewJitter: Duration = .seconds(86_400)

    public init() {}

    /// When an issued certificate is renewed (with `issue_certificate`).
    public var renewal: RenewalSchedule { RenewalSchedule(renewBefore: renewBefore, jitter: renewJitter) }

    public static let keys: [SettingKey<ProvisioningConfig>] = [
        SettingKey("provisioning.endpoint", \.endpoint, .endpoint, flag: "--dps", absent: "none: no DPS, the hub is hub.host",
                   "The Device Provisioning Service (global.azure-devices-provisioning.net, or LocalHub's --dps-port) as HOST[:PORT] (MQTT over TLS, port 8883) or wss://HOST[:PORT] (port 443). Setting it turns DPS on: the hub address and device id then come from DPS (hub.host is not used); hub.cert and hub.key are the onboarding identity DPS authenticates."),
        SettingKey("provisioning.id_scope", \.idScope, .idScope, flag: "--id-scope", absent: "none (required with provisioning.endpoint)",
                   "The DPS ID Scope (0ne00…, from the DPS overview page)."),
        SettingKey("provisioning.registration_id", \.registrationID, .registrationID, absent: "the CN of the device certificate (hub.cert)",
                   "The DPS registration id; with X.509 attestation it must equal the certificate's CN."),
        SettingKey("provisioning.hub_port", \.hubPort, .integer(1...65535),
                   "The port the agent connects to on the hub DPS assigns (DPS names only the host)."),
        SettingKey("provisioning.issue_certificate", \.issueCertificate, .boolean, flag: "--issue-certificate",
                   "Ask DPS to issue the device's hub certificate: a new EC P-384 key and a CSR (CN = registration id); the issued chain and key are kept in state_dir/identity/ and used for the hub, the onboarding certificate only for DPS."),
        SettingKey("provisioning.renew_before", \.renewBefore, .duration(.seconds(1) ... .seconds(365 * 86_400)),
                   "With issue_certificate: the agent registers again with a new key and CSR this long before the issued certificate expires (never before half its validity), and moves to the new certificate without losing a reading."),
        SettingKey("provisioning.renew_jitter", \.renewJitter, .duration(.zero ... .seconds(30 * 86_400)),
                   "Renewal starts up to this much earlier, at random, so a fleet issued at once does not renew at once."),
    ]

    /// DPS needs an ID scope and the onboarding identity; issuance needs somewhere to keep the key.
    public static func requirements(_ layers: SettingLayers) -> [Requirement] {
        guard layers.winner("provisioning.endpoint") != nil else { return [] }
        var required = [Requirement("provisioning.id_scope", "DPS (provisioning.endpoint) needs the ID scope")]
        // With hub.host too, LinkConfig already requires them (one issue per missing key).
        if layers.winner("hub.host") == nil {
            required += ["hub.cert", "hub.key", "hub.ca"].map {
                Requirement($0, "DPS (provisioning.endpoint) needs the onboarding certificate, its key and the trust anchors")
            }
        }
        if layers.winner("provisioning.issue_certificate")?.text == "true" {
            required.append(Requirement("state_dir", "provisioning.issue_certificate keeps the issued certificate and key there"))
        }
        return required
    }
}

extension SettingKind where Value == String {
    static var idScope: Self {
        Self(type: "text", parse: { text, _ in
            do throws(ProvisioningError) {
                try DPSRegistration(idScope: text, registrationID: "x").validate()
                return .success(text)
            } catch {
                return .failure(SettingProblem("\(error)"))
            }
        }, format: { $0 })
    }

    static var registrationID: Self {
        Self(type: "text", parse: { text, _ in
            do throws(ProvisioningError) {
                try DPSRegistration(idScope: "x", registrationID: text).validate()
                return .success(text)
            } catch {
                return .failure(SettingProblem("\(error)"))
            }
        }, format: { $0 })
    }
}

extension SettingKind where Value == Bool {
    /// `true` or `false`.
    static var boolean: Self {
        Self(type: "boolean", range: "true, false", parse: { text, _ in
            switch text {
            case "true": .success(true)
            case "false": .success(false)
            default: .failure(SettingProblem("'\(text.prefix(64))' is not true or false"))
            }
        }, format: { $0 ? "true" : "false" })
    }
}

/// What the last provisioning gave, kept in `state_dir/provisioning.json` so a restart connects
/// to the assigned hub without asking DPS again (while endpoint, ID scope and registration id
/// are the same).
public struct ProvisioningRecord: Sendable, Equatable {
    public var endpoint: String
    public var idScope: String
    public var registrationID: String
    public var assignedHub: String
    public var deviceID: String
    /// The issued certificate chain and its key (nil: the onboarding identity is used at the hub).
    public var certificateFile: String?
    public var keyFile: String?
    /// The issued leaf's expiry (UTC text) and SHA-256 thumbprint.
    public var issuedNotAfter: String?
    public var issuedThumbprint: String?
    /// When DPS assigned it (UTC text).
    public var at: String

    public static let fileName = "provisioning.json"

    public init(endpoint: String, idScope: String, registrationID: String, assignedHub: String, deviceID: String,
                certificateFile: String? = nil, keyFile: String? = nil, issuedNotAfter: String? = nil,
                issuedThumbprint: String? = nil, at: String) {
        self.endpoint = endpoint
        self.idScope = idScope
        self.registrationID = registrationID
        self.assignedHub = assignedHub
        self.deviceID = deviceID
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.issuedNotAfter = issuedNotAfter
        self.issuedThumbprint = issuedThumbprint
        self.at = at
    }

    public var json: [UInt8] {
        var members: [(String, JSONValue)] = [
            ("endpoint", .string(endpoint)), ("idScope", .string(idScope)), ("registrationId", .string(registrationID)),
            ("assignedHub", .string(assignedHub)), ("deviceId", .string(deviceID)),
        ]
        if let certificateFile { members.append(("certificateFile", .string(certificateFile))) }
        if let keyFile { members.append(("keyFile", .string(keyFile))) }
        if let issuedNotAfter { members.append(("issuedNotAfter", .string(issuedNotAfter))) }
        if let issuedThumbprint { members.append(("issuedThumbprint", .string(issuedThumbprint))) }
        members.append(("at", .string(at)))
        return JSONValue.object(JSONObject(uniqueKeysWithValues: members)).encoded(sortingKeys: false) + [0x0A]
    }

    /// Reads a record; nil when the bytes are not one (an old or damaged file is provisioned over).
    public init?(json bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes) else { return nil }
        func text(_ key: String) -> String? {
            if case .string(let text)? = value[key] { return text }
            return nil
        }
        guard let endpoint = text("endpoint"), let idScope = text("idScope"), let registrationID = text("registrationId"),
              let assignedHub = text("assignedHub"), let deviceID = text("deviceId"), let at = text("at") else { return nil }
        self.init(endpoint: endpoint, idScope: idScope, registrationID: registrationID, assignedHub: assignedHub,
                  deviceID: deviceID, certificateFile: text("certificateFile"), keyFile: text("keyFile"),
                  issuedNotAfter: text("issuedNotAfter"), issuedThumbprint: text("issuedThumbprint"), at: at)
    }

    /// Reads `state_dir/provisioning.json`; nil when there is none or it cannot be read.
    public static func load(stateDirectory: String) -> ProvisioningRecord? {
        guard let bytes = try? POSIX.readFile(stateDirectory + "/" + fileName) else { return nil }
        return ProvisioningRecord(json: bytes)
    }
}

/// Turns the provisioning settings into the hub link's settings: from the cached record when it
/// matches, else by registering with DPS (and keeping the record, atomically and durably).
public struct AgentProvisioning: Sendable {
    public typealias Register = @Sendable (DeviceProvisioning.Settings, Logger) throws(ProvisioningError) -> DeviceProvisioning.Outcome

    public let config: AgentConfig
    let register: Register
    let now: @Sendable () -> Date

    /// - Parameter register: how to talk to DPS (default: ``DeviceProvisioning/register(_:logger:)``).
    public init(config: AgentConfig, register: @escaping Register = { settings, logger throws(ProvisioningError) in
        try DeviceProvisioning.register(settings, logger: logger)
    }, now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config
        self.register = register
        self.now = now
    }

    /// Whether DPS is on (`provisioning.endpoint` set).
    public var isEnabled: Bool { config.provisioning.endpoint != nil }

    /// The endpoint as configured (the record's key).
    public var endpointText: String {
        guard let endpoint = config.provisioning.endpoint else { return "" }
        return SettingKind<HubEndpoint>.endpoint.format(endpoint)
    }

    /// The registration id: the configured one, else the onboarding certificate's CN.
    public func registrationID() throws(ProvisioningError) -> String {
        if let id = config.provisioning.registrationID { return id }
        guard let cert = config.link.cert else { throw .certificate("hub.cert is not set; DPS needs the onboarding certificate") }
        let chain: [X509Certificate]
        do { chain = try X509Certificate.load(chainFile: cert) } catch { throw .certificate("\(error)") }
        guard let commonName = chain.first?.commonName, !commonName.isEmpty else {
            throw .invalidRegistrationID("(no CN in \(cert)); set provisioning.registration_id")
        }
        return commonName
    }

    /// The cached record, when it is for this endpoint, ID scope and registration id (and its
    /// issued files are still there).
    public func cachedRecord() -> ProvisioningRecord? {
        guard let stateDirectory = config.core.stateDirectory, let idScope = config.provisioning.idScope,
              let record = ProvisioningRecord.load(stateDirectory: stateDirectory),
              let registrationID = try? registrationID() else { return nil }
        guard record.endpoint == endpointText, record.idScope == idScope,
              record.registrationID.lowercased() == registrationID.lowercased() else { return nil }
        if config.provisioning.issueCertificate != (record.certificateFile != nil) { return nil }
        for file in [record.certificateFile, record.keyFile].compactMap({ $0 }) where !POSIX.exists(file) { return nil }
        return record
    }

    /// The hub link's settings: from the cached record unless `fresh`, else after registering.
    public func hubSettings(fresh: Bool = false, logger: Logger) throws(ProvisioningError) -> (HubClient.Settings, ProvisioningRecord) {
        if !fresh, let record = cachedRecord() {
            logger.info("using the cached DPS assignment: \(record.assignedHub) as \(record.deviceID) (from \(record.at))",
                        metadata: ["feature": "provisioning"])
            return (try settings(for: record), record)
        }
        let record = try provision(logger: logger)
        return (try settings(for: record), record)
    }

    /// What DPS is asked with (nil: DPS is off or a required key is missing, which the
    /// configuration's checks report).
    public func registrationSettings() throws(ProvisioningError) -> DeviceProvisioning.Settings? {
        guard let endpoint = config.provisioning.endpoint, let idScope = config.provisioning.idScope,
              let cert = config.link.cert, let key = config.link.key, let ca = config.link.ca else { return nil }
        let defaultPort: UInt16 = endpoint.webSocketPath == nil ? 8883 : 443
        var settings = DeviceProvisioning.Settings(host: endpoint.host, port: endpoint.port ?? defaultPort, idScope: idScope,
                                                   registrationID: try registrationID(), certificateFile: cert, keyFile: key,
                                                   trustAnchors: ca)
        settings.webSocketPath = endpoint.webSocketPath
        settings.proxy = config.link.proxy
        return settings
    }

    /// What would make every registration fail (checked at start, exit 64); empty: usable.
    public func problems() -> [String] {
        do throws(ProvisioningError) {
            return try registrationSettings()?.problems() ?? ["provisioning.endpoint needs provisioning.id_scope, hub.cert, hub.key and hub.ca"]
        } catch {
            return ["\(error)"]
        }
    }

    /// Registers with DPS now and keeps the record.
    public func provision(logger: Logger) throws(ProvisioningError) -> ProvisioningRecord {
        guard var settings = try registrationSettings(), let idScope = config.provisioning.idScope else {
            throw .connection("provisioning.endpoint needs provisioning.id_scope, hub.cert, hub.key and hub.ca")
        }
        let registrationID = settings.registrationID
        let at = now()
        if config.provisioning.issueCertificate {
            guard let stateDirectory = config.core.stateDirectory else {
                throw .certificate("provisioning.issue_certificate needs state_dir to keep the issued certificate and key")
            }
            let folder = stateDirectory + "/identity"
            do { try POSIX.makeDirectories(folder, mode: 0o700) } catch { throw .certificate("\(error)") }
            // A name per issuance: the cached record keeps naming the old pair until the new one is complete.
            let stem = "\(folder)/issued-\(Int(at.timeIntervalSince1970))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            settings.issuance = DeviceProvisioning.Issuance(keyFile: stem + ".key", certificateFile: stem + ".pem")
        }
        let outcome: DeviceProvisioning.Outcome
        do { outcome = try register(settings, logger) } catch {
            // A failed issuance leaves no key behind (retries would pile them up).
            if let issuance = settings.issuance {
                try? POSIX.unlink(issuance.keyFile, missingIsFine: true)
                try? POSIX.unlink(issuance.certificateFile, missingIsFine: true)
            }
            throw error
        }
        let previous = config.core.stateDirectory.flatMap(ProvisioningRecord.load(stateDirectory:))
        let record = ProvisioningRecord(
            endpoint: endpointText, idScope: idScope, registrationID: registrationID,
            assignedHub: outcome.assignment.assignedHub, deviceID: outcome.assignment.deviceID,
            certificateFile: outcome.issued?.certificateFile, keyFile: outcome.issued?.keyFile,
            issuedNotAfter: outcome.issuedNotAfter.map(UTC.text), issuedThumbprint: outcome.issuedThumbprint, at: UTC.text(at))
        if let stateDirectory = config.core.stateDirectory {
            let path = stateDirectory + "/" + ProvisioningRecord.fileName
            // The first start: the state folder may not exist yet (the outbox makes it the same way).
            do {
                try POSIX.makeDirectories(stateDirectory, mode: 0o700)
                try POSIX.writeFileDurably(path, record.json, mode: 0o644)
            } catch {
                logger.warning("cannot keep the DPS assignment in \(path): \(error); the next start asks DPS again",
                               metadata: ["feature": "provisioning"])
            }
            Self.removeIssuedFiles(in: stateDirectory + "/identity", keeping: [record, previous].compactMap { $0 })
        }
        return record
    }

    /// Issued keys and chains other than those of `records` (the new one, and the one a running
    /// link may still use until it restarts): at most two generations stay.
    static func removeIssuedFiles(in folder: String, keeping records: [ProvisioningRecord]) {
        let kept = Set(records.flatMap { [$0.certificateFile, $0.keyFile].compactMap { $0 } })
        guard let names = try? POSIX.listDirectory(folder) else { return }
        for name in names where name.hasPrefix("issued-") && !kept.contains(folder + "/" + name) {
            try? POSIX.unlink(folder + "/" + name, missingIsFine: true)
        }
    }

    /// The hub link to the assigned hub, as the assigned device, with the issued identity if any.
    public func settings(for record: ProvisioningRecord) throws(ProvisioningError) -> HubClient.Settings {
        guard let cert = config.link.cert, let key = config.link.key, let ca = config.link.ca else {
            throw .connection("provisioning needs hub.cert, hub.key and hub.ca")
        }
        let endpoint = config.provisioning.endpoint
        var settings = HubClient.Settings(host: record.assignedHub, port: UInt16(config.provisioning.hubPort), deviceID: record.deviceID,
                                          certificateFile: record.certificateFile ?? cert, keyFile: record.keyFile ?? key,
                                          trustAnchors: ca, modelID: config.link.modelID)
        settings.webSocketPath = endpoint?.webSocketPath
        settings.proxy = config.link.proxy
        if record.certificateFile != nil {
            settings.certificateRenewal = "the agent renews it through DPS \(DurationText.format(config.provisioning.renewBefore)) before it expires "
                + "(provisioning.renew_before; the twin's certificate.renewAt says when)"
        }
        return settings
    }
}

/// The hub settings' origin when DPS is on: what ``Agent`` needs to provision again.
public struct ProvisionedHub: Sendable {
    public var provisioning: AgentProvisioning
    public var record: ProvisioningRecord

    public init(provisioning: AgentProvisioning, record: ProvisioningRecord) {
        self.provisioning = provisioning
        self.record = record
    }
}

extension AgentChecks {
    /// DPS (with `provisioning.endpoint`): the assignment the agent would use, when, the issued
    /// certificate's expiry; a running agent's failure to provision again with its fix.
    public static func provisioning(_ config: AgentConfig, now: Date = Date()) -> Check? {
        guard let endpoint = config.provisioning.endpoint else { return nil }
        let provisioning = AgentProvisioning(config: config)
        let id = "provisioning"
        let title = "DPS \(provisioning.endpointText) (id scope \(config.provisioning.idScope ?? "none"))"
        guard let stateDirectory = config.core.stateDirectory else {
            return Check(id: id, title: title, status: .warn, detail: "no state_dir: the assignment is not kept, the agent asks DPS at every start",
                         fix: "set state_dir so the agent keeps its DPS assignment (state_dir/provisioning.json)")
        }
        guard let record = provisioning.cachedRecord() else {
            let other = ProvisioningRecord.load(stateDirectory: stateDirectory)
            let detail = other.map { "the kept assignment (\($0.assignedHub) as \($0.deviceID)) is for \($0.endpoint), id scope \($0.idScope), registration \($0.registrationID); the agent asks DPS again at start" }
                ?? "not provisioned yet: the agent asks DPS \(endpoint.host) at start"
            return Check(id: id, title: title, status: .warn, detail: detail,
                         fix: "start the agent with DPS reachable; if DPS refuses, add an enrollment for the CA that issued hub.cert and check provisioning.id_scope")
        }
        var detail = AgentStatus.provisioningText(record: record, running: false, lastError: nil)
        if let status = AgentStatus.find(runtime: config.core.runtimeDirectory, state: stateDirectory,
                                         environment: ProcessInfo.processInfo.environment).status,
           status.processAlive, let line = status.provisioning, line.contains("failed") {
            return Check(id: id, title: title, status: .warn, detail: "the running agent: \(line)",
                         fix: "see the reason above; the agent keeps the current assignment and retries when the hub refuses it")
        }
        if let file = record.certificateFile, let leaf = try? X509Certificate.load(chainFile: file).first {
            if leaf.notAfter < now {
                return Check(id: id, title: title, status: .fail, detail: detail + "; the issued certificate has expired",
                             fix: "call the reprovision method, or delete \(stateDirectory)/provisioning.json and restart the agent, to have DPS issue a new one")
            }
            if leaf.notAfter.timeIntervalSince(now) < 7 * 86_400 {
                detail += "; under 7 days left"
                return Check(id: id, title: title, status: .warn, detail: detail,
                             fix: "call the reprovision method to have DPS issue a new certificate before it expires")
            }
        }
        return Check(id: id, title: title, status: .ok, detail: detail)
    }
}
