import TestSupport
import ADXL345
import ADXL345Model
import Foundation
import HAL
import HALSimulation
import SensorCore
import Testing

/// The driver against the register-level model on a simulated bus with a virtual clock, plus
/// bus-level checks of the model itself (register bytes transcribed from the data sheet).
@Suite struct ADXL345ModelTests {
    struct Rig {
        let clock = VirtualClock()
        let bus = SimulatedI2CBus(name: "sim:i2c-1")
        let model: ADXL345Model
        let sensor: ADXL345

        init(address: UInt8 = 0x53, options: ADXL345.Options = .init()) {
            model = ADXL345Model(environment: Environment(clock: clock))
            bus.attach(model, at: I2CAddress(address))
            sensor = ADXL345(bus: bus, address: I2CAddress(address), clock: clock, options: options)
        }

        func value(_ values: [ChannelValue], _ channel: Channel) -> Double {
            values.first { $0.channel == channel }?.quantity.value ?? .nan
        }
    }

    /// Generic conformance for the acceleration channels, at every range.
    @Test(arguments: ADXL345.MeasurementRange.allCases)
    func constantAccelerationReadsBackWithinResolution(range: ADXL345.MeasurementRange) throws {
        let rig = Rig(options: .init(range: range))
        rig.model.set(.accelerationX, 0.3)
        rig.model.set(.accelerationY, -0.5)
        rig.model.set(.accelerationZ, 1.0)
        try rig.sensor.start()
        let values = try rig.sensor.sample()
        #expect(values.map(\.channel) == rig.sensor.channels)
        for (channel, expected) in [(Channel.accelerationX, 0.3), (.accelerationY, -0.5), (.accelerationZ, 1.0)] {
            #expect(abs(rig.value(values, channel) - expected) <= rig.model.resolution(of: channel), "\(channel)")
        }
        #expect(rig.model.resolution(of: .accelerationZ) < 0.0041)
        #expect(rig.value(values, .vibrationRMS) < 1e-9)
        #expect(rig.value(values, .vibrationPeak) < 1e-9)
    }

    @Test func sineOnZReachesTheDriverAsVibration() throws {
        let rig = Rig(options: .init(outputDataRate: .hz800))
        rig.model.environment.attach(.accelerationZ) { t in 1 + 0.2 * sin(2 * .pi * 50 * t.seconds) }
        try rig.sensor.start()
        let values = try rig.sensor.sample()
        let rms = rig.value(values, .vibrationRMS), peak = rig.value(values, .vibrationPeak)
        #expect(abs(rms - 0.1414) / 0.1414 < 0.03, "RMS \(rms)")
        #expect(abs(peak - 0.2) / 0.2 < 0.03, "peak \(peak)")
        #expect(abs(rig.value(values, .accelerationZ) - 1.0) <= rig.model.resolution(of: .accelerationZ))
        #expect(abs(rig.value(values, .accelerationX)) <= rig.model.resolution(of: .accelerationX))
        // 256 samples at 800 Hz take 0.32 s of virtual time, and not much more.
        #expect(rig.clock.now >= .milliseconds(320) && rig.clock.now < .milliseconds(400))
    }

    @Test func secondWindowContinuesFromTheFIFO() throws {
        let rig = Rig(options: .init(outputDataRate: .hz800))
        rig.model.environment.attach(.accelerationZ) { t in 1 + 0.2 * sin(2 * .pi * 50 * t.seconds) }
        try rig.sensor.start()
        _ = try rig.sensor.sample()
        rig.clock.advance(by: .seconds(10))  // the sampler's interval: the FIFO overflows meanwhile
        let values = try rig.sensor.sample()
        #expect(abs(rig.value(values, .vibrationRMS) - 0.1414) / 0.1414 < 0.03)
    }

    @Test func alternateAddressWorks() throws {
        let rig = Rig(address: 0x1D)
        rig.model.set(.accelerationZ, -1.0)
        try rig.sensor.start()
        #expect(abs(rig.value(try rig.sensor.sample(), .accelerationZ) - -1.0) <= rig.model.resolution(of: .accelerationZ))
    }

    @Test func outputSaturatesAtTheConfiguredRange() throws {
        let rig = Rig(options: .init(range: .g2))
        rig.model.set(.accelerationZ, 3.0)
        rig.model.set(.accelerationX, -5.0)
        try rig.sensor.start()
        let values = try rig.sensor.sample()
        // ±2 g full resolution is 10 bits: +511 / −512 counts of 3.9 mg.
        #expect(abs(rig.value(values, .accelerationZ) - 511 * 0.0039) < 1e-9)
        #expect(abs(rig.value(values, .accelerationX) - -512 * 0.0039) < 1e-9)
        #expect(abs(rig.model.range(of: .accelerationZ).upperBound - 511 * 0.0039) < 1e-9)
        #expect(abs(rig.model.range(of: .accelerationZ).lowerBound - -512 * 0.0039) < 1e-9)
    }

