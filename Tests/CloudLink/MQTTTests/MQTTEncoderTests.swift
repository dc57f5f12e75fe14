@testable import MQTT
import Testing

/// Byte vectors written by hand from the MQTT 3.1.1 layouts (§2–§3), not produced by the
/// encoder: each test encodes, compares with the vector, and decodes the vector back.
@Suite struct MQTTEncoderTests {
    static let vectors: [(String, MQTTPacket, [UInt8])] = [
        ("CONNECT minimal, clean session, keep-alive 60",
         .connect(.init(clientID: "dev1", cleanSession: true, keepAliveSeconds: 60)),
         [0x10, 0x10,
          0x00, 0x04, 0x4D, 0x51, 0x54, 0x54,  // "MQTT"
          0x04,                                // level 4
          0x02,                                // flags: clean session
          0x00, 0x3C,                          // keep-alive 60
          0x00, 0x04, 0x64, 0x65, 0x76, 0x31]),  // "dev1"
        ("CONNECT with will (QoS 1, retain), user name and password",
         .connect(.init(clientID: "c", cleanSession: false, keepAliveSeconds: 0x0102,
                        will: .init(topic: "w/t", payload: [0xAA, 0xBB], qos: .atLeastOnce, retain: true),
                        username: "u", password: [0x01, 0x02])),
         [0x10, 0x1D,
          0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04,
          0xEC,                    // user 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08 | will 0x04
          0x01, 0x02,
          0x00, 0x01, 0x63,        // "c"
          0x00, 0x03, 0x77, 0x2F, 0x74,  // "w/t"
          0x00, 0x02, 0xAA, 0xBB,
          0x00, 0x01, 0x75,        // "u"
          0x00, 0x02, 0x01, 0x02]),
        ("CONNACK session present, accepted", .connAck(.init(sessionPresent: true, returnCode: .accepted)),
         [0x20, 0x02, 0x01, 0x00]),
        ("CONNACK not authorized", .connAck(.init(sessionPresent: false, returnCode: .notAuthorized)),
         [0x20, 0x02, 0x00, 0x05]),
        ("PUBLISH QoS 0", .publish(.init(topic: "a/b", payload: Array("hi".utf8))),
         [0x30, 0x07, 0x00, 0x03, 0x61, 0x2F, 0x62, 0x68, 0x69]),
        ("PUBLISH QoS 1 DUP RETAIN id 10",
         .publish(.init(topic: "t", payload: [0x01], qos: .atLeastOnce, retain: true, dup: true, packetID: 10)),
         [0x3B, 0x06, 0x00, 0x01, 0x74, 0x00, 0x0A, 0x01]),
        ("PUBLISH QoS 2 id 0x1234 empty payload",
         .publish(.init(topic: "t", payload: [], qos: .exactlyOnce, packetID: 0x1234)),
         [0x34, 0x05, 0x00, 0x01, 0x74, 0x12, 0x34]),
        ("PUBACK", .pubAck(.init(packetID: 10)), [0x40, 0x02, 0x00, 0x0A]),
        ("PUBREC", .pubRec(.init(packetID: 0x1234)), [0x50, 0x02, 0x12, 0x34]),
        ("PUBREL (flags 0b0010)", .pubRel(.init(packetID: 0x1234)), [0x62, 0x02, 0x12, 0x34]),
        ("PUBCOMP", .pubComp(.init(packetID: 0x1234)), [0x70, 0x02, 0x12, 0x34]),
        ("SUBSCRIBE two filters",
         .subscribe(.init(packetID: 1, subscriptions: [.init(filter: "a/+", qos: .atLeastOnce),
                                                       .init(filter: "#", qos: .atMostOnce)])),
         [0x82, 0x0C, 0x00, 0x01,
          0x00, 0x03, 0x61, 0x2F, 0x2B, 0x01,
          0x00, 0x01, 0x23, 0x00]),
        ("SUBACK granted 1, failure, granted 0",
         .subAck(.init(packetID: 1, returnCodes: [.granted(.atLeastOnce), .failure, .granted(.atMostOnce)])),
         [0x90, 0x05, 0x00, 0x01, 0x01, 0x80, 0x00]),
        ("UNSUBSCRIBE", .unsubscribe(.init(packetID: 2, filters: ["a/+"])),
         [0xA2, 0x07, 0x00, 0x02, 0x00, 0x03, 0x61, 0x2F, 0x2B]),
        ("UNSUBACK", .unsubAck(.init(packetID: 2)), [0xB0, 0x02, 0x00, 0x02]),
        ("PINGREQ", .pingReq, [0xC0, 0x00]),
        ("PINGRESP", .pingResp, [0xD0, 0x00]),
        ("DISCONNECT", .disconnect, [0xE0, 0x00]),
    ]

    @Test(arguments: vectors.indices)
    func encodesAndDecodesVector(_ index: Int) throws {
        let (name, packet, bytes) = Self.vectors[index]
        #expect(try MQTTEncoder.encode(packet) == bytes, "\(name)")
        #expect(try MQTTDecoder.decode(bytes) == packet, "\(name)")
    }

    @Test func everyPacketTypeHasAVector() {
        let covered = Set(Self.vectors.map(\.1.type))
        #expect(covered == Set(MQTTPacketType.allCases))
    }

