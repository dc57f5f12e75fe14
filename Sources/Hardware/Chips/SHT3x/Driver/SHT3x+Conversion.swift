// Pure SHT3x arithmetic: CRC-8, word decoding and the raw → physical formulas. No I/O here, so
// everything is unit-tested against the datasheet's worked values.

extension SHT3x {
    /// Sensirion CRC-8 over `bytes` (datasheet §4.12, Table 20): polynomial 0x31
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

    /// Splits a reply of `[msb, lsb, crc]` triples into words, checking every CRC
    /// (datasheet §4.4: each 16-bit word is followed by its CRC).
    ///
    /// - Throws: `.crcMismatch(word:expected:actual:)` for the first word whose CRC is wrong
    ///   (`word` counts from 0 in reply order: temperature 0, humidity 1), and
    ///   `.unexpectedLength` when `bytes` is not a whole number of triples.
    public static func decodeWords(_ bytes: [UInt8]) throws(SHT3xError) -> [UInt16] {
        guard bytes.count % 3 == 0 else {
            throw .unexpectedLength(expected: (bytes.count / 3 + 1) * 3, actual: bytes.count)
        }
        var words: [UInt16] = []
        words.reserveCapacity(bytes.count / 3)
        for index in 0..<(bytes.count / 3) {
            let triple = bytes[(index * 3)..<(index * 3 + 3)]
            let msb = triple[triple.startIndex], lsb = triple[triple.startIndex + 1], crc = triple[triple.startIndex + 2]
            let expected = crc8([msb, lsb])
            guard expected == crc else { throw .crcMismatch(word: index, expected: expected, actual: crc) }
            words.append(UInt16(msb) << 8 | UInt16(lsb))
        }
        return words
    }

    /// Temperature in °C from the raw word: T = −45 + 175 · S_T / (2¹⁶ − 1) (datasheet §4.13).
    /// Exact floating-point formula, not the fixed-point approximation of Sensirion's C driver.
    /// S_T = 0x6666 gives 25.000 °C.
    public static func temperature(raw: UInt16) -> Double {
        -45 + 175 * Double(raw) / 65535
    }

    /// Relative humidity in %RH from the raw word: RH = 100 · S_RH / (2¹⁶ − 1) (datasheet §4.13).
    /// The datasheet does not clamp, and the formula cannot leave 0…100 for a 16-bit input, so
    /// the value is reported as computed. S_RH = 0x6666 gives 40.000 %RH.
    public static func humidity(raw: UInt16) -> Double {
        100 * Double(raw) / 65535
    }
}