    @Test func wrongChipIDIsATypedError() throws {
        // An ADXL346 (DEVID 0xE6) replayed from a dump.
        var bytes = [UInt8?](repeating: 0, count: 256)
        bytes[0] = 0xE6
        let clock = VirtualClock()
        let model = try ADXL345Model(environment: Environment(clock: clock), dump: I2CDump(bytes: bytes))
        let bus = SimulatedI2CBus(name: "sim")
        bus.attach(model, at: I2CAddress(UInt8(0x53)))
        let sensor = ADXL345(bus: bus, clock: clock)
        #expect(throws: ADXL345Error.unexpectedChipID(expected: 0xE5, actual: 0xE6)) { try sensor.start() }
    }

    @Test func unpluggedChipIsAnAddressNACK() throws {
        let rig = Rig()
        rig.model.set(.accelerationZ, 1.0)
        try rig.sensor.start()
        rig.bus.detach(I2CAddress(UInt8(0x53)))
        do {
            _ = try rig.sensor.sample()
            Issue.record("sample() returned values from an unplugged chip")
        } catch {
            #expect(error.busError?.kind == .noAcknowledge(.address))
            #expect(error.busError?.bus == "sim:i2c-1")
            #expect(error.description.contains("0x53"))
        }
    }

    @Test func powerOnResetIsNotReadyUntilStartAgain() throws {
        let rig = Rig()
        rig.model.set(.accelerationX, 0.3)
        rig.model.set(.accelerationZ, 1.0)
        try rig.sensor.start()
        _ = try rig.sensor.sample()

        rig.model.powerOnReset()  // standby, FIFO bypassed, 10-bit ±2 g
        do {
            _ = try rig.sensor.sample()
            Issue.record("sample() returned values from a chip in standby")
        } catch {
            #expect(error.category == .notReady)
            #expect(error.description.contains("0 of 256 samples"))
        }

        try rig.sensor.start()
        let values = try rig.sensor.sample()
        #expect(abs(rig.value(values, .accelerationX) - 0.3) <= rig.model.resolution(of: .accelerationX))
        #expect(abs(rig.value(values, .accelerationZ) - 1.0) <= rig.model.resolution(of: .accelerationZ))
    }

    @Test func selfTestPassesAndLeavesTheConfiguredRange() throws {
        // At ±2 g, 1 g + 1.2 g of self-test force would clip: the driver must test at ±16 g.
        let rig = Rig(options: .init(range: .g2))
        rig.model.set(.accelerationZ, 1.0)
        try rig.sensor.start()
        let result = try rig.sensor.selfTest()
        #expect(result.passed, "\(result.detail)")
        // The model's default force: +0.8, −0.8, +1.2 g = +205, −205, +308 LSB (±1 for rounding).
        #expect(result.detail.contains("X +205"))
        #expect(result.detail.contains("Z +30"))
        // Afterwards the part measures normally again (SELF_TEST off, ±2 g).
        let values = try rig.sensor.sample()
        #expect(abs(rig.value(values, .accelerationZ) - 1.0) <= rig.model.resolution(of: .accelerationZ))
        #expect(abs(rig.value(values, .accelerationX)) <= rig.model.resolution(of: .accelerationX))
        #expect(abs(rig.model.range(of: .accelerationZ).upperBound - 511 * 0.0039) < 1e-9)
    }

    @Test func stuckProofMassFailsSelfTest() throws {
        let rig = Rig()
        rig.model.set(.accelerationZ, 1.0)
        rig.model.selfTestShift = SIMD3(0.8, -0.8, 0)
        try rig.sensor.start()
        let result = try rig.sensor.selfTest()
        #expect(!result.passed)
        #expect(result.detail.contains("Z 0.0 LSB (limits 110.3…1286.3) OUT OF LIMITS"))
    }

    // MARK: - Replay

    static func repositoryRoot() -> URL {
        URL(fileURLWithPath: TestSupport.repositoryRoot)
    }

