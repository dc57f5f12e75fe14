/// The hub's side of the device topics (protocol sheet A.7–A.11), for LocalHub: what a device
/// may publish, and the topics the hub publishes to it.
///
/// ## Contract
/// - ``IoTHubDeviceRequest/init(topic:)`` recognises exactly the topics a device identity may
///   publish to; anything else throws ``IoTHubError/unrecognizedTopic(_:)`` (IoT Hub closes the
///   connection on such a publish, A.6). Whether a telemetry topic names the publishing device
///   is the caller's check (the parsed device id is returned).
/// - Builders echo a `$rid` exactly as the device sent it (A.9, A.11).
/// - Pure: no I/O.
public enum IoTHubDeviceRequest: Sendable, Hashable {
    /// `devices/{id}/messages/events/{bag}` (A.7).
    case telemetry(IoTHubTelemetryTopic)
    /// `$iothub/twin/GET/?$rid={rid}` (A.9).
    case twinGet(requestID: String)
    /// `$iothub/twin/PATCH/properties/reported/?$rid={rid}` (A.9).
    case twinReportedPatch(requestID: String)
    /// `$iothub/methods/res/{status}/?$rid={rid}` (A.11).
    case methodResponse(status: Int, requestID: String)

    static let twinGetPrefix = "$iothub/twin/GET/"
    static let reportedPatchPrefix = "$iothub/twin/PATCH/properties/reported/"
    static let methodResponsePrefix = "$iothub/methods/res/"

    public init(topic: String) throws(IoTHubError) {
        if topic.hasPrefix("devices/") {
            self = .telemetry(try IoTHubTopic.parseTelemetry(topic))
        } else if topic.hasPrefix(Self.twinGetPrefix) {
            self = .twinGet(requestID: try Self.requestID(topic.dropFirst(Self.twinGetPrefix.count), topic: topic))
        } else if topic.hasPrefix(Self.reportedPatchPrefix) {
            self = .twinReportedPatch(requestID: try Self.requestID(topic.dropFirst(Self.reportedPatchPrefix.count),
                                                                    topic: topic))
        } else if topic.hasPrefix(Self.methodResponsePrefix) {
            let rest = topic.dropFirst(Self.methodResponsePrefix.count)
            guard let slash = rest.firstIndex(of: "/") else { throw .unrecognizedTopic(topic) }
            let statusText = rest[..<slash]
            guard let status = IoTHubTopic.decimal(statusText) else {
                throw .invalidStatus(topic: topic, text: String(statusText))
            }
            self = .methodResponse(status: status,
                                   requestID: try Self.requestID(rest[rest.index(after: slash)...], topic: topic))
        } else {
            throw .unrecognizedTopic(topic)
        }
    }

    /// The raw `$rid` of a `?$rid=…` tail (names percent-decoded, the value kept as sent).
    static func requestID(_ query: Substring, topic: String) throws(IoTHubError) -> String {
        guard query.first == "?" else { throw .missingRequestID(topic: topic) }
        for (rawName, value) in try IoTHubPropertyBag.rawPairs(query) {
            guard try IoTHubPercentEncoding.decode(rawName) == "$rid" else { continue }
            guard let value, !value.isEmpty else { throw .missingRequestID(topic: topic) }
            return String(value)
        }
        throw .missingRequestID(topic: topic)
    }
}

extension IoTHubTopic {
    /// `$iothub/twin/res/{status}/?$rid={rid}[&$version={v}]` (A.9).
    public static func twinResponse(status: Int, requestID: String, version: Int? = nil) -> String {
        var topic = "$iothub/twin/res/\(status)/?$rid=\(requestID)"
        if let version { topic += "&$version=\(version)" }
        return topic
    }

    /// `$iothub/twin/PATCH/properties/desired/?$version={n}` (A.9).
    public static func desiredPatch(version: Int) -> String {
        "$iothub/twin/PATCH/properties/desired/?$version=\(version)"
    }

    /// `$iothub/methods/POST/{name}/?$rid={rid}` (A.11).
    public static func methodRequest(name: String, requestID: String) throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateMethodName(name)
        try IoTHubIdentifier.validateRequestID(requestID)
        return "$iothub/methods/POST/\(name)/?$rid=\(requestID)"
    }

    /// `devices/{id}/messages/devicebound/{bag}` (A.8).
    public static func cloudToDevice(deviceID: String, properties: IoTHubPropertyBag) throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateDeviceID(deviceID)
        return "devices/\(deviceID)/messages/devicebound/" + properties.encoded
    }

    /// The device id (and module id) a CONNECT user name names:
    /// `{hub}/{deviceId}/?api-version=…` or `{hub}/{deviceId}/{moduleId}/?api-version=…` (A.2).
    /// `nil` when the user name has no such shape.
    public static func parseUsername(_ username: String) -> (hostName: String, deviceID: String, moduleID: String?)? {
        let path = username.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        return (parts[0], parts[1], parts.count == 3 ? parts[2] : nil)
    }

    /// The filters a device identity may subscribe to (A.6): its C2D messages, twin responses,
    /// desired patches and method requests.
    public static func deviceFilters(deviceID: String) -> Set<String> {
        ["devices/\(deviceID)/messages/devicebound/#", twinResponseFilter, twinDesiredPatchFilter, methodRequestFilter]
    }
}
