import IoTHub
import MQTT

/// The hub's side of one device connection, as IoT Hub behaves toward a device over MQTT 3.1.1
/// (IoT Hub's MQTT support: CONNECT; IoT Hub's MQTT support: keep-alive; IoT Hub's direct methods): a pure state machine. Events go in (decoded
/// packets, timer ticks, answers from the twin store, pushes from the admin side) and
/// ``Action``s come out; the NIO handler performs them. No I/O, no clock: every call gets `now`.
///
/// ## Contract
/// - The first packet must be CONNECT within ``Configuration/connectTimeout``; the session asks
///   for a decision with ``Action/authenticate(clientID:username:)`` and expects
///   ``Event/authenticated(_:)`` next. A refusal sends CONNACK with its code and closes.
/// - Keep-alive: with a keep-alive of `k` s, a connection with no packet from the device for
///   1.5 × `k` s (at most 1767 s) is closed (A.5); `k` = 0 does not hold a connection forever:
///   it is closed after ``Configuration/idleTimeoutWithoutKeepAlive`` without a packet.
/// - A device may publish only to its own telemetry topic, the twin GET and reported PATCH
///   topics and method responses; anything else, and any QoS 2 PUBLISH, closes the connection
///   with the reason (A.6). QoS 1 publishes are acknowledged after their action, so a PUBACK
///   means the message was stored.
/// - SUBSCRIBE: only the four device filters (its C2D, twin responses, desired patches, method
///   requests); QoS 2 is granted as QoS 1 (A.6); others, and more than five, get 0x80.
/// - Hub-to-device messages go out only while the device is subscribed to their filter; a
///   method request without the methods subscription is answered `404` (404103 DeviceNotOnline).
/// - C2D messages go out at QoS 1; a PUBACK completes the message (``Action/cloudToDeviceCompleted(messageID:)``).
///   A message delivered again on the same connection (its lock ran out) keeps its packet id and
///   carries DUP (MQTT 3.1.1 §4.4). At most ``Configuration/maximumCloudToDeviceInFlight`` (IoT
///   Hub's 50 per device) wait for their PUBACK; one that cannot go out is handed back
///   (``Action/cloudToDeviceNotDelivered(messageID:reason:)``), so the packet-id allocator always
///   finds a free id and a device that never acknowledges stays served.
/// - Telemetry properties the hub reserves (`iothub-*`, `$.cdid`) are not taken from the device:
///   device-written `iothub-*` are removed and `$.cdid` is set to the authenticated device id.
/// - A will is published as telemetry (property `iothub-MessageType=Will`) when the connection
///   is lost without DISCONNECT, if its topic is the device's own telemetry topic (A.6).
public struct HubSession: Sendable {
    public struct Configuration: Sendable {
        /// How long a new connection may take to send CONNECT.
        public var connectTimeout: Duration = .seconds(10)
        /// IoT Hub's cap on the server-side keep-alive timeout (A.5).
        public var maximumKeepAliveTimeout: Duration = .seconds(1767)
        /// A device that asked for no keep-alive (0) is still closed after this long without a packet.
        public var idleTimeoutWithoutKeepAlive: Duration = .seconds(1767)
        /// C2D messages sent and not yet acknowledged, per connection.
        public var maximumCloudToDeviceInFlight = IoTHubLimits.maximumCloudToDeviceQueueDepth

        public init(connectTimeout: Duration = .seconds(10)) {
            self.connectTimeout = connectTimeout
        }
    }

    /// The verdict on a CONNECT.
    public enum AuthenticationDecision: Sendable, Hashable {
        case accepted(deviceID: String)
        case refused(MQTTPacket.ConnAck.ReturnCode, reason: String)
    }

    public enum Event: Sendable {
        case packet(MQTTPacket)
        case authenticated(AuthenticationDecision)
        /// A timer scheduled with ``Action/scheduleTick(at:)`` fired (early ticks are harmless).
        case tick
        case twinAnswer(requestID: String, status: Int, body: [UInt8])
        case reportedPatchAnswer(requestID: String, status: Int, version: Int?)
        /// A desired-properties change to push (A.9): body is the patch with `"$version"`.
        case desiredPatch(version: Int, body: [UInt8])
        case invokeMethod(name: String, requestID: String, payload: [UInt8])
        /// A C2D message the hub locked for this connection (`messageID`: the hub's, not MQTT's).
        case cloudToDevice(messageID: UInt64, properties: IoTHubPropertyBag, payload: [UInt8])
        /// The TCP or TLS connection ended (the handler saw it close).
        case connectionLost
    }

