/// Writes ``MQTTPacket``s as MQTT 3.1.1 bytes.
///
/// ## Contract
/// - Output is one complete packet: fixed header (type and flags, remaining length as a
///   1–4 byte varint, §2.2.3), variable header, payload.
/// - Everything the strict ``MQTTDecoder`` rejects is refused here first with an
///   ``MQTTEncodeError`` (topic rules, U+0000, packet id 0, length limits), so a round trip
///   `decode(encode(p)) == p` holds for every packet that encodes.
/// - Pure: no I/O, no state.
public enum MQTTEncoder {
    /// The largest remaining length a 4-byte varint can carry (§2.2.3).
    public static let maximumRemainingLength = 268_435_455

    public static func encode(_ packet: MQTTPacket) throws(MQTTEncodeError) -> [UInt8] {
        var body: [UInt8] = []
        var flags: UInt8 = packet.type.requiredFlags ?? 0
        switch packet {
        case .connect(let connect):
            try writeConnect(connect, into: &body)
        case .connAck(let ack):
            if ack.returnCode != .accepted, ack.sessionPresent { throw .sessionPresentOnRefusal }
            body = [ack.sessionPresent ? 1 : 0, ack.returnCode.rawValue]
        case .publish(let publish):
            flags = (publish.dup ? 0b1000 : 0) | publish.qos.rawValue << 1 | (publish.retain ? 1 : 0)
            try writePublish(publish, into: &body)
        case .pubAck(let ack):
            try writePacketID(ack.packetID, .pubAck, into: &body)
        case .pubRec(let ack):
            try writePacketID(ack.packetID, .pubRec, into: &body)
        case .pubRel(let ack):
            try writePacketID(ack.packetID, .pubRel, into: &body)
        case .pubComp(let ack):
            try writePacketID(ack.packetID, .pubComp, into: &body)
        case .subscribe(let subscribe):
            guard !subscribe.subscriptions.isEmpty else { throw .emptyPayload(.subscribe) }
            try writePacketID(subscribe.packetID, .subscribe, into: &body)
            for subscription in subscribe.subscriptions {
                try validateFilter(subscription.filter)
                try writeString(subscription.filter, field: "topic filter", into: &body)
                body.append(subscription.qos.rawValue)
            }
        case .subAck(let ack):
            guard !ack.returnCodes.isEmpty else { throw .emptyPayload(.subAck) }
            try writePacketID(ack.packetID, .subAck, into: &body)
            body.append(contentsOf: ack.returnCodes.map(\.rawValue))
        case .unsubscribe(let unsubscribe):
            guard !unsubscribe.filters.isEmpty else { throw .emptyPayload(.unsubscribe) }
            try writePacketID(unsubscribe.packetID, .unsubscribe, into: &body)
            for filter in unsubscribe.filters {
                try validateFilter(filter)
                try writeString(filter, field: "topic filter", into: &body)
            }
        case .unsubAck(let ack):
            try writePacketID(ack.packetID, .unsubAck, into: &body)
        case .pingReq, .pingResp, .disconnect:
            break
        }
        guard body.count <= maximumRemainingLength else {
            throw .packetTooLarge(packet.type, remainingLength: body.count)
        }
        var bytes: [UInt8] = [packet.type.rawValue << 4 | flags]
        bytes.reserveCapacity(body.count + 5)
        appendRemainingLength(body.count, to: &bytes)
        bytes.append(contentsOf: body)
        return bytes
    }

    /// The size in bytes of a PUBLISH with these fields, without building it (the session uses
    /// this to refuse oversize messages before queueing them).
    public static func encodedSize(ofPublishTopic topic: String, payloadCount: Int, qos: MQTTQoS) -> Int {
        let remaining = 2 + topic.utf8.count + (qos == .atMostOnce ? 0 : 2) + payloadCount
        return 1 + remainingLengthByteCount(remaining) + remaining
    }

    static func remainingLengthByteCount(_ length: Int) -> Int {
        switch length {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }

    static func appendRemainingLength(_ length: Int, to bytes: inout [UInt8]) {
        var value = length
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value > 0
    }

    private static func writeConnect(_ connect: MQTTPacket.Connect, into body: inout [UInt8]) throws(MQTTEncodeError) {
        try writeString("MQTT", field: "protocol name", into: &body)
        body.append(4)  // protocol level 3.1.1 (§3.1.2.2)
        var flags: UInt8 = connect.cleanSession ? 0b0000_0010 : 0
        if let will = connect.will {
            flags |= 0b0000_0100 | will.qos.rawValue << 3 | (will.retain ? 0b0010_0000 : 0)
        }
        if connect.password != nil {
            guard connect.username != nil else { throw .passwordWithoutUsername }
            flags |= 0b0100_0000
        }
        if connect.username != nil { flags |= 0b1000_0000 }
        body.append(flags)
        writeUInt16(connect.keepAliveSeconds, into: &body)
        try writeString(connect.clientID, field: "client identifier", into: &body)
        if let will = connect.will {
            do { try MQTTTopic.validateName(will.topic) } catch { throw .invalidTopicName(will.topic, error) }
            try writeString(will.topic, field: "will topic", into: &body)
            try writeBinary(will.payload, field: "will message", into: &body)
        }
        if let username = connect.username { try writeString(username, field: "user name", into: &body) }
        if let password = connect.password { try writeBinary(password, field: "password", into: &body) }
    }

    private static func writePublish(_ publish: MQTTPacket.Publish, into body: inout [UInt8]) throws(MQTTEncodeError) {
        do { try MQTTTopic.validateName(publish.topic) } catch { throw .invalidTopicName(publish.topic, error) }
        try writeString(publish.topic, field: "topic name", into: &body)
        if publish.qos == .atMostOnce {
            guard publish.packetID == nil, !publish.dup else { throw .qos0WithPacketIdentifierOrDUP }
        } else {
            guard let id = publish.packetID else { throw .missingPacketIdentifier(.publish) }
            try writePacketID(id, .publish, into: &body)
        }
        body.append(contentsOf: publish.payload)
    }

    private static func validateFilter(_ filter: String) throws(MQTTEncodeError) {
        do { try MQTTTopic.validateFilter(filter) } catch { throw .invalidTopicFilter(filter, error) }
    }

    private static func writePacketID(_ id: UInt16, _ type: MQTTPacketType, into body: inout [UInt8]) throws(MQTTEncodeError) {
        guard id != 0 else { throw .missingPacketIdentifier(type) }
        writeUInt16(id, into: &body)
    }

    private static func writeUInt16(_ value: UInt16, into body: inout [UInt8]) {
        body.append(UInt8(value >> 8))
        body.append(UInt8(value & 0xFF))
    }

    private static func writeString(_ string: String, field: String, into body: inout [UInt8]) throws(MQTTEncodeError) {
        let utf8 = Array(string.utf8)
        if let offset = utf8.firstIndex(of: 0) { throw .nullCharacter(field: field, offset: offset) }
        guard utf8.count <= Int(UInt16.max) else { throw .stringTooLong(field: field, byteCount: utf8.count) }
        writeUInt16(UInt16(utf8.count), into: &body)
        body.append(contentsOf: utf8)
    }

    private static func writeBinary(_ bytes: [UInt8], field: String, into body: inout [UInt8]) throws(MQTTEncodeError) {
        guard bytes.count <= Int(UInt16.max) else { throw .binaryTooLong(field: field, byteCount: bytes.count) }
        writeUInt16(UInt16(bytes.count), into: &body)
        body.append(contentsOf: bytes)
    }
}
