import MQTT
import Testing

/// Event scripts: each step feeds one event at a time on a virtual timeline and states the
/// exact actions expected back.
@Suite struct MQTTClientSessionTests {
    typealias Action = MQTTClientSession.Action

    static let connAckNew: [UInt8] = [0x20, 0x02, 0x00, 0x00]
    static let connAckResumed: [UInt8] = [0x20, 0x02, 0x01, 0x00]

    func makeSession(window: Int = 2, keepAlive: UInt16 = 60, cleanSession: Bool = false,
                     maximumQueued: Int = 1000, maximumPacketSize: Int = 256 * 1024) throws -> MQTTClientSession {
        try MQTTClientSession(configuration: .init(
            clientID: "dev1", username: "hub/dev1/?api-version=2021-04-12", cleanSession: cleanSession,
            keepAliveSeconds: keepAlive, pingTimeout: .seconds(5), connAckTimeout: .seconds(10),
            inFlightWindow: window, maximumQueuedPublishes: maximumQueued, maximumPacketSize: maximumPacketSize))
    }

    func publish(_ id: UInt16, dup: Bool = false) -> Action {
        .send(.publish(.init(topic: "devices/dev1/messages/events/", payload: [UInt8(id)], qos: .atLeastOnce,
                             dup: dup, packetID: id)))
    }

    func request(_ id: UInt16) -> MQTTClientSession.Event {
        .publishRequested(.init(topic: "devices/dev1/messages/events/", payload: [UInt8(id)]))
    }

    func connectPacket(cleanSession: Bool) -> Action {
        .send(.connect(.init(clientID: "dev1", cleanSession: cleanSession, keepAliveSeconds: 60,
                             username: "hub/dev1/?api-version=2021-04-12")))
    }

