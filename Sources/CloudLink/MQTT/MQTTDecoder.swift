/// Reads MQTT 3.1.1 packets from a byte stream, strictly.
///
/// Feed bytes as they arrive (any split: one byte at a time, several packets at once) and take
/// complete packets out. Works for both directions: a client decodes what a server sends and
/// a server (LocalHub) what a client sends; which types are acceptable in a given state is the
/// session's business, not the codec's.
///
/// ## Contract
/// - Strict (§1.5.3, §2.2, §3, §4.7): remaining length at most 4 varint bytes; the whole packet
///   at most ``maximumPacketSize`` bytes, checked as soon as the fixed header is complete so an
///   oversize packet is refused before its body is buffered; fixed-header flags per type;
///   UTF-8 and U+0000 in every string; topic names without wildcards; valid topic filters;
///   QoS 3 refused; packet identifier 0 refused; field lengths consistent with the remaining
///   length, no trailing bytes.
/// - After an error the decoder is failed: it keeps throwing that error. Close the connection.
/// - Pure: no I/O. Memory held is at most one partial packet plus what was fed and not yet taken.
public struct MQTTDecoder: Sendable {
    /// 256 KiB: IoT Hub's device-to-cloud message limit (protocol sheet A.12), and far above
    /// what the hub sends a device (C2D ≤ 64 KB, method payloads ≤ 128 KB).
    public static let defaultMaximumPacketSize = 256 * 1024

    /// Largest packet accepted, fixed header included.
    public let maximumPacketSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: MQTTDecodeError?

    public init(maximumPacketSize: Int = MQTTDecoder.defaultMaximumPacketSize) {
        self.maximumPacketSize = maximumPacketSize
    }

    /// Bytes fed and not yet consumed by a returned packet.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds bytes to the stream; take packets with ``next()``.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete packet, or `nil` when more bytes are needed.
    public mutating func next() throws(MQTTDecodeError) -> MQTTPacket? {
        if let failure { throw failure }
        do {
            guard let (packet, length) = try Self.decodeFirst(buffer[start...], maximumPacketSize: maximumPacketSize)
            else { return nil }
            start += length
            if start == buffer.count {
                buffer.removeAll(keepingCapacity: buffer.capacity <= 4096)
                start = 0
            } else if start > 4096, start > buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            return packet
        } catch {
            failure = error
            throw error
        }
    }

    /// Appends `bytes` and returns every packet now complete, in order. Packets decoded before a
    /// malformed one are lost by this convenience; use ``append(_:)`` and ``next()`` to keep them.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(MQTTDecodeError) -> [MQTTPacket] {
        append(bytes)
        var packets: [MQTTPacket] = []
        while let packet = try next() { packets.append(packet) }
        return packets
    }

    /// Decodes exactly one whole packet. Missing bytes are reported as ``MQTTDecodeError/incomplete(byteCount:)``,
    /// extra bytes after it as ``MQTTDecodeError/trailingBytes(_:offset:count:)``.
    public static func decode(_ bytes: [UInt8], maximumPacketSize: Int = defaultMaximumPacketSize) throws(MQTTDecodeError) -> MQTTPacket {
        let slice = bytes[...]
        guard let (packet, length) = try decodeFirst(slice, maximumPacketSize: maximumPacketSize) else {
            throw .incomplete(byteCount: bytes.count)
        }
        if length < bytes.count {
            throw .trailingBytes(packet.type, offset: length, count: bytes.count - length)
        }
        return packet
    }

    /// The first packet of `bytes` and its length, or `nil` if it is not complete yet.
    static func decodeFirst(_ bytes: ArraySlice<UInt8>, maximumPacketSize: Int) throws(MQTTDecodeError) -> (MQTTPacket, Int)? {
        guard let first = bytes.first else { return nil }
        guard let type = MQTTPacketType(rawValue: first >> 4) else { throw .reservedPacketType(first >> 4) }
        let flags = first & 0x0F
        // Flags are checked before the length so garbage is refused at its first byte.
        if let required = type.requiredFlags {
            guard flags == required else { throw .invalidFixedHeaderFlags(type, expected: required, actual: flags) }
        } else {
            let qos = (flags >> 1) & 0b11
            if qos == 3 { throw .invalidQoS(field: "PUBLISH QoS", offset: 0) }
            if qos == 0, flags & 0b1000 != 0 { throw .duplicateFlagOnQoS0 }
        }
        var remaining = 0
        var multiplier = 1
        var headerLength = 1
        while true {
            let index = bytes.startIndex + headerLength
            guard index < bytes.endIndex else { return nil }
            let byte = bytes[index]
            headerLength += 1
            remaining += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { break }
            if headerLength == 5 { throw .remainingLengthTooLong }
            multiplier *= 128
        }
        let total = headerLength + remaining
        if total > maximumPacketSize { throw .packetTooLarge(type, size: total, maximum: maximumPacketSize) }
        guard bytes.count >= total else { return nil }
        let bodyStart = bytes.startIndex + headerLength
        var reader = Reader(type: type, bytes: bytes[bodyStart..<(bodyStart + remaining)], packetOffset: headerLength)
        let packet = try reader.decodeBody(flags: flags)
        return (packet, total)
    }
}

