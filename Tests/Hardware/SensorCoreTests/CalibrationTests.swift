import SensorCore
import Testing

@Suite struct CalibrationTests {
    let temperature = ChipDescriptor.ChannelSpec(.temperature, plausible: -40...85, resolution: 0.01)

    @Test func anOffsetAddsAndATwoPointCalibrationFollowsItsLine() {
        #expect(abs(Calibration.offset(-0.4).apply(22.5) - 22.1) < 1e-9)
        // Through (20 → 21) and (80 → 79): slope 58/60, so 50 → 21 + 30 × 58/60 = 50.0.
        let line = Calibration.twoPoint(.init(raw: 20, reference: 21), .init(raw: 80, reference: 79))
        #expect(abs(line.apply(20) - 21) < 1e-9)
        #expect(abs(line.apply(80) - 79) < 1e-9)
        #expect(abs(line.apply(50) - 50) < 1e-9)
        #expect(abs(line.apply(110) - 108) < 1e-9)
    }

    @Test func theLabelSaysWhichCalibrationItIs() {
        #expect(Calibration.offset(-0.4).label(digits: 2) == "offset -0.40")
        #expect(Calibration.offset(1.5).label(digits: 2) == "offset +1.50")
        #expect(Calibration.twoPoint(.init(raw: 20.1, reference: 20), .init(raw: 80.3, reference: 79.5)).label(digits: 2)
            == "two-point 20.10→20.00 80.30→79.50")
    }

    @Test func aCalibrationThatWouldReplaceTheSensorIsRefused() {
        #expect(Calibration.offset(12).problem(for: temperature) == nil)  // 125 °C span: up to ±12.5
        #expect(Calibration.offset(13).problem(for: temperature)?.contains("beyond ±12.5 °C") == true)
        #expect(Calibration.offset(.nan).problem(for: temperature) != nil)
        let close = Calibration.twoPoint(.init(raw: 20, reference: 20), .init(raw: 21, reference: 21))
        #expect(close.problem(for: temperature)?.contains("at least 1.25 °C apart") == true)
        let steep = Calibration.twoPoint(.init(raw: 20, reference: 20), .init(raw: 30, reference: 60))
        #expect(steep.problem(for: temperature)?.contains("slope of 4.000") == true)
        let outside = Calibration.twoPoint(.init(raw: 20, reference: 20), .init(raw: 80, reference: 90))
        #expect(outside.problem(for: temperature)?.contains("outside what the chip measures") == true)
        let good = Calibration.twoPoint(.init(raw: 20.1, reference: 20), .init(raw: 80.3, reference: 79.5))
        #expect(good.problem(for: temperature) == nil)
    }

    @Test func aCalibratedReadingCarriesTheLabelAndAnUnavailableOneStaysAsItIs() {
        let reading = Reading(sensor: "ambient", channel: .temperature, value: .celsius(22.5), quality: .good, time: .zero)
        let corrected = reading.calibrated(by: .offset(-0.5))
        #expect(corrected.value == .celsius(22.0))
        #expect(corrected.calibration == "offset -0.50")
        let missing = Reading(sensor: "ambient", channel: .temperature, value: nil, quality: .unavailable, time: .zero)
        #expect(missing.calibrated(by: .offset(-0.5)) == missing)
    }
}
