import ADXL345
import Foundation
import Testing

/// Golden vectors for the pure conversion and window maths. Expected values are transcribed from
/// the fact sheet §G.3 and the data sheet here, never taken from the driver's constants.
@Suite struct ADXL345ConversionTests {
    /// Full resolution: 3.9 mg/LSB at every range (fact sheet §G.3, no-OS 0.0039 g/LSB).
    let gPerLSB = 0.0039

    @Test func decodesLittleEndianTwosComplementPerAxis() throws {
        // The flat-board dump: x = +10, y = −20, z = +256 counts.
        let raw = try #require(ADXL345.RawSample(bytes: [0x0A, 0x00, 0xEC, 0xFF, 0x00, 0x01]))
        #expect(raw == ADXL345.RawSample(x: 10, y: -20, z: 256))
        let g = raw.acceleration
        #expect(abs(g.x - 0.039) < 1e-12)
        #expect(abs(g.y - -0.078) < 1e-12)
        #expect(abs(g.z - 0.9984) < 1e-12)
    }

    @Test func decodesFullScaleAt16g() throws {
        // 13 bits at ±16 g: +4095 and −4096 counts; one LSB either side of zero.
        let raw = try #require(ADXL345.RawSample(bytes: [0xFF, 0x0F, 0x00, 0xF0, 0xFF, 0xFF]))
        #expect(raw == ADXL345.RawSample(x: 4095, y: -4096, z: -1))
        #expect(abs(raw.acceleration.x - 15.9705) < 1e-9)
        #expect(abs(raw.acceleration.y - -15.9744) < 1e-9)
        #expect(abs(raw.acceleration.z - -gPerLSB) < 1e-12)
    }

    @Test func rejectsAnythingButSixBytes() {
        #expect(ADXL345.RawSample(bytes: [0x00, 0x01, 0x02, 0x03, 0x04]) == nil)
        #expect(ADXL345.RawSample(bytes: []) == nil)
    }

    @Test func rateCodesFollowTheDataSheet() {
        // Fact sheet: 0x0A = 100 Hz (default), 0x0F = 3200 Hz, 0x06 = 6.25 Hz.
        #expect(ADXL345.OutputDataRate(rawValue: 0x0A) == .hz100)
        #expect(ADXL345.OutputDataRate.hz100.hertz == 100)
        #expect(ADXL345.OutputDataRate(rawValue: 0x0F)?.hertz == 3200)
        #expect(ADXL345.OutputDataRate(rawValue: 0x06)?.hertz == 6.25)
        #expect(ADXL345.OutputDataRate.hz400.rawValue == 0x0C)
        #expect(ADXL345.OutputDataRate.hz800.rawValue == 0x0D)
        #expect(ADXL345.OutputDataRate.hz400.period == .microseconds(2500))
        #expect(ADXL345.OutputDataRate.hz800.period == .microseconds(1250))
        #expect(ADXL345.OutputDataRate.hz0_10.period == .milliseconds(10_240))
    }

    @Test func dataFormatIsFullResolutionPlusRange() {
        // Fact sheet: 0x08 = full-res ±2 g, 0x0B = full-res ±16 g.
        #expect(ADXL345.Options(range: .g2).dataFormat.rawValue == 0x08)
        #expect(ADXL345.Options(range: .g4).dataFormat.rawValue == 0x09)
        #expect(ADXL345.Options(range: .g16).dataFormat.rawValue == 0x0B)
        #expect(ADXL345.Options().dataFormat.rawValue == 0x0B)
    }

    @Test func selfTestSampleCountIsAtLeastATenthOfASecond() {
        #expect(ADXL345.Options(outputDataRate: .hz100).selfTestSampleCount == 10)
        #expect(ADXL345.Options(outputDataRate: .hz400).selfTestSampleCount == 40)
        #expect(ADXL345.Options(selfTestSamples: 5).selfTestSampleCount == 5)
    }

    @Test func selfTestLimitsScaleWithSupplyVoltage() {
        // Data sheet: Table "Self-Test Output in LSB for ±2 g, 10-Bit or Full Resolution" at 2.5 V,
        // scale factors 1.77 (X, Y) and 1.47 (Z) at 3.3 V.
        let at2v5 = ADXL345.SelfTestLimits(supply: .v2_50)
        #expect(at2v5.x == 50...540)
        #expect(at2v5.y == -540...(-50))
        #expect(at2v5.z == 75...875)
        let at3v3 = ADXL345.SelfTestLimits(supply: .v3_30)
        #expect(abs(at3v3.x.lowerBound - 88.5) < 1e-9 && abs(at3v3.x.upperBound - 955.8) < 1e-9)
        #expect(abs(at3v3.y.lowerBound - -955.8) < 1e-9 && abs(at3v3.y.upperBound - -88.5) < 1e-9)
        #expect(abs(at3v3.z.lowerBound - 110.25) < 1e-9 && abs(at3v3.z.upperBound - 1286.25) < 1e-9)
    }

