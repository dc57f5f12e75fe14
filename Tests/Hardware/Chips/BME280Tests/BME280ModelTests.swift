import TestSupport
import BME280
import BME280Model
import Foundation
import HAL
import HALSimulation
import SensorCore
import Testing

/// Fails reads that start at one register (or corrupts one byte of them) and passes everything
/// else to the model: a tiny stand-in for the fault overlay.
final class FaultyRegisters: SimulatedI2CDevice, @unchecked Sendable {
    let model: BME280Model
    var failReadsAt: (register: UInt8, kind: I2CError.Kind)?
    var corrupt: (register: UInt8, xor: UInt8)?
    private var pointer: UInt8 = 0

    init(_ model: BME280Model) { self.model = model }

    func write(_ bytes: [UInt8]) throws(I2CError) {
        if let first = bytes.first { pointer = first }
        try model.write(bytes)
    }

    func read(count: Int) throws(I2CError) -> [UInt8] {
        if let failReadsAt, failReadsAt.register == pointer {
            throw I2CError(failReadsAt.kind, address: I2CAddress(UInt8(0)))
        }
        var bytes = try model.read(count: count)
        if let corrupt, corrupt.register >= pointer, Int(corrupt.register) < Int(pointer) + count {
            bytes[Int(corrupt.register - pointer)] ^= corrupt.xor
        }
        pointer &+= UInt8(truncatingIfNeeded: count)
        return bytes
    }
}

/// The driver against the register-level model on a simulated bus with a virtual clock.
@Suite struct BME280ModelTests {
    struct Rig {
        let bus = SimulatedI2CBus(name: "sim:i2c-1")
        let clock = VirtualClock()
        let model: BME280Model
        let sensor: BME280
        let faults: FaultyRegisters

        init(part: BME280Model.Part = .bme280, nvm: BME280Model.NVMImage = .workedExample,
             variant: BME280Variant = .bme280, options: BME280Options = BME280Options()) {
            model = BME280Model(environment: Environment(clock: clock), part: part, nvm: nvm)
            faults = FaultyRegisters(model)
            bus.attach(faults, at: I2CAddress(UInt8(0x76)))
            sensor = BME280(bus: bus, address: I2CAddress(UInt8(0x76)), clock: clock, variant: variant, options: options)
        }

        init(dump: I2CDump) throws {
            model = try BME280Model(environment: Environment(clock: clock), dump: dump)
            faults = FaultyRegisters(model)
            bus.attach(faults, at: I2CAddress(UInt8(0x76)))
            sensor = BME280(bus: bus, address: I2CAddress(UInt8(0x76)), clock: clock)
        }

        func raw(_ bytes: [UInt8]) throws { try bus.write(I2CAddress(UInt8(0x76)), bytes) }
        func raw(read register: UInt8, count: Int) throws -> [UInt8] {
            try bus.writeRead(I2CAddress(UInt8(0x76)), [register], count: count)
        }
    }

    static func value(_ values: [ChannelValue], _ channel: Channel) -> Double? {
        values.first { $0.channel == channel }?.quantity.value
    }

    static let worlds: [(temperature: Double, pressure: Double, humidity: Double)] = [
        (23.4, 98_765, 45), (-12.3, 80_000, 10.5), (61.7, 105_000, 91), (0, 30_500, 0.5), (84.5, 109_900, 99),
    ]
    static let optionSets: [BME280Options] = [
        BME280Options(),
        BME280Options(temperatureOversampling: .x2, pressureOversampling: .x16, humidityOversampling: .x4),
        BME280Options(temperatureOversampling: .x16, pressureOversampling: .x4, humidityOversampling: .x1, filter: .coefficient4),
    ]

    @Test(arguments: worlds, optionSets)
    func readsBackWhatTheWorldIsWithinResolution(world: (temperature: Double, pressure: Double, humidity: Double),
                                                 options: BME280Options) throws {
        let rig = Rig(options: options)
        rig.model.set(.temperature, world.temperature)
        rig.model.set(.pressure, world.pressure)
        rig.model.set(.humidity, world.humidity)
        try rig.sensor.start()
        let values = try rig.sensor.sample()
        #expect(values.map(\.channel) == [.temperature, .humidity, .pressure])
        for (channel, expected) in [(Channel.temperature, world.temperature), (.pressure, world.pressure), (.humidity, world.humidity)] {
            let read = try #require(Self.value(values, channel))
            let resolution = rig.model.resolution(of: channel)
            #expect(abs(read - expected) <= resolution, "\(channel): set \(expected), read \(read), resolution \(resolution)")
        }
        #expect(rig.model.conversions == 1)
    }

