import IoTHub
import MQTT
import Testing

@Suite struct IoTHubTopicTests {
    // MARK: Telemetry (A.7)

    @Test func telemetryTopicWithSystemAndApplicationProperties() throws {
        let properties = IoTHubMessageProperties(messageID: "dev1-42", contentType: "application/json",
                                                 contentEncoding: "utf-8",
                                                 applicationProperties: [.init(name: "alert", value: "high")])
        let topic = try IoTHubTopic.telemetry(deviceID: "dev1", properties: properties)
        #expect(topic == "devices/dev1/messages/events/%24.mid=dev1-42&%24.ct=application%2Fjson&%24.ce=utf-8&alert=high")
        try MQTTTopic.validateName(topic)
        let parsed = try IoTHubTopic.parseTelemetry(topic)
        #expect(parsed.deviceID == "dev1")
        #expect(parsed.moduleID == nil)
        #expect(parsed.properties == properties)
    }

    @Test func telemetryWithoutPropertiesEndsWithASlash() throws {
        #expect(try IoTHubTopic.telemetry(deviceID: "dev1") == "devices/dev1/messages/events/")
        #expect(try IoTHubTopic.parseTelemetry("devices/dev1/messages/events/").properties == .init())
    }

    @Test func moduleTelemetryWithOutputName() throws {
        let topic = try IoTHubTopic.telemetry(deviceID: "edge1", moduleID: "filter",
                                              properties: .init(outputName: "alerts"))
        #expect(topic == "devices/edge1/modules/filter/messages/events/%24.on=alerts")
        let parsed = try IoTHubTopic.parseTelemetry(topic)
        #expect(parsed.moduleID == "filter")
        #expect(parsed.properties.outputName == "alerts")
    }

    @Test func documentationExampleBagsParse() throws {
        // A.7, doc example with %24 and the routing example with a raw $.
        let first = try IoTHubTopic.parseTelemetry(
            "devices/my_device/messages/events/alert=high&%24.ct=application%2Fjson&%24.ce=utf-8")
        #expect(first.deviceID == "my_device")
        #expect(first.properties.contentType == "application/json")
        #expect(first.properties.contentEncoding == "utf-8")
        #expect(first.properties.applicationProperties == [.init(name: "alert", value: "high")])
        let second = try IoTHubTopic.parseTelemetry(
            "devices/d/messages/events/$.ct=application%2Fjson%3Bcharset%3Dutf-8")
        #expect(second.properties.contentType == "application/json;charset=utf-8")
    }

