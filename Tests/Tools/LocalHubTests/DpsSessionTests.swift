import Foundation
import JSON
import MQTT
import Testing
@testable import LocalHub

/// The DPS session as a pure state machine: packets in, packets and registrations out.
struct DpsSessionTests {
    static let scope = "0ne00LOCAL1"
    static let date = Date(timeIntervalSince1970: 1_800_000_000)

    func connected(_ id: String = "dev-1", commonName: String? = "dev-1") -> DpsSession {
        var session = DpsSession(configuration: .init(idScope: Self.scope, retryAfterSeconds: 3), leafCommonName: commonName, now: .zero)
        let actions = session.handle(.packet(.connect(.init(clientID: id, cleanSession: true, keepAliveSeconds: 60,
                                                            username: "\(Self.scope)/registrations/\(id)/api-version=2019-03-31"))),
                                     now: .zero, date: Self.date)
        #expect(actions.first == .send(.connAck(.init(sessionPresent: false, returnCode: .accepted))))
        return session
    }

    func register(_ session: inout DpsSession, body: String, rid: String = "1") -> [DpsSession.Action] {
        session.handle(.packet(.publish(.init(topic: "$dps/registrations/PUT/iotdps-register/?$rid=\(rid)",
                                              payload: Array(body.utf8), qos: .atLeastOnce, packetID: 7))),
                       now: .seconds(1), date: Self.date)
    }

    static func published(_ actions: [DpsSession.Action]) -> [MQTTPacket.Publish] {
        actions.compactMap { action in
            if case .send(.publish(let publish)) = action { return publish }
            return nil
        }
    }

    static let state = DpsRegistrationState(registrationID: "dev-1", deviceID: "dev-1", assignedHub: "localhost",
                                            created: date, lastUpdated: date, etag: "e1", issuedCertificateChain: nil)