    @Test func resolutionIsHonestAndTight() throws {
        let rig = Rig()
        rig.model.set(.temperature, 25)
        rig.model.set(.pressure, 100_000)
        try rig.sensor.start()
        _ = try rig.sensor.sample()
        // ×1 without filter: 16-bit pressure, a step of about 2.7 Pa (datasheet Table 5: 2.62 Pa).
        let coarse = rig.model.resolution(of: .pressure)
        #expect(coarse > 2 && coarse < 3.5)
        #expect(rig.model.resolution(of: .temperature) < 0.02)
        #expect(rig.model.resolution(of: .humidity) < 0.02)
        // The 16-bit result leaves adc_P[3:0] and adc_T[3:0] zero (press_xlsb/temp_xlsb, §5.4.8–§5.4.9).
        let data = try rig.raw(read: 0xF7, count: 8)
        #expect(data[2] == 0 && data[5] == 0)

        let fine = Rig(options: BME280Options(pressureOversampling: .x16))
        fine.model.set(.pressure, 100_000)
        try fine.sensor.start()
        _ = try fine.sensor.sample()
        #expect(fine.model.resolution(of: .pressure) < 0.3)
    }

    @Test func statusShowsMeasuringForTheConversionTimeThenSleeps() throws {
        let rig = Rig()
        rig.clock.advance(by: .milliseconds(5))  // NVM copy after power-on is over
        #expect(try rig.raw(read: 0xD0, count: 1) == [0x60])
        try rig.raw([0xF2, 0x01])
        try rig.raw([0xF4, 0x25])
        #expect(try rig.raw(read: 0xF3, count: 1) == [0x08])
        #expect(try rig.raw(read: 0xF4, count: 1) == [0x25])
        // Typical time, §9.1: 1 + 2 + (2 + 0.5) + (2 + 0.5) = 8 ms.
        rig.clock.advance(by: .microseconds(7999))
        #expect(try rig.raw(read: 0xF3, count: 1) == [0x08])
        rig.clock.advance(by: .microseconds(1))
        #expect(try rig.raw(read: 0xF3, count: 1) == [0x00])
        #expect(try rig.raw(read: 0xF4, count: 1) == [0x24])  // back to sleep mode by itself
        #expect(rig.model.conversions == 1)
    }

    @Test func ctrlHumWrittenAfterCtrlMeasIsNotLatched() throws {
        let rig = Rig()
        try rig.raw([0xF4, 0x25])
        try rig.raw([0xF2, 0x01])  // too late for this conversion (§5.4.3)
        rig.clock.advance(by: .milliseconds(20))
        #expect(Array(try rig.raw(read: 0xFD, count: 2)) == [0x80, 0x00])
        // One transaction of address/data pairs in the right order works (§6.2.1).
        try rig.raw([0xF2, 0x01, 0xF4, 0x25])
        rig.clock.advance(by: .milliseconds(20))
        #expect(Array(try rig.raw(read: 0xFD, count: 2)) != [0x80, 0x00])
    }

    @Test func configIsIgnoredOutsideSleepMode() throws {
        let rig = Rig()
        try rig.raw([0xF4, 0x25])
        try rig.raw([0xF5, 0x10])
        #expect(rig.model.peek(0xF5) == 0x00)
        rig.clock.advance(by: .milliseconds(20))
        try rig.raw([0xF5, 0x10])
        #expect(rig.model.peek(0xF5) == 0x10)
    }

    @Test func iirFilterSmoothsAStepChange() throws {
        // §3.4.4: x = (x_old·(c − 1) + x_new) / c on the ADC words; the first conversion after reset seeds it.
        let rig = Rig(options: BME280Options(filter: .coefficient16))
        rig.model.set(.temperature, 20)
        try rig.sensor.start()
        let first = try #require(Self.value(try rig.sensor.sample(), .temperature))
        #expect(abs(first - 20) <= rig.model.resolution(of: .temperature))
        rig.model.set(.temperature, 30)
        let second = try #require(Self.value(try rig.sensor.sample(), .temperature))
        #expect(second > 20.4 && second < 20.8)  // about 1/16 of the step
        #expect(rig.model.peek(0xF5) == 0x10)
    }

