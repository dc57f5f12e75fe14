import IoTHub
import JSON
import MQTT
import Testing
@testable import LocalHub

/// The pure per-connection state machine: event scripts in, actions out, no sockets, no clock.
struct HubSessionTests {
    static let connect = MQTTPacket.Connect(clientID: "dev-1", cleanSession: false, keepAliveSeconds: 60,
                                            username: "localhost/dev-1/?api-version=2021-04-12")

    /// A session past CONNACK for dev-1 at t = 0.
    func connected(keepAlive: UInt16 = 60) -> HubSession {
        var session = HubSession(now: .zero)
        var connect = Self.connect
        connect.keepAliveSeconds = keepAlive
        _ = session.handle(.packet(.connect(connect)), now: .zero)
        _ = session.handle(.authenticated(.accepted(deviceID: "dev-1")), now: .zero)
        return session
    }

    func closeReason(_ actions: [HubSession.Action]) -> String? {
        for case .close(let reason) in actions { return reason.description }
        return nil
    }

    @Test func connectAsksForADecisionThenAcceptsAndArmsKeepAliveAtOneAndAHalfTimes() {
        var session = HubSession(now: .zero)
        #expect(session.start() == [.scheduleTick(at: .seconds(10))])
        let asked = session.handle(.packet(.connect(Self.connect)), now: .seconds(1))
        #expect(asked == [.authenticate(clientID: "dev-1", username: "localhost/dev-1/?api-version=2021-04-12")])
        let actions = session.handle(.authenticated(.accepted(deviceID: "dev-1")), now: .seconds(1))
        #expect(actions == [.connected(deviceID: "dev-1"),
                            .send(.connAck(.init(sessionPresent: false, returnCode: .accepted))),
                            .scheduleTick(at: .seconds(91))])
        #expect(session.deviceID == "dev-1")
    }

    @Test func aRefusalSendsItsConnAckCodeAndClosesWithTheReason() {
        var session = HubSession(now: .zero)
        _ = session.handle(.packet(.connect(Self.connect)), now: .zero)
        let actions = session.handle(.authenticated(.refused(.notAuthorized, reason: "Thumbprint does not match")), now: .zero)
        #expect(actions.first == .send(.connAck(.init(sessionPresent: false, returnCode: .notAuthorized))))
        #expect(closeReason(actions)?.contains("CONNACK 5") == true)
        #expect(closeReason(actions)?.contains("Thumbprint does not match") == true)
        #expect(session.isClosed)
    }

    @Test func noConnectInTimeClosesAndOtherFirstPacketsAreRefused() {
        var late = HubSession(now: .zero)
        #expect(late.handle(.tick, now: .seconds(5)) == [.scheduleTick(at: .seconds(10))])
        #expect(closeReason(late.handle(.tick, now: .seconds(10)))?.contains("no CONNECT") == true)
        var wrong = HubSession(now: .zero)
        #expect(closeReason(wrong.handle(.packet(.pingReq), now: .zero))?.contains("not CONNECT") == true)
    }

    @Test func keepAliveExpiresAfterOneAndAHalfTimesWithoutAPacketAndTrafficPostponesIt() {
        var session = connected(keepAlive: 10)  // limit 15 s
        #expect(session.handle(.tick, now: .seconds(14)) == [.scheduleTick(at: .seconds(15))])
        #expect(session.handle(.packet(.pingReq), now: .seconds(14)) == [.send(.pingResp)])
        #expect(session.handle(.tick, now: .seconds(15)) == [.scheduleTick(at: .seconds(29))])
        let actions = session.handle(.tick, now: .seconds(29))
        #expect(closeReason(actions)?.contains("keep-alive expired") == true)
    }

    /// Keep-alive 0 asks for no keep-alive; it must not hold a connection (and a descriptor)
    /// forever: an idle connection is reaped after the idle cap, traffic postpones it.
    @Test func aConnectionWithoutKeepAliveIsReapedWhenIdle() {
        var idle = connected(keepAlive: 0)
        let cap = idle.configuration.idleTimeoutWithoutKeepAlive
        #expect(idle.handle(.packet(.pingReq), now: cap - .seconds(1)) == [.send(.pingResp)])
        #expect(idle.handle(.tick, now: cap) == [.scheduleTick(at: cap - .seconds(1) + cap)])
        #expect(closeReason(idle.handle(.tick, now: cap - .seconds(1) + cap)) != nil)
        #expect(idle.isClosed)
    }

    /// IoT Hub's 50 C2D messages in flight per device: a device that never acknowledges gets 50,
    /// the rest are handed back to the hub undelivered, and the connection stays served (the
    /// packet-id allocator once spun forever after 65,535 unacknowledged messages).
    @Test func sixtyFiveThousandUnacknowledgedC2DMessagesLeaveTheConnectionServed() {
        var session = connected()
        _ = session.handle(.packet(.subscribe(.init(packetID: 1, subscriptions: [.init(filter: "devices/dev-1/messages/devicebound/#", qos: .atLeastOnce)]))),
                           now: .zero)
        var sent: [UInt16] = []
        var dropped = 0
        for message in 0..<UInt64(65_536) {
            for action in session.handle(.cloudToDevice(messageID: message, properties: IoTHubPropertyBag(), payload: [1]), now: .seconds(1)) {
                switch action {
                case .send(.publish(let publish)): sent.append(publish.packetID ?? 0)
                case .cloudToDeviceNotDelivered(_, let reason) where reason.contains("unacknowledged"): dropped += 1
                default: Issue.record("unexpected \(action)")
                }
            }
        }
        #expect(sent.count == 50)
        #expect(Set(sent).count == 50)
        #expect(dropped == 65_536 - 50)
        #expect(session.handle(.packet(.pingReq), now: .seconds(2)) == [.send(.pingResp)])
        // An acknowledgement completes the first message and frees one place, with a fresh id.
        #expect(session.handle(.packet(.pubAck(.init(packetID: sent[0]))), now: .seconds(3)) == [.cloudToDeviceCompleted(messageID: 0)])
        let next = session.handle(.cloudToDevice(messageID: 70_000, properties: IoTHubPropertyBag(), payload: [2]), now: .seconds(3))
        guard case .send(.publish(let publish))? = next.first, let id = publish.packetID else {
            Issue.record("expected a publish, got \(next)")
            return
        }
        #expect(!sent.dropFirst().contains(id))
    }

    /// A C2D message delivered again on the same connection (its lock ran out) keeps its packet id
    /// and carries DUP (MQTT 3.1.1 §4.4); its PUBACK completes it once; a late PUBACK is ignored.
    @Test func aC2DRedeliveryOnTheSameConnectionIsADuplicateWithTheSamePacketID() {
        var session = connected()
        _ = session.handle(.packet(.subscribe(.init(packetID: 1, subscriptions: [.init(filter: "devices/dev-1/messages/devicebound/#", qos: .atLeastOnce)]))),
                           now: .zero)
        let message = HubSession.Event.cloudToDevice(messageID: 42, properties: IoTHubPropertyBag(), payload: Array("blink".utf8))
        guard case .send(.publish(let first))? = session.handle(message, now: .seconds(1)).first,
              case .send(.publish(let again))? = session.handle(message, now: .seconds(61)).first else {
            Issue.record("expected two publishes")
            return
        }
        #expect(first.dup == false && again.dup == true)
        #expect(first.packetID == again.packetID && first.packetID != nil)
        #expect(again.payload == Array("blink".utf8) && again.qos == .atLeastOnce)
        let ack = MQTTPacket.pubAck(.init(packetID: first.packetID ?? 0))
        #expect(session.handle(.packet(ack), now: .seconds(62)) == [.cloudToDeviceCompleted(messageID: 42)])
        #expect(session.handle(.packet(ack), now: .seconds(63)) == [])
    }

    /// A C2D message for a connection not subscribed to its C2D topic goes back to the hub.
    @Test func aC2DMessageWithoutTheSubscriptionIsHandedBack() {
        var session = connected()
        let actions = session.handle(.cloudToDevice(messageID: 5, properties: IoTHubPropertyBag(), payload: []), now: .seconds(1))
        guard case .cloudToDeviceNotDelivered(5, let reason)? = actions.first else {
            Issue.record("expected cloudToDeviceNotDelivered, got \(actions)")
            return
        }
        #expect(reason.contains("has not subscribed"))
    }

    @Test func reservedPropertiesWrittenByTheDeviceAreOverwritten() throws {
        var session = connected()
        let topic = "devices/dev-1/messages/events/%24.cdid=dev-2&iothub-connection-device-id=dev-2&IoTHub-MessageType=Will&site=7"
        let actions = session.handle(.packet(.publish(.init(topic: topic, payload: [], qos: .atMostOnce))), now: .seconds(1))
        guard case .storeTelemetry(let message)? = actions.first else {
            Issue.record("expected storeTelemetry, got \(actions)")
            return
        }
        #expect(message.properties.entries == [.init(name: "$.cdid", value: "dev-1"), .init(name: "site", value: "7")])
    }

    @Test func ownTelemetryIsStoredWithDecodedPropertiesBeforeThePubAck() throws {
        var session = connected()
        let topic = "devices/dev-1/messages/events/%24.mid=m1&%24.ct=application%2Fjson&alert=high&flag"
        let actions = session.handle(.packet(.publish(.init(topic: topic, payload: Array("{}".utf8), qos: .atLeastOnce,
                                                            packetID: 7))), now: .seconds(1))
        #expect(actions.count == 2)
        guard case .storeTelemetry(let message) = actions.first else {
            Issue.record("expected storeTelemetry first, got \(actions)")
            return
        }
        #expect(message.properties.entries == [.init(name: "$.mid", value: "m1"), .init(name: "$.ct", value: "application/json"),
                                               .init(name: "alert", value: "high"), .init(name: "flag", value: nil)])
        #expect(message.payload == Array("{}".utf8))
        #expect(actions.last == .send(.pubAck(.init(packetID: 7))))
    }

    @Test func anotherDevicesTopicAnUnknownTopicAndQoS2EachCloseTheConnection() {
        var foreign = connected()
        let a = foreign.handle(.packet(.publish(.init(topic: "devices/dev-2/messages/events/", payload: [], qos: .atLeastOnce,
                                                      packetID: 1))), now: .zero)
        #expect(closeReason(a)?.contains("telemetry topic of dev-2") == true)
        #expect(!a.contains { if case .storeTelemetry = $0 { true } else { false } })
        var unknown = connected()
        let b = unknown.handle(.packet(.publish(.init(topic: "factory/line-3", payload: [], qos: .atMostOnce))), now: .zero)
        #expect(closeReason(b)?.contains("not a topic a device may publish to") == true)
        var qos2 = connected()
        let c = qos2.handle(.packet(.publish(.init(topic: "devices/dev-1/messages/events/", payload: [], qos: .exactlyOnce,
                                                   packetID: 3))), now: .zero)
        #expect(closeReason(c)?.contains("QoS 2") == true)
        #expect(qos2.isClosed)
    }

    @Test func subscribeGrantsOnlyTheDeviceFiltersAndDowngradesQoS2() {
        var session = connected()
        let actions = session.handle(.packet(.subscribe(.init(packetID: 4, subscriptions: [
            .init(filter: IoTHubTopic.twinResponseFilter, qos: .atMostOnce),
            .init(filter: IoTHubTopic.methodRequestFilter, qos: .exactlyOnce),
            .init(filter: "devices/dev-2/messages/devicebound/#", qos: .atLeastOnce),
            .init(filter: "#", qos: .atMostOnce),
        ]))), now: .zero)
        #expect(actions.last == .send(.subAck(.init(packetID: 4, returnCodes: [.granted(.atMostOnce), .granted(.atLeastOnce),
                                                                                .failure, .failure]))))
        #expect(session.isSubscribed(IoTHubTopic.twinResponseFilter))
        #expect(!session.isSubscribed("#"))
    }

    @Test func twinRequestsAndAnswersUseTheRequestIDAndVersion() {
        var session = connected()
        _ = session.handle(.packet(.subscribe(.init(packetID: 1, subscriptions: [
            .init(filter: IoTHubTopic.twinResponseFilter, qos: .atMostOnce),
            .init(filter: IoTHubTopic.twinDesiredPatchFilter, qos: .atMostOnce)]))), now: .zero)
        let get = session.handle(.packet(.publish(.init(topic: "$iothub/twin/GET/?$rid=42", payload: [], qos: .atMostOnce))),
                                 now: .zero)
        #expect(get == [.twinGet(requestID: "42")])
        let answer = session.handle(.twinAnswer(requestID: "42", status: 200, body: Array("{}".utf8)), now: .zero)
        #expect(answer == [.send(.publish(.init(topic: "$iothub/twin/res/200/?$rid=42", payload: Array("{}".utf8))))])
        let patch = session.handle(.packet(.publish(.init(topic: "$iothub/twin/PATCH/properties/reported/?$rid=43",
                                                          payload: Array(#"{"a":1}"#.utf8), qos: .atMostOnce))), now: .zero)
        #expect(patch == [.reportedPatch(requestID: "43", body: Array(#"{"a":1}"#.utf8))])
        let done = session.handle(.reportedPatchAnswer(requestID: "43", status: 204, version: 5), now: .zero)
        #expect(done == [.send(.publish(.init(topic: "$iothub/twin/res/204/?$rid=43&$version=5", payload: [])))])
        let pushed = session.handle(.desiredPatch(version: 3, body: Array(#"{"$version":3}"#.utf8)), now: .zero)
        #expect(pushed == [.send(.publish(.init(topic: "$iothub/twin/PATCH/properties/desired/?$version=3",
                                                payload: Array(#"{"$version":3}"#.utf8))))])
    }

    @Test func methodsReachOnlyASubscribedDeviceAndItsAnswerIsReported() {
        var session = connected()
        let early = session.handle(.invokeMethod(name: "getHealth", requestID: "a1", payload: []), now: .zero)
        guard case .methodUndeliverable(let rid, let reason)? = early.first else {
            Issue.record("expected methodUndeliverable, got \(early)")
            return
        }
        #expect(rid == "a1")
        #expect(reason.contains("404103"))
        _ = session.handle(.packet(.subscribe(.init(packetID: 1, subscriptions: [.init(filter: IoTHubTopic.methodRequestFilter,
                                                                                        qos: .atMostOnce)]))), now: .zero)
        let sent = session.handle(.invokeMethod(name: "getHealth", requestID: "a2", payload: Array("null".utf8)), now: .zero)
        #expect(sent == [.send(.publish(.init(topic: "$iothub/methods/POST/getHealth/?$rid=a2", payload: Array("null".utf8))))])
        let reply = session.handle(.packet(.publish(.init(topic: "$iothub/methods/res/200/?$rid=a2", payload: Array("{}".utf8),
                                                          qos: .atMostOnce))), now: .zero)
        #expect(reply == [.methodResponse(requestID: "a2", status: 200, payload: Array("{}".utf8))])
    }

    @Test func aWillIsStoredAsTelemetryOnlyWhenTheConnectionIsLostWithoutDisconnect() {
        var connect = Self.connect
        connect.will = .init(topic: "devices/dev-1/messages/events/", payload: Array("gone".utf8), qos: .atLeastOnce)
        var lost = HubSession(now: .zero)
        _ = lost.handle(.packet(.connect(connect)), now: .zero)
        _ = lost.handle(.authenticated(.accepted(deviceID: "dev-1")), now: .zero)
        let actions = lost.handle(.connectionLost, now: .zero)
        guard case .storeTelemetry(let message)? = actions.first else {
            Issue.record("expected the will as telemetry, got \(actions)")
            return
        }
        #expect(message.properties.value(for: "iothub-MessageType") == "Will")
        var clean = HubSession(now: .zero)
        _ = clean.handle(.packet(.connect(connect)), now: .zero)
        _ = clean.handle(.authenticated(.accepted(deviceID: "dev-1")), now: .zero)
        #expect(clean.handle(.packet(.disconnect), now: .zero) == [.close(.deviceDisconnected)])
        #expect(clean.handle(.connectionLost, now: .zero) == [])
    }
}

struct TwinDocumentTests {
    @Test func patchesMergeAndEachSectionCountsItsOwnVersion() throws {
        var twin = TwinDocument()
        let (version, notification) = try twin.patchDesired(.object(["sendFrequency": .string("5s"), "route": .string("hub")]))
        #expect(version == 2)
        #expect(notification == .object(["sendFrequency": .string("5s"), "route": .string("hub"), "$version": .integer(2)]))
        _ = try twin.patchDesired(.object(["route": .null]))
        #expect(twin.desired == ["sendFrequency": .string("5s")])
        #expect(twin.desiredVersion == 3)
        #expect(try twin.patchReported(.object(["fw": .string("1.0")])) == 2)
        #expect(twin.deviceView.description
            == #"{"desired":{"$version":3,"sendFrequency":"5s"},"reported":{"$version":2,"fw":"1.0"}}"#)
    }

    @Test func badPatchesAreRefusedWithTheReasonAndChangeNothing() {
        var twin = TwinDocument()
        #expect(throws: TwinPatchError.self) { try twin.patchReported(.string("x")) }
        #expect(throws: TwinPatchError.self) { try twin.patchReported(.object(["a.b": .integer(1)])) }
        #expect(throws: TwinPatchError.self) { try twin.patchReported(.object(["$version": .integer(9)])) }
        var deep = JSONValue.integer(1)
        for _ in 0..<11 { deep = .object(["k": deep]) }
        #expect(throws: TwinPatchError.self) { try twin.patchDesired(deep) }
        // One value over 4 KB, and a section over 32 KB made of values under 4 KB (A.9).
        let longValue = #expect(throws: TwinPatchError.self) { try twin.patchDesired(.object(["big": .string(String(repeating: "x", count: 4097))])) }
        #expect(longValue?.reason.contains("4097 bytes long") == true)
        let values = Dictionary(uniqueKeysWithValues: (0..<9).map { ("v\($0)", JSONValue.string(String(repeating: "x", count: 4000))) })
        let bigSection = #expect(throws: TwinPatchError.self) { try twin.patchDesired(.object(values)) }
        #expect(bigSection?.reason.contains("at most 32768") == true)
        #expect(twin == TwinDocument())
    }

    @Test func numbersAreWrittenAsJSONNumbersWithoutASpuriousFraction() {
        #expect(JSONValue.object(["a": .number(5), "b": .number(0.25), "c": .integer(-7), "d": .number(-3)]).description
            == #"{"a":5,"b":0.25,"c":-7,"d":-3}"#)
    }

    @Test func commandLineValuesAreJSONWhenTheyParseElseStrings() {
        #expect(JSONValue.fromCommandLine("5s") == .string("5s"))
        #expect(JSONValue.fromCommandLine("5") == .integer(5))
        #expect(JSONValue.fromCommandLine("2.5") == .number(2.5))
        #expect(JSONValue.fromCommandLine("true") == .bool(true))
        #expect(JSONValue.fromCommandLine("null") == .null)
        #expect(JSONValue.fromCommandLine(#"{"a":[1]}"#) == .object(["a": .array([.integer(1)])]))
    }
}