    @Test func telemetryRefusesBadInput() {
        #expect(throws: IoTHubError.invalidMessageID("a b", reason: "' ' is not allowed (ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ ')")) {
            try IoTHubTopic.telemetry(deviceID: "d", properties: .init(messageID: "a b"))
        }
        #expect(throws: IoTHubError.self) {
            try IoTHubTopic.telemetry(deviceID: "d", properties: .init(messageID: String(repeating: "1", count: 129)))
        }
        #expect(throws: IoTHubError.invalidPropertyName("$.x")) {
            try IoTHubTopic.telemetry(deviceID: "d", properties: .init(applicationProperties: [.init(name: "$.x", value: "1")]))
        }
        #expect(throws: IoTHubError.self) { try IoTHubTopic.telemetry(deviceID: "+") }
        #expect(throws: IoTHubError.unrecognizedTopic("devices/d/messages/other/")) {
            try IoTHubTopic.parseTelemetry("devices/d/messages/other/")
        }
    }

    @Test func messageSizeAsTheHubCountsIt() {
        let properties = IoTHubMessageProperties(messageID: "m1", contentType: "application/json",
                                                 applicationProperties: [.init(name: "k", value: "vv")])
        // body 100 + "m1" 2 + "application/json" 16 + "k" 1 + "vv" 2
        #expect(properties.accountedSize(bodyByteCount: 100) == 121)
    }

    // MARK: Cloud-to-device (A.8)

    @Test func cloudToDeviceFilterAndReceivedTopic() throws {
        #expect(try IoTHubTopic.cloudToDeviceFilter(deviceID: "dev1") == "devices/dev1/messages/devicebound/#")
        try MQTTTopic.validateFilter(try IoTHubTopic.cloudToDeviceFilter(deviceID: "dev1"))
        let properties = try IoTHubTopic.parseCloudToDevice(
            "devices/dev1/messages/devicebound/%24.mid=7a3c&%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound&iothub-ack=full&color=red",
            deviceID: "dev1")
        #expect(properties.messageID == "7a3c")
        #expect(properties.otherSystemProperties == [.init(name: "$.to", value: "/devices/dev1/messages/deviceBound")])
        #expect(properties.applicationProperties == [.init(name: "iothub-ack", value: "full"), .init(name: "color", value: "red")])
    }

    @Test func nullEmptyAndSpacedValues() throws {
        // A.8 doc bag: `?prop1&prop2=&prop3=a%20string`.
        let properties = try IoTHubTopic.parseCloudToDevice(
            "devices/dev1/messages/devicebound/?prop1&prop2=&prop3=a%20string", deviceID: "dev1")
        #expect(properties.applicationProperties == [.init(name: "prop1", value: nil), .init(name: "prop2", value: ""),
                                                     .init(name: "prop3", value: "a string")])
        let bag = IoTHubPropertyBag(properties.applicationProperties)
        #expect(bag.encoded == "prop1&prop2=&prop3=a%20string")
    }

    @Test func cloudToDeviceForAnotherDevice() {
        #expect(throws: IoTHubError.wrongDevice(topic: "devices/dev2/messages/devicebound/a=1", expected: "dev1")) {
            try IoTHubTopic.parseCloudToDevice("devices/dev2/messages/devicebound/a=1", deviceID: "dev1")
        }
    }

    // MARK: Twin (A.9)

    @Test func twinRequestTopics() throws {
        #expect(try IoTHubTopic.twinGet(requestID: "1") == "$iothub/twin/GET/?$rid=1")
        #expect(try IoTHubTopic.twinReportedPatch(requestID: "7") == "$iothub/twin/PATCH/properties/reported/?$rid=7")
        #expect(throws: IoTHubError.invalidRequestID("a&b")) { try IoTHubTopic.twinGet(requestID: "a&b") }
        #expect(throws: IoTHubError.invalidRequestID("")) { try IoTHubTopic.twinGet(requestID: "") }
        for filter in [IoTHubTopic.twinResponseFilter, IoTHubTopic.twinDesiredPatchFilter, IoTHubTopic.methodRequestFilter] {
            try MQTTTopic.validateFilter(filter)
        }
        #expect(IoTHubTopic.twinResponseFilter == "$iothub/twin/res/#")
        #expect(IoTHubTopic.twinDesiredPatchFilter == "$iothub/twin/PATCH/properties/desired/#")
        #expect(IoTHubTopic.methodRequestFilter == "$iothub/methods/POST/#")
    }

    @Test func twinResponses() throws {
        #expect(try IoTHubTopic.parseTwinResponse("$iothub/twin/res/200/?$rid=1")
            == IoTHubTwinResponse(status: IoTHubStatus(200), requestID: "1", version: nil))
        #expect(try IoTHubTopic.parseTwinResponse("$iothub/twin/res/204/?$rid=7&$version=13")
            == IoTHubTwinResponse(status: IoTHubStatus(204), requestID: "7", version: 13))
        let throttled = try IoTHubTopic.parseTwinResponse("$iothub/twin/res/429/?$rid=3")
        #expect(throttled.status.shouldBackOff)
        #expect(try IoTHubTopic.parseTwinResponse("$iothub/twin/res/400/?$rid=4").status.classification == .clientError)
    }

    @Test func malformedTwinResponses() {
        #expect(throws: IoTHubError.invalidStatus(topic: "$iothub/twin/res/ok/?$rid=1", text: "ok")) {
            try IoTHubTopic.parseTwinResponse("$iothub/twin/res/ok/?$rid=1")
        }
        #expect(throws: IoTHubError.missingRequestID(topic: "$iothub/twin/res/200/?$version=2")) {
            try IoTHubTopic.parseTwinResponse("$iothub/twin/res/200/?$version=2")
        }
        #expect(throws: IoTHubError.invalidVersion(topic: "$iothub/twin/res/204/?$rid=1&$version=x", text: "x")) {
            try IoTHubTopic.parseTwinResponse("$iothub/twin/res/204/?$rid=1&$version=x")
        }
        #expect(throws: IoTHubError.unrecognizedTopic("$iothub/twin/res/200")) {
            try IoTHubTopic.parseTwinResponse("$iothub/twin/res/200")
        }
    }

    @Test func desiredPatches() throws {
        #expect(try IoTHubTopic.parseDesiredPatch("$iothub/twin/PATCH/properties/desired/?$version=8").version == 8)
        #expect(throws: IoTHubError.missingVersion(topic: "$iothub/twin/PATCH/properties/desired/")) {
            try IoTHubTopic.parseDesiredPatch("$iothub/twin/PATCH/properties/desired/")
        }
        #expect(throws: IoTHubError.invalidVersion(topic: "$iothub/twin/PATCH/properties/desired/?$version=-1", text: "-1")) {
            try IoTHubTopic.parseDesiredPatch("$iothub/twin/PATCH/properties/desired/?$version=-1")
        }
    }

    // MARK: Direct methods (A.11)

    @Test func methodRequestAndResponse() throws {
        let request = try IoTHubTopic.parseMethodRequest("$iothub/methods/POST/runDiagnostics/?$rid=1f")
        #expect(request == IoTHubMethodRequest(name: "runDiagnostics", requestID: "1f"))
        let response = try IoTHubTopic.methodResponse(status: 200, requestID: request.requestID)
        #expect(response == "$iothub/methods/res/200/?$rid=1f")
        try MQTTTopic.validateName(response)
    }

    @Test func methodNamesFollowTheServiceRules() {
        #expect(throws: IoTHubError.invalidMethodName("get$x")) {
            try IoTHubTopic.parseMethodRequest("$iothub/methods/POST/get$x/?$rid=1")
        }
        #expect(throws: IoTHubError.missingRequestID(topic: "$iothub/methods/POST/blinkLed/")) {
            try IoTHubTopic.parseMethodRequest("$iothub/methods/POST/blinkLed/")
        }
    }

    // MARK: Dispatch

    @Test func inboundTopicDispatch() throws {
        #expect(try IoTHubInboundTopic(topic: "$iothub/twin/res/200/?$rid=5", deviceID: "d")
            == .twinResponse(.init(status: IoTHubStatus(200), requestID: "5")))
        #expect(try IoTHubInboundTopic(topic: "$iothub/twin/PATCH/properties/desired/?$version=3", deviceID: "d")
            == .desiredPatch(.init(version: 3)))
        #expect(try IoTHubInboundTopic(topic: "$iothub/methods/POST/getHealth/?$rid=9", deviceID: "d")
            == .methodRequest(.init(name: "getHealth", requestID: "9")))
        #expect(try IoTHubInboundTopic(topic: "devices/d/messages/devicebound/a=1", deviceID: "d")
            == .cloudToDevice(.init(applicationProperties: [.init(name: "a", value: "1")])))
        #expect(throws: IoTHubError.unrecognizedTopic("other/topic")) {
            try IoTHubInboundTopic(topic: "other/topic", deviceID: "d")
        }
    }
}