/// A cursor over one packet's body. Offsets in errors are from the packet's first byte.
private struct Reader {
    let type: MQTTPacketType
    let bytes: ArraySlice<UInt8>
    let packetOffset: Int
    var index: Int

    init(type: MQTTPacketType, bytes: ArraySlice<UInt8>, packetOffset: Int) {
        self.type = type
        self.bytes = bytes
        self.packetOffset = packetOffset
        self.index = bytes.startIndex
    }

    var offset: Int { packetOffset + (index - bytes.startIndex) }
    var remaining: Int { bytes.endIndex - index }

    mutating func decodeBody(flags: UInt8) throws(MQTTDecodeError) -> MQTTPacket {
        let packet: MQTTPacket
        switch type {
        case .connect: packet = .connect(try connect())
        case .connAck: packet = .connAck(try connAck())
        case .publish: packet = .publish(try publish(flags: flags))
        case .pubAck: packet = .pubAck(.init(packetID: try packetID()))
        case .pubRec: packet = .pubRec(.init(packetID: try packetID()))
        case .pubRel: packet = .pubRel(.init(packetID: try packetID()))
        case .pubComp: packet = .pubComp(.init(packetID: try packetID()))
        case .subscribe: packet = .subscribe(try subscribe())
        case .subAck: packet = .subAck(try subAck())
        case .unsubscribe: packet = .unsubscribe(try unsubscribe())
        case .unsubAck: packet = .unsubAck(.init(packetID: try packetID()))
        case .pingReq: packet = .pingReq
        case .pingResp: packet = .pingResp
        case .disconnect: packet = .disconnect
        }
        if remaining > 0 { throw .trailingBytes(type, offset: offset, count: remaining) }
        return packet
    }

    private mutating func take(_ count: Int, field: String) throws(MQTTDecodeError) -> ArraySlice<UInt8> {
        guard remaining >= count else {
            throw .truncated(type, field: field, offset: offset, needed: count, available: remaining)
        }
        let slice = bytes[index..<(index + count)]
        index += count
        return slice
    }

    private mutating func byte(_ field: String) throws(MQTTDecodeError) -> UInt8 {
        try take(1, field: field).first ?? 0
    }

    private mutating func uint16(_ field: String) throws(MQTTDecodeError) -> UInt16 {
        let pair = try take(2, field: field)
        return UInt16(pair[pair.startIndex]) << 8 | UInt16(pair[pair.startIndex + 1])
    }

    private mutating func packetID() throws(MQTTDecodeError) -> UInt16 {
        let at = offset
        let id = try uint16("packet identifier")
        if id == 0 { throw .zeroPacketIdentifier(type, offset: at) }
        return id
    }

    private mutating func binary(_ field: String) throws(MQTTDecodeError) -> [UInt8] {
        let length = Int(try uint16("\(field) length"))
        return Array(try take(length, field: field))
    }

