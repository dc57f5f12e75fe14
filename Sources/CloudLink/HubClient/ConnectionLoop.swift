#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Identity
import IoTHub
import Logging
import MQTT
import Transport

/// The connection thread's body: connect, pump bytes between the socket and the session,
/// perform the session's actions, reconnect with backoff. Only this thread touches the socket
/// and the session.
final class ConnectionLoop {
    let client: HubClient
    var backoff: ReconnectBackoff
    var rng = SystemRandomNumberGenerator()
    let clock = ContinuousClock()
    let start: ContinuousClock.Instant
    /// The reason last logged for a failed connect, so a repeating failure is logged once.
    var lastLoggedFailure: String?
    var lastCertificateWarning: String?
    var operations: IoTHubDeviceOperations
    /// Packet id → source token for messages from the ``HubMessageSource`` awaiting PUBACK.
    var tokens: [UInt16: UInt64] = [:]
    /// The token of the message being handed to the session (its `.publishAccepted` names its packet id).
    var publishingToken: UInt64?
    /// PUBACKed source tokens not yet reported: one call (one outbox transaction) per read.
    var ackedTokens: [UInt64] = []
    /// When the source last had nothing (or was paced), don't ask again before this.
    var sourceIdleUntil: Duration = .zero

    // Per connection.
    var session: MQTTClientSession?
    var deadline: Duration?
    var outstanding = 0
    var connected = false
    var out: [UInt8] = []
    var protocolVersion = ""

    init(client: HubClient) {
        self.client = client
        backoff = ReconnectBackoff(base: client.settings.backoffBase, cap: client.settings.backoffCap)
        operations = IoTHubDeviceOperations(deviceID: client.settings.deviceID,
                                            seed: UInt64.random(in: 1...UInt64.max))
        start = clock.now
    }

    var now: Duration { start.duration(to: clock.now) }
    var settings: HubClient.Settings { client.settings }
    var logger: Logger { client.logger }
    var stopRequested: Bool { client.shared.withLock { $0.stopRequested } }

    func run() {
        let connection = IoTHubDeviceConnection(hostName: settings.expectedHostName ?? settings.host,
                                                deviceID: settings.deviceID, modelID: settings.modelID,
                                                keepAliveSeconds: settings.keepAliveSeconds)
        do {
            session = try MQTTClientSession(configuration: connection.sessionConfiguration(inFlightWindow: settings.inFlightWindow))
        } catch {
            fail(permanently: "invalid connection settings: \(error)")
            return
        }
        while !stopRequested {
            client.shared.withLock { $0.state = .connecting }
            let tls: TLSConnection
            do {
                tls = try connect()
            } catch {
                if waitBeforeRetry(reason: "\(error)") { continue } else { break }
            }
            let outcome = pump(tls)
            tls.close()
            _ = session?.handle(.connectionLost, at: now)
            operations.disconnected()
            if stopRequested { break }
            if !waitBeforeRetry(reason: outcome) { break }
        }
        client.shared.withLock { $0.state = .stopped }
    }

    func connect() throws -> TLSConnection {
        let identity = try X509Identity.load(certificateFile: settings.certificateFile, keyFile: settings.keyFile)
        // An expired (or not yet valid) certificate is refused here, with its dates, rather than
        // left to the hub's TLS alert, which may arrive as a bare connection reset.
        let validity = try identity.validity(now: Date())
        if let warning = validity.warning, warning != lastCertificateWarning {
            logger.warning("\(warning)", metadata: ["feature": "identity"])
            lastCertificateWarning = warning
        }
        let trust = try TrustAnchors.at(settings.trustAnchors)
        return try TLSConnection.connect(host: settings.host, port: settings.port,
                                         configuration: .client(trustAnchors: trust, identity: identity),
                                         expectedHostName: settings.expectedHostName)
    }

    /// Logs the failure once per distinct reason, then sleeps a full-jitter backoff. False when stopping.
    func waitBeforeRetry(reason: String) -> Bool {
        let delay = backoff.nextDelay(using: &rng)
        client.shared.withLock {
            $0.state = .waiting(reason: reason)
            $0.lastError = reason
        }
        if reason != lastLoggedFailure {
            logger.warning("hub link down: \(reason); reconnecting with backoff, next try in \(Self.seconds(delay)) s",
                           metadata: ["feature": "hub", "host": "\(settings.host):\(settings.port)"])
            lastLoggedFailure = reason
        } else {
            logger.debug("hub link still down; next try in \(Self.seconds(delay)) s")
        }
        let end = clock.now + delay
        while clock.now < end {
            if stopRequested { return false }
            usleep(20_000)
        }
        return !stopRequested
    }

