import BME280
import HAL
import HALSimulation
import HALTesting
import SensorCore
import Testing

/// Scripted-transaction tests: the exact bytes `start()` and `sample()` put on the bus, and the
/// time they wait, against the datasheet (§5.4, Bosch forced-mode sequence). Register values are
/// transcribed here, not taken from the driver's map.
@Suite struct BME280Tests {
    static let calib88 = BME280CalibrationTests.calib88
    static let calibE1 = BME280CalibrationTests.calibE1
    static let data = BME280CalibrationTests.data

    /// `start()` of a BME280 at 0x76 with default options, status answering `statuses` after the reset.
    static func startScript(_ address: UInt8 = 0x76, statuses: [UInt8] = [0x00]) -> [ScriptedI2CBus.Expectation] {
        [.init(address, [.write([0xD0]), .read(count: 1)], returns: [[0x60]]),
         .init(address, [.write([0xE0, 0xB6])])]
        + statuses.map { .init(address, [.write([0xF3]), .read(count: 1)], returns: [[$0]]) }
        + [.init(address, [.write([0x88]), .read(count: 26)], returns: [calib88]),
           .init(address, [.write([0xE1]), .read(count: 7)], returns: [calibE1]),
           .init(address, [.write([0xF2, 0x01])]),        // ctrl_hum osrs_h ×1, before ctrl_meas
           .init(address, [.write([0xF5, 0x00])]),        // config: filter off, in sleep mode
           .init(address, [.write([0xF4, 0x24])])]        // ctrl_meas ×1 ×1 sleep
    }

    static func driver(_ bus: ScriptedI2CBus, clock: VirtualClock, address: UInt8 = 0x76,
                       variant: BME280Variant = .bme280, options: BME280Options = BME280Options()) -> BME280 {
        BME280(bus: bus, address: I2CAddress(address), clock: clock, variant: variant, options: options)
    }

    static func value(_ values: [ChannelValue], _ channel: Channel) -> Double? {
        values.first { $0.channel == channel }?.quantity.value
    }

    @Test func startIdentifiesResetsReadsCalibrationAndConfiguresInOrder() throws {
        let bus = ScriptedI2CBus(Self.startScript())
        let clock = VirtualClock()
        let sensor = Self.driver(bus, clock: clock)
        try sensor.start()
        #expect(clock.now == .milliseconds(2))  // the post-reset wait, through the clock
        #expect(sensor.calibration?.digT1 == 27504)
        #expect(bus.done().isEmpty)
    }

