@testable import Outbox
import Testing

@Suite struct OutboxPropertiesTests {
    @Test func typicalTelemetryPropertiesTakeFourBytes() throws {
        let properties: OutboxProperties = ["$.ct": "application/json", "$.ce": "utf-8"]
        #expect(try properties.encoded() == [0x80, 0x87, 0x81, 0x88])
        #expect(OutboxProperties.decode(try properties.encoded()) == properties)
    }

    @Test func literalsShortAndLongRoundTripInOrder() throws {
        let long = String(repeating: "é", count: 300)   // 600 UTF-8 bytes: the 16-bit length form
        let properties: OutboxProperties = ["site": "line 7", "note": long, "": ""]
        let encoded = try properties.encoded()
        #expect(encoded.prefix(5) == [4, 0x73, 0x69, 0x74, 0x65])
        #expect(OutboxProperties.decode(encoded) == properties)
        #expect(OutboxProperties.decode(encoded)?.properties.map(\.name) == ["site", "note", ""])
    }

    @Test func damagedBytesAndOverlongValuesAreRejected() {
        #expect(OutboxProperties.decode([0x05, 0x41]) == nil)      // length past the end
        #expect(OutboxProperties.decode([0x80]) == nil)            // a name without a value
        #expect(OutboxProperties.decode([0xC0, 0x80]) == nil)      // unassigned lead byte
        #expect(OutboxProperties.decode([0x02, 0xFF, 0xFE, 0x80]) == nil)  // not UTF-8
        let huge = OutboxProperties(["k": String(repeating: "x", count: 70_000)].map { .init(name: $0.key, value: $0.value) })
        #expect(throws: OutboxError.self) { try huge.encoded() }
    }
}