    @Test func selfTestVerdictNamesEachAxis() {
        let limits = ADXL345.SelfTestLimits(supply: .v3_30)
        let good = limits.evaluate(off: (2, -3, 256), on: (202, -203, 556), supply: .v3_30)
        #expect(good.passed)
        #expect(good.detail.contains("X +200.0 LSB (limits 88.5…955.8) ok"))
        #expect(good.detail.contains("Y -200.0 LSB (limits -955.8…-88.5) ok"))
        #expect(good.detail.contains("Z +300.0 LSB (limits 110.3…1286.3) ok"))
        #expect(good.detail.hasSuffix("pass"))

        // A stuck Z proof mass: no change on Z.
        let stuck = limits.evaluate(off: (2, -3, 256), on: (202, -203, 256), supply: .v3_30)
        #expect(!stuck.passed)
        #expect(stuck.detail.contains("Z 0.0 LSB (limits 110.3…1286.3) OUT OF LIMITS"))
        #expect(stuck.detail.hasSuffix("fail"))
    }

    // MARK: - Window statistics

    /// `n` samples of `f(t)` at `rate` Hz.
    func samples(_ n: Int, rate: Double, _ f: (Double) -> ADXL345.Acceleration) -> [ADXL345.Acceleration] {
        (0..<n).map { f(Double($0) / rate) }
    }

    @Test func constantAccelerationHasNoVibration() throws {
        let window = samples(256, rate: 800) { _ in .init(x: 0.3, y: -0.5, z: 1.0) }
        let summary = try #require(ADXL345.WindowSummary(window))
        #expect(abs(summary.mean.x - 0.3) < 1e-12)
        #expect(abs(summary.mean.y - -0.5) < 1e-12)
        #expect(abs(summary.mean.z - 1.0) < 1e-12)
        #expect(summary.vibrationRMS < 1e-12)
        #expect(summary.vibrationPeak < 1e-12)
        #expect(summary.sampleCount == 256)
    }

    @Test func sineAlongGravityGivesAmplitudeOverRootTwo() throws {
        // 0.2 g at 50 Hz on top of 1 g, 800 Hz, 256 samples = 16 whole periods.
        let a = 0.2
        let window = samples(256, rate: 800) { t in .init(x: 0, y: 0, z: 1 + a * sin(2 * .pi * 50 * t)) }
        let summary = try #require(ADXL345.WindowSummary(window))
        #expect(abs(summary.vibrationRMS - a / 2.0.squareRoot()) < 1e-9)
        #expect(abs(summary.vibrationRMS - 0.141421356) < 1e-6)
        #expect(abs(summary.vibrationPeak - a) < 1e-9)
        #expect(abs(summary.mean.z - 1) < 1e-9)
    }

    @Test func vibrationDoesNotDependOnMounting() throws {
        // The same shake along gravity, with the board on its side (gravity on −X).
        let window = samples(256, rate: 800) { t in .init(x: -(1 + 0.2 * sin(2 * .pi * 50 * t)), y: 0, z: 0) }
        let summary = try #require(ADXL345.WindowSummary(window))
        #expect(abs(summary.vibrationRMS - 0.2 / 2.0.squareRoot()) < 1e-9)
        #expect(abs(summary.mean.x - -1) < 1e-9)
    }

    @Test func sidewaysShakeIsSecondOrderInTheMagnitude() throws {
        // Documented limitation: 0.2 g across gravity moves |a| by at most √1.04 − 1 ≈ 0.0198 g.
        let window = samples(256, rate: 800) { t in .init(x: 0.2 * sin(2 * .pi * 50 * t), y: 0, z: 1) }
        let summary = try #require(ADXL345.WindowSummary(window))
        #expect(summary.vibrationRMS < 0.01)
        #expect(summary.vibrationPeak < 0.0199)
    }

    @Test func emptyWindowHasNoSummary() {
        #expect(ADXL345.WindowSummary([]) == nil)
    }
}
