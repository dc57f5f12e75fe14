import BME280
import Testing

/// Golden vectors for the pure conversion, transcribed from a worked example computed from the
/// datasheet (its shift-code formulas) — not from the driver's constants.
@Suite struct BME280CalibrationTests {
    // 0x88…0xA1, 0xE1…0xE7, 0xF7…0xFE of the worked example.
    static let calib88: [UInt8] = [0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC, 0x7D, 0x8E, 0x43, 0xD6, 0xD0, 0x0B, 0x27,
                                   0x0B, 0x8C, 0x00, 0xF9, 0xFF, 0x8C, 0x3C, 0xF8, 0xC6, 0x70, 0x17, 0x00, 0x4B]
    static let calibE1: [UInt8] = [0x6A, 0x01, 0x00, 0x14, 0x0D, 0x00, 0x1E]
    static let data: [UInt8] = [0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x75, 0x30]

    @Test func decodesTheWorkedExampleCalibration() throws {
        let c = try BME280Calibration(temperaturePressure: Self.calib88, humidity: Self.calibE1)
        #expect([Int(c.digT1), Int(c.digT2), Int(c.digT3)] == [27504, 26435, -1000])
        #expect([Int(c.digP1), Int(c.digP2), Int(c.digP3), Int(c.digP4), Int(c.digP5), Int(c.digP6),
                 Int(c.digP7), Int(c.digP8), Int(c.digP9)] == [36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000])
        #expect([Int(c.digH1), Int(c.digH2), Int(c.digH3), Int(c.digH4), Int(c.digH5), Int(c.digH6)]
                == [75, 362, 0, 333, 0, 30])
    }

    @Test func decodesTheRawBurst() throws {
        let raw = try #require(BME280RawSample(burst: Self.data))
        #expect(raw.adcP == 415_148)
        #expect(raw.adcT == 519_888)
        #expect(raw.adcH == 30_000)
        let sixBytes = try #require(BME280RawSample(burst: Array(Self.data.prefix(6))))
        #expect(sixBytes.adcH == nil)
        #expect(BME280RawSample(burst: [0x65, 0x5A]) == nil)
    }

    @Test func integerCompensationMatchesTheDatasheetShiftCode() throws {
        let c = try BME280Calibration(temperaturePressure: Self.calib88, humidity: Self.calibE1)
        let fine = c.tFine(adcT: 519_888)
        #expect(fine == 128_422)  // the Bosch division form would give 128 423
        #expect(c.temperature(tFine: fine) == 2508)
        #expect(c.pressure(adcP: 415_148, tFine: fine) == 25_767_233)
        #expect(c.humidity(adcH: 30_000, tFine: fine) == 49_922)
    }

    @Test func compensatedValuesAreInSIUnits() throws {
        let c = try BME280Calibration(temperaturePressure: Self.calib88, humidity: Self.calibE1)
        let m = try c.compensate(try #require(BME280RawSample(burst: Self.data)))
        #expect(m.temperature == 25.08)
        #expect(m.pressure == 100_653.25390625)  // 25767233 / 256
        #expect(m.humidity == 48.751953125)      // 49922 / 1024
        #expect(abs((m.humidity ?? 0) - 48.752) < 0.0005)
    }

    @Test func negativeH5FromTheSecondHumidityVector() throws {
        var e1 = Self.calibE1
        e1[4] = 0x2D  // 0xE5
        e1[5] = 0xFE  // 0xE6
        let c = try BME280Calibration(temperaturePressure: Self.calib88, humidity: e1)
        #expect(c.digH4 == 333)
        #expect(c.digH5 == -30)
        let fine = c.tFine(adcT: 519_888)
        #expect(c.humidity(adcH: 30_000, tFine: fine) == 50_458)
        #expect(c.temperature(tFine: fine) == 2508)
        #expect(c.pressure(adcP: 415_148, tFine: fine) == 25_767_233)
    }

    @Test func negativeH4IsSignExtendedFrom12Bits() throws {
        var e1 = Self.calibE1
        e1[3] = 0xF0  // 0xE4: H4[11:4]
        e1[4] = 0x7A  // 0xE5: H5[3:0] = 7, H4[3:0] = 0xA
        e1[5] = 0x80  // 0xE6: H5[11:4]
        let c = try BME280Calibration(temperaturePressure: Self.calib88, humidity: e1)
        #expect(c.digH4 == -246)   // 0xF0A as 12-bit two's complement
        #expect(c.digH5 == -2041)  // 0x807 as 12-bit two's complement
    }

    @Test func blankCalibrationIsRejected() {
        #expect(throws: BME280Error.notCalibrated(reason: "0x88…0xA1 reads all 0x00, expected factory trimming values")) {
            try BME280Calibration(temperaturePressure: Array(repeating: 0, count: 26), humidity: Self.calibE1)
        }
        #expect(throws: BME280Error.notCalibrated(reason: "0xE1…0xE7 reads all 0xFF, expected factory trimming values")) {
            try BME280Calibration(temperaturePressure: Self.calib88, humidity: Array(repeating: 0xFF, count: 7))
        }
        var noP1 = Self.calib88
        noP1[6] = 0
        noP1[7] = 0
        let error = #expect(throws: BME280Error.self) {
            try BME280Calibration(temperaturePressure: noP1, humidity: Self.calibE1)
        }
        #expect(error?.category == .notCalibrated)
        #expect(error?.description.contains("dig_P1") == true)
    }

    @Test func pressureWithoutCalibratedP1HasNoValue() throws {
        var c = try BME280Calibration(temperaturePressure: Self.calib88, humidity: Self.calibE1)
        c.digP1 = 0
        #expect(c.pressure(adcP: 415_148, tFine: 128_422) == nil)
    }

    @Test func humidityIsClampedTo0And100Percent() throws {
        let c = try BME280Calibration(temperaturePressure: Self.calib88, humidity: Self.calibE1)
        #expect(c.humidity(adcH: 0, tFine: 128_422) == 0)
        #expect(c.humidity(adcH: 65_535, tFine: 128_422) == 102_400)
    }

    @Test func maxMeasurementTimeFollowsTheBoschFormula() {
        // 1250 + 2300·t + (2300·p + 575) + (2300·h + 575) µs.
        #expect(BME280.maxMeasurementTime(BME280Options(), variant: .bme280) == .microseconds(9300))
        let x16 = BME280Options(temperatureOversampling: .x16, pressureOversampling: .x16,
                                humidityOversampling: .x16, filter: .coefficient16)
        #expect(BME280.maxMeasurementTime(x16, variant: .bme280) == .microseconds(112_800))
        #expect(BME280.maxMeasurementTime(BME280Options(), variant: .bmp280) == .microseconds(6425))
        let noPressure = BME280Options(pressureOversampling: .skipped)
        #expect(BME280.maxMeasurementTime(noPressure, variant: .bme280) == .microseconds(7000))
    }

    @Test func errorsStateExpectedAndActual() {
        let wrong = BME280Error.unexpectedChipID(expected: 0x60, actual: 0x58)
        #expect(wrong.description == "unexpected chip ID: expected 0x60 at register 0xD0, read 0x58 (a BMP280)")
        #expect(wrong.category == .wrongChip)
        let slow = BME280Error.notReady(timeout: .milliseconds(10), waitingFor: .imUpdate)
        #expect(slow.description == "BME280 not ready: status im_update (NVM copy) expected clear within 10 ms, still set")
        #expect(slow.category == .notReady)
    }
}
