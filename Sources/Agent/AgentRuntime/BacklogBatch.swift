import FoundationEssentials
import IoTHub
import Outbox

/// How a backlog is packed into hub messages (contract: `firmware-interface/batch.v1.schema.json`).
///
/// A backlog (what the outbox holds beyond the live message) goes as batches: one hub message
/// `{"deviceId": …, "messageType": "batch", "messages": [<stored message>, …]}` with the message
/// property `messageType=batch`, oldest first. Each element is the stored body unchanged (raw
/// telemetry, an aggregate or a heartbeat), with its own `seq`: consumers dedupe readings on
/// `deviceId` + `seq`. Alerts never join a batch (they go alone, in their place in the queue),
/// and a batch of one is sent as the plain message.
public struct BacklogBatching: Sendable, Equatable {
    /// Body bytes of one batch at most: IoT Hub's message limit is 256 KB including the
    /// properties; 200 KB leaves 56 KB for them and the MQTT framing.
    public var maximumBodyBytes: Int
    /// Stored messages in one batch at most (bounds what one lost acknowledgement sends twice).
    public var maximumMessages: Int

    public init(maximumBodyBytes: Int = 200 * 1024, maximumMessages: Int = 1000) {
        self.maximumBodyBytes = min(maximumBodyBytes, IoTHubLimits.maximumTelemetryMessageBytes)
        self.maximumMessages = max(2, maximumMessages)
    }

    /// The agent's default: 200 KB of body, 1,000 messages.
    public static let standard = BacklogBatching()

    /// The value of the message property `messageType` (and of the body's field) of a batch.
    public static let messageType = "batch"

    /// The batch body around `bodies` (each a JSON object), built without re-encoding them.
    public static func body(deviceID: String, bodies: [[UInt8]]) -> [UInt8] {
        var out = prefix(deviceID: deviceID)
        out.reserveCapacity(out.count + bodies.reduce(0) { $0 + $1.count + 1 } + 2)
        for (index, body) in bodies.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += body
        }
        out += Array("]}".utf8)
        return out
    }

    /// Bytes a batch of `bodies` takes: `body(deviceID:bodies:).count` without building it.
    public static func size(deviceID: String, bodyBytes: Int, count: Int) -> Int {
        prefix(deviceID: deviceID).count + bodyBytes + max(0, count - 1) + 2
    }

    static func prefix(deviceID: String) -> [UInt8] {
        var escaped = ""
        for scalar in deviceID.unicodeScalars {
            switch scalar {
            case "\"", "\\": escaped += "\\\(scalar)"
            case _ where scalar.value < 0x20: escaped += "?"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return Array(#"{"deviceId":"\#(escaped)","messageType":"batch","messages":["#.utf8)
    }
}