    @Test func sampleTriggersForcedModeWaitsPollsAndReadsOneBurst() throws {
        let bus = ScriptedI2CBus(Self.startScript() + [
            .init(0x76, [.write([0xF4, 0x25])]),                                   // ×1 ×1 forced
            .init(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x08]]),     // still measuring
            .init(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x76, [.write([0xF7]), .read(count: 8)], returns: [Self.data]),
        ])
        let clock = VirtualClock()
        let sensor = Self.driver(bus, clock: clock)
        try sensor.start()
        let values = try sensor.sample()
        // 2 ms reset + 9.3 ms maximum measurement time + one 1 ms poll interval.
        #expect(clock.now == .microseconds(2000 + 9300 + 1000))
        #expect(values.map(\.channel) == [.temperature, .humidity, .pressure])
        #expect(values.map(\.quantity.unit) == [.degreeCelsius, .percentRelativeHumidity, .pascal])
        #expect(Self.value(values, .temperature) == 25.08)
        #expect(abs((Self.value(values, .pressure) ?? 0) - 100_653.25) < 0.01)
        #expect(abs((Self.value(values, .humidity) ?? 0) - 48.752) < 0.001)
        #expect(bus.done().isEmpty)
    }

    @Test func resetWaitsForImUpdateAndGivesUpAfterFivePolls() {
        let bus = ScriptedI2CBus(Array(Self.startScript(statuses: [0x01, 0x01, 0x01, 0x01, 0x01]).prefix(7)))
        let clock = VirtualClock()
        let sensor = Self.driver(bus, clock: clock)
        #expect(throws: BME280Error.notReady(timeout: .milliseconds(10), waitingFor: .imUpdate)) {
            try sensor.start()
        }
        #expect(clock.now == .milliseconds(10))
        #expect(bus.done().isEmpty)
    }

    @Test func resetPollsUntilImUpdateClears() throws {
        let bus = ScriptedI2CBus(Self.startScript(statuses: [0x01, 0x09, 0x00]))
        let clock = VirtualClock()
        try Self.driver(bus, clock: clock).start()
        #expect(clock.now == .milliseconds(6))
        #expect(bus.done().isEmpty)
    }

    @Test func wrongChipIDStopsBeforeTheReset() {
        let bus = ScriptedI2CBus([.init(0x76, [.write([0xD0]), .read(count: 1)], returns: [[0x58]])])
        let sensor = Self.driver(bus, clock: VirtualClock())
        let error = #expect(throws: BME280Error.self) { try sensor.start() }
        #expect(error == .unexpectedChipID(expected: 0x60, actual: 0x58))
        #expect(error?.description.contains("expected 0x60") == true)
        #expect(error?.description.contains("read 0x58") == true)
        #expect(bus.done().isEmpty)
    }

    @Test func busErrorOnTheDataBurstIsWrappedWithItsKind() throws {
        let bus = ScriptedI2CBus(Self.startScript() + [
            .init(0x76, [.write([0xF4, 0x25])]),
            .init(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x76, [.write([0xF7]), .read(count: 8)], fails: .timeout),
        ])
        let sensor = Self.driver(bus, clock: VirtualClock())
        try sensor.start()
        let error = #expect(throws: BME280Error.self) { try sensor.sample() }
        #expect(error?.category == .bus)
        #expect(error?.busError?.kind == .timeout)
        #expect(error?.busError?.operation == "w[F7] r8")
        #expect(bus.done().isEmpty)
    }

    @Test func measuringThatNeverEndsIsNotReadyAfterTenPolls() throws {
        let polls = (0..<10).map { _ in ScriptedI2CBus.Expectation(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x08]]) }
        let bus = ScriptedI2CBus(Self.startScript() + [.init(0x76, [.write([0xF4, 0x25])])] + polls)
        let clock = VirtualClock()
        let sensor = Self.driver(bus, clock: clock)
        try sensor.start()
        #expect(throws: BME280Error.notReady(timeout: .microseconds(9300 + 9000), waitingFor: .measuring)) {
            try sensor.sample()
        }
        #expect(clock.now == .microseconds(2000 + 9300 + 9000))
        #expect(bus.done().isEmpty)
    }

    @Test func optionsAreEncodedIntoCtrlHumConfigAndCtrlMeas() throws {
        let options = BME280Options(temperatureOversampling: .x2, pressureOversampling: .x16,
                                    humidityOversampling: .x4, filter: .coefficient16)
        let bus = ScriptedI2CBus([
            .init(0x77, [.write([0xD0]), .read(count: 1)], returns: [[0x60]]),
            .init(0x77, [.write([0xE0, 0xB6])]),
            .init(0x77, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x77, [.write([0x88]), .read(count: 26)], returns: [Self.calib88]),
            .init(0x77, [.write([0xE1]), .read(count: 7)], returns: [Self.calibE1]),
            .init(0x77, [.write([0xF2, 0b011])]),                      // osrs_h ×4
            .init(0x77, [.write([0xF5, 0b100 << 2])]),                 // filter 16
            .init(0x77, [.write([0xF4, 0b010 << 5 | 0b101 << 2])]),    // osrs_t ×2, osrs_p ×16, sleep
            .init(0x77, [.write([0xF4, 0b010 << 5 | 0b101 << 2 | 0b01])]),  // forced
            .init(0x77, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x77, [.write([0xF7]), .read(count: 8)], returns: [Self.data]),
        ])
        let clock = VirtualClock()
        let sensor = Self.driver(bus, clock: clock, address: 0x77, options: options)
        try sensor.start()
        _ = try sensor.sample()
        // 1250 + 2300·2 + (2300·16 + 575) + (2300·4 + 575) µs after the 2 ms reset wait.
        #expect(clock.now == .microseconds(2000 + 1250 + 4600 + 37_375 + 9775))
        #expect(bus.done().isEmpty)
    }

    @Test func bmp280VariantHasNoHumidityRegisters() throws {
        let bus = ScriptedI2CBus([
            .init(0x76, [.write([0xD0]), .read(count: 1)], returns: [[0x58]]),
            .init(0x76, [.write([0xE0, 0xB6])]),
            .init(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x76, [.write([0x88]), .read(count: 26)], returns: [Self.calib88]),
            .init(0x76, [.write([0xF5, 0x00])]),
            .init(0x76, [.write([0xF4, 0x24])]),
            .init(0x76, [.write([0xF4, 0x25])]),
            .init(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x76, [.write([0xF7]), .read(count: 6)], returns: [Array(Self.data.prefix(6))]),
        ])
        let clock = VirtualClock()
        let sensor = Self.driver(bus, clock: clock, variant: .bmp280)
        #expect(sensor.chipName == "BMP280")
        #expect(sensor.channels == [.temperature, .pressure])
        try sensor.start()
        let values = try sensor.sample()
        #expect(values.map(\.channel) == [.temperature, .pressure])
        #expect(Self.value(values, .temperature) == 25.08)
        #expect(clock.now == .microseconds(2000 + 6425))
        #expect(bus.done().isEmpty)
    }

    @Test func skippedPressureDropsTheChannel() throws {
        let options = BME280Options(pressureOversampling: .skipped)
        var script = Self.startScript()
        script[script.count - 1] = .init(0x76, [.write([0xF4, 0x20])])
        let skippedData: [UInt8] = [0x80, 0x00, 0x00] + Self.data.dropFirst(3)
        script += [
            .init(0x76, [.write([0xF4, 0x21])]),
            .init(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x76, [.write([0xF7]), .read(count: 8)], returns: [skippedData]),
        ]
        let bus = ScriptedI2CBus(script)
        let sensor = Self.driver(bus, clock: VirtualClock(), options: options)
        #expect(sensor.channels == [.temperature, .humidity])
        try sensor.start()
        let values = try sensor.sample()
        #expect(values.map(\.channel) == [.temperature, .humidity])
        #expect(abs((Self.value(values, .humidity) ?? 0) - 48.752) < 0.001)
        #expect(bus.done().isEmpty)
    }

    @Test func skippedTemperatureIsRejectedBeforeAnyBusTraffic() {
        let bus = ScriptedI2CBus([])
        let sensor = Self.driver(bus, clock: VirtualClock(), options: BME280Options(temperatureOversampling: .skipped))
        let error = #expect(throws: BME280Error.self) { try sensor.start() }
        #expect(error?.category == .configuration)
        #expect(bus.done().isEmpty)
    }

    @Test func humidityMarkerAfterAChipResetIsAnErrorNotAValue() throws {
        let resetData: [UInt8] = Array(Self.data.prefix(6)) + [0x80, 0x00]
        let bus = ScriptedI2CBus(Self.startScript() + [
            .init(0x76, [.write([0xF4, 0x25])]),
            .init(0x76, [.write([0xF3]), .read(count: 1)], returns: [[0x00]]),
            .init(0x76, [.write([0xF7]), .read(count: 8)], returns: [resetData]),
        ])
        let sensor = Self.driver(bus, clock: VirtualClock())
        try sensor.start()
        #expect(throws: BME280Error.measurementSkipped(.humidity)) { try sensor.sample() }
        #expect(bus.done().isEmpty)
    }

    @Test func sampleBeforeStartTouchesNothing() {
        let bus = ScriptedI2CBus([])
        let sensor = Self.driver(bus, clock: VirtualClock())
        let error = #expect(throws: BME280Error.self) { try sensor.sample() }
        #expect(error?.category == .notCalibrated)
        #expect(bus.done().isEmpty)
    }

    @Test func blankCalibrationFailsStart() {
        var script = Array(Self.startScript().prefix(5))
        script[3] = .init(0x76, [.write([0x88]), .read(count: 26)], returns: [Array(repeating: 0xFF, count: 26)])
        let bus = ScriptedI2CBus(script)
        let sensor = Self.driver(bus, clock: VirtualClock())
        let error = #expect(throws: BME280Error.self) { try sensor.start() }
        #expect(error == .notCalibrated(reason: "0x88…0xA1 reads all 0xFF, expected factory trimming values"))
        #expect(bus.done().isEmpty)
    }

    @Test func identificationReadsTheIDRegister() throws {
        let bus = ScriptedI2CBus([
            .init(0x76, [.write([0xD0]), .read(count: 1)], returns: [[0x60]]),
            .init(0x77, [.write([0xD0]), .read(count: 1)], returns: [[0x58]]),
            .init(0x77, [.write([0xD0]), .read(count: 1)], returns: [[0x58]]),
        ])
        #expect(try BME280Identification.identify(bus: bus, address: I2CAddress(UInt8(0x76))))
        #expect(try BME280Identification.identify(bus: bus, address: I2CAddress(UInt8(0x77))) == false)
        #expect(try BME280Identification.variant(bus: bus, address: I2CAddress(UInt8(0x77))) == .bmp280)
        #expect(bus.done().isEmpty)
    }
}
