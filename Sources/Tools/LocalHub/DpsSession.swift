#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import MQTT

/// DPS's side of one device connection (MQTT 3.1.1, X.509 attestation): a pure state machine
/// like ``HubSession``. Events go in (decoded packets, timer ticks, the service's answer to a
/// registration) and ``Action``s come out; ``DpsConnectionHandler`` performs them.
///
/// ## Contract
/// - The first packet must be CONNECT within ``Configuration/connectTimeout``: user name
///   `{idScope}/registrations/{registrationId}/api-version=…` (``DpsProtocol/parseUsername(_:)``)
///   with this DPS's id scope, client id = registration id, a valid registration id. Otherwise
///   CONNACK 0x04 (bad user name) and close. The certificate is judged at registration.
/// - SUBSCRIBE: only `$dps/registrations/res/#` is granted (QoS 0 or 1); anything else 0x80.
/// - PUBLISH register (`…/PUT/iotdps-register/?$rid=`): the body must parse, name the same
///   registration id as the user name, and that id must equal the leaf certificate's CN
///   (case-insensitive, as registration ids are), else 400004 at once. Then
///   ``Action/register(requestID:body:)``; the answer ``Event/registered(requestID:operationID:result:)``
///   becomes a 202 `assigning` with the operation id (the result is kept for the poll) or the error.
/// - PUBLISH poll (`…/GET/iotdps-get-operationstatus/?$rid=&operationId=`): 200 with the
///   registration state for an operation of this connection, 404 for an unknown one.
/// - More requests than ``Configuration/requestsPerSecond`` (bursts of ``Configuration/requestBurst``)
///   are answered 429001 with `retry-after`. At most ``Configuration/maximumOperations`` results
///   are kept (the oldest goes).
/// - QoS 1 publishes are acknowledged (PUBACK) before the answer; QoS 2 and other topics close
///   the connection with the reason. Idle for 1.5 × keep-alive (or ``Configuration/idleTimeout``
///   without one): closed.
public struct DpsSession: Sendable {
    public struct Configuration: Sendable {
        public var idScope: String
        public var retryAfterSeconds: Int
        public var connectTimeout: Duration = .seconds(10)
        public var idleTimeout: Duration = .seconds(240)
        public var requestsPerSecond: Double = 5
        public var requestBurst: Double = 10
        public var maximumOperations = 16

