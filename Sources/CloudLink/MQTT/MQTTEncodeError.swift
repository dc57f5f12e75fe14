/// Why an ``MQTTPacket`` cannot be written as a well-formed MQTT 3.1.1 packet.
///
/// The encoder checks what the decoder checks, so a packet it writes is one the peer (and our
/// own strict ``MQTTDecoder``) accepts. These are caller errors (bad configuration, a topic
/// built from bad input); nothing has been sent.
public enum MQTTEncodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A string field is longer than 65,535 UTF-8 bytes (§1.5.3).
    case stringTooLong(field: String, byteCount: Int)
    /// A binary field (password, will payload) is longer than 65,535 bytes (§1.5.3 style prefix).
    case binaryTooLong(field: String, byteCount: Int)
    /// A string field contains U+0000 ([MQTT-1.5.3-2]).
    case nullCharacter(field: String, offset: Int)
    /// The remaining length exceeds 268,435,455 bytes, the largest 4-byte varint (§2.2.3).
    case packetTooLarge(MQTTPacketType, remainingLength: Int)
    case invalidTopicName(String, MQTTTopicError)
    case invalidTopicFilter(String, MQTTTopicError)
    /// A packet that needs an identifier has none, or has 0 ([MQTT-2.3.1-1]).
    case missingPacketIdentifier(MQTTPacketType)
    /// A QoS 0 PUBLISH carries a packet identifier or DUP ([MQTT-2.3.1-5], [MQTT-3.3.1-2]).
    case qos0WithPacketIdentifierOrDUP
    /// SUBSCRIBE, UNSUBSCRIBE or SUBACK with no entries.
    case emptyPayload(MQTTPacketType)
    /// A password without a user name ([MQTT-3.1.2-22]).
    case passwordWithoutUsername
    /// CONNACK refusal with session present set ([MQTT-3.2.2-4]).
    case sessionPresentOnRefusal

    public var description: String {
        switch self {
        case let .stringTooLong(field, count):
            "\(field) is \(count) UTF-8 bytes; an MQTT string holds at most 65535"
        case let .binaryTooLong(field, count):
            "\(field) is \(count) bytes; at most 65535 fit its length prefix"
        case let .nullCharacter(field, offset):
            "\(field) contains U+0000 at byte \(offset); remove it"
        case let .packetTooLarge(type, length):
            "\(type) would have a remaining length of \(length) bytes; MQTT allows at most 268435455"
        case let .invalidTopicName(topic, reason):
            "topic name '\(topic)' is invalid: \(reason)"
        case let .invalidTopicFilter(filter, reason):
            "topic filter '\(filter)' is invalid: \(reason)"
        case .missingPacketIdentifier(let type):
            "\(type) needs a packet identifier in 1…65535"
        case .qos0WithPacketIdentifierOrDUP:
            "a QoS 0 PUBLISH must have neither a packet identifier nor DUP"
        case .emptyPayload(let type):
            "\(type) needs at least one entry"
        case .passwordWithoutUsername:
            "CONNECT has a password but no user name; MQTT 3.1.1 requires the user name"
        case .sessionPresentOnRefusal:
            "a refusing CONNACK must not set session present"
        }
    }
}