    @Test func wrongChipIsATypedError() {
        let rig = Rig(part: .bmp280)
        #expect(throws: BME280Error.unexpectedChipID(expected: 0x60, actual: 0x58)) { try rig.sensor.start() }
    }

    @Test func bmp280VariantAgainstABMP280() throws {
        let rig = Rig(part: .bmp280, variant: .bmp280)
        rig.model.set(.temperature, 18.2)
        rig.model.set(.pressure, 95_000)
        try rig.sensor.start()
        let values = try rig.sensor.sample()
        #expect(values.map(\.channel) == [.temperature, .pressure])
        #expect(abs((Self.value(values, .temperature) ?? 0) - 18.2) <= rig.model.resolution(of: .temperature))
        #expect(abs((Self.value(values, .pressure) ?? 0) - 95_000) <= rig.model.resolution(of: .pressure))
    }

    @Test func absentChipIsAnAddressNACK() {
        let rig = Rig()
        rig.bus.detach(I2CAddress(UInt8(0x76)))
        let error = #expect(throws: BME280Error.self) { try rig.sensor.start() }
        #expect(error?.busError?.kind == .noAcknowledge(.address))
        #expect(error?.busError?.bus == "sim:i2c-1")
        #expect(error?.busError?.operation == "w[D0] r1")
    }

    @Test func busFaultOnCalibrationKeepsItsKind() {
        let rig = Rig()
        rig.faults.failReadsAt = (0x88, .arbitrationLost)
        let error = #expect(throws: BME280Error.self) { try rig.sensor.start() }
        #expect(error?.category == .bus)
        #expect(error?.busError?.kind == .arbitrationLost)
        #expect(error?.busError?.operation == "w[88] r26")
    }

    @Test func powerOnResetLosesConfigurationAndStartRecovers() throws {
        let rig = Rig()
        rig.model.set(.humidity, 55)
        try rig.sensor.start()
        _ = try rig.sensor.sample()
        rig.model.powerOnReset()
        // ctrl_hum is back to "skipped": the driver must not turn the 0x8000 marker into a humidity.
        #expect(throws: BME280Error.measurementSkipped(.humidity)) { try rig.sensor.sample() }
        try rig.sensor.start()
        let values = try rig.sensor.sample()
        #expect(abs((Self.value(values, .humidity) ?? 0) - 55) <= rig.model.resolution(of: .humidity))
    }

    @Test func slowConversionIsPolledAndTooSlowIsNotReady() throws {
        let rig = Rig()
        try rig.sensor.start()
        rig.model.extraMeasurementTime = .milliseconds(4)  // 12 ms, past the 9.3 ms maximum
        let before = rig.clock.now
        _ = try rig.sensor.sample()
        #expect(rig.clock.now - before == .microseconds(12_300))  // 9.3 ms, then 3 polls 1 ms apart
        rig.model.extraMeasurementTime = .milliseconds(50)
        let error = #expect(throws: BME280Error.self) { try rig.sensor.sample() }
        #expect(error?.category == .notReady)
        #expect(error == .notReady(timeout: .microseconds(18_300), waitingFor: .measuring))
    }

    @Test func slowNVMCopyIsPolledAndStuckIsNotReady() throws {
        let rig = Rig()
        rig.model.nvmCopyTime = .milliseconds(5)
        try rig.sensor.start()
        #expect(rig.clock.now == .milliseconds(6))  // 3 polls 2 ms apart
        rig.model.nvmCopyTime = .milliseconds(100)
        #expect(throws: BME280Error.notReady(timeout: .milliseconds(10), waitingFor: .imUpdate)) { try rig.sensor.start() }
    }

    @Test func blankNVMIsNotCalibrated() {
        let rig = Rig(nvm: BME280Model.NVMImage(calib00: Array(repeating: 0, count: 26), calib26: Array(repeating: 0, count: 7)))
        let error = #expect(throws: BME280Error.self) { try rig.sensor.start() }
        #expect(error?.category == .notCalibrated)
        #expect(error?.description.contains("0x88…0xA1 reads all 0x00") == true)
    }

    @Test func selfTestPassesOnAHealthyChip() throws {
        let rig = Rig()
        rig.model.set(.temperature, 21)
        rig.model.set(.pressure, 101_000)
        rig.model.set(.humidity, 40)
        let result = try rig.sensor.selfTest()  // starts the chip itself
        #expect(result.passed, "\(result.detail)")
        #expect(result.detail.contains("no built-in self-test"))
        #expect(result.detail.contains("unchanged"))
    }