    static func seconds(_ d: Duration) -> String {
        let tenths = Int(((Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    func fail(permanently reason: String) {
        logger.error("hub link stopped: \(reason)")
        client.shared.withLock {
            $0.state = .stopped
            $0.lastError = reason
        }
    }

    /// Feeds one event to the session and performs what comes back; returns why the connection
    /// must end, if it must.
    ///
    /// The session is mutated in place through optional chaining: copying it into a local and
    /// back would share its in-flight and queued arrays for the duration of the call, so every
    /// publish or PUBACK would copy the whole window (O(window) retains per message, measured at
    /// 8.6× mosquitto_pub's CPU with a window of 1000 by scripts/bench-publish.sh).
    func handle(_ event: MQTTClientSession.Event) -> String? {
        guard session != nil else { return "no session" }
        var queue = session?.handle(event, at: now) ?? []
        var next = 0
        while next < queue.count {
            let action = queue[next]
            next += 1
            switch action {
            case .send(let packet):
                do { out += try MQTTEncoder.encode(packet) } catch { return "cannot encode \(packet): \(error)" }
            case .scheduleTick(let at):
                deadline = deadline.map { min($0, at) } ?? at
            case .publishAcknowledged(let id):
                outstanding -= 1
                if let token = tokens.removeValue(forKey: id) {
                    ackedTokens.append(token)
                } else {
                    client.shared.withLock { $0.statistics.acknowledged += 1 }
                }
            case .publishAccepted(let id):
                if let id {
                    outstanding += 1
                    if let token = publishingToken { tokens[id] = token }
                }
            case .publishRefused(let refusal):
                return "the session refused a publish: \(refusal)"
            case .connectionEstablished(let sessionPresent):
                connected = true
                backoff.reset()
                lastLoggedFailure = nil
                let resent = (session?.inFlightPacketIDs.count ?? 0)
                client.shared.withLock {
                    $0.state = .connected
                    $0.statistics.connects += 1
                    $0.statistics.retransmitted += resent
                }
                client.source?.linkUp()
                logger.notice("connected to the hub at \(settings.host):\(settings.port) as \(settings.deviceID) (\(protocolVersion), session \(sessionPresent ? "resumed" : "new"), \(resent) message(s) resent)",
                              metadata: ["feature": "hub"])
                // Twin and methods at QoS 0 (answers are correlated by $rid), C2D at QoS 1 (A.8).
                let subscriptions = operations.subscriptions.map {
                    MQTTPacket.Subscription(filter: $0, qos: $0.hasPrefix("devices/") ? .atLeastOnce : .atMostOnce)
                }
                queue += session?.handle(.subscribeRequested(subscriptions), at: now) ?? []
            case .subscribeResult(_, let results):
                if let refused = results.first(where: { $0.returnCode == .failure }) {
                    queue += publishActions(operations.subscriptionRefused(
                        reason: "the broker refused the subscription to \(refused.filter) (not an IoT Hub, or no twin service)"))
                } else {
                    queue += publishActions(operations.connected(now: now))
                }
            case .deliver(let message):
                queue += publishActions(operations.received(topic: message.topic, payload: message.payload, now: now))
            case .connectionFailed(let code):
                return "the hub refused the connection: CONNACK \(code)"
            case .closeConnection(let reason):
                return "\(reason)"
            default:
                continue
            }
        }
        return nil
    }

    /// Runs one connection until it ends; returns why it ended.
    func pump(_ tls: TLSConnection) -> String {
        deadline = nil
        // Messages the session still holds from the last connection are resent after CONNACK.
        outstanding = (session?.inFlightPacketIDs.count ?? 0) + (session?.queuedPacketIDs.count ?? 0)
        connected = false
        out.removeAll()
        protocolVersion = tls.protocolVersion
        if let ended = handle(.connectRequested) { return ended }
        while true {
            if stopRequested {
                _ = handle(.disconnectRequested)
                try? tls.write(out)
                return "stopped"
            }
            if connected { if let ended = feedPending() { return ended } }
            if !out.isEmpty {
                do { try tls.write(out) } catch { return "\(error)" }
                out.removeAll(keepingCapacity: true)
            }
            if let d = deadline, d <= now {
                deadline = nil
                if let ended = handle(.tick) { return ended }
            }
            if connected {
                if let ended = performCommands() { return ended }
                if let due = operations.nextDeadline, due <= now,
                   let ended = perform(operations.tick(now: now)) { return ended }
            }
            let hasWork = connected && outstanding < settings.inFlightWindow * 2
                && (client.shared.withLock { $0.pending.count > $0.pendingHead } || (client.source != nil && sourceIdleUntil <= now))
            let wait: Duration = hasWork ? .milliseconds(1) : min(.milliseconds(50), max(.milliseconds(1), (deadline ?? now + .seconds(1)) - now))
            do {
                let bytes = try tls.read(max: 65536, timeout: wait)
                if bytes.isEmpty { return "the hub closed the connection" }
                let ended = handle(.bytesReceived(bytes))
                if !ackedTokens.isEmpty {
                    client.source?.acknowledged(ackedTokens)
                    ackedTokens.removeAll(keepingCapacity: true)
                }
                if let ended { return ended }
            } catch {
                if case .timeout = error { continue }
                return "\(error)"
            }
        }
    }

    /// Moves waiting messages into the session while the in-flight window (and a little queue) has room.
    func feedPending() -> String? {
        let room = settings.inFlightWindow * 2 - outstanding
        guard room > 0 else { return nil }
        let batch: [(topic: String, payload: [UInt8])] = client.shared.withLock { s in
            let end = min(s.pending.count, s.pendingHead + room)
            let slice = Array(s.pending[s.pendingHead..<end])
            s.pendingHead = end
            if s.pendingHead > 4096, s.pendingHead * 2 > s.pending.count {
                s.pending.removeFirst(s.pendingHead)
                s.pendingHead = 0
            }
            return slice
        }
        for message in batch {
            if let ended = handle(.publishRequested(MQTTPublishRequest(topic: message.topic, payload: message.payload, qos: .atLeastOnce))) {
                return ended
            }
        }
        let more = room - batch.count
        guard more > 0, let source = client.source, sourceIdleUntil <= now else { return nil }
        let taken = source.take(limit: more)
        // A source that has nothing (or is pacing a backlog) is asked again a little later.
        if taken.count < more { sourceIdleUntil = now + .milliseconds(20) }
        for message in taken {
            publishingToken = message.token
            defer { publishingToken = nil }
            if let ended = handle(.publishRequested(MQTTPublishRequest(topic: message.topic, payload: message.payload, qos: .atLeastOnce))) {
                return ended
            }
        }
        return nil
    }

    /// What the agent asked for since the last turn (reported patches, method answers).
    func performCommands() -> String? {
        let commands = client.shared.withLock { s -> [HubClient.Command] in
            guard !s.commands.isEmpty else { return [] }
            defer { s.commands.removeAll() }
            return s.commands
        }
        guard !commands.isEmpty else { return nil }
        for command in commands {
            let outputs: [IoTHubDeviceOperations.Output]
            switch command {
            case .report(let patch): outputs = operations.report(patch, now: now).outputs
            case .respond(let request, let status, let payload): outputs = operations.respond(to: request, status: status, payload: payload)
            case .requestTwin: outputs = operations.requestTwin(now: now)
            }
            if let ended = perform(outputs) { return ended }
        }
        return nil
    }

    func perform(_ outputs: [IoTHubDeviceOperations.Output]) -> String? {
        for action in publishActions(outputs) {
            if case .send(let packet) = action {
                do { out += try MQTTEncoder.encode(packet) } catch { return "cannot encode \(packet): \(error)" }
            }
        }
        return nil
    }

    /// Turns the operations' outputs into session actions (publishes) and delivers their events.
    func publishActions(_ outputs: [IoTHubDeviceOperations.Output]) -> [MQTTClientSession.Action] {
        var actions: [MQTTClientSession.Action] = []
        for output in outputs {
            switch output {
            case .publish(let topic, let payload):
                actions += session?.handle(.publishRequested(MQTTPublishRequest(topic: topic, payload: payload, qos: .atMostOnce)), at: now) ?? []
            case .event(let event):
                note(event)
                client.onEvent?(event)
            case .ignored(let reason):
                logger.warning("ignored a message from the hub: \(reason)", metadata: ["feature": "hub"])
            }
        }
        return actions
    }

    /// Logs what the agent should see in its log whatever it does with the event.
    func note(_ event: IoTHubDeviceEvent) {
        switch event {
        case .twin:
            client.shared.withLock { $0.twin = .available }
        case .twinUnavailable(let reason):
            client.shared.withLock { $0.twin = .unavailable(reason: reason) }
            logger.warning("device twin unavailable: \(reason); telemetry continues without it", metadata: ["feature": "twin"])
        case .reportedRejected(_, let status, let body):
            logger.error("the hub rejected a reported-properties patch: \(status) \(String(decoding: body.prefix(200), as: UTF8.self))",
                         metadata: ["feature": "twin"])
        case .methodCall(let request, _):
            logger.info("direct method \(request.name) called ($rid \(request.requestID))", metadata: ["feature": "methods"])
        default:
            break
        }
    }
}