    private mutating func string(_ field: String) throws(MQTTDecodeError) -> String {
        let length = Int(try uint16("\(field) length"))
        let at = offset
        let utf8 = try take(length, field: field)
        if let bad = MQTTUTF8.firstInvalidIndex(utf8) {
            throw .invalidUTF8(field: field, offset: at + (bad - utf8.startIndex))
        }
        if let null = utf8.firstIndex(of: 0) {
            throw .nullCharacter(field: field, offset: at + (null - utf8.startIndex))
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    private mutating func topicName(_ field: String) throws(MQTTDecodeError) -> String {
        let topic = try string(field)
        do { try MQTTTopic.validateName(topic) } catch { throw .invalidTopicName(topic, error) }
        return topic
    }

    private mutating func topicFilter() throws(MQTTDecodeError) -> String {
        let filter = try string("topic filter")
        do { try MQTTTopic.validateFilter(filter) } catch { throw .invalidTopicFilter(filter, error) }
        return filter
    }

    private mutating func connect() throws(MQTTDecodeError) -> MQTTPacket.Connect {
        let name = try string("protocol name")
        guard name == "MQTT" else { throw .invalidProtocolName(name) }
        let level = try byte("protocol level")
        guard level == 4 else { throw .unsupportedProtocolLevel(level) }
        let flagsOffset = offset
        let flags = try byte("connect flags")
        if flags & 0b0000_0001 != 0 { throw .reservedConnectFlag }
        let hasWill = flags & 0b0000_0100 != 0
        let willQoSBits = (flags >> 3) & 0b11
        let willRetain = flags & 0b0010_0000 != 0
        if !hasWill, willQoSBits != 0 || willRetain { throw .willOptionsWithoutWill(flags: flags) }
        guard let willQoS = MQTTQoS(rawValue: willQoSBits) else {
            throw .invalidQoS(field: "will QoS", offset: flagsOffset)
        }
        let hasPassword = flags & 0b0100_0000 != 0
        let hasUsername = flags & 0b1000_0000 != 0
        if hasPassword, !hasUsername { throw .passwordWithoutUsername }
        let keepAlive = try uint16("keep alive")
        let clientID = try string("client identifier")
        var will: MQTTPacket.Will?
        if hasWill {
            let topic = try topicName("will topic")
            let payload = try binary("will message")
            will = MQTTPacket.Will(topic: topic, payload: payload, qos: willQoS, retain: willRetain)
        }
        let username = try hasUsername ? string("user name") : nil
        let password = try hasPassword ? binary("password") : nil
        return MQTTPacket.Connect(clientID: clientID, cleanSession: flags & 0b0000_0010 != 0,
                                  keepAliveSeconds: keepAlive, will: will, username: username, password: password)
    }

    private mutating func connAck() throws(MQTTDecodeError) -> MQTTPacket.ConnAck {
        let flags = try byte("acknowledge flags")
        if flags & 0xFE != 0 { throw .invalidConnAckFlags(flags) }
        let raw = try byte("return code")
        guard let code = MQTTPacket.ConnAck.ReturnCode(rawValue: raw) else { throw .invalidConnectReturnCode(raw) }
        let sessionPresent = flags & 1 != 0
        if sessionPresent, code != .accepted { throw .sessionPresentOnRefusal(code) }
        return MQTTPacket.ConnAck(sessionPresent: sessionPresent, returnCode: code)
    }

    private mutating func publish(flags: UInt8) throws(MQTTDecodeError) -> MQTTPacket.Publish {
        // The fixed header check already refused QoS 3 and DUP at QoS 0.
        let qos = MQTTQoS(rawValue: (flags >> 1) & 0b11) ?? .atMostOnce
        let topic = try topicName("topic name")
        let id = try qos == .atMostOnce ? nil : packetID()
        let payload = Array(try take(remaining, field: "payload"))
        return MQTTPacket.Publish(topic: topic, payload: payload, qos: qos, retain: flags & 1 != 0,
                                  dup: flags & 0b1000 != 0, packetID: id)
    }

    private mutating func subscribe() throws(MQTTDecodeError) -> MQTTPacket.Subscribe {
        let id = try packetID()
        var subscriptions: [MQTTPacket.Subscription] = []
        while remaining > 0 {
            let filter = try topicFilter()
            let at = offset
            let options = try byte("requested QoS")
            if options & 0xFC != 0 { throw .invalidSubscriptionOptions(options, offset: at) }
            guard let qos = MQTTQoS(rawValue: options) else { throw .invalidQoS(field: "requested QoS", offset: at) }
            subscriptions.append(MQTTPacket.Subscription(filter: filter, qos: qos))
        }
        if subscriptions.isEmpty { throw .emptyPayload(.subscribe) }
        return MQTTPacket.Subscribe(packetID: id, subscriptions: subscriptions)
    }

    private mutating func subAck() throws(MQTTDecodeError) -> MQTTPacket.SubAck {
        let id = try packetID()
        var codes: [MQTTPacket.SubAck.ReturnCode] = []
        while remaining > 0 {
            let at = offset
            let raw = try byte("return code")
            guard let code = MQTTPacket.SubAck.ReturnCode(rawValue: raw) else {
                throw .invalidSubAckReturnCode(raw, offset: at)
            }
            codes.append(code)
        }
        if codes.isEmpty { throw .emptyPayload(.subAck) }
        return MQTTPacket.SubAck(packetID: id, returnCodes: codes)
    }

    private mutating func unsubscribe() throws(MQTTDecodeError) -> MQTTPacket.Unsubscribe {
        let id = try packetID()
        var filters: [String] = []
        while remaining > 0 { filters.append(try topicFilter()) }
        if filters.isEmpty { throw .emptyPayload(.unsubscribe) }
        return MQTTPacket.Unsubscribe(packetID: id, filters: filters)
    }
}
