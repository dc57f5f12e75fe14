import HAL
import SensorCore
import SHT3x
import Testing

/// Golden vectors for the pure part of the driver. Expected values are transcribed here from the
/// datasheet, not taken from the driver's constants.
@Suite struct SHT3xConversionTests {
    @Test func crcMatchesDatasheetVectors() {
        // Datasheet Table 20: CRC(0xBEEF) = 0x92. Reference sheet: CRC(0x6666) = 0x93.
        #expect(SHT3x.crc8([0xBE, 0xEF]) == 0x92)
        #expect(SHT3x.crc8([0x66, 0x66]) == 0x93)
        // Status word after reset, 0x8010, as a chip sends it (computed with the C routine in G.2).
        #expect(SHT3x.crc8([0x80, 0x10]) == 0xE1)
        #expect(SHT3x.crc8([0x00, 0x00]) == 0x81)
    }

    @Test func workedValueS6666Is25CelsiusAnd40Percent() {
        #expect(abs(SHT3x.temperature(raw: 0x6666) - 25.000) < 1e-9)
        #expect(abs(SHT3x.humidity(raw: 0x6666) - 40.000) < 1e-9)
    }

    @Test func formulaEndPoints() {
        // T = −45 + 175·S/65535, RH = 100·S/65535: the full 16-bit span.
        #expect(SHT3x.temperature(raw: 0) == -45)
        #expect(SHT3x.temperature(raw: 0xFFFF) == 130)
        #expect(SHT3x.humidity(raw: 0) == 0)
        #expect(SHT3x.humidity(raw: 0xFFFF) == 100)
        // One step is 175/65535 °C (not 175/65536: the exact formula, not the fixed-point one).
        #expect(abs(SHT3x.temperature(raw: 1) - SHT3x.temperature(raw: 0) - 175.0 / 65535) < 1e-12)
    }

    @Test func decodeWordsChecksEveryWord() throws {
        #expect(try SHT3x.decodeWords([0x66, 0x66, 0x93, 0xBE, 0xEF, 0x92]) == [0x6666, 0xBEEF])
        // A bad CRC on the second word names word 1 with both CRCs.
        #expect(throws: SHT3xError.crcMismatch(word: 1, expected: 0x92, actual: 0x93)) {
            try SHT3x.decodeWords([0x66, 0x66, 0x93, 0xBE, 0xEF, 0x93])
        }
        #expect(throws: SHT3xError.crcMismatch(word: 0, expected: 0x93, actual: 0x00)) {
            try SHT3x.decodeWords([0x66, 0x66, 0x00, 0xBE, 0xEF, 0x92])
        }
        #expect(throws: SHT3xError.unexpectedLength(expected: 6, actual: 5)) {
            try SHT3x.decodeWords([0x66, 0x66, 0x93, 0xBE, 0xEF])
        }
    }

    @Test func statusBitsAreTheDatasheetBits() {
        // Datasheet Table 18.
        #expect(SHT3xStatus.alertPending.rawValue == 0x8000)
        #expect(SHT3xStatus.heaterOn.rawValue == 0x2000)
        #expect(SHT3xStatus.humidityTrackingAlert.rawValue == 0x0800)
        #expect(SHT3xStatus.temperatureTrackingAlert.rawValue == 0x0400)
        #expect(SHT3xStatus.systemResetDetected.rawValue == 0x0010)
        #expect(SHT3xStatus.commandNotProcessed.rawValue == 0x0002)
        #expect(SHT3xStatus.writeChecksumWrong.rawValue == 0x0001)

        let afterReset = SHT3xStatus(rawValue: 0x8010)
        #expect(afterReset == [.alertPending, .systemResetDetected])
        #expect(!afterReset.contains(.heaterOn))
        #expect(afterReset.description == "0x8010 [alertPending, systemResetDetected]")
    }

    @Test func commandWordsGoMSBFirst() {
        // Reference sheet G.2 command table.
        #expect(SHT3xCommand.softReset.bytes == [0x30, 0xA2])
        #expect(SHT3xCommand.readStatus.bytes == [0xF3, 0x2D])
        #expect(SHT3xCommand.clearStatus.bytes == [0x30, 0x41])
        #expect(SHT3xCommand.singleShotHighNoStretch.bytes == [0x24, 0x00])
        #expect(SHT3xCommand.heaterEnable.bytes == [0x30, 0x6D])
        #expect(SHT3xCommand.heaterDisable.bytes == [0x30, 0x66])
        #expect(SHT3xCommand.readSerialNumber.bytes == [0x37, 0x80])
        #expect(SHT3xRepeatability.high.conversionTime == .milliseconds(15))
        #expect(SHT3xRepeatability.medium.conversionTime == .milliseconds(6))
        #expect(SHT3xRepeatability.low.conversionTime == .milliseconds(4))
    }

    @Test func variantsAreData() {
        #expect(SHT3xVariant.named("sht35") == .sht35)
        #expect(SHT3xVariant.sht35.humidityAccuracy == 1.5)
        #expect(SHT3xVariant.sht35.temperatureAccuracy == 0.1)
        #expect(SHT3xVariant.named("SHT40") == nil)
    }

    @Test func errorsStateExpectedAndActualAndMapToCategories() {
        let crc = SHT3xError.crcMismatch(word: 1, expected: 0x92, actual: 0x93)
        #expect(crc.description == "SHT3x CRC mismatch on word 1: expected 0x92, got 0x93")
        #expect(crc.category == .checksum)
        #expect(crc.busError == nil)

        let wrong = SHT3xError.notIdentified(reply: [0x00, 0x00, 0x00], expectedCRC: 0x81)
        #expect(wrong.category == .wrongChip)
        #expect(wrong.description.contains("[00 00 00]"))
        #expect(wrong.description.contains("CRC 0x81, got CRC 0x00"))

        let busy = SHT3xError.notReady(timeout: .milliseconds(25))
        #expect(busy.category == .notReady)
        #expect(busy.description.contains("25.0 ms"))

        let nack = I2CError(.noAcknowledge(.address), bus: "sim", address: I2CAddress(0x44))
        #expect(SHT3xError.bus(nack).category == .bus)
        #expect(SHT3xError.bus(nack).busError == nack)
    }
}
