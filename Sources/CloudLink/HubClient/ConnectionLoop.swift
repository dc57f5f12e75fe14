import FoundationEssentials
import IoTHub
import Logging
import MQTT

/// The connection thread's body: connect, move bytes between the stream and the session, perform
/// the session's actions, reconnect with backoff. Only this thread touches the stream (except its
/// wake-up) and the session. It blocks in one place, ``HubByteStream/wait(timeout:)``, until the
/// next deadline.
final class ConnectionLoop {
    /// Telemetry is taken only while less than this waits unsent in the stream (a hub that stops
    /// reading is then caught by the keep-alive, with a bounded buffer).
    static let maximumUnsent = 1 << 20

    let client: HubClient
    let stream: any HubByteStream
    let clock: any HubClock
    var backoff: ReconnectBackoff
    var rng: any RandomNumberGenerator
    /// The reason last logged for a failed connect, so a repeating failure is logged once.
    var lastLoggedFailure: String?
    var operations: IoTHubDeviceOperations
    /// Packet id → source token for messages from the ``HubMessageSource`` awaiting PUBACK.
    var tokens: [UInt16: UInt64] = [:]
    /// The token of the message being handed to the session (its `.publishAccepted` names its packet id).
    var publishingToken: UInt64?
    /// PUBACKed source tokens not yet reported: one call (one outbox transaction) per read.
    var ackedTokens: [UInt64] = []
    /// Whether the source may have messages: false after it returned none, until it wakes the
    /// link, its pacing delay ends (`sourceRetryAt`) or a new connection starts.
    var sourceMayHaveMore = true
    var sourceRetryAt: Duration?
    /// Connection attempts that failed in a row (reset by an accepted CONNACK), and the CONNACK
    /// refusal of the last one, for ``HubClient/observeConnectFailures(_:)``.
    var consecutiveFailures = 0
    var lastRefusal: MQTTPacket.ConnAck.ReturnCode?

    // Per connection.
    var session: MQTTClientSession?
    var outstanding = 0
    var connected = false
    var out: [UInt8] = []
    var protocolVersion = ""

    init(client: HubClient) {
        self.client = client
        stream = client.stream
        clock = client.clock
        rng = client.random ?? SystemRandomNumberGenerator()
        backoff = ReconnectBackoff(base: client.settings.backoffBase, cap: client.settings.backoffCap)
        operations = IoTHubDeviceOperations(deviceID: client.settings.deviceID,
                                            seed: UInt64.random(in: 1...UInt64.max))
    }

    var now: Duration { clock.now }
    var settings: HubClient.Settings { client.settings }
    var logger: Logger { client.logger }
    var stopRequested: Bool { client.shared.withLock { $0.stopRequested } }

    func run() {
        let connection = IoTHubDeviceConnection(hostName: settings.userNameHost,
                                                deviceID: settings.deviceID, modelID: settings.modelID,
                                                keepAliveSeconds: settings.keepAliveSeconds)
        do {
            session = try MQTTClientSession(configuration: connection.sessionConfiguration(inFlightWindow: settings.inFlightWindow))
        } catch {
            fail(permanently: "invalid connection settings: \(error)")
            return
        }
        while !stopRequested {
            client.update { $0.state = .connecting }
            promise(.zero)
            do {
                connected = false
                protocolVersion = try stream.connect()
            } catch {
                stream.close()
                if waitBeforeRetry(reason: "\(error)") { continue } else { break }
            }
            let outcome = pump()
            stream.close()
            if connected { client.source?.linkDown() }
            _ = session?.handle(.connectionLost, at: now)
            operations.disconnected()
            if stopRequested { break }
            if !waitBeforeRetry(reason: outcome) { break }
        }
        promise(nil)
        client.update { $0.state = .stopped }
    }

    /// Tells a watchdog by when this thread will be back in its loop: after `wait`, or now (it is
    /// working); nil while it waits for work without a deadline or has ended.
    func promise(_ wait: Duration?) {
        let by = wait.map { ContinuousClock.now + $0 }
        client.shared.withLock { $0.loopPromise = by }
    }

    /// The one place the thread blocks, with its promise kept for a watchdog.
    func waitInStream(_ timeout: Duration?) {
        promise(timeout)
        stream.wait(timeout: timeout)
        promise(.zero)
    }

