import Foundation
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
    var twinRequestID = 0
    var twinDeadline: Duration?
    var twinLogged = false

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
            if stopRequested { break }
            if !waitBeforeRetry(reason: outcome) { break }
        }
        client.shared.withLock { $0.state = .stopped }
    }

    func connect() throws -> TLSConnection {
        let identity = try X509Identity.load(certificateFile: settings.certificateFile, keyFile: settings.keyFile)
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
            Thread.sleep(forTimeInterval: 0.02)
        }
        return !stopRequested
    }

    static func seconds(_ d: Duration) -> String {
        String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
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
            case .publishAcknowledged:
                outstanding -= 1
                client.shared.withLock { $0.statistics.acknowledged += 1 }
            case .publishAccepted(let id):
                if id != nil { outstanding += 1 }
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
                logger.notice("connected to the hub at \(settings.host):\(settings.port) as \(settings.deviceID) (\(protocolVersion), session \(sessionPresent ? "resumed" : "new"), \(resent) message(s) resent)",
                              metadata: ["feature": "hub"])
                let filters = [IoTHubTopic.twinResponseFilter, IoTHubTopic.twinDesiredPatchFilter, IoTHubTopic.methodRequestFilter]
                guard session != nil else { return "no session" }
                queue += session?.handle(.subscribeRequested(filters.map { MQTTPacket.Subscription(filter: $0, qos: .atMostOnce) }), at: now) ?? []
            case .subscribeResult(_, let results):
                if let refused = results.first(where: { $0.returnCode == .failure }) {
                    twinUnavailable("the broker refused the subscription to \(refused.filter) (not an IoT Hub, or no twin service)")
                } else if session != nil {
                    twinRequestID += 1
                    if let topic = try? IoTHubTopic.twinGet(requestID: "\(twinRequestID)") {
                        queue += session?.handle(.publishRequested(MQTTPublishRequest(topic: topic, payload: [], qos: .atMostOnce)), at: now) ?? []
                        twinDeadline = now + .seconds(10)
                    }
                }
            case .deliver(let message):
                received(message)
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
            if let twinDeadline, twinDeadline <= now {
                self.twinDeadline = nil
                twinUnavailable("no answer to the twin GET within 10 s")
            }
            let hasWork = connected && outstanding < settings.inFlightWindow * 2
                && client.shared.withLock { $0.pending.count > $0.pendingHead }
            let wait: Duration = hasWork ? .milliseconds(1) : min(.milliseconds(50), max(.milliseconds(1), (deadline ?? now + .seconds(1)) - now))
            do {
                let bytes = try tls.read(max: 65536, timeout: wait)
                if bytes.isEmpty { return "the hub closed the connection" }
                if let ended = handle(.bytesReceived(bytes)) { return ended }
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
        return nil
    }

    func twinUnavailable(_ reason: String) {
        client.shared.withLock { $0.twin = .unavailable(reason: reason) }
        if !twinLogged {
            logger.warning("device twin unavailable: \(reason); telemetry continues without it", metadata: ["feature": "twin"])
            twinLogged = true
        }
    }

    func received(_ message: MQTTMessage) {
        if let response = try? IoTHubTopic.parseTwinResponse(message.topic), response.requestID == "\(twinRequestID)" {
            twinDeadline = nil
            client.shared.withLock { $0.twin = response.status.code == 200 ? .available : .unavailable(reason: "twin GET answered \(response.status.code)") }
        }
    }
}
