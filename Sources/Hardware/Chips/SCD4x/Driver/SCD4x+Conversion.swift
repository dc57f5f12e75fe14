// Pure SCD4x arithmetic: CRC-8, word framing and the raw → physical formulas. No I/O here, so
// everything is unit-tested against the datasheet's worked values.

extension SCD4x {
    /// Sensirion CRC-8 over `bytes` (datasheet §3.11): polynomial 0x31
    /// (x⁸ + x⁵ + x⁴ + 1), init 0xFF, no reflection, no final XOR. CRC(0xBE, 0xEF) = 0x92.
    public static func crc8<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt8 {
        var crc: UInt8 = 0xFF
        for byte in bytes {
            crc ^= byte
            for _ in 0..<8 {
                crc = crc & 0x80 != 0 ? (crc << 1) ^ 0x31 : crc << 1
            }
        }
        return crc
    }

    /// A data word as the chip expects it after a command: MSB, LSB, CRC (datasheet §3.2: in
    /// write direction the CRC is mandatory).
    public static func frame(_ word: UInt16) -> [UInt8] {
        let msb = UInt8(word >> 8), lsb = UInt8(word & 0xFF)
        return [msb, lsb, crc8([msb, lsb])]
    }

    /// Splits a reply of `[msb, lsb, crc]` triples into words, checking every CRC.
    ///
    /// - Throws: `.crcMismatch(word:expected:actual:)` for the first word whose CRC is wrong
    ///   (`word` counts from 0 in reply order: for a measurement 0 = CO2, 1 = temperature,
    ///   2 = humidity), and `.unexpectedLength` when `bytes` is not a whole number of triples.
    public static func decodeWords(_ bytes: [UInt8]) throws(SCD4xError) -> [UInt16] {
        guard bytes.count % 3 == 0 else {
            throw .unexpectedLength(expected: (bytes.count / 3 + 1) * 3, actual: bytes.count)
        }
        var words: [UInt16] = []
        words.reserveCapacity(bytes.count / 3)
        for index in 0..<(bytes.count / 3) {
            let msb = bytes[index * 3], lsb = bytes[index * 3 + 1], crc = bytes[index * 3 + 2]
            let expected = crc8([msb, lsb])
            guard expected == crc else { throw .crcMismatch(word: index, expected: expected, actual: crc) }
            words.append(UInt16(msb) << 8 | UInt16(lsb))
        }
        return words
    }

    /// CO2 in ppm: the word itself (datasheet §3.5.2, Table 11).
    public static func co2(raw: UInt16) -> Double {
        Double(raw)
    }

    /// Temperature in °C: T = −45 + 175 · word / (2¹⁶ − 1) (datasheet §3.5.2, Table 11). Sensirion's
    /// C driver divides by 2¹⁶ in fixed point; the difference is under 0.003 °C. Word 0x6667 gives
    /// 25.003 °C, the datasheet's "25 °C" example.
    public static func temperature(raw: UInt16) -> Double {
        -45 + 175 * Double(raw) / 65535
    }

    /// Relative humidity in %RH: RH = 100 · word / (2¹⁶ − 1) (datasheet §3.5.2, Table 11). Word
    /// 0x5EB9 gives 37.002 %RH, the datasheet's "37 %" example.
    public static func humidity(raw: UInt16) -> Double {
        100 * Double(raw) / 65535
    }

    /// get_data_ready_status: data is ready when any of the 11 least significant bits is 1
    /// (datasheet §3.8); the upper five bits say nothing about readiness.
    public static func isDataReady(status: UInt16) -> Bool {
        status & 0x07FF != 0
    }

    /// The 48-bit serial number from get_serial_number's three words, most significant first
    /// (datasheet §3.9).
    public static func serialNumber(words: [UInt16]) -> UInt64 {
        words.prefix(3).reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
    }

    /// The pressures set_ambient_pressure accepts, in Pa (Sensirion driver: 70 000–120 000 Pa;
    /// the chip's default is 101 300 Pa).
    public static let ambientPressureRange: ClosedRange<Double> = 70_000...120_000

    /// set_ambient_pressure's word: the pressure in hPa, rounded (datasheet §3.6). Nil outside
    /// ``ambientPressureRange`` (and for NaN).
    public static func ambientPressureWord(pascals: Double) -> UInt16? {
        guard ambientPressureRange.contains(pascals) else { return nil }
        return UInt16((pascals / 100).rounded())
    }
}
