// libFuzzer harness for the IoT Hub topic parsers (the topic of every PUBLISH a device or
// LocalHub receives). Compiled with Sources/CloudLink/IoTHub, MQTT and DeviceID into one module by
// scripts/fuzz.sh. The input is the topic name as UTF-8 (what MQTT's decoder lets through).
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. No parser crashes, whatever the topic.
// 2. A parsed twin response, method request or desired patch is rebuilt by the builders into a
//    topic that parses back to the same value (`$rid` echoed byte for byte).
// 3. A parsed telemetry topic's device and module ids and properties are built back into a topic
//    that parses to the same fields (when the builder accepts the ids).

@_cdecl("LLVMFuzzerTestOneInput")
public func iotHubTopicFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let topic = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }

    if let inbound = try? IoTHubInboundTopic(topic: topic, deviceID: "fuzz-device") {
        switch inbound {
        case .twinResponse(let response):
            let rebuilt = "$iothub/twin/res/\(response.status.code)/?$rid=\(response.requestID)"
                + (response.version.map { "&$version=\($0)" } ?? "")
            check(try? IoTHubTopic.parseTwinResponse(rebuilt), equals: response, topic, rebuilt)
        case .methodRequest(let request):
            guard let answer = try? IoTHubTopic.methodResponse(status: 200, requestID: request.requestID) else {
                fatalError("a parsed method request's $rid \(request.requestID) is refused in the answer")
            }
            guard answer.hasSuffix("?$rid=" + request.requestID) else { fatalError("answer \(answer) does not echo the $rid") }
        case .desiredPatch(let patch):
            let rebuilt = IoTHubTopic.twinDesiredPrefix + "?$version=\(patch.version)"
            check(try? IoTHubTopic.parseDesiredPatch(rebuilt), equals: patch, topic, rebuilt)
        case .cloudToDevice(let properties):
            _ = try? properties.propertyBag()
        }
    }

    if let telemetry = try? IoTHubTopic.parseTelemetry(topic),
       let rebuilt = try? IoTHubTopic.telemetry(deviceID: telemetry.deviceID, moduleID: telemetry.moduleID,
                                                properties: telemetry.properties) {
        guard let again = try? IoTHubTopic.parseTelemetry(rebuilt) else {
            fatalError("telemetry topic \(topic) rebuilt as \(rebuilt) does not parse")
        }
        check(again, equals: telemetry, topic, rebuilt)
    }
    _ = try? IoTHubTopic.parseCloudToDevice(topic, deviceID: "fuzz-device")
    return 0
}

private func check<T: Equatable>(_ again: T?, equals first: T, _ topic: String, _ rebuilt: String) {
    guard let again else { fatalError("\(topic) parsed as \(first), rebuilt as \(rebuilt), which does not parse") }
    guard again == first else { fatalError("\(topic) parsed as \(first), rebuilt as \(rebuilt), parsed as \(again)") }
}