    @Test func replayedFlatBoardDumpReadsItsExactValues() throws {
        let text = try String(contentsOf: Self.repositoryRoot().appendingPathComponent("boards/dumps/adxl345-flat.i2cdump"),
                              encoding: .utf8)
        let clock = VirtualClock()
        let model = try ADXL345Model(environment: Environment(clock: clock), dump: I2CDump(parsing: text))
        let bus = SimulatedI2CBus(name: "sim")
        bus.attach(model, at: I2CAddress(UInt8(0x53)))
        let sensor = ADXL345(bus: bus, clock: clock)
        try sensor.start()
        let values = try sensor.sample()
        // Dumped counts x = +10, y = −20, z = +256 at 3.9 mg/LSB.
        #expect(abs(values[0].quantity.value - 0.039) < 1e-9)
        #expect(abs(values[1].quantity.value - -0.078) < 1e-9)
        #expect(abs(values[2].quantity.value - 0.9984) < 1e-9)
        #expect(values[3].quantity.value == 0)
        #expect(values[4].quantity.value == 0)

        // A reset does not forget what was dumped.
        model.powerOnReset()
        try sensor.start()
        #expect(abs(try sensor.sample()[2].quantity.value - 0.9984) < 1e-9)
    }

    @Test func replayNeedsDEVIDAndDataRegisters() {
        var bytes = [UInt8?](repeating: 0, count: 256)
        bytes[0x34] = nil
        do {
            _ = try ADXL345Model(environment: Environment(clock: VirtualClock()), dump: I2CDump(bytes: bytes))
            Issue.record("replay accepted a dump without DATAY0")
        } catch {
            #expect(error.missingRegisters == [0x34])
            #expect(error.description.contains("0x34"))
        }
    }

    // MARK: - Model bus face (bytes transcribed from the data sheet register map)

    @Test func modelPowersUpInStandbyWithDataSheetDefaults() throws {
        let rig = Rig()
        let a = I2CAddress(UInt8(0x53))
        #expect(try rig.bus.writeRead(a, [0x00], count: 1) == [0xE5])
        #expect(try rig.bus.writeRead(a, [0x2C], count: 2) == [0x0A, 0x00])  // BW_RATE 100 Hz, POWER_CTL standby
        #expect(try rig.bus.writeRead(a, [0x30], count: 2) == [0x02, 0x00])  // INT_SOURCE, DATA_FORMAT
        #expect(try rig.bus.writeRead(a, [0x38], count: 2) == [0x00, 0x00])  // FIFO bypass, empty
        try rig.bus.write(a, [0x00, 0x12])                                      // DEVID is read-only
        #expect(try rig.bus.writeRead(a, [0x00], count: 1) == [0xE5])
        rig.clock.advance(by: .seconds(1))
        #expect(try rig.bus.writeRead(a, [0x39], count: 1) == [0x00])          // standby: nothing converted
    }

    @Test func modelStreamModeKeepsTheNewest32AndFlagsOverrun() throws {
        let rig = Rig()
        let a = I2CAddress(UInt8(0x53))
        rig.model.environment.attach(.accelerationX) { t in t.seconds }  // x grows 1 g per second
        try rig.bus.write(a, [0x2C, 0x0A])   // 100 Hz
        try rig.bus.write(a, [0x31, 0x0B])   // full res ±16 g
        try rig.bus.write(a, [0x38, 0x80])   // stream
        try rig.bus.write(a, [0x2D, 0x08])   // measure: first sample at 1.1 ms + 10 ms
        rig.clock.advance(by: .milliseconds(101))
        // Samples at 11.1, 21.1, …, 101.1 ms? 101 ms < 101.1 ms: nine so far.
        #expect(try rig.bus.writeRead(a, [0x39], count: 1) == [9])
        #expect(try rig.bus.writeRead(a, [0x30], count: 1) == [0x82])  // DATA_READY, WATERMARK
        // The oldest entry: x = 0.0111 g → round(2.846) = 3 counts.
        #expect(try rig.bus.writeRead(a, [0x32], count: 6) == [0x03, 0x00, 0x00, 0x00, 0x00, 0x00])
        #expect(try rig.bus.writeRead(a, [0x39], count: 1) == [8])

        rig.clock.advance(by: .seconds(5))
        #expect(try rig.bus.writeRead(a, [0x39], count: 1) == [32])
        #expect(try rig.bus.writeRead(a, [0x30], count: 1) == [0x83])  // OVERRUN too
        // Conversions run at 11.1 ms + k·10 ms; the newest by 5.101 s is at 5.0911 s and the
        // oldest kept one 31 periods earlier, at 4.7811 s: x ≈ 4.7811 g.
        let oldest = try rig.bus.writeRead(a, [0x32], count: 6)
        let x = Double(Int16(bitPattern: UInt16(oldest[0]) | UInt16(oldest[1]) << 8)) * 0.0039
        #expect(abs(x - 4.7811) < 0.004)
        // Back to bypass empties the FIFO.
        try rig.bus.write(a, [0x38, 0x00])
        #expect(try rig.bus.writeRead(a, [0x39], count: 1) == [0])
    }
}