    @Test func selfTestFailsOutsideTheOperatingRange() throws {
        let rig = Rig()
        rig.model.set(.temperature, 95)
        try rig.sensor.start()
        let result = try rig.sensor.selfTest()
        #expect(!result.passed)
        #expect(result.detail.contains("temperature"))
        #expect(result.detail.contains("outside the operating range −40…85 °C"))
    }

    @Test func selfTestFailsWhenCalibrationChangesUnderneath() throws {
        let rig = Rig()
        try rig.sensor.start()
        rig.faults.corrupt = (0x8A, 0x01)
        let result = try rig.sensor.selfTest()
        #expect(!result.passed)
        #expect(result.detail.contains("calibration register 0x8A changed: read 0x42 now, 0x43 at start()"))
    }

    @Test func selfTestFailsOnZeroDigT1() throws {
        var nvm = BME280Model.NVMImage.workedExample
        nvm.calib00[0] = 0
        nvm.calib00[1] = 0
        let rig = Rig(nvm: nvm)
        let result = try rig.sensor.selfTest()
        #expect(!result.passed)
        #expect(result.detail.contains("dig_T1 is 0"))
    }

    // MARK: Replay of an i2cdump

    /// The datasheet's worked example as `i2cdump -y 1 0x76` would print it.
    static let workedExampleDump = """
    No size specified (using byte-data access)
         0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef
    00: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    10: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    20: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    30: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    40: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    50: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    60: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    70: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    80: XX XX XX XX XX XX XX XX 70 6b 43 67 18 fc 7d 8e    XXXXXXXXpkCg??}?
    90: 43 d6 d0 0b 27 0b 8c 00 f9 ff 8c 3c f8 c6 70 17    C???'??.?.?<??p?
    a0: 00 4b XX XX XX XX XX XX XX XX XX XX XX XX XX XX    .KXXXXXXXXXXXXXX
    b0: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    c0: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX
    d0: 60 XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    `XXXXXXXXXXXXXXX
    e0: 00 6a 01 00 14 0d 00 1e XX XX XX XX XX XX XX XX    .j?.??.?XXXXXXXX
    f0: XX XX 01 00 24 00 00 65 5a c0 7e ed 00 75 30 XX    XX?.$..eZ?~?.u0X
    """

    @Test func replaysTheWorkedExampleDump() throws {
        let rig = try Rig(dump: try I2CDump(parsing: Self.workedExampleDump))
        #expect(rig.model.isReplaying)
        rig.model.set(.temperature, -5)  // ignored: the dumped data registers are what the chip says
        try rig.sensor.start()
        for _ in 0..<2 {
            let values = try rig.sensor.sample()
            #expect(Self.value(values, .temperature) == 25.08)
            #expect(abs((Self.value(values, .pressure) ?? 0) - 100_653.25) < 0.01)
            #expect(abs((Self.value(values, .humidity) ?? 0) - 48.752) < 0.001)
        }
        #expect(rig.model.conversions == 2)
    }

    @Test func dumpMissingRegistersNamesTheRange() throws {
        var dump = try I2CDump(parsing: Self.workedExampleDump)
        dump.bytes[0xE5] = nil
        #expect(throws: BME280Model.DumpError(first: 0xE1, last: 0xE7, content: "humidity calibration dig_H2…dig_H6")) {
            try BME280Model(environment: Environment(clock: VirtualClock()), dump: dump)
        }
        dump = try I2CDump(parsing: Self.workedExampleDump)
        dump.bytes[0xD0] = nil
        let error = #expect(throws: BME280Model.DumpError.self) {
            try BME280Model(environment: Environment(clock: VirtualClock()), dump: dump)
        }
        #expect(error?.description.hasPrefix("i2cdump has no bytes (XX) at 0xD0 (chip id)") == true)
        dump = try I2CDump(parsing: Self.workedExampleDump)
        dump.bytes[0xFE] = nil
        let data = #expect(throws: BME280Model.DumpError.self) {
            try BME280Model(environment: Environment(clock: VirtualClock()), dump: dump)
        }
        #expect(data?.description.contains("0xF7…0xFE") == true)
    }

    @Test func boardDumpFileMatchesTheFixture() throws {
        let root = URL(fileURLWithPath: repositoryRoot)
        let text = try String(contentsOf: root.appendingPathComponent("boards/dumps/bme280-worked-example.i2cdump"), encoding: .utf8)
        #expect(try I2CDump(parsing: text) == I2CDump(parsing: Self.workedExampleDump))
    }
}