    /// Why the hub closes a connection.
    public enum CloseReason: Sendable, Hashable, CustomStringConvertible {
        /// The device sent DISCONNECT or closed the connection.
        case deviceDisconnected
        /// The device broke a rule: unauthorised topic, QoS 2, protocol violation, keep-alive.
        case refused(String)

        public var description: String {
            switch self {
            case .deviceDisconnected: "the device disconnected"
            case .refused(let reason): reason
            }
        }
    }

    public enum Action: Sendable, Hashable {
        case send(MQTTPacket)
        /// Decide whether `clientID` may connect with the certificate it presented.
        case authenticate(clientID: String, username: String?)
        /// The device is connected (close any older connection of the same device, A.6).
        case connected(deviceID: String)
        case storeTelemetry(TelemetryMessage)
        case twinGet(requestID: String)
        case reportedPatch(requestID: String, body: [UInt8])
        case methodResponse(requestID: String, status: Int, payload: [UInt8])
        /// A method request that cannot reach the device: answer the caller `404` with `reason`.
        case methodUndeliverable(requestID: String, reason: String)
        /// Something worth a log line that does not end the connection.
        case note(String)
        /// The device subscribed to its C2D topic: messages queued while it was offline may go now.
        case cloudToDeviceReady
        /// The device acknowledged (PUBACK) C2D message `messageID`: it is complete.
        case cloudToDeviceCompleted(messageID: UInt64)
        /// C2D message `messageID` did not go out on this connection (`reason`); it stays the hub's.
        case cloudToDeviceNotDelivered(messageID: UInt64, reason: String)
        case scheduleTick(at: Duration)
        case close(CloseReason)
    }

    /// A telemetry message as received (A.7).
    public struct TelemetryMessage: Sendable, Hashable {
        public var deviceID: String
        public var topic: String
        public var properties: IoTHubPropertyBag
        public var payload: [UInt8]
        public var qos: MQTTQoS

        public init(deviceID: String, topic: String, properties: IoTHubPropertyBag, payload: [UInt8], qos: MQTTQoS) {
            self.deviceID = deviceID
            self.topic = topic
            self.properties = properties
            self.payload = payload
            self.qos = qos
        }
    }

    enum State: Sendable {
        case awaitingConnect(deadline: Duration)
        case authenticating(MQTTPacket.Connect)
        case connected(deviceID: String)
        case closed
    }

    public let configuration: Configuration
    var state: State
    var lastActivity: Duration
    var keepAliveTimeout: Duration?
    var will: MQTTPacket.Will?
    var subscriptions: Set<String> = []
    var nextPacketID: UInt16 = 0
    /// C2D messages sent at QoS 1 and not yet acknowledged: packet id → the hub's message id.
    var unacknowledged: [UInt16: UInt64] = [:]

    /// A session for a connection whose TLS handshake completed at `now`.
    public init(configuration: Configuration = Configuration(), now: Duration) {
        self.configuration = configuration
        state = .awaitingConnect(deadline: now + configuration.connectTimeout)
        lastActivity = now
    }

    /// The first actions (the CONNECT timer).
    public func start() -> [Action] {
        if case .awaitingConnect(let deadline) = state { return [.scheduleTick(at: deadline)] }
        return []
    }

    public var deviceID: String? {
        if case .connected(let id) = state { return id }
        return nil
    }

    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Whether the device subscribed to `filter` (exact text, as IoT Hub accepts only these).
    public func isSubscribed(_ filter: String) -> Bool { subscriptions.contains(filter) }

