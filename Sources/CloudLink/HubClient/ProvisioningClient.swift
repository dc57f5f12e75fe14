import FoundationEssentials
import Identity
import JSON
import Logging
import MQTT
import Provisioning
import Transport

/// The device's DPS client: one registration over MQTT, blocking until DPS assigns a hub or
/// refuses. The stream is opened exactly as the hub link's (``TLSHubStream``: TCP + mutual TLS
/// with the onboarding certificate, `wss://` WebSocket, HTTP proxy); the pure
/// ``ProvisioningMachine`` decides, this performs its actions with the MQTT session.
///
/// With ``Settings/issuance`` it first makes a new EC P-384 key (written 0600, durably) and sends
/// a CSR with CN = the registration id; the issued chain is written leaf first beside the key.
public enum DeviceProvisioning {
    public struct Settings: Sendable {
        /// The DPS host (`global.azure-devices-provisioning.net`, or LocalHub's `127.0.0.1`).
        public var host: String
        public var port: UInt16
        /// MQTT over WebSockets on this path (`/$iothub/websocket`) for a `wss://` endpoint.
        public var webSocketPath: String?
        /// The name the server certificate must carry (default: `host`).
        public var expectedHostName: String?
        public var idScope: String
        public var registrationID: String
        /// The onboarding certificate (chain, leaf first) and key DPS authenticates.
        public var certificateFile: String
        public var keyFile: String
        /// Trust anchors for the DPS server certificate.
        public var trustAnchors: String
        public var proxy: HTTPProxy?
        /// Custom allocation data sent as `payload`.
        public var payload: JSONValue?
        /// Ask DPS to issue a certificate; nil keeps the onboarding certificate for the hub.
        public var issuance: Issuance?
        public var limits = ProvisioningMachine.Limits()
        public var keepAliveSeconds: UInt16 = 60

        public init(host: String, port: UInt16 = 8883, idScope: String, registrationID: String,
                    certificateFile: String, keyFile: String, trustAnchors: String) {
            self.host = host
            self.port = port
            self.idScope = idScope
            self.registrationID = registrationID
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.trustAnchors = trustAnchors
        }

        /// What would make every registration fail, found before the first one (exit 64 at start):
        /// the host, the registration id, the onboarding certificate and key, the trust anchors.
        public func problems() -> [String] {
            var problems = streamSettings.problems().map { $0.replacing("the hub's trust anchors", with: "the trust anchors for DPS") }
            do throws(ProvisioningError) {
                try DPSRegistration(idScope: idScope, registrationID: registrationID).validate()
            } catch {
                problems.append("\(error)")
            }
            return problems
        }

        /// The stream settings: the hub link's, pointed at DPS as the registration id.
        var streamSettings: HubClient.Settings {
            var settings = HubClient.Settings(host: host, port: port, deviceID: registrationID, certificateFile: certificateFile,
                                              keyFile: keyFile, trustAnchors: trustAnchors)
            settings.expectedHostName = expectedHostName
            settings.proxy = proxy
            settings.webSocketPath = webSocketPath
            settings.keepAliveSeconds = keepAliveSeconds
            return settings
        }
    }

    /// Where the new key and the issued chain go.
    public struct Issuance: Sendable, Hashable {
        public var keyFile: String
        public var certificateFile: String

        public init(keyFile: String, certificateFile: String) {
            self.keyFile = keyFile
            self.certificateFile = certificateFile
        }
    }

    public struct Outcome: Sendable, Hashable {
        public var assignment: ProvisioningAssignment
        /// The issued chain's file (leaf first) and its key, with ``Settings/issuance``.
        public var issued: Issuance?
        /// The issued leaf's notAfter.
        public var issuedNotAfter: Date?
        /// The issued leaf's SHA-256 thumbprint.
        public var issuedThumbprint: String?

        public init(assignment: ProvisioningAssignment, issued: Issuance? = nil, issuedNotAfter: Date? = nil,
                    issuedThumbprint: String? = nil) {
            self.assignment = assignment
            self.issued = issued
            self.issuedNotAfter = issuedNotAfter
            self.issuedThumbprint = issuedThumbprint
        }
    }

