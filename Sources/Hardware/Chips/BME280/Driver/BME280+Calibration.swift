// Pure conversion for the BME280 family: calibration parsing, raw-sample decoding and the
// datasheet's integer compensation (BST-BME280-DS002 §4.2.2–§4.2.3 and appendix §8.2, "shift form").
// No I/O here; golden-vector tests pin it to the worked example computed from the datasheet.

import HAL  // hex2 only

/// Trimming parameters read from the chip's NVM (§4.2.2, Table 16).
public struct BME280Calibration: Sendable, Equatable {
    public var digT1: UInt16
    public var digT2: Int16
    public var digT3: Int16
    public var digP1: UInt16
    public var digP2: Int16
    public var digP3: Int16
    public var digP4: Int16
    public var digP5: Int16
    public var digP6: Int16
    public var digP7: Int16
    public var digP8: Int16
    public var digP9: Int16
    /// Humidity trimming; all zero on a variant without humidity.
    public var digH1: UInt8
    public var digH2: Int16
    public var digH3: UInt8
    /// 12-bit signed: `0xE4` holds bits 11…4, `0xE5[3:0]` bits 3…0.
    public var digH4: Int16
    /// 12-bit signed: `0xE6` holds bits 11…4, `0xE5[7:4]` bits 3…0.
    public var digH5: Int16
    public var digH6: Int8

    /// Parses the two calibration blocks.
    ///
    /// - Parameters:
    ///   - temperaturePressure: 26 bytes read from 0x88 (0x88…0xA1).
    ///   - humidity: 7 bytes read from 0xE1 (0xE1…0xE7), or `nil` on a part without humidity.
    /// - Throws: ``BME280Error/notCalibrated(reason:)`` when a block has the wrong length or is
    ///   all 0x00 or all 0xFF (NVM not loaded, bus held low or floating), or when `dig_P1` is 0
    ///   (the pressure formula divides by it).
    public init(temperaturePressure tp: [UInt8], humidity h: [UInt8]?) throws(BME280Error) {
        try Self.checkBlock(tp, first: 0x88, count: 26)
        if let h { try Self.checkBlock(h, first: 0xE1, count: 7) }

        func u16(_ i: Int) -> UInt16 { UInt16(tp[i]) | UInt16(tp[i + 1]) << 8 }
        func s16(_ i: Int) -> Int16 { Int16(bitPattern: u16(i)) }
        digT1 = u16(0)
        digT2 = s16(2)
        digT3 = s16(4)
        digP1 = u16(6)
        digP2 = s16(8)
        digP3 = s16(10)
        digP4 = s16(12)
        digP5 = s16(14)
        digP6 = s16(16)
        digP7 = s16(18)
        digP8 = s16(20)
        digP9 = s16(22)
        // tp[24] (0xA0) is reserved.
        if let h {
            digH1 = tp[25]
            digH2 = Int16(bitPattern: UInt16(h[0]) | UInt16(h[1]) << 8)
            digH3 = h[2]
            // Sign-extend through the signed high byte before shifting (Bosch: `(int8_t)reg * 16 | nibble`).
            digH4 = Int16(Int8(bitPattern: h[3])) * 16 | Int16(h[4] & 0x0F)
            digH5 = Int16(Int8(bitPattern: h[5])) * 16 | Int16(h[4] >> 4)
            digH6 = Int8(bitPattern: h[6])
        } else {
            (digH1, digH2, digH3, digH4, digH5, digH6) = (0, 0, 0, 0, 0, 0)
        }
        guard digP1 != 0 else {
            throw .notCalibrated(reason: "dig_P1 (0x8E…0x8F) is 0; the pressure compensation divides by it")
        }
    }

    private static func checkBlock(_ block: [UInt8], first: UInt8, count: Int) throws(BME280Error) {
        let range = "0x\(hex2(first))…0x\(hex2(first &+ UInt8(count - 1)))"
        guard block.count == count else {
            throw .notCalibrated(reason: "expected \(count) bytes from \(range), got \(block.count)")
        }
        if block.allSatisfy({ $0 == 0x00 }) {
            throw .notCalibrated(reason: "\(range) reads all 0x00, expected factory trimming values")
        }
        if block.allSatisfy({ $0 == 0xFF }) {
            throw .notCalibrated(reason: "\(range) reads all 0xFF, expected factory trimming values")
        }
    }

    // MARK: Compensation (datasheet §4.2.3 / §8.2, 32-bit T and H, 64-bit P)
    //
    // The C code relies on two's-complement wrap-around and arithmetic right shifts; the wrapping
    // operators keep exactly that behaviour and never trap on odd data from the bus.

    /// `t_fine`: the fine temperature every other formula depends on (1/5120 °C).
    public func tFine(adcT: Int32) -> Int32 {
        let t1 = Int32(digT1), t2 = Int32(digT2), t3 = Int32(digT3)
        let var1 = (((adcT >> 3) &- (t1 << 1)) &* t2) >> 11
        let d = (adcT >> 4) &- t1
        let var2 = (((d &* d) >> 12) &* t3) >> 14
        return var1 &+ var2
    }

    /// Temperature in 0.01 °C (5123 = 51.23 °C).
    public func temperature(tFine: Int32) -> Int32 {
        (tFine &* 5 &+ 128) >> 8
    }

