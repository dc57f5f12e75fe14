/// The MQTT 3.1.1 client session as a pure state machine.
///
/// The connection driver (the `Transport` channel handler) feeds it ``Event``s with the current
/// monotonic time and performs the ``Action``s it returns, in order. The session owns no socket,
/// timer or clock.
///
/// ## Contract
/// - **Connect.** Send ``Event/connectRequested`` once the transport (TCP + TLS) is up; the
///   session answers with `.send(.connect)`. A CONNACK accepting the connection gives
///   ``Action/connectionEstablished(sessionPresent:)``; a refusal gives
///   ``Action/connectionFailed(_:)`` then ``Action/closeConnection(_:)``. No CONNACK within
///   ``Configuration/connAckTimeout`` closes the connection.
/// - **Publish.** QoS 0 goes out at once if connected, otherwise it is refused. QoS 1 gets a
///   packet identifier at once (``Action/publishAccepted(packetID:)``) and waits in a queue
///   until the in-flight window (``Configuration/inFlightWindow``) has room, also while
///   disconnected. ``Action/publishAcknowledged(packetID:)`` follows the PUBACK. QoS 2 is refused
///   (IoT Hub closes the connection on QoS 2, protocol sheet A.6).
/// - **Reconnect.** With `cleanSession == false` (the default, as IoT Hub keeps QoS 1 state,
///   A.6) unacknowledged QoS 1 PUBLISHes are sent again after the next CONNACK with DUP = 1
///   and the same identifiers (§4.4). With `cleanSession == true` the server forgets them, so
///   they go out again as first attempts (DUP = 0) ahead of the queue: delivery stays
///   at-least-once either way.
/// - **Inbound.** A QoS 0 or 1 PUBLISH is delivered (``Action/deliver(_:)``); QoS 1 is then
///   acknowledged at once, so PUBACKs leave in arrival order ([MQTT-4.6.0-2]). A QoS 2 PUBLISH
///   or any packet a server must not send in this state closes the connection with a reason.
/// - **Keep-alive.** PINGREQ when nothing was sent for `keepAliveSeconds`; no PINGRESP within
///   ``Configuration/pingTimeout`` closes the connection as dead. Deadlines are reported with
///   ``Action/scheduleTick(at:)`` whenever they change; send ``Event/tick`` then (a tick
///   with nothing due does nothing). Every event also checks the deadlines.
/// - **Closing.** After ``Action/closeConnection(_:)`` the session is already disconnected:
///   close the socket, and a following ``Event/connectionLost`` is harmless. Pending
///   SUBSCRIBE/UNSUBSCRIBE requests end with ``Action/subscribeAbandoned(packetID:filters:)`` /
///   ``Action/unsubscribeAbandoned(packetID:filters:)``; subscribe again after reconnecting.
/// - Every packet in a `.send` action encodes without error (the configuration is checked at
///   `init`, topics and sizes when a request arrives).
public struct MQTTClientSession: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var clientID: String
        public var username: String?
        public var password: [UInt8]?
        public var will: MQTTPacket.Will?
        /// `false` (default): the server keeps subscriptions and QoS 1 state across connections.
        public var cleanSession: Bool
        /// 0 turns keep-alive off. IoT Hub allows at most 1177 s (protocol sheet A.5).
        public var keepAliveSeconds: UInt16
        /// How long to wait for PINGRESP before declaring the connection dead.
        public var pingTimeout: Duration
        /// How long to wait for CONNACK after CONNECT.
        public var connAckTimeout: Duration
        /// QoS 1 PUBLISHes sent and not yet acknowledged, at most (at least 1).
        public var inFlightWindow: Int
        /// QoS 1 PUBLISHes waiting for room in the window, at most; more are refused.
        public var maximumQueuedPublishes: Int
        /// Largest packet sent or accepted, fixed header included.
        public var maximumPacketSize: Int

        public init(clientID: String, username: String? = nil, password: [UInt8]? = nil,
                    will: MQTTPacket.Will? = nil, cleanSession: Bool = false, keepAliveSeconds: UInt16 = 240,
                    pingTimeout: Duration = .seconds(30), connAckTimeout: Duration = .seconds(30),
                    inFlightWindow: Int = 20, maximumQueuedPublishes: Int = 1000,
                    maximumPacketSize: Int = MQTTDecoder.defaultMaximumPacketSize) {
            self.clientID = clientID
            self.username = username
            self.password = password
            self.will = will
            self.cleanSession = cleanSession
            self.keepAliveSeconds = keepAliveSeconds
            self.pingTimeout = pingTimeout
            self.connAckTimeout = connAckTimeout
            self.inFlightWindow = inFlightWindow
            self.maximumQueuedPublishes = maximumQueuedPublishes
            self.maximumPacketSize = maximumPacketSize
        }

        /// The CONNECT this configuration sends.
        public var connectPacket: MQTTPacket.Connect {
            MQTTPacket.Connect(clientID: clientID, cleanSession: cleanSession, keepAliveSeconds: keepAliveSeconds,
                               will: will, username: username, password: password)
        }
    }

    public enum Event: Sendable, Hashable {
        /// The transport is up: send CONNECT. Ignored unless disconnected.
        case connectRequested
        /// Bytes read from the transport.
        case bytesReceived([UInt8])
        /// A packet decoded elsewhere (tests, a driver with its own decoder).
        case packetReceived(MQTTPacket)
        case publishRequested(MQTTPublishRequest)
        case subscribeRequested([MQTTPacket.Subscription])
        case unsubscribeRequested([String])
        /// Send DISCONNECT and close.
        case disconnectRequested
        /// A scheduled deadline was reached (or any time: the session checks what is due).
        case tick
        /// The transport closed or failed underneath the session.
        case connectionLost
    }

    public enum Action: Sendable, Hashable {
        /// Encode and write this packet.
        case send(MQTTPacket)
        /// An application message arrived.
        case deliver(MQTTMessage)
        /// A publish request was taken; `packetID` is `nil` for QoS 0.
        case publishAccepted(packetID: UInt16?)
        case publishRefused(MQTTRequestRefusal)
        /// The server acknowledged the QoS 1 PUBLISH with this identifier (PUBACK).
        case publishAcknowledged(packetID: UInt16)
        case subscribeRefused(MQTTRequestRefusal)
        /// SUBACK: one result per filter, in request order.
        case subscribeResult(packetID: UInt16, [MQTTSubscriptionResult])
        /// The connection ended before the SUBACK came.
        case subscribeAbandoned(packetID: UInt16, filters: [String])
        case unsubscribeRefused(MQTTRequestRefusal)
        case unsubscribeResult(packetID: UInt16, filters: [String])
        case unsubscribeAbandoned(packetID: UInt16, filters: [String])
        case connectionEstablished(sessionPresent: Bool)
        /// CONNACK refused the connection; a ``closeConnection(_:)`` follows.
        case connectionFailed(MQTTPacket.ConnAck.ReturnCode)
        /// Close the transport now. The session is already disconnected.
        case closeConnection(MQTTCloseReason)
        /// Send ``Event/tick`` at this time (same time base as the events).
        case scheduleTick(at: Duration)
    }

    public enum State: Sendable, Hashable {
        case disconnected
        case awaitingConnAck
        case connected
    }

    public let configuration: Configuration
    public private(set) var state: State = .disconnected
    private var decoder: MQTTDecoder
    private var packetIDs = MQTTPacketIDAllocator()
    /// QoS 1 PUBLISHes sent and not acknowledged, in send order.
    private var inFlight: [MQTTPacket.Publish] = []
    /// QoS 1 PUBLISHes with an identifier, waiting for the window.
    private var queued: [MQTTPacket.Publish] = []
    private var queueHead = 0
    private var pendingSubscribes: [UInt16: [MQTTPacket.Subscription]] = [:]
    private var pendingUnsubscribes: [UInt16: [String]] = [:]
    private var connectSentAt: Duration?
    private var lastSentAt: Duration = .zero
    private var pingSentAt: Duration?
    private var scheduled: Duration?

    /// Checks that the configuration's CONNECT can be encoded (client id, will topic, user name).
    public init(configuration: Configuration) throws(MQTTEncodeError) {
        _ = try MQTTEncoder.encode(.connect(configuration.connectPacket))
        var configuration = configuration
        configuration.inFlightWindow = max(1, configuration.inFlightWindow)
        configuration.maximumQueuedPublishes = max(0, configuration.maximumQueuedPublishes)
        self.configuration = configuration
        decoder = MQTTDecoder(maximumPacketSize: configuration.maximumPacketSize)
    }

    /// Identifiers of QoS 1 PUBLISHes sent and not yet acknowledged, in send order.
    public var inFlightPacketIDs: [UInt16] { inFlight.compactMap(\.packetID) }
    /// Identifiers of QoS 1 PUBLISHes waiting for the window, in order.
    public var queuedPacketIDs: [UInt16] { queued[queueHead...].compactMap(\.packetID) }

    /// The next time something is due (CONNACK timeout, PINGREQ, PINGRESP timeout), if any.
    public var nextDeadline: Duration? {
        switch state {
        case .disconnected:
            return nil
        case .awaitingConnAck:
            return connectSentAt.map { $0 + configuration.connAckTimeout }
        case .connected:
            if let pingSentAt { return pingSentAt + configuration.pingTimeout }
            guard configuration.keepAliveSeconds > 0 else { return nil }
            return lastSentAt + .seconds(Int(configuration.keepAliveSeconds))
        }
    }

    /// Feeds one event in at time `now` and returns what to do, in order.
    public mutating func handle(_ event: Event, at now: Duration) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .connectRequested:
            connect(now, &actions)
        case .bytesReceived(let bytes):
            receive(bytes, now, &actions)
        case .packetReceived(let packet):
            if state != .disconnected { receive(packet, now, &actions) }
        case .publishRequested(let request):
            publish(request, now, &actions)
        case .subscribeRequested(let subscriptions):
            subscribe(subscriptions, now, &actions)
        case .unsubscribeRequested(let filters):
            unsubscribe(filters, now, &actions)
        case .disconnectRequested:
            if state != .disconnected {
                send(.disconnect, now, &actions)
                close(.requested, &actions)
            }
        case .tick:
            break
        case .connectionLost:
            if state != .disconnected { enterDisconnected(&actions) }
        }
        checkDeadlines(now, &actions)
        return actions
    }

    // MARK: - Events

    private mutating func connect(_ now: Duration, _ actions: inout [Action]) {
        guard state == .disconnected else { return }
        state = .awaitingConnAck
        decoder = MQTTDecoder(maximumPacketSize: configuration.maximumPacketSize)
        connectSentAt = now
        pingSentAt = nil
        send(.connect(configuration.connectPacket), now, &actions)
    }

    private mutating func receive(_ bytes: [UInt8], _ now: Duration, _ actions: inout [Action]) {
        guard state != .disconnected else { return }
        decoder.append(bytes)
        while state != .disconnected {
            do {
                guard let packet = try decoder.next() else { return }
                receive(packet, now, &actions)
            } catch {
                close(.malformedPacket(error), &actions)
            }
        }
    }

    private mutating func receive(_ packet: MQTTPacket, _ now: Duration, _ actions: inout [Action]) {
        if state == .awaitingConnAck {
            // [MQTT-3.2.0-1]: the first packet from the server is CONNACK.
            guard case .connAck(let ack) = packet else {
                close(.unexpectedPacket(packet.type, expected: "CONNACK"), &actions)
                return
            }
            if ack.returnCode == .accepted {
                state = .connected
                connectSentAt = nil
                actions.append(.connectionEstablished(sessionPresent: ack.sessionPresent))
                resumePublishes(now, &actions)
            } else {
                actions.append(.connectionFailed(ack.returnCode))
                close(.connectionRefused(ack.returnCode), &actions)
            }
            return
        }
        switch packet {
        case .publish(let publish):
            let message = MQTTMessage(topic: publish.topic, payload: publish.payload, qos: publish.qos,
                                      retain: publish.retain, dup: publish.dup)
            switch publish.qos {
            case .atMostOnce:
                actions.append(.deliver(message))
            case .atLeastOnce:
                actions.append(.deliver(message))
                if let id = publish.packetID { send(.pubAck(.init(packetID: id)), now, &actions) }
            case .exactlyOnce:
                close(.qos2PublishReceived(topic: publish.topic), &actions)
            }
        case .pubAck(let ack):
            // An identifier we do not know (a late duplicate) is ignored rather than fatal.
            guard let index = inFlight.firstIndex(where: { $0.packetID == ack.packetID }) else { return }
            inFlight.remove(at: index)
            packetIDs.release(ack.packetID)
            actions.append(.publishAcknowledged(packetID: ack.packetID))
            fillWindow(now, &actions)
        case .subAck(let ack):
            guard let subscriptions = pendingSubscribes.removeValue(forKey: ack.packetID) else { return }
            packetIDs.release(ack.packetID)
            guard subscriptions.count == ack.returnCodes.count else {
                close(.subAckCountMismatch(packetID: ack.packetID, requested: subscriptions.count,
                                           answered: ack.returnCodes.count), &actions)
                return
            }
            let results = zip(subscriptions, ack.returnCodes).map {
                MQTTSubscriptionResult(filter: $0.filter, requestedQoS: $0.qos, returnCode: $1)
            }
            actions.append(.subscribeResult(packetID: ack.packetID, results))
        case .unsubAck(let ack):
            guard let filters = pendingUnsubscribes.removeValue(forKey: ack.packetID) else { return }
            packetIDs.release(ack.packetID)
            actions.append(.unsubscribeResult(packetID: ack.packetID, filters: filters))
        case .pingResp:
            pingSentAt = nil
        case .connAck:
            close(.unexpectedPacket(.connAck, expected: "no second CONNACK"), &actions)
        case .pubRec, .pubRel, .pubComp:
            close(.unexpectedPacket(packet.type, expected: "no QoS 2 flow (QoS 2 is never offered)"), &actions)
        case .connect, .subscribe, .unsubscribe, .pingReq, .disconnect:
            close(.unexpectedPacket(packet.type, expected: "a packet a server sends"), &actions)
        }
    }

    private mutating func publish(_ request: MQTTPublishRequest, _ now: Duration, _ actions: inout [Action]) {
        if request.qos == .exactlyOnce {
            actions.append(.publishRefused(.qos2NotSupported))
            return
        }
        do { try MQTTTopic.validateName(request.topic) } catch {
            actions.append(.publishRefused(.invalidTopicName(request.topic, error)))
            return
        }
        let size = MQTTEncoder.encodedSize(ofPublishTopic: request.topic, payloadCount: request.payload.count,
                                           qos: request.qos)
        let maximum = min(configuration.maximumPacketSize, MQTTEncoder.maximumRemainingLength + 1)
        guard size <= maximum else {
            actions.append(.publishRefused(.packetTooLarge(size: size, maximum: maximum)))
            return
        }
        if request.qos == .atMostOnce {
            guard state == .connected else {
                actions.append(.publishRefused(.notConnected))
                return
            }
            actions.append(.publishAccepted(packetID: nil))
            send(.publish(.init(topic: request.topic, payload: request.payload, retain: request.retain)), now, &actions)
            return
        }
        guard queued.count - queueHead < configuration.maximumQueuedPublishes else {
            actions.append(.publishRefused(.queueFull(limit: configuration.maximumQueuedPublishes)))
            return
        }
        guard let id = packetIDs.allocate() else {
            actions.append(.publishRefused(.noPacketIdentifierAvailable))
            return
        }
        actions.append(.publishAccepted(packetID: id))
        queued.append(.init(topic: request.topic, payload: request.payload, qos: .atLeastOnce,
                            retain: request.retain, packetID: id))
        fillWindow(now, &actions)
    }

    private mutating func subscribe(_ subscriptions: [MQTTPacket.Subscription], _ now: Duration, _ actions: inout [Action]) {
        if let refusal = checkFilters(subscriptions.map(\.filter)) {
            actions.append(.subscribeRefused(refusal))
            return
        }
        if subscriptions.contains(where: { $0.qos == .exactlyOnce }) {
            actions.append(.subscribeRefused(.qos2NotSupported))
            return
        }
        guard let id = allocateForRequest(&actions, refuse: Action.subscribeRefused) else { return }
        pendingSubscribes[id] = subscriptions
        send(.subscribe(.init(packetID: id, subscriptions: subscriptions)), now, &actions)
    }

    private mutating func unsubscribe(_ filters: [String], _ now: Duration, _ actions: inout [Action]) {
        if let refusal = checkFilters(filters) {
            actions.append(.unsubscribeRefused(refusal))
            return
        }
        guard let id = allocateForRequest(&actions, refuse: Action.unsubscribeRefused) else { return }
        pendingUnsubscribes[id] = filters
        send(.unsubscribe(.init(packetID: id, filters: filters)), now, &actions)
    }

    private func checkFilters(_ filters: [String]) -> MQTTRequestRefusal? {
        if filters.isEmpty { return .emptyRequest }
        for filter in filters {
            do { try MQTTTopic.validateFilter(filter) } catch { return .invalidTopicFilter(filter, error) }
        }
        return nil
    }

    private mutating func allocateForRequest(_ actions: inout [Action],
                                             refuse: (MQTTRequestRefusal) -> Action) -> UInt16? {
        guard state == .connected else {
            actions.append(refuse(.notConnected))
            return nil
        }
        guard let id = packetIDs.allocate() else {
            actions.append(refuse(.noPacketIdentifierAvailable))
            return nil
        }
        return id
    }

    // MARK: - Publishing window

    private mutating func resumePublishes(_ now: Duration, _ actions: inout [Action]) {
        if configuration.cleanSession {
            // A clean session has no server-side record of these: first attempts again.
            let fresh = inFlight.map { publish -> MQTTPacket.Publish in
                var copy = publish
                copy.dup = false
                return copy
            }
            queued = fresh + queued[queueHead...]
            queueHead = 0
            inFlight = []
        } else {
            // §4.4: resend unacknowledged PUBLISHes with DUP = 1 and their original identifiers.
            for index in inFlight.indices {
                inFlight[index].dup = true
                send(.publish(inFlight[index]), now, &actions)
            }
        }
        fillWindow(now, &actions)
    }

    private mutating func fillWindow(_ now: Duration, _ actions: inout [Action]) {
        while state == .connected, inFlight.count < configuration.inFlightWindow, queueHead < queued.count {
            let publish = queued[queueHead]
            queueHead += 1
            inFlight.append(publish)
            send(.publish(publish), now, &actions)
        }
        if queueHead == queued.count {
            queued.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead > 256, queueHead > queued.count / 2 {
            queued.removeFirst(queueHead)
            queueHead = 0
        }
    }

    // MARK: - Connection state

    private mutating func send(_ packet: MQTTPacket, _ now: Duration, _ actions: inout [Action]) {
        actions.append(.send(packet))
        lastSentAt = now
    }

    private mutating func close(_ reason: MQTTCloseReason, _ actions: inout [Action]) {
        actions.append(.closeConnection(reason))
        enterDisconnected(&actions)
    }

    private mutating func enterDisconnected(_ actions: inout [Action]) {
        state = .disconnected
        connectSentAt = nil
        pingSentAt = nil
        decoder = MQTTDecoder(maximumPacketSize: configuration.maximumPacketSize)
        for id in pendingSubscribes.keys.sorted() {
            let filters = pendingSubscribes[id]?.map(\.filter) ?? []
            packetIDs.release(id)
            actions.append(.subscribeAbandoned(packetID: id, filters: filters))
        }
        pendingSubscribes = [:]
        for id in pendingUnsubscribes.keys.sorted() {
            packetIDs.release(id)
            actions.append(.unsubscribeAbandoned(packetID: id, filters: pendingUnsubscribes[id] ?? []))
        }
        pendingUnsubscribes = [:]
    }

    private mutating func checkDeadlines(_ now: Duration, _ actions: inout [Action]) {
        switch state {
        case .disconnected:
            break
        case .awaitingConnAck:
            if let sent = connectSentAt, now >= sent + configuration.connAckTimeout {
                close(.connAckTimeout(configuration.connAckTimeout), &actions)
            }
        case .connected:
            if let sent = pingSentAt {
                if now >= sent + configuration.pingTimeout {
                    close(.pingTimeout(configuration.pingTimeout), &actions)
                }
            } else if configuration.keepAliveSeconds > 0,
                      now >= lastSentAt + .seconds(Int(configuration.keepAliveSeconds)) {
                send(.pingReq, now, &actions)
                pingSentAt = now
            }
        }
        let deadline = nextDeadline
        if deadline != scheduled {
            scheduled = deadline
            if let deadline { actions.append(.scheduleTick(at: deadline)) }
        }
    }
}