    /// Registers over TCP + TLS on the system clock.
    public static func register(_ settings: Settings, logger: Logger) throws(ProvisioningError) -> Outcome {
        let signal: WakeUpSignal
        do { signal = try WakeUpSignal() } catch {
            throw .connection("cannot make the wake-up descriptor (\(error)); free some descriptors and retry")
        }
        let stream = TLSHubStream(settings: settings.streamSettings, logger: logger, signal: signal)
        return try register(settings, logger: logger, stream: stream, clock: ContinuousHubClock())
    }

    /// Registers over `stream`, timed by `clock` (tests script both).
    public static func register(_ settings: Settings, logger: Logger, stream: any HubByteStream,
                                clock: any HubClock) throws(ProvisioningError) -> Outcome {
        var registration = DPSRegistration(idScope: settings.idScope, registrationID: settings.registrationID,
                                           payload: settings.payload)
        try registration.validate()
        var newKey: PrivateKey?
        if let issuance = settings.issuance {
            do {
                let key = try CertificateRequest.makeKey(writingTo: issuance.keyFile)
                registration.csr = try CertificateRequest.base64(commonName: settings.registrationID, key: key)
                newKey = key
            } catch {
                throw .certificate("\(error)")
            }
        }
        logger.info("provisioning \(settings.registrationID) at DPS \(settings.host):\(settings.port) (id scope \(settings.idScope)\(newKey == nil ? "" : ", with a CSR"))",
                    metadata: ["feature": "provisioning"])
        var run = ProvisioningRun(registration: registration, limits: settings.limits, keepAliveSeconds: settings.keepAliveSeconds,
                                  stream: stream, clock: clock)
        let assignment = try run.perform()
        logger.info("DPS assigned \(settings.registrationID) to \(assignment.assignedHub) as \(assignment.deviceID)",
                    metadata: ["feature": "provisioning"])
        guard let issuance = settings.issuance, let newKey else { return Outcome(assignment: assignment) }
        guard !assignment.issuedCertificateChain.isEmpty else {
            throw .certificate("DPS assigned \(settings.registrationID) without issuing a certificate for the CSR; "
                + "configure an issuing CA for the enrollment in DPS, or set provisioning.issue_certificate to false")
        }
        do {
            let chain = try CertificateRequest.issuedChain(assignment.issuedCertificateChain, key: newKey)
            try CertificateRequest.writeChain(chain, to: issuance.certificateFile)
            return Outcome(assignment: assignment, issued: issuance, issuedNotAfter: chain[0].notAfter,
                           issuedThumbprint: chain[0].sha256Thumbprint)
        } catch {
            throw .certificate("\(error)")
        }
    }
}

/// One connection's worth of DPS: the MQTT session and the provisioning machine, fed from the
/// stream until the machine ends. Blocks only in ``HubByteStream/wait(timeout:)``.
struct ProvisioningRun {
    var machine: ProvisioningMachine
    let configuration: MQTTClientSession.Configuration
    let stream: any HubByteStream
    let clock: any HubClock
    var session: MQTTClientSession?
    var sessionActions: [MQTTClientSession.Action] = []
    var machineActions: [ProvisioningMachine.Action] = []
    var assignment: ProvisioningAssignment?

    init(registration: DPSRegistration, limits: ProvisioningMachine.Limits, keepAliveSeconds: UInt16,
         stream: any HubByteStream, clock: any HubClock) {
        machine = ProvisioningMachine(registration: registration, limits: limits)
        configuration = MQTTClientSession.Configuration(
            clientID: registration.clientID, username: registration.userName, cleanSession: true,
            keepAliveSeconds: keepAliveSeconds, connAckTimeout: limits.responseTimeout, inFlightWindow: 4,
            maximumQueuedPublishes: 4)
        self.stream = stream
        self.clock = clock
    }