    @Test func registerAnswers202AssigningThenThePoll200WithTheRegistrationState() throws {
        var session = connected()
        #expect(session.handle(.packet(.subscribe(.init(packetID: 1, subscriptions: [.init(filter: "$dps/registrations/res/#", qos: .atLeastOnce)]))),
                               now: .zero, date: Self.date) == [.send(.subAck(.init(packetID: 1, returnCodes: [.granted(.atLeastOnce)])))])
        let actions = register(&session, body: #"{"registrationId":"dev-1","payload":{"a":1}}"#)
        #expect(actions.first == .send(.pubAck(.init(packetID: 7))))
        guard case .register(let rid, let body)? = actions.last else { Issue.record("no register action: \(actions)"); return }
        #expect(rid == "1")
        #expect(body.registrationID == "dev-1")
        #expect(body.payload == .object(["a": .integer(1)]))
        #expect(body.csr == nil)

        let accepted = Self.published(session.handle(.registered(requestID: "1", operationID: "op-1", result: .success(Self.state)),
                                                     now: .seconds(1), date: Self.date))
        #expect(accepted.map(\.topic) == ["$dps/registrations/res/202/?$rid=1&retry-after=3"])
        #expect(try JSONValue.parse(accepted[0].payload) == .object(["operationId": .string("op-1"), "status": .string("assigning")]))

        let polled = Self.published(session.handle(.packet(.publish(.init(
            topic: "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=op-1", payload: [], qos: .atMostOnce))),
            now: .seconds(4), date: Self.date))
        #expect(polled.map(\.topic) == ["$dps/registrations/res/200/?$rid=2"])
        let final = try JSONValue.parse(polled[0].payload)
        #expect(final["status"] == .string("assigned"))
        #expect(final["operationId"] == .string("op-1"))
        let state = try #require(final["registrationState"])
        #expect(state["assignedHub"] == .string("localhost"))
        #expect(state["deviceId"] == .string("dev-1"))
        #expect(state["registrationId"] == .string("dev-1"))
        #expect(state["status"] == .string("assigned"))
        #expect(state["substatus"] == .string("initialAssignment"))
        #expect(state["x509"] == .object([:]))
        #expect(state["etag"] == .string("e1"))
        #expect(state["createdDateTimeUtc"] != nil && state["lastUpdatedDateTimeUtc"] != nil)
        #expect(state["issuedCertificateChain"] == nil)
    }

    @Test func aCertificateWhoseCNIsNotTheRegistrationIDIsRefused400004() throws {
        var session = connected("dev-1", commonName: "dev-2")
        let actions = register(&session, body: #"{"registrationId":"dev-1"}"#)
        let answer = try #require(Self.published(actions).first)
        #expect(answer.topic == "$dps/registrations/res/400/?$rid=1")
        let body = try JSONValue.parse(answer.payload)
        #expect(body["errorCode"] == .integer(400_004))
        guard case .string(let message)? = body["message"] else { Issue.record("no message"); return }
        #expect(message.contains("CN is 'dev-2', not the registration id 'dev-1'"))
        #expect(body["trackingId"] != nil && body["timestampUtc"] != nil)
        #expect(!actions.contains { if case .register = $0 { true } else { false } })
    }

    @Test func badJSONAndAMismatchedBodyIDAre400WithTheReason() throws {
        var session = connected()
        let bad = try JSONValue.parse(try #require(Self.published(register(&session, body: "{not json")).first).payload)
        #expect(bad["errorCode"] == .integer(400_004))
        #expect(bad["message"]?.description.contains("not JSON") == true)
        let other = try JSONValue.parse(try #require(Self.published(register(&session, body: #"{"registrationId":"dev-9"}"#)).first).payload)
        #expect(other["message"]?.description.contains("'dev-9' is not the user name's 'dev-1'") == true)
        let csr = try JSONValue.parse(try #require(Self.published(register(&session, body: #"{"registrationId":"dev-1","csr":"!!"}"#)).first).payload)
        #expect(csr["message"]?.description.contains("not base64") == true)
    }

    @Test func errorsFromTheServiceGoOutWithTheirStatus() throws {
        var session = connected()
        _ = register(&session, body: #"{"registrationId":"dev-1"}"#)
        let answer = try #require(Self.published(session.handle(.registered(requestID: "1", operationID: "op",
            result: .failure(.unauthorized("no enrollment matches"))), now: .seconds(1), date: Self.date)).first)
        #expect(answer.topic == "$dps/registrations/res/401/?$rid=1")
        #expect(try JSONValue.parse(answer.payload)["errorCode"] == .integer(401_002))
    }

    @Test func aWrongIDScopeOrClientIDIsRefusedAtConnect() {
        for (client, username) in [("dev-1", "0ne00OTHER/registrations/dev-1/api-version=2019-03-31"),
                                   ("dev-2", "\(Self.scope)/registrations/dev-1/api-version=2019-03-31"),
                                   ("dev-1", "localhost/dev-1/?api-version=2021-04-12")] {
            var session = DpsSession(configuration: .init(idScope: Self.scope, retryAfterSeconds: 1), leafCommonName: "dev-1", now: .zero)
            let actions = session.handle(.packet(.connect(.init(clientID: client, cleanSession: true, keepAliveSeconds: 60, username: username))),
                                         now: .zero, date: Self.date)
            #expect(actions.first == .send(.connAck(.init(sessionPresent: false, returnCode: .badUsernameOrPassword))), "\(username)")
            #expect(session.isClosed)
        }
    }

    @Test func thePythonSDKsUsernameWithClientVersionParses() throws {
        let parsed = try DpsProtocol.parseUsername("0ne00LOCAL1/registrations/py-dev/api-version=2019-03-31&ClientVersion=azure-iot-device%2F2.14.0").get()
        #expect(parsed == .init(idScope: "0ne00LOCAL1", registrationID: "py-dev", apiVersion: "2019-03-31"))
    }

    @Test func anUnknownOperationIs404AndFloodsAre429WithRetryAfter() throws {
        var session = connected()
        let poll = MQTTPacket.publish(.init(topic: "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=5&operationId=nope",
                                            payload: [], qos: .atMostOnce))
        let first = try #require(Self.published(session.handle(.packet(poll), now: .seconds(1), date: Self.date)).first)
        #expect(first.topic == "$dps/registrations/res/404/?$rid=5")
        var topics: [String] = []
        for _ in 0..<20 { topics += Self.published(session.handle(.packet(poll), now: .seconds(1), date: Self.date)).map(\.topic) }
        #expect(topics.last == "$dps/registrations/res/429/?$rid=5&retry-after=3")
    }

    @Test func aForeignTopicQoS2NoConnectAndSilenceCloseTheConnection() {
        var foreign = connected()
        let topic = foreign.handle(.packet(.publish(.init(topic: "devices/dev-1/messages/events/", payload: [], qos: .atMostOnce))),
                                   now: .seconds(1), date: Self.date)
        guard case .close(.refused(let reason))? = topic.last else { Issue.record("\(topic)"); return }
        #expect(reason.contains("not a DPS request topic"))
        var qos2 = connected()
        let two = qos2.handle(.packet(.publish(.init(topic: "$dps/registrations/PUT/iotdps-register/?$rid=1", payload: [],
                                                     qos: .exactlyOnce, packetID: 1))), now: .seconds(1), date: Self.date)
        #expect(two.count == 1 && qos2.isClosed)

        var silent = DpsSession(configuration: .init(idScope: Self.scope, retryAfterSeconds: 1), leafCommonName: "dev-1", now: .zero)
        #expect(silent.start() == [.scheduleTick(at: .seconds(10))])
        guard case .close(.refused(let why))? = silent.handle(.tick, now: .seconds(10), date: Self.date).first else {
            Issue.record("no close"); return
        }
        #expect(why.contains("no CONNECT within"))

        var idle = connected()  // keep-alive 60 s: closed after 90 s without a packet
        #expect(idle.handle(.tick, now: .seconds(89), date: Self.date) == [.scheduleTick(at: .seconds(90))])
        #expect(idle.handle(.tick, now: .seconds(90), date: Self.date).count == 1 && idle.isClosed)
        var polite = connected()
        #expect(polite.handle(.packet(.disconnect), now: .seconds(1), date: Self.date) == [.close(.deviceDisconnected)])
    }
}
