import MQTT
import Testing

/// One test per malformation (each must throw its own ``MQTTDecodeError`` case, with the
/// offset pointing at the offending byte), plus split-feed and multi-packet decoding.
@Suite struct MQTTDecoderTests {
    private func expectError(_ bytes: [UInt8], _ expected: MQTTDecodeError, maximumPacketSize: Int = 256 * 1024,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) {
            try MQTTDecoder.decode(bytes, maximumPacketSize: maximumPacketSize)
        }
        // The incremental decoder reports the same error when fed byte by byte.
        var decoder = MQTTDecoder(maximumPacketSize: maximumPacketSize)
        #expect(throws: expected, sourceLocation: sourceLocation) {
            for byte in bytes { _ = try decoder.feed([byte]) }
        }
    }

    // MARK: Fixed header

    @Test func reservedPacketTypes() {
        expectError([0x00, 0x00], .reservedPacketType(0))
        expectError([0xF0, 0x00], .reservedPacketType(15))
    }

    @Test func reservedFlagBitsPerType() {
        expectError([0x41, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags(.pubAck, expected: 0, actual: 1))
        expectError([0x60, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags(.pubRel, expected: 2, actual: 0))
        expectError([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00],
                    .invalidFixedHeaderFlags(.subscribe, expected: 2, actual: 0))
        expectError([0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61], .invalidFixedHeaderFlags(.unsubscribe, expected: 2, actual: 0))
        expectError([0xC2, 0x00], .invalidFixedHeaderFlags(.pingReq, expected: 0, actual: 2))
        expectError([0x18, 0x00], .invalidFixedHeaderFlags(.connect, expected: 0, actual: 8))
        expectError([0xE1, 0x00], .invalidFixedHeaderFlags(.disconnect, expected: 0, actual: 1))
    }

    @Test func publishQoS3() {
        expectError([0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01], .invalidQoS(field: "PUBLISH QoS", offset: 0))
    }

    @Test func dupOnQoS0() {
        expectError([0x38, 0x03, 0x00, 0x01, 0x74], .duplicateFlagOnQoS0)
    }

    @Test func remainingLengthLongerThanFourBytes() {
        expectError([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], .remainingLengthTooLong)
    }

    @Test func packetAboveConfiguredMaximum() {
        expectError([0x30, 0x20] + [UInt8](repeating: 0, count: 32), .packetTooLarge(.publish, size: 34, maximum: 16),
                    maximumPacketSize: 16)
    }

    @Test func oversizePacketIsRefusedFromItsHeaderAlone() {
        // Remaining length 262,145 (0x81 0x80 0x10): 262,149 bytes in all, one above 256 KiB + 4.
        var decoder = MQTTDecoder()
        #expect(decoder.maximumPacketSize == 262_144)
        #expect(throws: MQTTDecodeError.packetTooLarge(.publish, size: 262_149, maximum: 262_144)) {
            try decoder.feed([0x30, 0x81, 0x80, 0x10])
        }
    }

    @Test func packetExactlyAtMaximumIsAccepted() throws {
        // 2 + 2 + 1 + 11 = 16 bytes in all.
        let bytes: [UInt8] = [0x30, 0x0E, 0x00, 0x01, 0x74] + [UInt8](repeating: 1, count: 11)
        #expect(try MQTTDecoder.decode(bytes, maximumPacketSize: 16) == .publish(.init(topic: "t", payload: .init(repeating: 1, count: 11))))
    }

    // MARK: Lengths inside the packet

    @Test func stringLengthRunsPastPacket() {
        expectError([0x30, 0x03, 0x00, 0x05, 0x74],
                    .truncated(.publish, field: "topic name", offset: 4, needed: 5, available: 1))
    }

    @Test func packetIdentifierCutShort() {
        expectError([0x40, 0x01, 0x00], .truncated(.pubAck, field: "packet identifier", offset: 2, needed: 2, available: 1))
        expectError([0x20, 0x01, 0x00], .truncated(.connAck, field: "return code", offset: 3, needed: 1, available: 0))
    }

    @Test func bytesAfterTheLastField() {
        expectError([0x40, 0x03, 0x00, 0x01, 0x00], .trailingBytes(.pubAck, offset: 4, count: 1))
        expectError([0xC0, 0x01, 0x00], .trailingBytes(.pingReq, offset: 2, count: 1))
        expectError([0x20, 0x03, 0x00, 0x00, 0x00], .trailingBytes(.connAck, offset: 4, count: 1))
    }

    @Test func wholePacketDecodeNeedsAllBytes() {
        #expect(throws: MQTTDecodeError.incomplete(byteCount: 3)) { try MQTTDecoder.decode([0x30, 0x05, 0x00]) }
        #expect(throws: MQTTDecodeError.incomplete(byteCount: 0)) { try MQTTDecoder.decode([]) }
        #expect(throws: MQTTDecodeError.trailingBytes(.pingResp, offset: 2, count: 2)) {
            try MQTTDecoder.decode([0xD0, 0x00, 0xD0, 0x00])
        }
    }

    // MARK: Strings and topics

    @Test func invalidUTF8InTopic() {
        expectError([0x30, 0x04, 0x00, 0x02, 0xC3, 0x28], .invalidUTF8(field: "topic name", offset: 5))
        // Overlong "/" (C0 AF), a surrogate (ED A0 80), above U+10FFFF (F4 90 80 80).
        expectError([0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF], .invalidUTF8(field: "topic name", offset: 4))
        expectError([0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], .invalidUTF8(field: "topic name", offset: 5))
        expectError([0x30, 0x06, 0x00, 0x04, 0xF4, 0x90, 0x80, 0x80], .invalidUTF8(field: "topic name", offset: 5))
        // A sequence cut by the end of the string.
        expectError([0x30, 0x04, 0x00, 0x02, 0x61, 0xE2], .invalidUTF8(field: "topic name", offset: 5))
    }

    @Test func invalidUTF8InClientID() {
        let bytes: [UInt8] = [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00,
                              0x00, 0x01, 0xFF]
        expectError(bytes, .invalidUTF8(field: "client identifier", offset: 14))
    }

    @Test func nullCharacterInTopic() {
        expectError([0x30, 0x04, 0x00, 0x02, 0x61, 0x00], .nullCharacter(field: "topic name", offset: 5))
    }

    @Test func wildcardInPublishTopic() {
        expectError([0x30, 0x05, 0x00, 0x03, 0x61, 0x2F, 0x2B], .invalidTopicName("a/+", .wildcardInName(offset: 2)))
        expectError([0x30, 0x03, 0x00, 0x01, 0x23], .invalidTopicName("#", .wildcardInName(offset: 0)))
    }

    @Test func emptyPublishTopic() {
        expectError([0x30, 0x02, 0x00, 0x00], .invalidTopicName("", .empty))
    }

    @Test func willTopicWithWildcard() {
        // CONNECT, will flag + clean session, client id "c", will topic "#", empty will message.
        let bytes: [UInt8] = [0x10, 0x12, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x06, 0x00, 0x00,
                             0x00, 0x01, 0x63, 0x00, 0x01, 0x23, 0x00, 0x00]
        expectError(bytes, .invalidTopicName("#", .wildcardInName(offset: 0)))
    }

    @Test func badTopicFilters() {
        // SUBSCRIBE id 1, filter "a/#/b" QoS 0.
        expectError([0x82, 0x0A, 0x00, 0x01, 0x00, 0x05, 0x61, 0x2F, 0x23, 0x2F, 0x62, 0x00],
                    .invalidTopicFilter("a/#/b", .misplacedMultiLevelWildcard(offset: 2)))
        // UNSUBSCRIBE id 1, filter "a+".
        expectError([0xA2, 0x06, 0x00, 0x01, 0x00, 0x02, 0x61, 0x2B],
                    .invalidTopicFilter("a+", .misplacedSingleLevelWildcard(offset: 1)))
        // SUBSCRIBE id 1, empty filter.
        expectError([0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00], .invalidTopicFilter("", .empty))
    }

    // MARK: Packet identifiers and payload entries

    @Test func zeroPacketIdentifier() {
        expectError([0x40, 0x02, 0x00, 0x00], .zeroPacketIdentifier(.pubAck, offset: 2))
        expectError([0x32, 0x05, 0x00, 0x01, 0x74, 0x00, 0x00], .zeroPacketIdentifier(.publish, offset: 5))
        expectError([0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00], .zeroPacketIdentifier(.subscribe, offset: 2))
        expectError([0xB0, 0x02, 0x00, 0x00], .zeroPacketIdentifier(.unsubAck, offset: 2))
    }

    @Test func emptySubscribeUnsubscribeSubAck() {
        expectError([0x82, 0x02, 0x00, 0x01], .emptyPayload(.subscribe))
        expectError([0xA2, 0x02, 0x00, 0x01], .emptyPayload(.unsubscribe))
        expectError([0x90, 0x02, 0x00, 0x01], .emptyPayload(.subAck))
    }

    @Test func subscribeRequestedQoSByte() {
        expectError([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04], .invalidSubscriptionOptions(0x04, offset: 7))
        expectError([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x03], .invalidQoS(field: "requested QoS", offset: 7))
    }

    @Test func subAckReturnCode() {
        expectError([0x90, 0x03, 0x00, 0x01, 0x03], .invalidSubAckReturnCode(0x03, offset: 4))
        expectError([0x90, 0x04, 0x00, 0x01, 0x00, 0x81], .invalidSubAckReturnCode(0x81, offset: 5))
    }

    // MARK: CONNECT and CONNACK

    /// CONNECT with protocol name "MQTT", level 4, the given flags, keep-alive 0, client id "c".
    private func connect(flags: UInt8, extra: [UInt8] = []) -> [UInt8] {
        let body: [UInt8] = [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, flags, 0x00, 0x00, 0x00, 0x01, 0x63] + extra
        return [0x10, UInt8(body.count)] + body
    }

    @Test func connectProtocolNameAndLevel() {
        expectError([0x10, 0x08, 0x00, 0x06, 0x4D, 0x51, 0x49, 0x73, 0x64, 0x70], .invalidProtocolName("MQIsdp"))
        expectError([0x10, 0x07, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05], .unsupportedProtocolLevel(5))
        expectError([0x10, 0x07, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x03], .unsupportedProtocolLevel(3))
    }

    @Test func connectReservedFlag() {
        expectError(connect(flags: 0x03), .reservedConnectFlag)
    }

    @Test func connectWillOptionsWithoutWill() {
        expectError(connect(flags: 0x0A), .willOptionsWithoutWill(flags: 0x0A))
        expectError(connect(flags: 0x22), .willOptionsWithoutWill(flags: 0x22))
    }

    @Test func connectWillQoS3() {
        expectError(connect(flags: 0x1E), .invalidQoS(field: "will QoS", offset: 9))
    }

    @Test func connectPasswordWithoutUsername() {
        expectError(connect(flags: 0x42, extra: [0x00, 0x00]), .passwordWithoutUsername)
    }

    @Test func connectDeclaredUsernameMissing() {
        expectError(connect(flags: 0x82), .truncated(.connect, field: "user name length", offset: 15, needed: 2, available: 0))
    }

    @Test func connAckFlagsAndCodes() {
        expectError([0x20, 0x02, 0x02, 0x00], .invalidConnAckFlags(0x02))
        expectError([0x20, 0x02, 0x00, 0x06], .invalidConnectReturnCode(6))
        expectError([0x20, 0x02, 0x01, 0x05], .sessionPresentOnRefusal(.notAuthorized))
    }

    // MARK: Streaming

    static let stream: [UInt8] = [
        0x20, 0x02, 0x00, 0x00,                                      // CONNACK
        0x30, 0x07, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x68, 0x69,        // PUBLISH a/b "hi"
        0x40, 0x02, 0x00, 0x0A,                                      // PUBACK 10
        0x90, 0x03, 0x00, 0x01, 0x01,                                // SUBACK 1 [1]
        0xD0, 0x00,                                                  // PINGRESP
    ]
    static let streamPackets: [MQTTPacket] = [
        .connAck(.init(sessionPresent: false, returnCode: .accepted)),
        .publish(.init(topic: "a/b", payload: Array("hi".utf8))),
        .pubAck(.init(packetID: 10)),
        .subAck(.init(packetID: 1, returnCodes: [.granted(.atLeastOnce)])),
        .pingResp,
    ]

    @Test func severalPacketsInOneFeed() throws {
        var decoder = MQTTDecoder()
        #expect(try decoder.feed(Self.stream) == Self.streamPackets)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func oneByteAtATime() throws {
        var decoder = MQTTDecoder()
        var packets: [MQTTPacket] = []
        for byte in Self.stream { packets += try decoder.feed([byte]) }
        #expect(packets == Self.streamPackets)
    }

    @Test func everySplitPoint() throws {
        for cut in 0...Self.stream.count {
            var decoder = MQTTDecoder()
            let first = try decoder.feed(Self.stream[..<cut])
            let second = try decoder.feed(Self.stream[cut...])
            #expect(first + second == Self.streamPackets, "cut at \(cut)")
        }
    }

    @Test func splitInsideMultiByteRemainingLength() throws {
        let payload = [UInt8](repeating: 0x42, count: 20_000)
        let bytes = try MQTTEncoder.encode(.publish(.init(topic: "big", payload: payload)))
        var decoder = MQTTDecoder()
        #expect(try decoder.feed(bytes[..<2]).isEmpty)   // type byte + first varint byte
        #expect(try decoder.feed(bytes[2..<3]).isEmpty)  // second varint byte
        #expect(try decoder.feed(bytes[3..<10_000]).isEmpty)
        #expect(decoder.bufferedByteCount == 10_000)
        #expect(try decoder.feed(bytes[10_000...]) == [.publish(.init(topic: "big", payload: payload))])
    }

    @Test func packetsBeforeAMalformedOneAreKeptWithNext() throws {
        var decoder = MQTTDecoder()
        decoder.append([0x40, 0x02, 0x00, 0x0A, 0x40, 0x02, 0x00, 0x00])
        #expect(try decoder.next() == .pubAck(.init(packetID: 10)))
        #expect(throws: MQTTDecodeError.zeroPacketIdentifier(.pubAck, offset: 2)) { try decoder.next() }
    }

    @Test func failedDecoderKeepsFailing() {
        var decoder = MQTTDecoder()
        #expect(throws: MQTTDecodeError.reservedPacketType(0)) { try decoder.feed([0x00]) }
        #expect(throws: MQTTDecodeError.reservedPacketType(0)) { try decoder.feed([0xD0, 0x00]) }
    }

    @Test func errorsDescribeTheProblem() {
        let error = MQTTDecodeError.truncated(.publish, field: "topic name", offset: 4, needed: 5, available: 1)
        #expect(error.description.contains("topic name at byte 4 needs 5 bytes"))
        #expect(MQTTDecodeError.invalidFixedHeaderFlags(.pubRel, expected: 2, actual: 0).description
            == "PUBREL fixed-header flags are 0b0000, expected 0b0010 (MQTT 3.1.1 table 2.2)")
    }
}