/// What the application asks to publish.
public struct MQTTPublishRequest: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    /// IoT Hub does not store retained messages (protocol sheet A.6); kept for other brokers.
    public var retain: Bool

    public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// An application message received from the server.
public struct MQTTMessage: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: MQTTQoS
    public var retain: Bool
    /// The server says it may have delivered this before (a redelivery after a lost PUBACK).
    public var dup: Bool

    public init(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool = false, dup: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
    }
}

/// One filter's answer in a SUBACK.
public struct MQTTSubscriptionResult: Sendable, Hashable {
    public var filter: String
    public var requestedQoS: MQTTQoS
    public var returnCode: MQTTPacket.SubAck.ReturnCode

    public init(filter: String, requestedQoS: MQTTQoS, returnCode: MQTTPacket.SubAck.ReturnCode) {
        self.filter = filter
        self.requestedQoS = requestedQoS
        self.returnCode = returnCode
    }
}

/// Why the session did not take a publish, subscribe or unsubscribe request. Nothing was sent.
public enum MQTTRequestRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// QoS 2 is never offered: IoT Hub closes the connection on it (protocol sheet A.6).
    case qos2NotSupported
    /// QoS 0 publishes and (un)subscribes need a connected session.
    case notConnected
    /// The QoS 1 queue holds `limit` messages already: back-pressure, try later.
    case queueFull(limit: Int)
    /// All 65,535 packet identifiers are in use.
    case noPacketIdentifierAvailable
    case invalidTopicName(String, MQTTTopicError)
    case invalidTopicFilter(String, MQTTTopicError)
    /// The PUBLISH would be `size` bytes, above the `maximum` packet size.
    case packetTooLarge(size: Int, maximum: Int)
    /// A SUBSCRIBE or UNSUBSCRIBE with no filters.
    case emptyRequest

    public var description: String {
        switch self {
        case .qos2NotSupported: "QoS 2 is not supported (IoT Hub closes the connection on it); use QoS 0 or 1"
        case .notConnected: "not connected; QoS 0 publishes and subscriptions need a connected session"
        case .queueFull(let limit): "the publish queue is full (\(limit) messages); slow down or raise maximumQueuedPublishes"
        case .noPacketIdentifierAvailable: "all 65535 packet identifiers are in use"
        case let .invalidTopicName(topic, reason): "topic name '\(topic)' is invalid: \(reason)"
        case let .invalidTopicFilter(filter, reason): "topic filter '\(filter)' is invalid: \(reason)"
        case let .packetTooLarge(size, maximum): "the PUBLISH would be \(size) bytes; the maximum is \(maximum)"
        case .emptyRequest: "no topic filters given"
        }
    }
}

