import HAL
import HALSimulation
import Testing

@Suite struct I2CDumpTests {
    @Test func parsesByteModeDumpWithXX() throws {
        let text = """
        No size specified (using byte-data access)
             0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef
        00: 70 6b 43 67 18 fc 7d 8e 43 d6 d0 0b 27 0b 8c 00    pkCg??}?C??'??.
        10: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
        """
        let dump = try I2CDump(parsing: text)
        #expect(dump.bytes[0x00] == 0x70)
        #expect(dump.bytes[0x0F] == 0x00)
        #expect(dump.bytes[0x10] == nil)
        #expect(dump.slice(0, count: 3) == [0x70, 0x6B, 0x43])
        #expect(dump.slice(0x0E, count: 4) == nil)
    }

    @Test func rejectsGarbageWithLineNumber() {
        #expect(throws: I2CDump.ParseError(line: 2, reason: "'zz' is not a hex byte or XX")) {
            try I2CDump(parsing: "     0  1\n00: zz 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")
        }
        #expect(throws: I2CDump.ParseError.self) { try I2CDump(parsing: "hello") }
    }
}