    mutating func perform() throws(ProvisioningError) -> ProvisioningAssignment {
        do { session = try MQTTClientSession(configuration: configuration) } catch {
            throw .connection("the MQTT CONNECT cannot be encoded: \(error)")
        }
        do { _ = try stream.connect() } catch { throw .connection("\(error)") }
        defer { stream.close() }
        sessionActions = session!.handle(.connectRequested, at: clock.now)
        while true {
            try drain()
            if let assignment {
                let goodbye = session!.handle(.disconnectRequested, at: clock.now)
                for case .send(let packet) in goodbye { try? stream.write(MQTTEncoder.encode(packet)) }
                return assignment
            }
            let deadline = [session!.nextDeadline, machine.nextDeadline].compactMap { $0 }.min()
            stream.wait(timeout: deadline.map { max(.zero, $0 - clock.now) })
            let read: HubStreamRead
            do { read = try stream.readAvailable() } catch {
                sessionActions += session!.handle(.connectionLost, at: clock.now)
                machineActions += machine.handle(.connectionLost("\(error)"), at: clock.now)
                continue
            }
            switch read {
            case .bytes(let bytes): sessionActions += session!.handle(.bytesReceived(bytes), at: clock.now)
            case .nothing: break
            case .closed:
                sessionActions += session!.handle(.connectionLost, at: clock.now)
                machineActions += machine.handle(.connectionLost("DPS closed the connection"), at: clock.now)
            }
            let now = clock.now
            if let due = session!.nextDeadline, now >= due { sessionActions += session!.handle(.tick, at: now) }
            if let due = machine.nextDeadline, now >= due { machineActions += machine.handle(.tick, at: now) }
        }
    }

    /// Performs queued actions until neither side has more.
    mutating func drain() throws(ProvisioningError) {
        while !sessionActions.isEmpty || !machineActions.isEmpty {
            let actions = sessionActions
            sessionActions = []
            for action in actions { try performSession(action) }
            let decisions = machineActions
            machineActions = []
            for decision in decisions { try performMachine(decision) }
        }
    }

    mutating func performSession(_ action: MQTTClientSession.Action) throws(ProvisioningError) {
        let now = clock.now
        switch action {
        case .send(let packet):
            do { try stream.write(MQTTEncoder.encode(packet)) } catch {
                machineActions += machine.handle(.connectionLost("cannot send \(packet.type): \(error)"), at: now)
            }
        case .connectionEstablished:
            machineActions += machine.handle(.connected, at: now)
        case .connectionFailed(let code):
            throw .connection("DPS refused the MQTT connection: CONNACK \(code); check provisioning.id_scope, the "
                + "registration id (the certificate's CN) and that the certificate chains to a CA verified in DPS")
        case .subscribeResult(_, let results):
            let granted = results.allSatisfy { $0.returnCode != .failure }
            machineActions += machine.handle(.subscribed(granted: granted), at: now)
        case .deliver(let message):
            machineActions += machine.handle(.message(topic: message.topic, payload: message.payload), at: now)
        case .closeConnection(let reason):
            machineActions += machine.handle(.connectionLost("\(reason)"), at: now)
        case .publishRefused(let refusal), .subscribeRefused(let refusal):
            machineActions += machine.handle(.connectionLost("\(refusal)"), at: now)
        default:
            break
        }
    }

    mutating func performMachine(_ action: ProvisioningMachine.Action) throws(ProvisioningError) {
        let now = clock.now
        switch action {
        case .subscribe(let filter):
            sessionActions += session!.handle(.subscribeRequested([MQTTPacket.Subscription(filter: filter, qos: .atLeastOnce)]),
                                              at: now)
        case let .publish(topic, payload):
            sessionActions += session!.handle(.publishRequested(MQTTPublishRequest(topic: topic, payload: payload)), at: now)
        case .scheduleTick:
            break  // the wait asks the machine for its next deadline every time
        case .assigned(let assignment):
            self.assignment = assignment
        case .failed(let error):
            throw error
        }
    }
}