    public mutating func handle(_ event: Event, now: Duration) -> [Action] {
        if case .closed = state { return [] }
        switch event {
        case .packet(let packet):
            lastActivity = now
            return received(packet, now: now)
        case .authenticated(let decision):
            return authenticated(decision, now: now)
        case .tick:
            return tick(now: now)
        case let .twinAnswer(requestID, status, body):
            return publishIfSubscribed(IoTHubTopic.twinResponseFilter,
                                       topic: IoTHubTopic.twinResponse(status: status, requestID: requestID),
                                       payload: body, what: "twin response \(requestID)")
        case let .reportedPatchAnswer(requestID, status, version):
            return publishIfSubscribed(IoTHubTopic.twinResponseFilter,
                                       topic: IoTHubTopic.twinResponse(status: status, requestID: requestID, version: version),
                                       payload: [], what: "reported-patch response \(requestID)")
        case let .desiredPatch(version, body):
            return publishIfSubscribed(IoTHubTopic.twinDesiredPatchFilter,
                                       topic: IoTHubTopic.desiredPatch(version: version),
                                       payload: body, what: "desired patch $version \(version)")
        case let .invokeMethod(name, requestID, payload):
            guard deviceID != nil, isSubscribed(IoTHubTopic.methodRequestFilter) else {
                return [.methodUndeliverable(requestID: requestID, reason: "the device is connected but has not "
                    + "subscribed to \(IoTHubTopic.methodRequestFilter) (404103 DeviceNotOnline)")]
            }
            do {
                let topic = try IoTHubTopic.methodRequest(name: name, requestID: requestID)
                // Method requests go to the device at QoS 0 (A.6).
                return [.send(.publish(.init(topic: topic, payload: payload, qos: .atMostOnce)))]
            } catch {
                return [.methodUndeliverable(requestID: requestID, reason: "\(error)")]
            }
        case let .cloudToDevice(messageID, properties, payload):
            guard let deviceID else {
                return [.cloudToDeviceNotDelivered(messageID: messageID, reason: "the device is not connected")]
            }
            let filter = "devices/\(deviceID)/messages/devicebound/#"
            guard isSubscribed(filter) else {
                return [.cloudToDeviceNotDelivered(messageID: messageID, reason: "\(deviceID) has not subscribed to \(filter)")]
            }
            let topic: String
            do { topic = try IoTHubTopic.cloudToDevice(deviceID: deviceID, properties: properties) } catch {
                return [.cloudToDeviceNotDelivered(messageID: messageID, reason: "\(error)")]
            }
            // Its lock ran out and it goes again on this connection: same packet id, DUP set.
            if let id = unacknowledged.first(where: { $0.value == messageID })?.key {
                return [.send(.publish(.init(topic: topic, payload: payload, qos: .atLeastOnce, dup: true, packetID: id)))]
            }
            guard unacknowledged.count < configuration.maximumCloudToDeviceInFlight, let id = allocatePacketID() else {
                return [.cloudToDeviceNotDelivered(messageID: messageID, reason: "\(deviceID) has \(unacknowledged.count) "
                    + "unacknowledged C2D messages (IoT Hub allows \(configuration.maximumCloudToDeviceInFlight) per device)")]
            }
            unacknowledged[id] = messageID
            return [.send(.publish(.init(topic: topic, payload: payload, qos: .atLeastOnce, packetID: id)))]
        case .connectionLost:
            var actions: [Action] = []
            if case .connected(let id) = state, let will, let message = willMessage(will, deviceID: id) {
                actions.append(.storeTelemetry(message))
            }
            state = .closed
            return actions
        }
    }

    // MARK: Inbound packets

    mutating func received(_ packet: MQTTPacket, now: Duration) -> [Action] {
        switch state {
        case .awaitingConnect:
            guard case .connect(let connect) = packet else {
                return close("the first packet was \(packet.type), not CONNECT (MQTT 3.1.1 §3.1)")
            }
            state = .authenticating(connect)
            return [.authenticate(clientID: connect.clientID, username: connect.username)]
        case .authenticating:
            return close("\(packet.type) arrived before the CONNACK was sent")
        case .closed:
            return []
        case .connected(let deviceID):
            switch packet {
            case .connect:
                return close("\(deviceID) sent a second CONNECT on one connection (MQTT 3.1.1 §3.1.0-2)")
            case .publish(let publish):
                return published(publish, deviceID: deviceID)
            case .pubAck(let ack):
                // An id not in flight (a late duplicate) is ignored, as MQTT allows.
                guard let messageID = unacknowledged.removeValue(forKey: ack.packetID) else { return [] }
                return [.cloudToDeviceCompleted(messageID: messageID)]
            case .subscribe(let subscribe):
                return subscribed(subscribe, deviceID: deviceID)
            case .unsubscribe(let unsubscribe):
                for filter in unsubscribe.filters { subscriptions.remove(filter) }
                return [.send(.unsubAck(.init(packetID: unsubscribe.packetID)))]
            case .pingReq:
                return [.send(.pingResp)]
            case .disconnect:
                will = nil  // §3.14.4: a clean DISCONNECT discards the will
                state = .closed
                return [.close(.deviceDisconnected)]
            case .pubRec, .pubRel, .pubComp:
                return close("\(deviceID) sent \(packet.type): QoS 2 is not supported by IoT Hub (IoT Hub's MQTT support: QoS and subscriptions)")
            case .connAck, .subAck, .unsubAck, .pingResp:
                return close("\(deviceID) sent \(packet.type), which only a server sends")
            }
        }
    }

