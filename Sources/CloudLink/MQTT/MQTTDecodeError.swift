/// Why bytes from the peer are not a well-formed MQTT 3.1.1 packet.
///
/// One case per kind of malformation, so a test (and a log reader) can tell them apart.
/// `offset` counts bytes from the first byte of the packet being decoded. Every case means
/// the stream is out of step: the receiver must close the network connection (§4.8), and the
/// ``MQTTDecoder`` that threw keeps throwing the same error.
public enum MQTTDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Packet type 0 or 15 (reserved, §2.2.1).
    case reservedPacketType(UInt8)
    /// The flag nibble of a non-PUBLISH packet differs from table 2.2 ([MQTT-2.2.2-1]).
    case invalidFixedHeaderFlags(MQTTPacketType, expected: UInt8, actual: UInt8)
    /// A QoS field holds 3 ([MQTT-3.3.1-4], [MQTT-3.1.2-14], [MQTT-3-8.3-4]).
    case invalidQoS(field: String, offset: Int)
    /// DUP set on a QoS 0 PUBLISH ([MQTT-3.3.1-2]).
    case duplicateFlagOnQoS0
    /// The remaining-length varint continues past its fourth byte (§2.2.3).
    case remainingLengthTooLong
    /// The whole packet (fixed header included) is bigger than the decoder accepts.
    case packetTooLarge(MQTTPacketType, size: Int, maximum: Int)
    /// A field (or a length prefix) runs past the end the remaining length gives.
    case truncated(MQTTPacketType, field: String, offset: Int, needed: Int, available: Int)
    /// ``MQTTDecoder/decode(_:maximumPacketSize:)`` was given bytes that end before the packet does.
    case incomplete(byteCount: Int)
    /// Bytes left over after the last field of a packet whose layout is fixed.
    case trailingBytes(MQTTPacketType, offset: Int, count: Int)
    /// A string is not well-formed UTF-8 ([MQTT-1.5.3-1]).
    case invalidUTF8(field: String, offset: Int)
    /// A string contains U+0000 ([MQTT-1.5.3-2]).
    case nullCharacter(field: String, offset: Int)
    /// A PUBLISH or will topic is not a valid topic name.
    case invalidTopicName(String, MQTTTopicError)
    /// A SUBSCRIBE or UNSUBSCRIBE topic filter is not valid.
    case invalidTopicFilter(String, MQTTTopicError)
    /// A packet identifier is 0 where one is required ([MQTT-2.3.1-1]).
    case zeroPacketIdentifier(MQTTPacketType, offset: Int)
    /// SUBSCRIBE, UNSUBSCRIBE or SUBACK without any entry ([MQTT-3.8.3-3], [MQTT-3.10.3-2]).
    case emptyPayload(MQTTPacketType)
    /// CONNECT protocol name other than `MQTT` ([MQTT-3.1.2-1]).
    case invalidProtocolName(String)
    /// CONNECT protocol level other than 4. A server answers CONNACK 1 and closes ([MQTT-3.1.2-2]).
    case unsupportedProtocolLevel(UInt8)
    /// CONNECT flags bit 0 is set ([MQTT-3.1.2-3]).
    case reservedConnectFlag
    /// Will QoS or will retain set without the will flag ([MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]).
    case willOptionsWithoutWill(flags: UInt8)
    /// Password flag without user name flag ([MQTT-3.1.2-22]).
    case passwordWithoutUsername
    /// CONNACK acknowledge flags with any of bits 7–1 set ([MQTT-3.2.2-1]).
    case invalidConnAckFlags(UInt8)
    /// CONNACK return code above 5 (§3.2.2.3).
    case invalidConnectReturnCode(UInt8)
    /// CONNACK refuses but claims a session is present ([MQTT-3.2.2-4]).
    case sessionPresentOnRefusal(MQTTPacket.ConnAck.ReturnCode)
    /// A SUBSCRIBE requested-QoS byte with any of bits 7–2 set ([MQTT-3-8.3-4]).
    case invalidSubscriptionOptions(UInt8, offset: Int)
    /// A SUBACK return code other than 0x00, 0x01, 0x02 or 0x80 ([MQTT-3.9.3-2]).
    case invalidSubAckReturnCode(UInt8, offset: Int)

    public var description: String {
        switch self {
        case .reservedPacketType(let value):
            "packet type \(value) is reserved; expected 1…14 in the high nibble of byte 0"
        case let .invalidFixedHeaderFlags(type, expected, actual):
            "\(type) fixed-header flags are 0b\(binary(actual)), expected 0b\(binary(expected)) (MQTT 3.1.1 table 2.2)"
        case let .invalidQoS(field, offset):
            "\(field) is 3 at byte \(offset); only QoS 0, 1 and 2 exist"
        case .duplicateFlagOnQoS0:
            "PUBLISH has DUP set at QoS 0; DUP is only allowed on QoS 1 and 2 redeliveries"
        case .remainingLengthTooLong:
            "remaining length uses more than 4 bytes (continuation bit set on byte 4); the peer is not speaking MQTT or the stream is out of step"
        case let .packetTooLarge(type, size, maximum):
            "\(type) of \(size) bytes exceeds the maximum packet size of \(maximum) bytes"
        case let .truncated(type, field, offset, needed, available):
            "\(type) \(field) at byte \(offset) needs \(needed) bytes but the packet has only \(available) left (remaining length and field lengths disagree)"
        case .incomplete(let count):
            "the \(count) bytes end before the packet does; pass one whole packet or use the incremental decoder"
        case let .trailingBytes(type, offset, count):
            "\(type) has \(count) unexpected bytes after its last field, starting at byte \(offset)"
        case let .invalidUTF8(field, offset):
            "\(field) is not valid UTF-8 (bad byte at packet byte \(offset))"
        case let .nullCharacter(field, offset):
            "\(field) contains U+0000 at packet byte \(offset); MQTT strings must not contain it"
        case let .invalidTopicName(topic, reason):
            "topic name '\(topic)' is invalid: \(reason)"
        case let .invalidTopicFilter(filter, reason):
            "topic filter '\(filter)' is invalid: \(reason)"
        case let .zeroPacketIdentifier(type, offset):
            "\(type) packet identifier at byte \(offset) is 0; identifiers are 1…65535"
        case .emptyPayload(let type):
            "\(type) has no entries; at least one is required"
        case .invalidProtocolName(let name):
            "CONNECT protocol name is '\(name)', expected 'MQTT' (MQTT 3.1.1)"
        case .unsupportedProtocolLevel(let level):
            "CONNECT protocol level is \(level), expected 4 (MQTT 3.1.1); answer CONNACK 1"
        case .reservedConnectFlag:
            "CONNECT flags bit 0 (reserved) is set; it must be 0"
        case .willOptionsWithoutWill(let flags):
            "CONNECT flags 0b\(binary(flags)) set will QoS or will retain without the will flag"
        case .passwordWithoutUsername:
            "CONNECT has the password flag without the user name flag"
        case .invalidConnAckFlags(let flags):
            "CONNACK acknowledge flags are 0b\(binary(flags)); only bit 0 (session present) may be set"
        case .invalidConnectReturnCode(let code):
            "CONNACK return code \(code) is not defined; expected 0…5"
        case .sessionPresentOnRefusal(let code):
            "CONNACK refuses (\(code)) but sets session present; a refusal must clear it"
        case let .invalidSubscriptionOptions(value, offset):
            "SUBSCRIBE requested-QoS byte 0x\(hex(value)) at byte \(offset) has reserved bits 7–2 set"
        case let .invalidSubAckReturnCode(value, offset):
            "SUBACK return code 0x\(hex(value)) at byte \(offset) is not 0x00, 0x01, 0x02 or 0x80"
        }
    }
}

private func binary(_ value: UInt8) -> String {
    let digits = String(value, radix: 2)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

func hex(_ value: UInt8) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return digits.count == 1 ? "0" + digits : digits
}
