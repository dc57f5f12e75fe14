/// Builds and parses the IoT Hub device topics (protocol sheet A.7–A.11).
///
/// ## Contract
/// - Builders validate their inputs (device id, request id, property bag) and return topic
///   names that ``MQTT/MQTTTopic`` accepts.
/// - Parsers take a received topic name and return typed fields; a `$rid` is returned exactly
///   as received (it is opaque and must be echoed byte for byte, A.11), `$version` and status
///   as integers.
public enum IoTHubTopic {
    /// A.9: subscribe before the first twin request.
    public static let twinResponseFilter = "$iothub/twin/res/#"
    /// A.9: desired-property patches.
    public static let twinDesiredPatchFilter = "$iothub/twin/PATCH/properties/desired/#"
    /// A.11: direct-method requests.
    public static let methodRequestFilter = "$iothub/methods/POST/#"

    static let twinResponsePrefix = "$iothub/twin/res/"
    static let twinDesiredPrefix = "$iothub/twin/PATCH/properties/desired/"
    static let methodRequestPrefix = "$iothub/methods/POST/"

    // MARK: Telemetry (A.7)

    /// `devices/{deviceId}/messages/events/{bag}` or, for a module,
    /// `devices/{deviceId}/modules/{moduleId}/messages/events/{bag}`.
    public static func telemetry(deviceID: String, moduleID: String? = nil,
                                 properties: IoTHubMessageProperties = .init()) throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateDeviceID(deviceID)
        var topic = "devices/\(deviceID)/"
        if let moduleID {
            try IoTHubIdentifier.validateModuleID(moduleID)
            topic += "modules/\(moduleID)/"
        }
        return topic + "messages/events/" + (try properties.propertyBag().encoded)
    }

    /// Reads a telemetry topic back (LocalHub's side).
    public static func parseTelemetry(_ topic: String) throws(IoTHubError) -> IoTHubTelemetryTopic {
        guard topic.hasPrefix("devices/") else { throw .unrecognizedTopic(topic) }
        var rest = topic.dropFirst("devices/".count)
        guard let slash = rest.firstIndex(of: "/") else { throw .unrecognizedTopic(topic) }
        let deviceID = String(rest[..<slash])
        rest = rest[rest.index(after: slash)...]
        var moduleID: String?
        if rest.hasPrefix("modules/") {
            rest = rest.dropFirst("modules/".count)
            guard let slash = rest.firstIndex(of: "/") else { throw .unrecognizedTopic(topic) }
            moduleID = String(rest[..<slash])
            rest = rest[rest.index(after: slash)...]
        }
        guard !deviceID.isEmpty, moduleID?.isEmpty != true, rest.hasPrefix("messages/events/") else {
            throw .unrecognizedTopic(topic)
        }
        let bag = try IoTHubPropertyBag(parsing: rest.dropFirst("messages/events/".count))
        return IoTHubTelemetryTopic(deviceID: deviceID, moduleID: moduleID, properties: IoTHubMessageProperties(bag: bag))
    }

    // MARK: Cloud-to-device (A.8)

    /// `devices/{deviceId}/messages/devicebound/#`
    public static func cloudToDeviceFilter(deviceID: String) throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateDeviceID(deviceID)
        return "devices/\(deviceID)/messages/devicebound/#"
    }

    /// The properties of a received `devices/{deviceId}/messages/devicebound/{bag}`.
    public static func parseCloudToDevice(_ topic: String, deviceID: String) throws(IoTHubError) -> IoTHubMessageProperties {
        guard topic.hasPrefix("devices/") else { throw .unrecognizedTopic(topic) }
        let prefix = "devices/\(deviceID)/messages/devicebound/"
        guard topic.hasPrefix(prefix) else {
            if topic.contains("/messages/devicebound/") { throw .wrongDevice(topic: topic, expected: deviceID) }
            throw .unrecognizedTopic(topic)
        }
        return IoTHubMessageProperties(bag: try IoTHubPropertyBag(parsing: topic.dropFirst(prefix.count)))
    }

    // MARK: Twin (A.9)

    /// `$iothub/twin/GET/?$rid={rid}` (publish with an empty payload).
    public static func twinGet(requestID: String) throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateRequestID(requestID)
        return "$iothub/twin/GET/?$rid=\(requestID)"
    }

    /// `$iothub/twin/PATCH/properties/reported/?$rid={rid}` (payload: the JSON merge patch).
    public static func twinReportedPatch(requestID: String) throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateRequestID(requestID)
        return "$iothub/twin/PATCH/properties/reported/?$rid=\(requestID)"
    }

    /// `$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]`
    public static func parseTwinResponse(_ topic: String) throws(IoTHubError) -> IoTHubTwinResponse {
        guard topic.hasPrefix(twinResponsePrefix) else { throw .unrecognizedTopic(topic) }
        let rest = topic.dropFirst(twinResponsePrefix.count)
        guard let slash = rest.firstIndex(of: "/") else { throw .unrecognizedTopic(topic) }
        let statusText = rest[..<slash]
        guard let status = decimal(statusText) else { throw .invalidStatus(topic: topic, text: String(statusText)) }
        let query = try QueryFields(rest[rest.index(after: slash)...], topic: topic)
        guard let rid = query.requestID else { throw .missingRequestID(topic: topic) }
        let version = try query.version(topic: topic)
        return IoTHubTwinResponse(status: IoTHubStatus(status), requestID: rid, version: version)
    }

    /// `$iothub/twin/PATCH/properties/desired/?$version={n}`
    public static func parseDesiredPatch(_ topic: String) throws(IoTHubError) -> IoTHubDesiredPatch {
        guard topic.hasPrefix(twinDesiredPrefix) else { throw .unrecognizedTopic(topic) }
        let query = try QueryFields(topic.dropFirst(twinDesiredPrefix.count), topic: topic)
        guard let version = try query.version(topic: topic) else { throw .missingVersion(topic: topic) }
        return IoTHubDesiredPatch(version: version)
    }

    // MARK: Direct methods (A.11)

    /// `$iothub/methods/POST/{name}/?$rid={rid}`
    public static func parseMethodRequest(_ topic: String) throws(IoTHubError) -> IoTHubMethodRequest {
        guard topic.hasPrefix(methodRequestPrefix) else { throw .unrecognizedTopic(topic) }
        let rest = topic.dropFirst(methodRequestPrefix.count)
        guard let slash = rest.firstIndex(of: "/") else { throw .unrecognizedTopic(topic) }
        let name = String(rest[..<slash])
        try IoTHubIdentifier.validateMethodName(name)
        let query = try QueryFields(rest[rest.index(after: slash)...], topic: topic)
        guard let rid = query.requestID else { throw .missingRequestID(topic: topic) }
        return IoTHubMethodRequest(name: name, requestID: rid)
    }

    /// `$iothub/methods/res/{status}/?$rid={rid}`; `status` is the device's HTTP-like result
    /// (200, 400, 404, 500 …), `requestID` the request's `$rid` exactly as received.
    public static func methodResponse(status: Int, requestID: String) throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateRequestID(requestID)
        return "$iothub/methods/res/\(status)/?$rid=\(requestID)"
    }

    static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 18, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    /// The `?$rid=…&$version=…` tail of `$iothub` topics. Names are percent-decoded (`%24rid`
    /// reads as `$rid`); the `$rid` value is kept raw.
    private struct QueryFields {
        var requestID: String?
        var versionText: Substring?

        init(_ text: Substring, topic: String) throws(IoTHubError) {
            guard text.isEmpty || text.first == "?" else { throw .unrecognizedTopic(topic) }
            for (rawName, value) in try IoTHubPropertyBag.rawPairs(text) {
                let name = try IoTHubPercentEncoding.decode(rawName)
                if name == "$rid", requestID == nil {
                    guard let value else { throw .missingRequestID(topic: topic) }
                    do { try IoTHubIdentifier.validateRequestID(String(value)) } catch { throw .missingRequestID(topic: topic) }
                    requestID = String(value)
                } else if name == "$version", versionText == nil {
                    versionText = value ?? ""
                }
            }
        }

        func version(topic: String) throws(IoTHubError) -> Int? {
            guard let versionText else { return nil }
            guard let version = IoTHubTopic.decimal(versionText) else {
                throw .invalidVersion(topic: topic, text: String(versionText))
            }
            return version
        }
    }
}