    mutating func authenticated(_ decision: AuthenticationDecision, now: Duration) -> [Action] {
        guard case .authenticating(let connect) = state else { return [] }
        switch decision {
        case let .refused(code, reason):
            state = .closed
            return [.send(.connAck(.init(sessionPresent: false, returnCode: code))),
                    .close(.refused("CONNECT from '\(connect.clientID)' refused with CONNACK \(code): \(reason)"))]
        case .accepted(let deviceID):
            state = .connected(deviceID: deviceID)
            var actions: [Action] = [.connected(deviceID: deviceID),
                                     .send(.connAck(.init(sessionPresent: false, returnCode: .accepted)))]
            if let will = connect.will {
                if willMessage(will, deviceID: deviceID) != nil {
                    self.will = will
                } else {
                    actions.append(.note("will on '\(will.topic)' ignored: a will must be \(deviceID)'s telemetry topic"))
                }
            }
            let timeout = connect.keepAliveSeconds > 0
                ? min(Duration.milliseconds(Int64(connect.keepAliveSeconds) * 1500), configuration.maximumKeepAliveTimeout)
                : configuration.idleTimeoutWithoutKeepAlive
            keepAliveTimeout = timeout
            actions.append(.scheduleTick(at: lastActivity + timeout))
            return actions
        }
    }

    mutating func tick(now: Duration) -> [Action] {
        switch state {
        case .awaitingConnect(let deadline):
            if now >= deadline {
                return close("no CONNECT within \(configuration.connectTimeout) of the TLS handshake")
            }
            return [.scheduleTick(at: deadline)]
        case .connected(let deviceID):
            guard let timeout = keepAliveTimeout else { return [] }
            let expiry = lastActivity + timeout
            if now >= expiry {
                return close("keep-alive expired: no packet from \(deviceID) for \(timeout) "
                    + "(1.5 × its keep-alive, IoT Hub's MQTT support: keep-alive; 404104 DeviceConnectionClosedRemotely)")
            }
            return [.scheduleTick(at: expiry)]
        case .authenticating, .closed:
            return []
        }
    }

    mutating func published(_ publish: MQTTPacket.Publish, deviceID: String) -> [Action] {
        if publish.qos == .exactlyOnce {
            return close("\(deviceID) published with QoS 2 to '\(publish.topic)': IoT Hub supports QoS 0 and 1 "
                + "only and closes the connection (IoT Hub's MQTT support: QoS and subscriptions)")
        }
        let request: IoTHubDeviceRequest
        do {
            request = try IoTHubDeviceRequest(topic: publish.topic)
        } catch {
            return close("\(deviceID) published to '\(publish.topic)', which is not a topic a device may publish to "
                + "(\(error))")
        }
        var actions: [Action] = []
        switch request {
        case .telemetry(let telemetry):
            guard telemetry.deviceID == deviceID, telemetry.moduleID == nil else {
                return close("\(deviceID) published to '\(publish.topic)', the telemetry topic of "
                    + "\(telemetry.deviceID)\(telemetry.moduleID.map { "/\($0)" } ?? ""): a device may use only its own topics")
            }
            var bag = Self.withReservedPropertiesOverwritten(Self.propertyBag(ofTelemetryTopic: publish.topic, deviceID: deviceID),
                                                             deviceID: deviceID)
            // A.6: retain is not supported; the hub forwards the message with `mqtt-retain`.
            if publish.retain { bag.append("mqtt-retain", "true") }
            actions.append(.storeTelemetry(TelemetryMessage(deviceID: deviceID, topic: publish.topic, properties: bag,
                                                            payload: publish.payload, qos: publish.qos)))
        case .twinGet(let requestID):
            actions.append(.twinGet(requestID: requestID))
        case .twinReportedPatch(let requestID):
            actions.append(.reportedPatch(requestID: requestID, body: publish.payload))
        case let .methodResponse(status, requestID):
            actions.append(.methodResponse(requestID: requestID, status: status, payload: publish.payload))
        }
        if publish.qos == .atLeastOnce, let id = publish.packetID {
            actions.append(.send(.pubAck(.init(packetID: id))))
        }
        return actions
    }