    /// Logs the failure once per distinct reason, then waits a full-jitter backoff (woken early
    /// only to stop). False when stopping.
    func waitBeforeRetry(reason: String) -> Bool {
        if !connected {
            consecutiveFailures += 1
            client.failureObserver(HubConnectFailure(reason: reason, consecutive: consecutiveFailures, refusal: lastRefusal))
        }
        lastRefusal = nil
        let delay = backoff.nextDelay(using: &rng)
        client.update {
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
        let end = now + delay
        while !stopRequested {
            let left = end - now
            if left <= .zero { return true }
            waitInStream(left)
        }
        return false
    }

    static func seconds(_ d: Duration) -> String {
        let tenths = Int(((Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    func fail(permanently reason: String) {
        logger.error("hub link stopped: \(reason)")
        client.update {
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
            case .scheduleTick:
                continue  // the wait asks the session for its next deadline every time
            case .publishAcknowledged(let id):
                outstanding -= 1
                if let token = tokens.removeValue(forKey: id) {
                    ackedTokens.append(token)
                } else {
                    client.update { $0.statistics.acknowledged += 1 }
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
                consecutiveFailures = 0
                backoff.reset()
                lastLoggedFailure = nil
                let resent = (session?.inFlightPacketIDs.count ?? 0)
                client.update {
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
                lastRefusal = code
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
    func pump() -> String {
        // Messages the session still holds from the last connection are resent after CONNACK.
        outstanding = (session?.inFlightPacketIDs.count ?? 0) + (session?.queuedPacketIDs.count ?? 0)
        connected = false
        out.removeAll()
        sourceMayHaveMore = true
        sourceRetryAt = nil
        if let ended = handle(.connectRequested) { return ended }
        while true {
            if stopRequested {
                _ = handle(.disconnectRequested)
                try? stream.write(out)  // the DISCONNECT; close() sends what is left
                return "stopped"
            }
            var askAgain = false
            // Inbound first: PUBACKs free the window before new messages are taken.
            let read: HubStreamRead
            do { read = try stream.readAvailable() } catch { return "\(error)" }
            switch read {
            case .closed:
                return "the hub closed the connection"
            case .bytes(let bytes):
                let ended = handle(.bytesReceived(bytes))
                reportAcknowledged()
                if let ended { return ended }
            case .nothing:
                break
            }
            if let due = session?.nextDeadline, due <= now, let ended = handle(.tick) { return ended }
            if connected {
                if let ended = performCommands() { return ended }
                if let due = operations.nextDeadline, due <= now,
                   let ended = perform(operations.tick(now: now)) { return ended }
                switch feedPending() {
                case .ended(let reason): return reason
                case .askAgain: askAgain = true
                case .done: break
                }
            }
            if !out.isEmpty {
                do { try stream.write(out) } catch { return "\(error)" }
                out.removeAll(keepingCapacity: true)
            }
            // More may be waiting in the stream than one read takes, or in the source than one
            // take gave: look again before sleeping.
            if case .bytes = read { continue }
            if askAgain { continue }
            waitInStream(nextDeadline().map { max(.zero, $0 - now) })
        }
    }

    /// The earliest of the session's deadline (CONNACK, PINGREQ, PINGRESP), the operations' (twin
    /// and reported-patch time-outs) and the end of the source's pacing; nil: none.
    func nextDeadline() -> Duration? {
        var deadlines = [session?.nextDeadline]
        if connected {
            deadlines.append(operations.nextDeadline)
            if !sourceMayHaveMore { deadlines.append(sourceRetryAt) }
        }
        return deadlines.compactMap { $0 }.min()
    }

    func reportAcknowledged() {
        guard !ackedTokens.isEmpty else { return }
        client.source?.acknowledged(ackedTokens)
        ackedTokens.removeAll(keepingCapacity: true)
        client.notifyChanged()
    }

    enum Feed {
        case done
        /// The source gave messages and there is room for more: take again before waiting.
        case askAgain
        case ended(String)
    }

    /// Moves waiting messages into the session while the in-flight window (and a little queue) has room.
    func feedPending() -> Feed {
        if client.shared.withLock({ s in defer { s.sourceSignalled = false }; return s.sourceSignalled }) {
            sourceMayHaveMore = true
        }
        if let retry = sourceRetryAt, retry <= now {
            sourceMayHaveMore = true
            sourceRetryAt = nil
        }
        let room = settings.inFlightWindow * 2 - outstanding
        guard room > 0, stream.unsentByteCount < Self.maximumUnsent else { return .done }
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
                return .ended(ended)
            }
        }
        let more = room - batch.count
        guard more > 0, sourceMayHaveMore, let source = client.source else { return .done }
        let taken = source.take(limit: more)
        if taken.isEmpty {
            // Asked again on its wake-up or after its pacing delay, not on every turn.
            sourceMayHaveMore = false
            sourceRetryAt = source.pacingDelay.map { now + $0 }
            return .done
        }
        for message in taken {
            publishingToken = message.token
            defer { publishingToken = nil }
            if let ended = handle(.publishRequested(MQTTPublishRequest(topic: message.topic, payload: message.payload, qos: .atLeastOnce))) {
                return .ended(ended)
            }
        }
        return taken.count < more ? .askAgain : .done
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
