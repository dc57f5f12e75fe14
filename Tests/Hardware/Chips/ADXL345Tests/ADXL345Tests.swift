import ADXL345
import HAL
import HALSimulation
import HALTesting
import SensorCore
import Testing

/// Scripted-transaction tests: the exact bytes `start()`, `sample()` and `selfTest()` put on the
/// bus. Register addresses and values are transcribed here from the data sheet (fact sheet §G.3).
@Suite struct ADXL345Tests {
    typealias Step = ScriptedI2CBus.Expectation

    // Transcribed register addresses.
    static let devID: UInt8 = 0x00, bwRate: UInt8 = 0x2C, powerCtl: UInt8 = 0x2D
    static let dataFormat: UInt8 = 0x31, dataX0: UInt8 = 0x32, fifoCtl: UInt8 = 0x38, fifoStatus: UInt8 = 0x39
    let gPerLSB = 0.0039

    /// DEVID check, standby, rate, format, FIFO bypass (empties it) then stream, MEASURE.
    static func startScript(_ address: UInt8 = 0x53, rate: UInt8 = 0x0C, format: UInt8 = 0x0B) -> [Step] {
        [
            Step(address, [.write([devID]), .read(count: 1)], returns: [[0xE5]]),
            Step(address, [.write([powerCtl, 0x00])]),
            Step(address, [.write([bwRate, rate])]),
            Step(address, [.write([dataFormat, format])]),
            Step(address, [.write([fifoCtl, 0x00])]),
            Step(address, [.write([fifoCtl, 0x80])]),
            Step(address, [.write([powerCtl, 0x08])]),
        ]
    }

    static func status(_ entries: UInt8, _ address: UInt8 = 0x53) -> Step {
        Step(address, [.write([fifoStatus]), .read(count: 1)], returns: [[entries]])
    }

    /// One FIFO pop: a 6-byte burst from DATAX0 returning these counts.
    static func pop(_ x: Int16, _ y: Int16, _ z: Int16, _ address: UInt8 = 0x53) -> Step {
        let bytes = [x, y, z].flatMap { v -> [UInt8] in
            let word = UInt16(bitPattern: v)
            return [UInt8(word & 0xFF), UInt8(word >> 8)]
        }
        return Step(address, [.write([dataX0]), .read(count: 6)], returns: [bytes])
    }

    @Test func startIdentifiesThenConfiguresInStandby() throws {
        let bus = ScriptedI2CBus(Self.startScript())
        let sensor = ADXL345(bus: bus, address: ADXL345.primaryAddress, clock: VirtualClock())
        try sensor.start()
        #expect(sensor.chipName == "ADXL345")
        #expect(sensor.channels == [.accelerationX, .accelerationY, .accelerationZ, .vibrationRMS, .vibrationPeak])
        #expect(bus.done().isEmpty)
    }

    @Test func startAtAlternateAddressWithOtherOptions() throws {
        let bus = ScriptedI2CBus(Self.startScript(0x1D, rate: 0x0D, format: 0x08))
        let sensor = ADXL345(bus: bus, address: I2CAddress(UInt8(0x1D)), clock: VirtualClock(),
                             options: .init(range: .g2, outputDataRate: .hz800))
        try sensor.start()
        #expect(bus.done().isEmpty)
    }

    @Test func wrongDeviceIDStopsBeforeAnyWrite() {
        let bus = ScriptedI2CBus([Step(0x53, [.write([0x00]), .read(count: 1)], returns: [[0xE6]])])
        let sensor = ADXL345(bus: bus, clock: VirtualClock())
        #expect(throws: ADXL345Error.unexpectedChipID(expected: 0xE5, actual: 0xE6)) { try sensor.start() }
        let error = ADXL345Error.unexpectedChipID(expected: 0xE5, actual: 0xE6)
        #expect(error.category == .wrongChip)
        #expect(error.description.contains("reads 0xE6, expected 0xE5"))
        #expect(bus.done().isEmpty)
    }

    @Test func addressNACKBecomesABusError() {
        let bus = ScriptedI2CBus([Step(0x53, [.write([0x00]), .read(count: 1)], fails: .noAcknowledge(.address))])
        let sensor = ADXL345(bus: bus, clock: VirtualClock())
        do {
            try sensor.start()
            Issue.record("start() succeeded without a chip")
        } catch {
            #expect(error.busError?.kind == .noAcknowledge(.address))
            #expect(error.category == .bus)
            #expect(error.description.contains("no ACK on address at 0x53"))
        }
        #expect(bus.done().isEmpty)
    }

