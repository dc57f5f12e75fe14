import HAL
import SCD4x
import SensorCore
import Testing

/// Golden vectors for the pure part of the driver. Expected values are transcribed here from the
/// SCD4x datasheet (v1.1 and v1.3) and the Sensirion CRC description, not taken from the
/// driver's constants.
@Suite struct SCD4xConversionTests {
    @Test func crcMatchesDatasheetExamples() {
        // The Sensirion check value: CRC(0xBEEF) = 0x92.
        #expect(SCD4x.crc8([0xBE, 0xEF]) == 0x92)
        // set_automatic_self_calibration_enabled example: 0x2416 0x0001 0xB0.
        #expect(SCD4x.crc8([0x00, 0x01]) == 0xB0)
        // perform_forced_recalibration example: target 0x01E0 0xB4, response 0x7FCE 0x7B.
        #expect(SCD4x.crc8([0x01, 0xE0]) == 0xB4)
        #expect(SCD4x.crc8([0x7F, 0xCE]) == 0x7B)
        // set_ambient_pressure example: 98 700 Pa is 0x03DB 0x42.
        #expect(SCD4x.crc8([0x03, 0xDB]) == 0x42)
        // get_serial_number example: 0xF896 0x31, 0x9F07 0xC2, 0x3BBE 0x89.
        #expect(SCD4x.crc8([0xF8, 0x96]) == 0x31)
        #expect(SCD4x.crc8([0x9F, 0x07]) == 0xC2)
        #expect(SCD4x.crc8([0x3B, 0xBE]) == 0x89)
    }

    @Test func framingAppendsTheCRC() {
        #expect(SCD4x.frame(0x0001) == [0x00, 0x01, 0xB0])
        #expect(SCD4x.frame(0x03DB) == [0x03, 0xDB, 0x42])
        #expect(SCD4x.frame(0xBEEF) == [0xBE, 0xEF, 0x92])
    }

    @Test func workedMeasurement500ppm25Celsius37Percent() throws {
        // read_measurement example: CO2 500 ppm, T 25 °C, RH 37 %; CRCs computed with the
        // datasheet's CRC routine.
        let words = try SCD4x.decodeWords([0x01, 0xF4, 0x33, 0x66, 0x67, 0xA2, 0x5E, 0xB9, 0x3C])
        #expect(words == [0x01F4, 0x6667, 0x5EB9])
        #expect(SCD4x.co2(raw: words[0]) == 500)
        // −45 + 175 · 26215 / 65535 = 25.00267…; 100 · 24249 / 65535 = 37.00160…
        #expect(abs(SCD4x.temperature(raw: words[1]) - 25.00267) < 1e-5)
        #expect(abs(SCD4x.humidity(raw: words[2]) - 37.00160) < 1e-5)
    }

    @Test func formulaEndPoints() {
        // T = −45 + 175·S/(2¹⁶ − 1), RH = 100·S/(2¹⁶ − 1): the full 16-bit span.
        #expect(SCD4x.temperature(raw: 0) == -45)
        #expect(SCD4x.temperature(raw: 0xFFFF) == 130)
        #expect(SCD4x.humidity(raw: 0) == 0)
        #expect(SCD4x.humidity(raw: 0xFFFF) == 100)
        #expect(SCD4x.co2(raw: 0xFFFF) == 65535)
    }

    @Test func dataReadyIsAnyOfTheElevenLowBits() {
        #expect(SCD4x.isDataReady(status: 0x8006))
        #expect(!SCD4x.isDataReady(status: 0x8000))
        #expect(SCD4x.isDataReady(status: 0x0001))
        #expect(SCD4x.isDataReady(status: 0x0400))
        #expect(!SCD4x.isDataReady(status: 0xF800))
        #expect(!SCD4x.isDataReady(status: 0x0000))
    }