    /// Pressure in Pa as Q24.8 (24674867 = 96386.2 Pa), or `nil` where the datasheet code
    /// returns 0 to avoid a division by zero.
    public func pressure(adcP: Int32, tFine: Int32) -> UInt32? {
        var var1 = Int64(tFine) &- 128000
        var var2 = var1 &* var1 &* Int64(digP6)
        var2 = var2 &+ ((var1 &* Int64(digP5)) &<< 17)
        var2 = var2 &+ (Int64(digP4) &<< 35)
        var1 = ((var1 &* var1 &* Int64(digP3)) >> 8) &+ ((var1 &* Int64(digP2)) &<< 12)
        var1 = (((Int64(1) << 47) &+ var1) &* Int64(digP1)) >> 33
        guard var1 != 0 else { return nil }
        var p = 1_048_576 &- Int64(adcP)
        let (quotient, overflow) = (((p &<< 31) &- var2) &* 3125).dividedReportingOverflow(by: var1)
        guard !overflow else { return nil }
        p = quotient
        var1 = (Int64(digP9) &* (p >> 13) &* (p >> 13)) >> 25
        var2 = (Int64(digP8) &* p) >> 19
        p = ((p &+ var1 &+ var2) >> 8) &+ (Int64(digP7) &<< 4)
        return UInt32(truncatingIfNeeded: p)
    }

    /// Relative humidity in %RH as Q22.10 (47445 = 46.333 %RH), clamped to 0…100 %RH.
    public func humidity(adcH: Int32, tFine: Int32) -> UInt32 {
        let h1 = Int32(digH1), h2 = Int32(digH2), h3 = Int32(digH3)
        let h4 = Int32(digH4), h5 = Int32(digH5), h6 = Int32(digH6)
        var v = tFine &- 76800
        let a = ((adcH &<< 14) &- (h4 &<< 20) &- (h5 &* v)) &+ 16384
        let b = ((((((v &* h6) >> 10) &* (((v &* h3) >> 11) &+ 32768)) >> 10) &+ 2_097_152) &* h2 &+ 8192) >> 14
        v = (a >> 15) &* b
        v = v &- (((((v >> 15) &* (v >> 15)) >> 7) &* h1) >> 4)
        v = min(max(v, 0), 419_430_400)
        return UInt32(v >> 12)
    }

    /// Compensates one raw sample into physical units.
    ///
    /// - Returns: temperature in °C, pressure in Pa (nil if `adcP` is nil) and humidity in %RH
    ///   (nil if `adcH` is nil).
    /// - Throws: ``BME280Error/notCalibrated(reason:)`` when the pressure formula has no defined result.
    public func compensate(_ raw: BME280RawSample) throws(BME280Error) -> BME280Measurement {
        let fine = tFine(adcT: raw.adcT)
        var pressure: Double?
        if let adcP = raw.adcP {
            guard let q24_8 = self.pressure(adcP: adcP, tFine: fine) else {
                throw .notCalibrated(reason: "pressure compensation has no result for adc_P \(adcP) (dig_P1 \(digP1))")
            }
            pressure = Double(q24_8) / 256
        }
        return BME280Measurement(
            temperature: Double(temperature(tFine: fine)) / 100,
            pressure: pressure,
            humidity: raw.adcH.map { Double(humidity(adcH: $0, tFine: fine)) / 1024 },
            tFine: fine)
    }
}

/// The ADC words of one measurement, decoded from the data burst 0xF7… (§5.4.7–§5.4.9).
public struct BME280RawSample: Sendable, Equatable {
    /// 20-bit temperature ADC word.
    public var adcT: Int32
    /// 20-bit pressure ADC word (nil when the burst did not include it or it is not used).
    public var adcP: Int32?
    /// 16-bit humidity ADC word (nil for a 6-byte burst).
    public var adcH: Int32?

    /// The marker a skipped temperature or pressure measurement leaves (`osrs_x` = 000, §5.4.3/§5.4.5).
    public static let skipped20 = Int32(0x80000)
    /// The marker a skipped humidity measurement leaves.
    public static let skipped16 = Int32(0x8000)

    public init(adcT: Int32, adcP: Int32?, adcH: Int32?) {
        self.adcT = adcT
        self.adcP = adcP
        self.adcH = adcH
    }

    /// Decodes a 6-byte (0xF7…0xFC) or 8-byte (0xF7…0xFE) burst; `nil` for any other length.
    public init?(burst d: [UInt8]) {
        guard d.count == 6 || d.count == 8 else { return nil }
        adcP = Int32(d[0]) << 12 | Int32(d[1]) << 4 | Int32(d[2]) >> 4
        adcT = Int32(d[3]) << 12 | Int32(d[4]) << 4 | Int32(d[5]) >> 4
        adcH = d.count == 8 ? Int32(d[6]) << 8 | Int32(d[7]) : nil
    }
}

/// One compensated measurement in SI-style units.
public struct BME280Measurement: Sendable, Equatable {
    /// °C, 0.01 °C steps.
    public var temperature: Double
    /// Pa, 1/256 Pa steps.
    public var pressure: Double?
    /// %RH, 1/1024 %RH steps.
    public var humidity: Double?
    /// The fine temperature the other two were compensated with.
    public var tFine: Int32
}

extension BME280 {
    /// The maximum forced-mode measurement time (Bosch `bme280_cal_meas_delay`, datasheet §9.1):
    /// `1250 + 2300·osr_t + (2300·osr_p + 575) + (2300·osr_h + 575)` µs, the humidity term only on
    /// parts with humidity. ×1/×1/×1 → 9.3 ms.
    public static func maxMeasurementTime(_ options: BME280Options, variant: BME280Variant) -> Duration {
        var micros = 1250 + 2300 * options.temperatureOversampling.factor
            + 2300 * options.pressureOversampling.factor + 575
        if variant.hasHumidity {
            micros += 2300 * options.humidityOversampling.factor + 575
        }
        return .microseconds(micros)
    }
}