    @Test func invalidWindowIsRejectedWithoutBusTraffic() {
        let bus = ScriptedI2CBus([])
        let sensor = ADXL345(bus: bus, clock: VirtualClock(), options: .init(windowSamples: 0))
        do {
            try sensor.start()
            Issue.record("start() accepted a zero-sample window")
        } catch {
            #expect(error.category == .configuration)
        }
        #expect(bus.done().isEmpty)
    }

    @Test func sampleBeforeStartThrowsWithoutBusTraffic() {
        let bus = ScriptedI2CBus([])
        let sensor = ADXL345(bus: bus, clock: VirtualClock())
        #expect(throws: ADXL345Error.notStarted) { try sensor.sample() }
        #expect(throws: ADXL345Error.notStarted) { try sensor.selfTest() }
        #expect(bus.done().isEmpty)
    }

    @Test func sampleDrainsTheFIFOOneBurstPerEntry() throws {
        // Window of 4 at 400 Hz: two entries waiting, then an empty FIFO (sleep 2 periods for the
        // 2 missing samples), then 3 entries of which only 2 are read.
        let bus = ScriptedI2CBus(Self.startScript() + [
            Self.status(2), Self.pop(10, -20, 256), Self.pop(12, -20, 256),
            Self.status(0),
            Self.status(3), Self.pop(8, -20, 256), Self.pop(10, -20, 256),
        ])
        let clock = VirtualClock()
        let sensor = ADXL345(bus: bus, clock: clock, options: .init(windowSamples: 4))
        try sensor.start()
        let values = try sensor.sample()
        #expect(bus.done().isEmpty)
        #expect(clock.now == .milliseconds(5))

        // Expected: means of the counts × 3.9 mg; vibration of the magnitudes, worked here.
        let counts: [(Double, Double, Double)] = [(10, -20, 256), (12, -20, 256), (8, -20, 256), (10, -20, 256)]
        let magnitudes = counts.map { c in
            ((c.0 * gPerLSB) * (c.0 * gPerLSB) + (c.1 * gPerLSB) * (c.1 * gPerLSB) + (c.2 * gPerLSB) * (c.2 * gPerLSB)).squareRoot()
        }
        let meanMagnitude = magnitudes.reduce(0, +) / 4
        let rms = (magnitudes.map { ($0 - meanMagnitude) * ($0 - meanMagnitude) }.reduce(0, +) / 4).squareRoot()
        let peak = magnitudes.map { abs($0 - meanMagnitude) }.max() ?? 0

        #expect(values.map(\.channel) == sensor.channels)
        #expect(values.allSatisfy { $0.quantity.unit == .standardGravity })
        #expect(abs(values[0].quantity.value - 0.039) < 1e-12)
        #expect(abs(values[1].quantity.value - -0.078) < 1e-12)
        #expect(abs(values[2].quantity.value - 0.9984) < 1e-12)
        #expect(abs(values[3].quantity.value - rms) < 1e-12)
        #expect(abs(values[4].quantity.value - peak) < 1e-12)
        #expect(values[3].quantity.value > 0)
    }

    @Test func busErrorMidWindowKeepsItsKind() throws {
        let bus = ScriptedI2CBus(Self.startScript() + [
            Self.status(2), Self.pop(10, -20, 256),
            Step(0x53, [.write([0x32]), .read(count: 6)], fails: .bus),
        ])
        let sensor = ADXL345(bus: bus, clock: VirtualClock(), options: .init(windowSamples: 4))
        try sensor.start()
        do {
            _ = try sensor.sample()
            Issue.record("sample() hid a bus error")
        } catch {
            #expect(error.busError?.kind == .bus)
            #expect(error.busError?.operation == "w[32] r6")
        }
        #expect(bus.done().isEmpty)
    }