    @Test func serialNumberIsThreeWordsBigEndian() {
        // Datasheet example: 0xF896 0x9F07 0x3BBE is serial 273 325 796 834 238.
        #expect(SCD4x.serialNumber(words: [0xF896, 0x9F07, 0x3BBE]) == 273_325_796_834_238)
    }

    @Test func ambientPressureWordIsHectopascals() {
        #expect(SCD4x.ambientPressureWord(pascals: 98_700) == 0x03DB)
        #expect(SCD4x.ambientPressureWord(pascals: 101_300) == 1013)
        #expect(SCD4x.ambientPressureWord(pascals: 101_349) == 1013)
        #expect(SCD4x.ambientPressureWord(pascals: 70_000) == 700)
        #expect(SCD4x.ambientPressureWord(pascals: 120_000) == 1200)
        #expect(SCD4x.ambientPressureWord(pascals: 69_999) == nil)
        #expect(SCD4x.ambientPressureWord(pascals: 120_001) == nil)
        #expect(SCD4x.ambientPressureWord(pascals: .nan) == nil)
    }

    @Test func decodeWordsChecksEveryWord() throws {
        #expect(try SCD4x.decodeWords([0x00, 0x01, 0xB0, 0xBE, 0xEF, 0x92]) == [0x0001, 0xBEEF])
        #expect(throws: SCD4xError.crcMismatch(word: 1, expected: 0x92, actual: 0x93)) {
            try SCD4x.decodeWords([0x00, 0x01, 0xB0, 0xBE, 0xEF, 0x93])
        }
        #expect(throws: SCD4xError.crcMismatch(word: 0, expected: 0xB0, actual: 0x00)) {
            try SCD4x.decodeWords([0x00, 0x01, 0x00, 0xBE, 0xEF, 0x92])
        }
        #expect(throws: SCD4xError.unexpectedLength(expected: 9, actual: 8)) {
            try SCD4x.decodeWords([0x01, 0xF4, 0x33, 0x66, 0x67, 0xA2, 0x5E, 0xB9])
        }
    }

    /// Datasheet v1.3 Table 9: code, name and execution time of every command, written out here.
    /// Where Sensirion's current driver waits longer (reinit, wake_up: 30 ms) the longer wait is
    /// expected.
    static let table: [(SCD4xCommand, UInt16, String, Duration)] = [
        (.startPeriodicMeasurement, 0x21B1, "start_periodic_measurement", .zero),
        (.readMeasurement, 0xEC05, "read_measurement", .milliseconds(1)),
        (.stopPeriodicMeasurement, 0x3F86, "stop_periodic_measurement", .milliseconds(500)),
        (.setTemperatureOffset, 0x241D, "set_temperature_offset", .milliseconds(1)),
        (.getTemperatureOffset, 0x2318, "get_temperature_offset", .milliseconds(1)),
        (.setSensorAltitude, 0x2427, "set_sensor_altitude", .milliseconds(1)),
        (.getSensorAltitude, 0x2322, "get_sensor_altitude", .milliseconds(1)),
        (.setAmbientPressure, 0xE000, "set_ambient_pressure", .milliseconds(1)),
        (.performForcedRecalibration, 0x362F, "perform_forced_recalibration", .milliseconds(400)),
        (.setAutomaticSelfCalibrationEnabled, 0x2416, "set_automatic_self_calibration_enabled", .milliseconds(1)),
        (.getAutomaticSelfCalibrationEnabled, 0x2313, "get_automatic_self_calibration_enabled", .milliseconds(1)),
        (.startLowPowerPeriodicMeasurement, 0x21AC, "start_low_power_periodic_measurement", .zero),
        (.getDataReadyStatus, 0xE4B8, "get_data_ready_status", .milliseconds(1)),
        (.persistSettings, 0x3615, "persist_settings", .milliseconds(800)),
        (.getSerialNumber, 0x3682, "get_serial_number", .milliseconds(1)),
        (.performSelfTest, 0x3639, "perform_self_test", .milliseconds(10_000)),
        (.performFactoryReset, 0x3632, "perform_factory_reset", .milliseconds(1200)),
        (.reinit, 0x3646, "reinit", .milliseconds(30)),
        (.measureSingleShot, 0x219D, "measure_single_shot", .milliseconds(5000)),
        (.measureSingleShotRHTOnly, 0x2196, "measure_single_shot_rht_only", .milliseconds(50)),
        (.powerDown, 0x36E0, "power_down", .milliseconds(1)),
        (.wakeUp, 0x36F6, "wake_up", .milliseconds(30)),
    ]

    @Test func commandsAreTheDatasheetTable() {
        for (command, code, name, time) in Self.table {
            #expect(command.code == code, "\(name)")
            #expect(command.name == name)
            #expect(command.executionTime == time, "\(name)")
            #expect(command.bytes == [UInt8(code >> 8), UInt8(code & 0xFF)], "\(name) goes MSB first")
        }
        #expect(Set(Self.table.map(\.1)).count == Self.table.count, "every code once")
        // The "Low power single shot (SCD41 only)" group.
        let scd41Only = Self.table.filter { $0.0.isSingleShotFamily }.map(\.2)
        #expect(scd41Only == ["measure_single_shot", "measure_single_shot_rht_only", "power_down", "wake_up"])
        #expect(SCD4xCommand.readMeasurement.description == "read_measurement (0xEC05)")
        #expect(SCD4x.defaultAddress == I2CAddress(UInt8(0x62)))
    }

    @Test func variantsAreData() {
        #expect(SCD4xVariant.named("scd40") == .scd40)
        #expect(SCD4xVariant.named("SCD41") == .scd41)
        #expect(SCD4xVariant.named("SCD42") == nil)
        #expect(!SCD4xVariant.scd40.hasSingleShot)
        #expect(SCD4xVariant.scd41.hasSingleShot)
        #expect(SCD4xVariant.scd40.specifiedCO2Range == 400...2000)
        #expect(SCD4xVariant.scd41.specifiedCO2Range == 400...5000)
        #expect(SCD4xVariant.scd41.description == "SCD41 (specified 400–5000 ppm, single shot)")
    }

    @Test func errorsStateExpectedAndActualAndMapToCategories() {
        let crc = SCD4xError.crcMismatch(word: 2, expected: 0x3C, actual: 0x3D)
        #expect(crc.description == "SCD4x CRC mismatch on word 2: expected 0x3C, got 0x3D")
        #expect(crc.category == .checksum)
        #expect(crc.busError == nil)

        let wrong = SCD4xError.notIdentified(reply: [0xF8, 0x96, 0x31, 0x9F, 0x07, 0x00, 0x3B, 0xBE, 0x89],
                                             word: 1, expectedCRC: 0xC2)
        #expect(wrong.category == .wrongChip)
        #expect(wrong.description.contains("[F8 96 31 9F 07 00 3B BE 89]"))
        #expect(wrong.description.contains("word 1 needs CRC 0xC2, got 0x00"))

        let late = SCD4xError.notReady(timeout: .milliseconds(6001))
        #expect(late.category == .notReady)
        #expect(late.description.contains("6001.0 ms"))

        #expect(SCD4xError.unsupported(command: "measure_single_shot", variant: "SCD40").category == .configuration)
        let range = SCD4xError.outOfRange(setting: "ambient pressure (Pa)", value: 50_000, allowed: 70_000...120_000)
        #expect(range.category == .configuration)
        #expect(range.description.contains("50000.0 is outside 70000.0…120000.0"))

        let nack = I2CError(.noAcknowledge(.address), bus: "sim", address: I2CAddress(UInt8(0x62)))
        #expect(SCD4xError.bus(nack).category == .bus)
        #expect(SCD4xError.bus(nack).busError == nack)
        #expect(SCD4xError.unexpectedLength(expected: 9, actual: 3).category == .bus)
    }
}