    @Test func connectWindowAcknowledgeReconnectRetransmit() throws {
        var session = try makeSession()
        #expect(session.handle(.connectRequested, at: .seconds(0))
            == [connectPacket(cleanSession: false), .scheduleTick(at: .seconds(10))])
        #expect(session.state == .awaitingConnAck)
        #expect(session.handle(.bytesReceived(Self.connAckNew), at: .milliseconds(100))
            == [.connectionEstablished(sessionPresent: false), .scheduleTick(at: .seconds(60))])

        // Window of 2: the third QoS 1 publish waits.
        #expect(session.handle(request(1), at: .seconds(1))
            == [.publishAccepted(packetID: 1), publish(1), .scheduleTick(at: .seconds(61))])
        #expect(session.handle(request(2), at: .seconds(1)) == [.publishAccepted(packetID: 2), publish(2)])
        #expect(session.handle(request(3), at: .seconds(1)) == [.publishAccepted(packetID: 3)])
        #expect(session.inFlightPacketIDs == [1, 2])
        #expect(session.queuedPacketIDs == [3])

        // PUBACKs may come in any order; each frees a slot for the queue.
        #expect(session.handle(.bytesReceived([0x40, 0x02, 0x00, 0x02]), at: .seconds(2))
            == [.publishAcknowledged(packetID: 2), publish(3), .scheduleTick(at: .seconds(62))])
        #expect(session.inFlightPacketIDs == [1, 3])

        // The connection drops with 1 and 3 unacknowledged; more publishes queue meanwhile.
        #expect(session.handle(.connectionLost, at: .seconds(3)) == [])
        #expect(session.state == .disconnected)
        #expect(session.handle(request(4), at: .seconds(4)) == [.publishAccepted(packetID: 4)])
        #expect(session.handle(.publishRequested(.init(topic: "t", payload: [], qos: .atMostOnce)), at: .seconds(4))
            == [.publishRefused(.notConnected)])

        // Reconnect: 1 and 3 go again with DUP = 1 and the same ids, in their original order;
        // 4 waits for the window.
        #expect(session.handle(.connectRequested, at: .seconds(5))
            == [connectPacket(cleanSession: false), .scheduleTick(at: .seconds(15))])
        #expect(session.handle(.bytesReceived(Self.connAckResumed), at: .seconds(6))
            == [.connectionEstablished(sessionPresent: true), publish(1, dup: true), publish(3, dup: true),
                .scheduleTick(at: .seconds(66))])
        #expect(session.handle(.bytesReceived([0x40, 0x02, 0x00, 0x01]), at: .seconds(7))
            == [.publishAcknowledged(packetID: 1), publish(4), .scheduleTick(at: .seconds(67))])
        #expect(session.inFlightPacketIDs == [3, 4])
        #expect(session.queuedPacketIDs == [])
    }

    @Test func cleanSessionResendsAsFirstAttempts() throws {
        var session = try makeSession(cleanSession: true)
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        _ = session.handle(request(1), at: .zero)
        _ = session.handle(request(2), at: .zero)
        _ = session.handle(request(3), at: .zero)
        _ = session.handle(.connectionLost, at: .seconds(1))
        #expect(session.handle(.connectRequested, at: .seconds(2)).first == connectPacket(cleanSession: true))
        #expect(session.handle(.bytesReceived(Self.connAckNew), at: .seconds(2))
            == [.connectionEstablished(sessionPresent: false), publish(1), publish(2), .scheduleTick(at: .seconds(62))])
        #expect(session.queuedPacketIDs == [3])
    }

    @Test func keepAlivePingAndDeadConnection() throws {
        var session = try makeSession(keepAlive: 10)
        _ = session.handle(.connectRequested, at: .zero)
        // CONNECT went out at 0, so the first ping is due at 10 s: the same deadline as the
        // CONNACK timeout already scheduled, hence no new schedule action.
        #expect(session.handle(.bytesReceived(Self.connAckNew), at: .seconds(1))
            == [.connectionEstablished(sessionPresent: false)])
        #expect(session.nextDeadline == .seconds(10))
        #expect(session.handle(.tick, at: .milliseconds(9_999)) == [])
        #expect(session.handle(.tick, at: .seconds(10)) == [.send(.pingReq), .scheduleTick(at: .seconds(15))])
        // PINGRESP in time: the next ping is due keep-alive after the last thing sent.
        #expect(session.handle(.bytesReceived([0xD0, 0x00]), at: .seconds(11)) == [.scheduleTick(at: .seconds(20))])
        // Sending anything postpones the ping.
        let qos0 = MQTTPublishRequest(topic: "t", payload: [1], qos: .atMostOnce)
        #expect(session.handle(.publishRequested(qos0), at: .seconds(18))
            == [.publishAccepted(packetID: nil), .send(.publish(.init(topic: "t", payload: [1]))),
                .scheduleTick(at: .seconds(28))])
        #expect(session.handle(.tick, at: .seconds(20)) == [])
        #expect(session.handle(.tick, at: .seconds(28)) == [.send(.pingReq), .scheduleTick(at: .seconds(33))])
        // No PINGRESP within 5 s: dead.
        #expect(session.handle(.tick, at: .seconds(32)) == [])
        #expect(session.handle(.tick, at: .seconds(33)) == [.closeConnection(.pingTimeout(.seconds(5)))])
        #expect(session.state == .disconnected)
        #expect(session.nextDeadline == nil)
    }

    @Test func missedTickIsCaughtByTheNextEvent() throws {
        var session = try makeSession(keepAlive: 10)
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        // The driver's timer was late; an unrelated event at 12 s still sends the ping.
        let actions = session.handle(.bytesReceived([]), at: .seconds(12))
        #expect(actions == [.send(.pingReq), .scheduleTick(at: .seconds(17))])
    }

    @Test func keepAliveZeroNeverPings() throws {
        var session = try makeSession(keepAlive: 0)
        _ = session.handle(.connectRequested, at: .zero)
        #expect(session.handle(.bytesReceived(Self.connAckNew), at: .zero) == [.connectionEstablished(sessionPresent: false)])
        #expect(session.handle(.tick, at: .seconds(100_000)) == [])
    }

    @Test func connAckTimeout() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        #expect(session.handle(.tick, at: .seconds(9)) == [])
        #expect(session.handle(.tick, at: .seconds(10)) == [.closeConnection(.connAckTimeout(.seconds(10)))])
        #expect(session.state == .disconnected)
    }

    @Test func connAckRefusal() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        #expect(session.handle(.bytesReceived([0x20, 0x02, 0x00, 0x05]), at: .seconds(1))
            == [.connectionFailed(.notAuthorized), .closeConnection(.connectionRefused(.notAuthorized))])
        #expect(session.state == .disconnected)
    }

    @Test func firstPacketMustBeConnAck() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        #expect(session.handle(.bytesReceived([0xD0, 0x00]), at: .zero)
            == [.closeConnection(.unexpectedPacket(.pingResp, expected: "CONNACK"))])
    }

    @Test func qos2IsNeverOffered() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        #expect(session.handle(.publishRequested(.init(topic: "t", payload: [], qos: .exactlyOnce)), at: .zero)
            == [.publishRefused(.qos2NotSupported)])
        #expect(session.handle(.subscribeRequested([.init(filter: "a/#", qos: .exactlyOnce)]), at: .zero)
            == [.subscribeRefused(.qos2NotSupported)])
        // A QoS 2 PUBLISH from the server closes the connection.
        #expect(session.handle(.bytesReceived([0x34, 0x05, 0x00, 0x01, 0x74, 0x00, 0x07]), at: .zero)
            == [.closeConnection(.qos2PublishReceived(topic: "t"))])
    }

    @Test func inboundPublishesAreDeliveredAndAcknowledgedInArrivalOrder() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        let bytes: [UInt8] = [0x32, 0x06, 0x00, 0x01, 0x61, 0x00, 0x09, 0x01,   // QoS 1 "a" id 9
                              0x30, 0x04, 0x00, 0x01, 0x62, 0x02,               // QoS 0 "b"
                              0x3A, 0x06, 0x00, 0x01, 0x63, 0x00, 0x05, 0x03]   // QoS 1 DUP "c" id 5
        #expect(session.handle(.bytesReceived(bytes), at: .seconds(1)) == [
            .deliver(.init(topic: "a", payload: [1], qos: .atLeastOnce)),
            .send(.pubAck(.init(packetID: 9))),
            .deliver(.init(topic: "b", payload: [2], qos: .atMostOnce)),
            .deliver(.init(topic: "c", payload: [3], qos: .atLeastOnce, dup: true)),
            .send(.pubAck(.init(packetID: 5))),
            .scheduleTick(at: .seconds(61)),
        ])
    }

    @Test func malformedBytesCloseAfterTheGoodPacketsBeforeThem() throws {
        var session = try makeSession(window: 5)
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        _ = session.handle(request(1), at: .zero)
        #expect(session.handle(.bytesReceived([0x40, 0x02, 0x00, 0x01, 0x36, 0x00]), at: .zero) == [
            .publishAcknowledged(packetID: 1),
            .closeConnection(.malformedPacket(.invalidQoS(field: "PUBLISH QoS", offset: 0))),
        ])
        #expect(session.state == .disconnected)
    }

    @Test func serverOnlyAndQoS2FlowPacketsAreRejected() throws {
        for (bytes, type) in [([UInt8]([0x50, 0x02, 0x00, 0x01]), MQTTPacketType.pubRec), ([0xC0, 0x00], .pingReq),
                              ([0x20, 0x02, 0x00, 0x00], .connAck)] {
            var session = try makeSession()
            _ = session.handle(.connectRequested, at: .zero)
            _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
            let actions = session.handle(.bytesReceived(bytes), at: .zero)
            guard case .closeConnection(.unexpectedPacket(let actual, _)) = actions.first else {
                Issue.record("expected a close for \(type), got \(actions)")
                continue
            }
            #expect(actual == type)
        }
    }

    @Test func subscribeAndUnsubscribe() throws {
        var session = try makeSession()
        #expect(session.handle(.subscribeRequested([.init(filter: "a", qos: .atLeastOnce)]), at: .zero)
            == [.subscribeRefused(.notConnected)])
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        let subscriptions: [MQTTPacket.Subscription] = [.init(filter: "$iothub/twin/res/#", qos: .atMostOnce),
                                                        .init(filter: "devices/dev1/messages/devicebound/#", qos: .atLeastOnce)]
        #expect(session.handle(.subscribeRequested(subscriptions), at: .seconds(1))
            == [.send(.subscribe(.init(packetID: 1, subscriptions: subscriptions))), .scheduleTick(at: .seconds(61))])
        #expect(session.handle(.bytesReceived([0x90, 0x04, 0x00, 0x01, 0x00, 0x80]), at: .seconds(1)) == [
            .subscribeResult(packetID: 1, [
                .init(filter: "$iothub/twin/res/#", requestedQoS: .atMostOnce, returnCode: .granted(.atMostOnce)),
                .init(filter: "devices/dev1/messages/devicebound/#", requestedQoS: .atLeastOnce, returnCode: .failure),
            ]),
        ])
        #expect(session.handle(.unsubscribeRequested(["a/#"]), at: .seconds(2))
            == [.send(.unsubscribe(.init(packetID: 2, filters: ["a/#"]))), .scheduleTick(at: .seconds(62))])
        #expect(session.handle(.bytesReceived([0xB0, 0x02, 0x00, 0x02]), at: .seconds(2))
            == [.unsubscribeResult(packetID: 2, filters: ["a/#"])])
        #expect(session.handle(.subscribeRequested([.init(filter: "a/#/b", qos: .atMostOnce)]), at: .seconds(2))
            == [.subscribeRefused(.invalidTopicFilter("a/#/b", .misplacedMultiLevelWildcard(offset: 2)))])
        #expect(session.handle(.subscribeRequested([]), at: .seconds(2)) == [.subscribeRefused(.emptyRequest)])
    }

    @Test func subAckWithWrongCountClosesTheConnection() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        _ = session.handle(.subscribeRequested([.init(filter: "a", qos: .atMostOnce), .init(filter: "b", qos: .atMostOnce)]), at: .zero)
        #expect(session.handle(.bytesReceived([0x90, 0x03, 0x00, 0x01, 0x00]), at: .zero)
            == [.closeConnection(.subAckCountMismatch(packetID: 1, requested: 2, answered: 1))])
    }

    @Test func pendingSubscribeIsAbandonedWhenTheConnectionDrops() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        _ = session.handle(.subscribeRequested([.init(filter: "a", qos: .atLeastOnce)]), at: .zero)
        #expect(session.handle(.connectionLost, at: .seconds(1)) == [.subscribeAbandoned(packetID: 1, filters: ["a"])])
        // Identifiers advance round-robin, so the next request gets 2 even though 1 is free.
        _ = session.handle(.connectRequested, at: .seconds(2))
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .seconds(2))
        #expect(session.handle(request(2), at: .seconds(2)).first == .publishAccepted(packetID: 2))
        #expect(session.inFlightPacketIDs == [2])
    }

    @Test func disconnectSendsDisconnectAndCloses() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        #expect(session.handle(.disconnectRequested, at: .seconds(1)) == [.send(.disconnect), .closeConnection(.requested)])
        #expect(session.handle(.connectionLost, at: .seconds(1)) == [])
        #expect(session.handle(.disconnectRequested, at: .seconds(1)) == [])
    }

    @Test func backPressureAndLimits() throws {
        var session = try makeSession(window: 1, maximumQueued: 2, maximumPacketSize: 64)
        #expect(session.handle(request(1), at: .zero) == [.publishAccepted(packetID: 1)])
        #expect(session.handle(request(2), at: .zero) == [.publishAccepted(packetID: 2)])
        #expect(session.handle(request(3), at: .zero) == [.publishRefused(.queueFull(limit: 2))])
        let big = MQTTPublishRequest(topic: "t", payload: .init(repeating: 0, count: 60))
        #expect(session.handle(.publishRequested(big), at: .zero) == [.publishRefused(.packetTooLarge(size: 67, maximum: 64))])
        #expect(session.handle(.publishRequested(.init(topic: "a/+", payload: [])), at: .zero)
            == [.publishRefused(.invalidTopicName("a/+", .wildcardInName(offset: 2)))])
    }

    @Test func unknownPubAckIsIgnored() throws {
        var session = try makeSession()
        _ = session.handle(.connectRequested, at: .zero)
        _ = session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        #expect(session.handle(.bytesReceived([0x40, 0x02, 0x01, 0x00]), at: .zero) == [])
        #expect(session.state == .connected)
    }

    @Test func badConfigurationIsRefusedAtInit() {
        #expect(throws: MQTTEncodeError.nullCharacter(field: "client identifier", offset: 0)) {
            try MQTTClientSession(configuration: .init(clientID: "\u{0}"))
        }
        #expect(throws: MQTTEncodeError.passwordWithoutUsername) {
            try MQTTClientSession(configuration: .init(clientID: "d", password: [1]))
        }
    }

    @Test func everySentPacketEncodes() throws {
        // The contract the driver relies on: a .send action never fails to encode.
        var session = try makeSession(window: 3)
        var actions = session.handle(.connectRequested, at: .zero)
        actions += session.handle(.bytesReceived(Self.connAckNew), at: .zero)
        for id in 1...5 { actions += session.handle(request(UInt16(id)), at: .seconds(1)) }
        actions += session.handle(.subscribeRequested([.init(filter: "+/x/#", qos: .atLeastOnce)]), at: .seconds(1))
        actions += session.handle(.tick, at: .seconds(61))
        actions += session.handle(.disconnectRequested, at: .seconds(62))
        var sent = 0
        for case .send(let packet) in actions {
            _ = try MQTTEncoder.encode(packet)
            sent += 1
        }
        #expect(sent == 1 + 3 + 1 + 1 + 1)
    }
}
