import IoTHub
import Testing

/// The device side of twin, methods and C2D, driven without I/O (topics per A.8–A.11).
@Suite struct IoTHubDeviceOperationsTests {
    typealias Output = IoTHubDeviceOperations.Output

    func published(_ outputs: [Output]) -> [(topic: String, payload: String)] {
        outputs.compactMap {
            if case .publish(let topic, let payload) = $0 { return (topic, String(decoding: payload, as: UTF8.self)) }
            return nil
        }
    }

    func events(_ outputs: [Output]) -> [IoTHubDeviceEvent] {
        outputs.compactMap { if case .event(let e) = $0 { return e } else { return nil } }
    }

    func rid(_ topic: String) -> String {
        String(topic.split(separator: "$rid=").last ?? "")
    }

    @Test func subscribesToTwinMethodsAndItsOwnC2D() {
        let ops = IoTHubDeviceOperations(deviceID: "press-7")
        #expect(ops.subscriptions == ["$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#",
                                      "$iothub/methods/POST/#", "devices/press-7/messages/devicebound/#"])
    }

    @Test func getsTheFullTwinAtEveryConnect() {
        var ops = IoTHubDeviceOperations(deviceID: "d1")
        let first = published(ops.connected(now: .zero))
        #expect(first.count == 1)
        #expect(first[0].topic.hasPrefix("$iothub/twin/GET/?$rid="))
        let body = Array(#"{"desired":{"$version":3},"reported":{"$version":1}}"#.utf8)
        let answer = ops.received(topic: "$iothub/twin/res/200/?$rid=\(rid(first[0].topic))", payload: body, now: .seconds(1))
        #expect(events(answer) == [.twin(document: body)])
        ops.disconnected()
        let again = published(ops.connected(now: .seconds(5)))
        #expect(again.count == 1 && again[0].topic.hasPrefix("$iothub/twin/GET/"))
        #expect(rid(again[0].topic) != rid(first[0].topic))
    }

    @Test func reportedPatchIsCorrelatedByRequestID() {
        var ops = IoTHubDeviceOperations(deviceID: "d1")
        _ = ops.connected(now: .zero)
        let (token, outputs) = ops.report(Array(#"{"sendFrequency":{"value":"2s","ac":200,"av":4}}"#.utf8), now: .zero)
        let sent = published(outputs)
        #expect(sent.count == 1)
        #expect(sent[0].topic.hasPrefix("$iothub/twin/PATCH/properties/reported/?$rid="))
        #expect(sent[0].payload == #"{"sendFrequency":{"value":"2s","ac":200,"av":4}}"#)
        // A response for another $rid is not this patch's.
        #expect(events(ops.received(topic: "$iothub/twin/res/204/?$rid=999&$version=9", payload: [], now: .seconds(1))).isEmpty)
        let answer = ops.received(topic: "$iothub/twin/res/204/?$rid=\(rid(sent[0].topic))&$version=12", payload: [], now: .seconds(1))
        #expect(events(answer) == [.reportedAccepted(token: token, version: 12)])
        #expect(ops.pendingReports == 0)
    }

    @Test func throttledAndServerErrorsAreRetriedAfterABackoff() {
        var ops = IoTHubDeviceOperations(deviceID: "d1", backoffBase: .seconds(1), backoffCap: .seconds(8))
        _ = ops.connected(now: .zero)
        let (token, outputs) = ops.report(Array("{\"a\":1}".utf8), now: .zero)
        let first = published(outputs)[0]
        #expect(events(ops.received(topic: "$iothub/twin/res/429/?$rid=\(rid(first.topic))", payload: [], now: .seconds(1))).isEmpty)
        #expect(ops.pendingReports == 1)
        // Nothing is resent before the backoff (at most 1 s, full jitter) is over …
        #expect(published(ops.tick(now: .seconds(1))).allSatisfy { !$0.topic.contains("reported") })
        // … and it goes again with a new $rid once it is.
        let retry = published(ops.tick(now: .seconds(3))).filter { $0.topic.contains("reported") }
        #expect(retry.count == 1)
        #expect(rid(retry[0].topic) != rid(first.topic))
        #expect(retry[0].payload == "{\"a\":1}")
        let failed = ops.received(topic: "$iothub/twin/res/503/?$rid=\(rid(retry[0].topic))", payload: [], now: .seconds(3))
        #expect(events(failed).isEmpty)
        let third = published(ops.tick(now: .seconds(10))).filter { $0.topic.contains("reported") }
        let done = ops.received(topic: "$iothub/twin/res/204/?$rid=\(rid(third[0].topic))&$version=2", payload: [], now: .seconds(10))
        #expect(events(done) == [.reportedAccepted(token: token, version: 2)])
    }

    @Test func aBadRequestIsRejectedNotRetried() {
        var ops = IoTHubDeviceOperations(deviceID: "d1")
        _ = ops.connected(now: .zero)
        let (token, outputs) = ops.report(Array("{\"a\":".utf8), now: .zero)
        let topic = published(outputs)[0].topic
        let answer = ops.received(topic: "$iothub/twin/res/400/?$rid=\(rid(topic))", payload: Array("malformed".utf8), now: .seconds(1))
        #expect(events(answer) == [.reportedRejected(token: token, status: IoTHubStatus(400), body: Array("malformed".utf8))])
        #expect(published(ops.tick(now: .seconds(600))).filter { $0.topic.contains("reported") }.isEmpty)
    }

    @Test func timeOutsAndLostConnectionsSendAgain() {
        var ops = IoTHubDeviceOperations(deviceID: "d1", requestTimeout: .seconds(10), backoffBase: .seconds(1), backoffCap: .seconds(1))
        let get = published(ops.connected(now: .zero))[0]
        _ = ops.received(topic: "$iothub/twin/res/200/?$rid=\(rid(get.topic))", payload: Array("{}".utf8), now: .zero)
        let (_, outputs) = ops.report(Array("{\"b\":2}".utf8), now: .zero)
        #expect(published(outputs).count == 1)
        #expect(ops.nextDeadline == .seconds(10))
        #expect(published(ops.tick(now: .seconds(10))).isEmpty)  // timed out; waits its backoff
        #expect(published(ops.tick(now: .seconds(12))).map(\.payload) == ["{\"b\":2}"])
        ops.disconnected()
        #expect(ops.pendingReports == 1)
        #expect(ops.tick(now: .seconds(13)).isEmpty)  // nothing is sent while disconnected
        let resent = published(ops.connected(now: .seconds(20)))
        #expect(resent.map(\.payload).sorted() == ["", "{\"b\":2}"])  // the GET and the patch
    }

    @Test func noTwinServiceIsReportedOnceAndTheGetKeepsBeingRetried() {
        var ops = IoTHubDeviceOperations(deviceID: "d1", requestTimeout: .seconds(10), backoffBase: .seconds(1), backoffCap: .seconds(2))
        _ = ops.connected(now: .zero)
        let first = events(ops.tick(now: .seconds(10)))
        #expect(first == [.twinUnavailable(reason: "no answer to the twin GET within 10.0 seconds")])
        var later: [IoTHubDeviceEvent] = []
        var sentGets = 0
        for second in 11...60 {
            let outputs = ops.tick(now: .seconds(second))
            later += events(outputs)
            sentGets += published(outputs).count
        }
        #expect(later.isEmpty)
        #expect(sentGets >= 3)
        let refused = IoTHubDeviceOperations(deviceID: "d2")
        var r = refused
        #expect(events(r.subscriptionRefused(reason: "SUBACK 0x80")) == [.twinUnavailable(reason: "SUBACK 0x80")])
    }

    @Test func methodsC2DAndDesiredPatchesBecomeEvents() {
        var ops = IoTHubDeviceOperations(deviceID: "d1")
        _ = ops.connected(now: .zero)
        let call = events(ops.received(topic: "$iothub/methods/POST/blinkLed/?$rid=42", payload: Array("{\"seconds\":3}".utf8), now: .zero))
        #expect(call == [.methodCall(IoTHubMethodRequest(name: "blinkLed", requestID: "42"), payload: Array("{\"seconds\":3}".utf8))])
        let response = published(ops.respond(to: IoTHubMethodRequest(name: "blinkLed", requestID: "42"), status: 200, payload: Array("{}".utf8)))
        #expect(response.map(\.topic) == ["$iothub/methods/res/200/?$rid=42"])
        let patch = events(ops.received(topic: "$iothub/twin/PATCH/properties/desired/?$version=7",
                                        payload: Array("{\"sendFrequency\":\"2s\",\"$version\":7}".utf8), now: .zero))
        #expect(patch == [.desiredPatch(version: 7, body: Array("{\"sendFrequency\":\"2s\",\"$version\":7}".utf8))])
        let c2d = events(ops.received(topic: "devices/d1/messages/devicebound/%24.mid=m1&color=red", payload: [1, 2], now: .zero))
        guard case .cloudToDevice(let properties, let payload)? = c2d.first else {
            Issue.record("expected a C2D event, got \(c2d)")
            return
        }
        #expect(payload == [1, 2])
        #expect(properties.messageID == "m1")
        #expect(properties.applicationProperties.first?.value == "red")
        guard case .ignored? = ops.received(topic: "devices/other/messages/devicebound/", payload: [], now: .zero).first else {
            Issue.record("another device's C2D topic must be ignored")
            return
        }
    }

    @Test func methodResponsesAreDroppedWhileDisconnected() {
        var ops = IoTHubDeviceOperations(deviceID: "d1")
        _ = ops.connected(now: .zero)
        ops.disconnected()
        #expect(ops.respond(to: IoTHubMethodRequest(name: "getHealth", requestID: "1"), status: 200, payload: []).isEmpty)
    }
}