    mutating func subscribed(_ subscribe: MQTTPacket.Subscribe, deviceID: String) -> [Action] {
        let allowed = IoTHubTopic.deviceFilters(deviceID: deviceID)
        var codes: [MQTTPacket.SubAck.ReturnCode] = []
        var actions: [Action] = []
        var ready = false
        for subscription in subscribe.subscriptions {
            guard allowed.contains(subscription.filter) else {
                codes.append(.failure)
                actions.append(.note("\(deviceID) may not subscribe to '\(subscription.filter)' (IoT Hub accepts only "
                    + "the device's own C2D, twin and method filters, IoT Hub's MQTT support: QoS and subscriptions): refused with 0x80"))
                continue
            }
            if !subscriptions.contains(subscription.filter), subscriptions.count >= IoTHubLimits.maximumSubscriptions {
                codes.append(.failure)
                actions.append(.note("\(deviceID) exceeded \(IoTHubLimits.maximumSubscriptions) subscriptions: "
                    + "'\(subscription.filter)' refused"))
                continue
            }
            if subscription.qos == .exactlyOnce {
                actions.append(.note("\(deviceID) asked QoS 2 for '\(subscription.filter)': granted QoS 1 (IoT Hub's MQTT support: QoS and subscriptions)"))
            }
            if subscription.filter == "devices/\(deviceID)/messages/devicebound/#", !subscriptions.contains(subscription.filter) {
                ready = true
            }
            subscriptions.insert(subscription.filter)
            codes.append(.granted(subscription.qos == .atMostOnce ? .atMostOnce : .atLeastOnce))
        }
        actions.append(.send(.subAck(.init(packetID: subscribe.packetID, returnCodes: codes))))
        if ready { actions.append(.cloudToDeviceReady) }
        return actions
    }

    // MARK: Helpers

    func publishIfSubscribed(_ filter: String, topic: String, payload: [UInt8], what: String) -> [Action] {
        guard deviceID != nil else { return [.note("\(what) dropped: the device is not connected")] }
        guard isSubscribed(filter) else {
            return [.note("\(what) dropped: \(deviceID ?? "the device") has not subscribed to \(filter)")]
        }
        // Twin responses and desired patches go to the device at QoS 0 (A.6).
        return [.send(.publish(.init(topic: topic, payload: payload, qos: .atMostOnce)))]
    }

    func willMessage(_ will: MQTTPacket.Will, deviceID: String) -> TelemetryMessage? {
        guard let topic = try? IoTHubTopic.parseTelemetry(will.topic), topic.deviceID == deviceID,
              topic.moduleID == nil else { return nil }
        var bag = Self.withReservedPropertiesOverwritten(Self.propertyBag(ofTelemetryTopic: will.topic, deviceID: deviceID),
                                                         deviceID: deviceID)
        bag.append("iothub-MessageType", "Will")
        return TelemetryMessage(deviceID: deviceID, topic: will.topic, properties: bag, payload: will.payload,
                                qos: will.qos == .exactlyOnce ? .atLeastOnce : will.qos)
    }

    /// The bag exactly as the device wrote it (order and repeats kept), decoded.
    static func propertyBag(ofTelemetryTopic topic: String, deviceID: String) -> IoTHubPropertyBag {
        let prefix = "devices/\(deviceID)/messages/events/"
        guard topic.hasPrefix(prefix) else { return IoTHubPropertyBag() }
        return (try? IoTHubPropertyBag(parsing: topic.dropFirst(prefix.count))) ?? IoTHubPropertyBag()
    }

    /// The hub's own properties are not the device's to set: device-written `iothub-*` are
    /// removed and a device-written `$.cdid` carries the authenticated device id.
    static func withReservedPropertiesOverwritten(_ bag: IoTHubPropertyBag, deviceID: String) -> IoTHubPropertyBag {
        IoTHubPropertyBag(bag.entries.compactMap { entry in
            if entry.name.lowercased().hasPrefix("iothub-") { return nil }
            if entry.name == "$.cdid" { return IoTHubPropertyBag.Entry(name: entry.name, value: deviceID) }
            return entry
        })
    }

    /// The next packet id not in flight; nil when all 65,535 are (never, with the in-flight
    /// bound). Looks at each id at most once, so it can never spin.
    mutating func allocatePacketID() -> UInt16? {
        for _ in 0..<Int(UInt16.max) {
            nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
            if unacknowledged[nextPacketID] == nil { return nextPacketID }
        }
        return nil
    }

    mutating func close(_ reason: String) -> [Action] {
        state = .closed
        return [.close(.refused(reason))]
    }
}