/// Why the session asks to close the connection.
public enum MQTTCloseReason: Sendable, Hashable, CustomStringConvertible {
    /// The application asked to disconnect (DISCONNECT was sent first).
    case requested
    /// CONNACK refused the connection.
    case connectionRefused(MQTTPacket.ConnAck.ReturnCode)
    /// No CONNACK within this time.
    case connAckTimeout(Duration)
    /// No PINGRESP within this time: the connection is dead.
    case pingTimeout(Duration)
    /// The server sent bytes that are not MQTT 3.1.1.
    case malformedPacket(MQTTDecodeError)
    /// The server sent a packet that is not allowed here.
    case unexpectedPacket(MQTTPacketType, expected: String)
    /// The server delivered at QoS 2, which this client never subscribes with.
    case qos2PublishReceived(topic: String)
    /// SUBACK carries a different number of return codes than the SUBSCRIBE had filters.
    case subAckCountMismatch(packetID: UInt16, requested: Int, answered: Int)

    public var description: String {
        switch self {
        case .requested: "disconnect requested"
        case .connectionRefused(let code): "server refused the connection: CONNACK \(code)"
        case .connAckTimeout(let limit): "no CONNACK within \(limit); check the host, port and TLS setup"
        case .pingTimeout(let limit): "no PINGRESP within \(limit); the connection is dead"
        case .malformedPacket(let error): "malformed packet from the server: \(error)"
        case let .unexpectedPacket(type, expected): "unexpected \(type) from the server; expected \(expected)"
        case .qos2PublishReceived(let topic): "server sent a QoS 2 PUBLISH on '\(topic)'; QoS 2 is not supported"
        case let .subAckCountMismatch(id, requested, answered):
            "SUBACK \(id) has \(answered) return codes for \(requested) filters"
        }
    }
}