    /// §2.2.3 table 2.4: the boundaries of 1-, 2-, 3- and 4-byte remaining lengths.
    @Test func remainingLengthVarintBoundaries() {
        let table: [(Int, [UInt8])] = [
            (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]),
            (16_384, [0x80, 0x80, 0x01]), (2_097_151, [0xFF, 0xFF, 0x7F]),
            (2_097_152, [0x80, 0x80, 0x80, 0x01]), (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
        ]
        for (length, expected) in table {
            var bytes: [UInt8] = []
            MQTTEncoder.appendRemainingLength(length, to: &bytes)
            #expect(bytes == expected, "remaining length \(length)")
            #expect(MQTTEncoder.remainingLengthByteCount(length) == expected.count)
        }
    }

    @Test func twoByteRemainingLengthOnTheWire() throws {
        let payload = [UInt8](repeating: 0x55, count: 200)
        let bytes = try MQTTEncoder.encode(.publish(.init(topic: "t", payload: payload)))
        // 2 (topic length) + 1 (topic) + 200 = 203 = 0x4B + 1·128
        #expect(Array(bytes.prefix(5)) == [0x30, 0xCB, 0x01, 0x00, 0x01])
        #expect(bytes.count == 206)
        #expect(MQTTEncoder.encodedSize(ofPublishTopic: "t", payloadCount: 200, qos: .atMostOnce) == 206)
    }

    @Test func roundTripsAssortedPackets() throws {
        let packets: [MQTTPacket] = [
            .publish(.init(topic: "température/°C/😀", payload: Array(repeating: 7, count: 20_000),
                           qos: .atLeastOnce, packetID: 65_535)),
            .publish(.init(topic: "$iothub/twin/GET/?$rid=1", payload: [])),
            .connect(.init(clientID: "", cleanSession: true, keepAliveSeconds: 65_535, username: "", password: [])),
            .connect(.init(clientID: "dev1", cleanSession: false, keepAliveSeconds: 240,
                           will: .init(topic: "devices/dev1/messages/events/", payload: [], qos: .exactlyOnce),
                           username: "hub/dev1/?api-version=2021-04-12")),
            .subscribe(.init(packetID: 9, subscriptions: [.init(filter: "+/+/#", qos: .exactlyOnce),
                                                          .init(filter: "/", qos: .atMostOnce)])),
            .subAck(.init(packetID: 9, returnCodes: [.granted(.exactlyOnce)])),
            .unsubscribe(.init(packetID: 3, filters: ["a", "b/#", "+"])),
        ]
        for packet in packets {
            let bytes = try MQTTEncoder.encode(packet)
            #expect(try MQTTDecoder.decode(bytes) == packet)
        }
    }

    @Test func refusesWhatTheDecoderWouldReject() {
        let long = String(repeating: "x", count: 70_000)
        let cases: [(MQTTPacket, MQTTEncodeError)] = [
            (.publish(.init(topic: "a/#", payload: [])), .invalidTopicName("a/#", .wildcardInName(offset: 2))),
            (.publish(.init(topic: "", payload: [])), .invalidTopicName("", .empty)),
            (.publish(.init(topic: "t", payload: [], qos: .atLeastOnce)), .missingPacketIdentifier(.publish)),
            (.publish(.init(topic: "t", payload: [], qos: .atLeastOnce, packetID: 0)), .missingPacketIdentifier(.publish)),
            (.publish(.init(topic: "t", payload: [], packetID: 5)), .qos0WithPacketIdentifierOrDUP),
            (.publish(.init(topic: "t", payload: [], dup: true)), .qos0WithPacketIdentifierOrDUP),
            (.pubAck(.init(packetID: 0)), .missingPacketIdentifier(.pubAck)),
            (.subscribe(.init(packetID: 1, subscriptions: [])), .emptyPayload(.subscribe)),
            (.subscribe(.init(packetID: 1, subscriptions: [.init(filter: "a#", qos: .atMostOnce)])),
             .invalidTopicFilter("a#", .misplacedMultiLevelWildcard(offset: 1))),
            (.unsubscribe(.init(packetID: 1, filters: [])), .emptyPayload(.unsubscribe)),
            (.subAck(.init(packetID: 1, returnCodes: [])), .emptyPayload(.subAck)),
            (.connect(.init(clientID: long, cleanSession: true, keepAliveSeconds: 0)),
             .stringTooLong(field: "client identifier", byteCount: 70_000)),
            (.connect(.init(clientID: "a\u{0}b", cleanSession: true, keepAliveSeconds: 0)),
             .nullCharacter(field: "client identifier", offset: 1)),
            (.connect(.init(clientID: "c", cleanSession: true, keepAliveSeconds: 0, password: [1])),
             .passwordWithoutUsername),
            (.connect(.init(clientID: "c", cleanSession: true, keepAliveSeconds: 0, username: "u",
                            password: [UInt8](repeating: 0, count: 65_536))),
             .binaryTooLong(field: "password", byteCount: 65_536)),
            (.connAck(.init(sessionPresent: true, returnCode: .serverUnavailable)), .sessionPresentOnRefusal),
        ]
        for (packet, expected) in cases {
            #expect(throws: expected) { try MQTTEncoder.encode(packet) }
        }
    }
}