        public init(idScope: String, retryAfterSeconds: Int) {
            self.idScope = idScope
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    public enum Event: Sendable {
        case packet(MQTTPacket)
        /// The service's answer to ``Action/register(requestID:body:)``.
        case registered(requestID: String, operationID: String, result: Result<DpsRegistrationState, DpsError>)
        case tick
        case connectionLost
    }

    public enum Action: Sendable, Hashable {
        case send(MQTTPacket)
        /// Match enrollments, issue, assign: answer with ``Event/registered(requestID:operationID:result:)``.
        case register(requestID: String, body: DpsProtocol.RegisterBody)
        /// Something worth a log line (a refusal, an answer).
        case note(String)
        case scheduleTick(at: Duration)
        /// Close the connection: the device disconnected, or a refusal with its reason (as the hub's).
        case close(HubSession.CloseReason)
    }

    enum State: Sendable {
        case awaitingConnect(deadline: Duration)
        case connected(DpsProtocol.Username)
        case closed
    }

    public let configuration: Configuration
    /// The leaf certificate's CN, as the TLS handshake gave it.
    let leafCommonName: String?
    var state: State
    var lastActivity: Duration
    var keepAliveTimeout: Duration = .seconds(240)
    var requests: TokenBucket
    /// Results by operation id, oldest first.
    var operations: [(id: String, result: Result<DpsRegistrationState, DpsError>)] = []
    var trackingCount = 0

    public init(configuration: Configuration, leafCommonName: String?, now: Duration) {
        self.configuration = configuration
        self.leafCommonName = leafCommonName
        state = .awaitingConnect(deadline: now + configuration.connectTimeout)
        lastActivity = now
        requests = TokenBucket(rate: configuration.requestsPerSecond, burst: configuration.requestBurst)
    }

    public func start() -> [Action] {
        if case .awaitingConnect(let deadline) = state { return [.scheduleTick(at: deadline)] }
        return []
    }

    public var registrationID: String? {
        if case .connected(let username) = state { return username.registrationID }
        return nil
    }

    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// `date` stamps error bodies (`timestampUtc`).
    public mutating func handle(_ event: Event, now: Duration, date: Date) -> [Action] {
        if case .closed = state { return [] }
        switch event {
        case .packet(let packet):
            lastActivity = now
            return received(packet, now: now, date: date)
        case let .registered(requestID, operationID, result):
            switch result {
            case .success:
                operations.append((operationID, result))
                if operations.count > configuration.maximumOperations { operations.removeFirst() }
                return [.send(response(DpsProtocol.responseTopic(status: 202, requestID: requestID,
                                                                retryAfter: configuration.retryAfterSeconds),
                                      DpsProtocol.assigningBody(operationID: operationID)))]
            case .failure(let error):
                return answer(error, requestID: requestID, date: date)
            }
        case .tick:
            return tick(now: now)
        case .connectionLost:
            state = .closed
            return []
        }
    }

    mutating func received(_ packet: MQTTPacket, now: Duration, date: Date) -> [Action] {
        switch state {
        case .closed:
            return []
        case .awaitingConnect:
            guard case .connect(let connect) = packet else {
                return close("the first packet was \(packet.type), not CONNECT (MQTT 3.1.1 §3.1)")
            }
            return connected(connect, now: now)
        case .connected(let username):
            switch packet {
            case .publish(let publish):
                return published(publish, username: username, now: now, date: date)
            case .subscribe(let subscribe):
                var notes: [Action] = []
                let codes = subscribe.subscriptions.map { subscription -> MQTTPacket.SubAck.ReturnCode in
                    guard subscription.filter == DpsProtocol.responseFilter else {
                        notes.append(.note("\(username.registrationID) may not subscribe to '\(subscription.filter)' (DPS "
                            + "accepts only \(DpsProtocol.responseFilter)): refused with 0x80"))
                        return .failure
                    }
                    return .granted(subscription.qos == .atMostOnce ? .atMostOnce : .atLeastOnce)
                }
                return notes + [.send(.subAck(.init(packetID: subscribe.packetID, returnCodes: codes)))]
            case .unsubscribe(let unsubscribe):
                return [.send(.unsubAck(.init(packetID: unsubscribe.packetID)))]
            case .pingReq:
                return [.send(.pingResp)]
            case .pubAck:
                return []
            case .disconnect:
                state = .closed
                return [.close(.deviceDisconnected)]
            case .connect:
                return close("\(username.registrationID) sent a second CONNECT on one connection (MQTT 3.1.1 §3.1.0-2)")
            case .pubRec, .pubRel, .pubComp, .connAck, .subAck, .unsubAck, .pingResp:
                return close("\(username.registrationID) sent \(packet.type), which DPS does not accept from a device")
            }
        }
    }

    mutating func connected(_ connect: MQTTPacket.Connect, now: Duration) -> [Action] {
        func refuse(_ reason: String) -> [Action] {
            state = .closed
            return [.send(.connAck(.init(sessionPresent: false, returnCode: .badUsernameOrPassword))),
                    .close(.refused("CONNECT from '\(connect.clientID)' refused with CONNACK 0x04: \(reason)"))]
        }
        guard let text = connect.username else {
            return refuse("no user name; DPS expects '\(configuration.idScope)/registrations/\(connect.clientID)/"
                + "api-version=\(DpsProtocol.apiVersion)'")
        }
        let username: DpsProtocol.Username
        switch DpsProtocol.parseUsername(text) {
        case .failure(let error): return refuse(error.message)
        case .success(let parsed): username = parsed
        }
        guard username.idScope == configuration.idScope else {
            return refuse("user name '\(text)' names id scope '\(username.idScope)' but this DPS's is "
                + "'\(configuration.idScope)'; configure the device with --id-scope \(configuration.idScope)")
        }
        guard DpsProtocol.validRegistrationID(username.registrationID) else {
            return refuse("registration id '\(username.registrationID)' is not 1…128 letters, digits and - . _ :")
        }
        guard connect.clientID == username.registrationID else {
            return refuse("the client id '\(connect.clientID)' is not the registration id '\(username.registrationID)' "
                + "of the user name (DPS: client id = registration id)")
        }
        state = .connected(username)
        if connect.keepAliveSeconds > 0 {
            keepAliveTimeout = .milliseconds(Int64(connect.keepAliveSeconds) * 1500)
        } else {
            keepAliveTimeout = configuration.idleTimeout
        }
        return [.send(.connAck(.init(sessionPresent: false, returnCode: .accepted))),
                .scheduleTick(at: lastActivity + keepAliveTimeout)]
    }

    mutating func published(_ publish: MQTTPacket.Publish, username: DpsProtocol.Username, now: Duration,
                            date: Date) -> [Action] {
        let id = username.registrationID
        if publish.qos == .exactlyOnce {
            return close("\(id) published with QoS 2 to '\(publish.topic)': DPS supports QoS 0 and 1 only")
        }
        guard let request = DpsProtocol.parseRequest(topic: publish.topic) else {
            return close("\(id) published to '\(publish.topic)', which is not a DPS request topic "
                + "($dps/registrations/PUT/iotdps-register/?$rid=… or …/GET/iotdps-get-operationstatus/?$rid=…&operationId=…)")
        }
        var actions: [Action] = []
        if publish.qos == .atLeastOnce, let packetID = publish.packetID { actions.append(.send(.pubAck(.init(packetID: packetID)))) }
        let requestID: String
        switch request {
        case .register(let rid): requestID = rid
        case .poll(let rid, _): requestID = rid
        }
        guard requests.take(now: now) else {
            let wait = max(1, configuration.retryAfterSeconds)
            return actions + answer(.throttled("\(id) sent more than \(Int(configuration.requestsPerSecond)) requests per "
                + "second; wait retry-after seconds between polls", retryAfter: wait), requestID: requestID, date: date)
        }
        switch request {
        case .register(let rid):
            let body: DpsProtocol.RegisterBody
            switch DpsProtocol.parseRegisterBody(publish.payload) {
            case .failure(let error): return actions + answer(error, requestID: rid, date: date)
            case .success(let parsed): body = parsed
            }
            guard body.registrationID.lowercased() == id.lowercased() else {
                return actions + answer(.badRequest("the body's registrationId '\(body.registrationID)' is not the user "
                    + "name's '\(id)'; send the same registration id in both"), requestID: rid, date: date)
            }
            guard let commonName = leafCommonName, commonName.lowercased() == id.lowercased() else {
                return actions + answer(.badRequest("the certificate's CN is '\(leafCommonName ?? "(none)")', not the "
                    + "registration id '\(id)'; with X.509 attestation the registration id must be the device "
                    + "certificate's CN: use --registration-id \(leafCommonName ?? "CN") or a certificate with CN=\(id)"),
                    requestID: rid, date: date)
            }
            return actions + [.register(requestID: rid, body: body)]
        case let .poll(rid, operationID):
            guard let operation = operations.last(where: { $0.id == operationID }) else {
                return actions + answer(.notFound("operation '\(operationID)' is not one of \(id)'s on this connection; "
                    + "register again (PUT iotdps-register) and poll with the operationId of its 202"),
                    requestID: rid, date: date)
            }
            switch operation.result {
            case .success(let registration):
                return actions + [.send(response(DpsProtocol.responseTopic(status: 200, requestID: rid),
                                                DpsProtocol.assignedBody(operationID: operationID, state: registration))),
                                  .note("\(id) assigned to \(registration.assignedHub) as \(registration.deviceID) "
                                      + "(operation \(operationID))")]
            case .failure(let error):
                return actions + answer(error, requestID: rid, date: date)
            }
        }
    }

    mutating func tick(now: Duration) -> [Action] {
        switch state {
        case .awaitingConnect(let deadline):
            if now >= deadline { return close("no CONNECT within \(configuration.connectTimeout) of the TLS handshake") }
            return [.scheduleTick(at: deadline)]
        case .connected(let username):
            let expiry = lastActivity + keepAliveTimeout
            if now >= expiry {
                return close("keep-alive expired: no packet from \(username.registrationID) for \(keepAliveTimeout)")
            }
            return [.scheduleTick(at: expiry)]
        case .closed:
            return []
        }
    }

    mutating func answer(_ error: DpsError, requestID: String, date: Date) -> [Action] {
        trackingCount += 1
        let tracking = "\(registrationID ?? "device")-\(trackingCount)"
        return [.send(response(DpsProtocol.responseTopic(status: error.status, requestID: requestID, retryAfter: error.retryAfter),
                              error.body(trackingID: tracking, at: date))),
                .note("DPS answered \(registrationID ?? "a device") \(error)")]
    }

    /// Answers go at QoS 0, as DPS sends them.
    func response(_ topic: String, _ body: [UInt8]) -> MQTTPacket {
        .publish(.init(topic: topic, payload: body, qos: .atMostOnce))
    }

    mutating func close(_ reason: String) -> [Action] {
        state = .closed
        return [.close(.refused(reason))]
    }
}
