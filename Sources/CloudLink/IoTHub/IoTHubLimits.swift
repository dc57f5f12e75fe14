/// IoT Hub service limits and protocol constants a device must respect, each with the part of
/// Microsoft's IoT Hub documentation it comes from (quotas and throttling, messaging, device
/// twins, direct methods, MQTT support).
public enum IoTHubLimits {
    /// (quotas and throttling, messaging) device-to-cloud message ≤ 256 KB, counted as body + system
    /// property values + application property names and values. Oversize → 413001.
    public static let maximumTelemetryMessageBytes = 256 * 1024
    /// (quotas and throttling) the daily quota meters messages in 4 KB units (0.5 KB on the free tier).
    public static let quotaMeterBytes = 4 * 1024
    /// (cloud-to-device messages, quotas and throttling) cloud-to-device message ≤ 64 KB.
    public static let maximumCloudToDeviceMessageBytes = 64 * 1024
    /// (cloud-to-device messages, quotas and throttling) at most 50 C2D messages wait per device.
    public static let maximumCloudToDeviceQueueDepth = 50
    /// (error codes, cloud-to-device messages) a received C2D message is locked for one minute; PUBACK before.
    public static let cloudToDeviceLock: Duration = .seconds(60)
    /// (direct methods, quotas and throttling) method request and response payloads ≤ 128 KB each.
    public static let maximumMethodPayloadBytes = 128 * 1024
    /// (direct methods) the caller's method timeout defaults to 30 s, configurable 5…300 s.
    public static let defaultMethodResponseTimeout: Duration = .seconds(30)
    public static let methodResponseTimeoutRange: ClosedRange<Duration> = .seconds(5) ... .seconds(300)
    /// (MQTT support) a device can subscribe to five topics at a time.
    public static let maximumSubscriptions = 5
    /// (MQTT support) the hub's idle timeout is capped at 1767 s = 1.5 × 1177 s.
    public static let maximumKeepAliveSeconds: UInt16 = 1177
    /// (Embedded C SDK) the Embedded C SDK's keep-alive (`AZ_IOT_DEFAULT_MQTT_CONNECT_KEEPALIVE_SECONDS`).
    public static let defaultKeepAliveSeconds: UInt16 = 240
    /// (MQTT support) the api-version the MQTT article uses and tells devices to send.
    public static let apiVersion = "2021-04-12"
    /// (MQTT support) MQTT over TLS port.
    public static let mqttPort = 8883
    /// (MQTT support, messaging) a message id is at most 128 characters.
    public static let maximumMessageIDLength = 128
    /// characters allowed in a message id besides ASCII letters and digits.
    public static let messageIDPunctuation: Set<Character> = [
        "-", ":", ".", "+", "%", "_", "#", "*", "?", "!", "(", ")", ",", "=", "@", ";", "$", "'",
    ]
    /// (device twins, quotas and throttling) desired and reported sections ≤ 32 KB each, tags ≤ 8 KB.
    public static let maximumTwinDesiredBytes = 32 * 1024
    public static let maximumTwinReportedBytes = 32 * 1024
    public static let maximumTwinTagsBytes = 8 * 1024
    /// (device twins) each individual twin value ≤ 4 KB.
    public static let maximumTwinValueBytes = 4 * 1024
    /// (device twins) object nesting depth ≤ 10.
    public static let maximumTwinDepth = 10
    /// (device twins) key names ≤ 1 KB; they must not contain `.`, `$`, space or control characters.
    public static let maximumTwinKeyBytes = 1024
    /// (device twins) twin integers are limited to ±(2^52 − 1).
    public static let maximumTwinInteger: Int64 = 4_503_599_627_370_495
    /// A.9 [DOC-QUOTA] (Free/S1, per hub): twin reads 100/s, twin updates 50/s.
    public static let twinReadsPerSecond = 100
    public static let twinUpdatesPerSecond = 50
    /// (Embedded C SDK retry guidance) the Embedded C SDK's default retry delays: 1 s minimum, 100 s maximum,
    /// up to 5 s random jitter.
    public static let retryMinimumDelay: Duration = .seconds(1)
    public static let retryMaximumDelay: Duration = .seconds(100)
    public static let retryMaximumJitter: Duration = .seconds(5)
    /// (direct methods) method names are printable US-ASCII except these, space and tab.
    public static let methodNameForbidden: Set<Character> = [
        "$", "(", ")", "<", ">", "@", ",", ";", ":", "\\", "\"", "/", "[", "]", "?", "=", "{", "}",
    ]
}