/// A parsed telemetry topic.
public struct IoTHubTelemetryTopic: Sendable, Hashable {
    public var deviceID: String
    public var moduleID: String?
    public var properties: IoTHubMessageProperties
}

/// A parsed `$iothub/twin/res/…` topic.
public struct IoTHubTwinResponse: Sendable, Hashable {
    public var status: IoTHubStatus
    public var requestID: String
    /// The new reported `$version` (204 answers to a reported patch).
    public var version: Int?

    public init(status: IoTHubStatus, requestID: String, version: Int? = nil) {
        self.status = status
        self.requestID = requestID
        self.version = version
    }
}

/// A parsed desired-properties patch notification topic. Ignore patches whose `version` is ≤
/// the desired `$version` of the last full twin (A.9).
public struct IoTHubDesiredPatch: Sendable, Hashable {
    public var version: Int
    public init(version: Int) { self.version = version }
}

/// A parsed direct-method request topic.
public struct IoTHubMethodRequest: Sendable, Hashable {
    public var name: String
    /// Echo exactly in ``IoTHubTopic/methodResponse(status:requestID:)``.
    public var requestID: String

    public init(name: String, requestID: String) {
        self.name = name
        self.requestID = requestID
    }
}

/// What a received PUBLISH topic is, for a device's dispatch.
public enum IoTHubInboundTopic: Sendable, Hashable {
    case cloudToDevice(IoTHubMessageProperties)
    case twinResponse(IoTHubTwinResponse)
    case desiredPatch(IoTHubDesiredPatch)
    case methodRequest(IoTHubMethodRequest)

    public init(topic: String, deviceID: String) throws(IoTHubError) {
        if topic.hasPrefix(IoTHubTopic.twinResponsePrefix) {
            self = .twinResponse(try IoTHubTopic.parseTwinResponse(topic))
        } else if topic.hasPrefix(IoTHubTopic.twinDesiredPrefix) {
            self = .desiredPatch(try IoTHubTopic.parseDesiredPatch(topic))
        } else if topic.hasPrefix(IoTHubTopic.methodRequestPrefix) {
            self = .methodRequest(try IoTHubTopic.parseMethodRequest(topic))
        } else {
            self = .cloudToDevice(try IoTHubTopic.parseCloudToDevice(topic, deviceID: deviceID))
        }
    }
}
