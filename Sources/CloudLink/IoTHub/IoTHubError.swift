/// Why an IoT Hub topic, user name or property bag cannot be built or parsed.
public enum IoTHubError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidDeviceID(String, reason: String)
    case invalidModuleID(String, reason: String)
    case invalidHostName(String)
    case invalidModelID(String)
    /// Above the hub's 1177 s (protocol sheet A.5).
    case keepAliveTooLong(seconds: UInt16, maximum: UInt16)
    /// A `$rid` must be printable ASCII without `&`, `/`, `?`, `#`, `+`.
    case invalidRequestID(String)
    case duplicateRequestID(String)
    case invalidMessageID(String, reason: String)
    /// Application property names must be non-empty and must not start with `$` (system names).
    case invalidPropertyName(String)
    /// `%` not followed by two hex digits, at this UTF-8 offset of the text.
    case malformedPercentEncoding(String, offset: Int)
    /// Percent-decoding gave bytes that are not UTF-8.
    case decodedTextNotUTF8(String)
    case malformedPropertyBag(String, reason: String)
    /// The topic is none of the device-side topics this layer knows.
    case unrecognizedTopic(String)
    /// A device topic for another device id.
    case wrongDevice(topic: String, expected: String)
    case missingRequestID(topic: String)
    case invalidStatus(topic: String, text: String)
    case missingVersion(topic: String)
    case invalidVersion(topic: String, text: String)
    case invalidMethodName(String)

    public var description: String {
        switch self {
        case let .invalidDeviceID(id, reason): "device id '\(id)' is invalid: \(reason)"
        case let .invalidModuleID(id, reason): "module id '\(id)' is invalid: \(reason)"
        case .invalidHostName(let host): "host name '\(host)' is invalid; expected e.g. 'myhub.azure-devices.net'"
        case .invalidModelID(let id): "model id '\(id)' is invalid; expected a DTMI such as 'dtmi:com:example:EnvSensor;1'"
        case let .keepAliveTooLong(seconds, maximum):
            "keep-alive \(seconds) s exceeds IoT Hub's maximum of \(maximum) s; use 60…240 s"
        case .invalidRequestID(let rid):
            "request id '\(rid)' is invalid; use 1…128 printable ASCII characters without & / ? # +"
        case .duplicateRequestID(let rid): "request id '\(rid)' is already waiting for a response; use a fresh one"
        case let .invalidMessageID(id, reason): "message id '\(id)' is invalid: \(reason)"
        case .invalidPropertyName(let name):
            "property name '\(name)' is invalid; application property names are non-empty and must not start with '$'"
        case let .malformedPercentEncoding(text, offset):
            "'\(text)' has a '%' at byte \(offset) that is not followed by two hex digits"
        case .decodedTextNotUTF8(let text): "'\(text)' percent-decodes to bytes that are not UTF-8"
        case let .malformedPropertyBag(text, reason): "property bag '\(text)' is malformed: \(reason)"
        case .unrecognizedTopic(let topic): "'\(topic)' is not an IoT Hub device topic this agent handles"
        case let .wrongDevice(topic, expected): "topic '\(topic)' is not for device '\(expected)'"
        case .missingRequestID(let topic): "topic '\(topic)' has no $rid"
        case let .invalidStatus(topic, text): "topic '\(topic)' has status '\(text)'; expected a decimal number"
        case .missingVersion(let topic): "topic '\(topic)' has no $version"
        case let .invalidVersion(topic, text): "topic '\(topic)' has $version '\(text)'; expected a decimal number"
        case .invalidMethodName(let name):
            "method name '\(name)' is invalid; use printable ASCII without space, tab or $ ( ) < > @ , ; : \\ \" / [ ] ? = { }"
        }
    }
}