    @Test func emptyFIFOTimesOutAsNotReady() throws {
        // Window 4 at 400 Hz: timeout = 2 × 4 × 2.5 ms + 100 ms = 120 ms; each empty check sleeps
        // 4 periods (10 ms), so FIFO_STATUS is read at 0, 10, …, 120 ms: 13 times.
        let bus = ScriptedI2CBus(Self.startScript() + Array(repeating: Self.status(0), count: 13))
        let clock = VirtualClock()
        let sensor = ADXL345(bus: bus, clock: clock, options: .init(windowSamples: 4))
        try sensor.start()
        #expect(throws: ADXL345Error.notReady(timeout: .milliseconds(120), received: 0, expected: 4)) {
            try sensor.sample()
        }
        #expect(clock.now == .milliseconds(120))
        #expect(ADXL345Error.notReady(timeout: .milliseconds(120), received: 0, expected: 4).category == .notReady)
        #expect(bus.done().isEmpty)
    }

    /// Self-test at 100 Hz with 2 samples per half, configured for ±2 g (0x08).
    static func selfTestScript(onFails: Bool = false) -> [Step] {
        var script = startScript(rate: 0x0A, format: 0x08) + [
            Step(0x53, [.write([dataFormat, 0x0B])]),  // full-res ±16 g, self-test off
            status(2), pop(1, -2, 256), pop(3, -4, 256),
            Step(0x53, [.write([dataFormat, 0x8B])]),  // SELF_TEST on
        ]
        if onFails {
            script += [
                Step(0x53, [.write([fifoStatus]), .read(count: 1)], fails: .noAcknowledge(.data)),
                Step(0x53, [.write([dataFormat, 0x08])]),  // restored before the error is reported
            ]
        } else {
            script += [
                status(2), pop(201, -202, 556), pop(203, -204, 556),
                Step(0x53, [.write([dataFormat, 0x08])]),  // back to the configured format
            ]
        }
        return script
    }

    @Test func selfTestTogglesSelfTestBitAt16gAndRestoresTheFormat() throws {
        let bus = ScriptedI2CBus(Self.selfTestScript())
        let clock = VirtualClock()
        let sensor = ADXL345(bus: bus, clock: clock,
                             options: .init(range: .g2, outputDataRate: .hz100, selfTestSamples: 2))
        try sensor.start()
        let result = try sensor.selfTest()
        #expect(bus.done().isEmpty)
        // Change: X +200, Y −200, Z +300 LSB, inside the 3.3 V limits.
        #expect(result.passed)
        #expect(result.detail.contains("X +200.0 LSB"))
        #expect(result.detail.contains("Y -200.0 LSB"))
        #expect(result.detail.contains("Z +300.0 LSB"))
        // Three waits of 32 + 4 periods of 10 ms.
        #expect(clock.now == .milliseconds(3 * 360))
    }

    @Test func selfTestRestoresTheFormatWhenTheBusFails() throws {
        let bus = ScriptedI2CBus(Self.selfTestScript(onFails: true))
        let sensor = ADXL345(bus: bus, clock: VirtualClock(),
                             options: .init(range: .g2, outputDataRate: .hz100, selfTestSamples: 2))
        try sensor.start()
        do {
            _ = try sensor.selfTest()
            Issue.record("selfTest() hid a bus error")
        } catch {
            #expect(error.busError?.kind == .noAcknowledge(.data))
        }
        #expect(bus.done().isEmpty)
    }

    @Test func selfTestRefusesRatesWhereTheLimitsDoNotHold() throws {
        let bus = ScriptedI2CBus(Self.startScript(rate: 0x0E))
        let sensor = ADXL345(bus: bus, clock: VirtualClock(), options: .init(outputDataRate: .hz1600))
        try sensor.start()
        do {
            _ = try sensor.selfTest()
            Issue.record("self-test ran at 1600 Hz")
        } catch {
            #expect(error.category == .configuration)
            #expect(error.description.contains("1600"))
        }
        #expect(bus.done().isEmpty)
    }

    @Test func identificationReadsDEVID() throws {
        let bus = ScriptedI2CBus([
            Step(0x53, [.write([0x00]), .read(count: 1)], returns: [[0xE5]]),
            Step(0x1D, [.write([0x00]), .read(count: 1)], returns: [[0xE6]]),
        ])
        #expect(try ADXL345Identification.identify(bus: bus, address: I2CAddress(UInt8(0x53))))
        #expect(try ADXL345Identification.identify(bus: bus, address: I2CAddress(UInt8(0x1D))) == false)
        #expect(ADXL345Identification.addresses.map(\.rawValue) == [0x53, 0x1D])
        #expect(bus.done().isEmpty)
    }
}
