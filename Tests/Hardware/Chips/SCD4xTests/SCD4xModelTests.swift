import HAL
import HALSimulation
import SCD4x
import SCD4xModel
import SensorCore
import Testing

/// A chip that ACKs every write and reads back 0x00: an SCD4x driver meets a wrong chip at 0x62.
final class AcknowledgingChip: SimulatedI2CDevice {
    func write(_ bytes: [UInt8]) throws(I2CError) {}
    func read(count: Int) throws(I2CError) -> [UInt8] { Array(repeating: 0, count: count) }
}

/// The model's bus face on its own (raw bytes on a simulated bus), and the driver against it.
@Suite struct SCD4xModelTests {
    let clock = VirtualClock()
    let bus = SimulatedI2CBus(name: "sim:i2c-1")
    let address = I2CAddress(UInt8(0x62))

    /// CRC-8 as the datasheet gives it, transcribed for the tests.
    static func crc(_ word: UInt16) -> UInt8 {
        var c: UInt8 = 0xFF
        for byte in [UInt8(word >> 8), UInt8(word & 0xFF)] {
            c ^= byte
            for _ in 0..<8 { c = c & 0x80 != 0 ? (c << 1) ^ 0x31 : c << 1 }
        }
        return c
    }

    func model(_ variant: SCD4xModel.Variant = .scd41) -> SCD4xModel {
        let model = SCD4xModel(environment: Environment(clock: clock), variant: variant)
        bus.attach(model, at: address)
        return model
    }

    func driver(_ variant: SCD4xVariant = .scd41) -> SCD4x {
        SCD4x(bus: bus, address: address, clock: clock, variant: variant)
    }

    func command(_ code: UInt16, word: UInt16? = nil) throws(I2CError) {
        var bytes = [UInt8(code >> 8), UInt8(code & 0xFF)]
        if let word { bytes += [UInt8(word >> 8), UInt8(word & 0xFF), Self.crc(word)] }
        try bus.write(address, bytes)
    }

    /// Reads `words` words after the command's execution time, checking each CRC.
    func readWords(_ words: Int) throws -> [UInt16] {
        let bytes = try bus.read(address, count: words * 3)
        return try (0..<words).map { index in
            let word = UInt16(bytes[index * 3]) << 8 | UInt16(bytes[index * 3 + 1])
            try #require(bytes[index * 3 + 2] == Self.crc(word), "CRC of word \(index)")
            return word
        }
    }

    func dataReadyStatus() throws -> UInt16 {
        try command(0xE4B8)
        clock.advance(by: .milliseconds(1))
        return try readWords(1)[0]
    }

    func nackKind(_ body: () throws(I2CError) -> Void) -> I2CError.Kind? {
        do throws(I2CError) {
            try body()
            return nil
        } catch {
            return error.kind
        }
    }

    // MARK: Bus face

    @Test func onlyFourCommandsAreAcceptedWhileMeasuring() throws {
        _ = model()
        try command(0x21B1)   // start_periodic_measurement
        // Idle-only commands are refused on the data byte.
        for code: UInt16 in [0x3682, 0x2313, 0x2318, 0x2322, 0x3639, 0x3615, 0x3646, 0x21B1, 0x21AC, 0x219D] {
            #expect(nackKind { () throws(I2CError) in try command(code) } == .noAcknowledge(.data), "0x\(String(code, radix: 16))")
        }
        #expect(nackKind { () throws(I2CError) in try command(0x2416, word: 0) } == .noAcknowledge(.data))
        // The four legal ones are taken.
        #expect(try dataReadyStatus() == 0x8000)
        try command(0xE000, word: 987)   // set_ambient_pressure
        clock.advance(by: .milliseconds(1))
        try command(0xEC05)              // read_measurement: accepted, nothing to read yet
        clock.advance(by: .milliseconds(1))
        #expect(nackKind { () throws(I2CError) in _ = try bus.read(address, count: 9) } == .noAcknowledge(.address))
        try command(0x3F86)              // stop_periodic_measurement
        clock.advance(by: .milliseconds(500))
        try command(0x3682)              // now idle: get_serial_number works
        clock.advance(by: .milliseconds(1))
        #expect(try readWords(3) == [0xF896, 0x9F07, 0x3BBE])
    }

    @Test func executionTimesAreHonoured() throws {
        _ = model()
        try command(0x3F86)
        clock.advance(by: .milliseconds(499))
        #expect(nackKind { () throws(I2CError) in try command(0x3682) } == .noAcknowledge(.address), "stop takes 500 ms")
        clock.advance(by: .milliseconds(1))
        try command(0x3682)
        #expect(nackKind { () throws(I2CError) in _ = try bus.read(address, count: 9) } == .noAcknowledge(.address),
                "the read header comes too early")
        clock.advance(by: .milliseconds(1))
        #expect(try readWords(3) == [0xF896, 0x9F07, 0x3BBE])
        // A reply is read once.
        #expect(nackKind { () throws(I2CError) in _ = try bus.read(address, count: 9) } == .noAcknowledge(.address))

        try command(0x3639)   // perform_self_test: 10 s
        clock.advance(by: .milliseconds(9999))
        #expect(nackKind { () throws(I2CError) in _ = try bus.read(address, count: 3) } == .noAcknowledge(.address))
        clock.advance(by: .milliseconds(1))
        #expect(try readWords(1) == [0x0000])
    }

    @Test func badDataCRCsAndUnknownCommandsAreRefused() throws {
        let model = model()
        #expect(nackKind { () throws(I2CError) in try bus.write(address, [0x24, 0x16, 0x00, 0x00, 0x80]) } == .noAcknowledge(.data))
        #expect(model.automaticSelfCalibration, "a word with a bad CRC changes nothing")
        #expect(nackKind { () throws(I2CError) in try command(0x1234) } == .noAcknowledge(.data))
        #expect(nackKind { () throws(I2CError) in try command(0x3682, word: 1) } == .noAcknowledge(.data))
        // A quick-write probe is ACKed.
        #expect(try bus.probe(address))
    }

    @Test func dataReadyFollowsTheFiveSecondScheduleAndReadingClearsIt() throws {
        let model = model()
        model.set(.co2, 812)
        try command(0x21B1)
        #expect(model.isMeasuring)
        clock.advance(by: .milliseconds(4999))
        #expect(try dataReadyStatus() == 0x8000, "4.999 s after the start")
        #expect(try dataReadyStatus() == 0x8006, "5 s after the start")
        try command(0xEC05)
        clock.advance(by: .milliseconds(1))
        #expect(try readWords(3)[0] == 812)
        #expect(try dataReadyStatus() == 0x8000, "read_measurement cleared it")
        clock.advance(by: .milliseconds(4997))
        #expect(try dataReadyStatus() == 0x8006, "10 s after the start")
        // An unread result is replaced by the next one.
        model.set(.co2, 900)
        clock.advance(by: .seconds(5))
        try command(0xEC05)
        clock.advance(by: .milliseconds(1))
        #expect(try readWords(3)[0] == 900)
    }

    @Test func lowPowerModeMeasuresEveryThirtySeconds() throws {
        _ = model()
        try command(0x21AC)
        clock.advance(by: .milliseconds(29_999))
        #expect(try dataReadyStatus() == 0x8000)
        #expect(try dataReadyStatus() == 0x8006)
        // Low power counts as measuring: idle-only commands are refused.
        #expect(nackKind { () throws(I2CError) in try command(0x3682) } == .noAcknowledge(.data))
    }

    @Test func singleShotExistsOnTheSCD41Only() throws {
        let scd40 = model(.scd40)
        scd40.set(.co2, 600)
        #expect(nackKind { () throws(I2CError) in try command(0x219D) } == .noAcknowledge(.data))
        #expect(nackKind { () throws(I2CError) in try command(0x2196) } == .noAcknowledge(.data))
        #expect(throws: SCD4xError.self) { try driver(.scd41).measureSingleShot() }

        let scd41 = model(.scd41)
        scd41.set(.co2, 600)
        try command(0x219D)
        clock.advance(by: .milliseconds(4999))
        #expect(nackKind { () throws(I2CError) in try command(0xE4B8) } == .noAcknowledge(.address), "busy for 5 s")
        clock.advance(by: .milliseconds(1))
        #expect(try dataReadyStatus() == 0x8006)
        #expect(!scd41.isMeasuring)
    }

    @Test func settingsPersistAcrossReinitAndPowerCycles() throws {
        let model = model()
        try command(0x2416, word: 0)
        clock.advance(by: .milliseconds(1))
        #expect(!model.automaticSelfCalibration)
        try command(0x3646)   // reinit: back to the EEPROM's "on"
        clock.advance(by: .milliseconds(20))
        #expect(model.automaticSelfCalibration)
        try command(0x2416, word: 0)
        clock.advance(by: .milliseconds(1))
        try command(0x3615)   // persist_settings: 800 ms
        clock.advance(by: .milliseconds(800))
        try command(0x2416, word: 1)
        clock.advance(by: .milliseconds(1))
        model.powerOnReset()
        #expect(!model.automaticSelfCalibration)
        #expect(nackKind { () throws(I2CError) in try command(0x2313) } == .noAcknowledge(.address), "1 s to power up")
        clock.advance(by: .seconds(1))
        try command(0x2318)   // temperature offset: the factory 4 °C is word 1498
        clock.advance(by: .milliseconds(1))
        #expect(try readWords(1) == [1498])
    }

    // MARK: Driver against model

    @Test(arguments: [(420.0, 21.3, 47.0), (0, -10, 0), (40_000, 60, 100), (2_345.4, 0.004, 99.99), (5_000, -4.56, 12.345)])
    func readsBackWhatTheWorldIs(co2: Double, temperature: Double, humidity: Double) throws {
        let model = model()
        let sensor = driver()
        try sensor.start()
        model.set(.co2, co2)
        model.set(.temperature, temperature)
        model.set(.humidity, humidity)
        let values = try sensor.sample()
        #expect(values.map(\.channel) == sensor.channels)
        for (channel, expected) in [(Channel.co2, co2), (.temperature, temperature), (.humidity, humidity)] {
            let read = try #require(values.first { $0.channel == channel }).quantity.value
            #expect(abs(read - expected) <= model.resolution(of: channel), "\(channel): set \(expected), read \(read)")
        }
    }

    @Test func eachSampleIsTheWorldAtItsMeasurementInstant() throws {
        let model = model()
        // CO2 climbs 10 ppm a second from 400 ppm at t = 0.
        model.environment.attach(.co2) { t in 400 + 10 * t.seconds }
        let sensor = driver()
        try sensor.start()   // periodic from 0.501 s: results at 5.501 s, 10.501 s, …
        var seen: [Double] = []
        for _ in 0..<3 { seen.append(try #require(sensor.sample().first).quantity.value) }
        #expect(seen == [455, 505, 555])
        #expect(clock.now < .seconds(16), "no interval skipped")
    }

    @Test func selfTestAndDetailsThroughTheModel() throws {
        let model = model()
        let sensor = driver()
        try sensor.start()
        #expect(try sensor.selfTest().passed)
        #expect(model.isMeasuring, "measurement restarted after the test")
        model.selfTestResult = 0x0012
        let failed = try sensor.selfTest()
        #expect(!failed.passed)
        #expect(failed.detail.contains("0x0012"))
        #expect(try sensor.readSerialNumber() == model.serialNumber)
        #expect(try sensor.readAutomaticSelfCalibrationEnabled())
        try sensor.setAmbientPressure(pascals: 95_000)   // accepted while measuring
        #expect(model.isMeasuring)
        model.set(.co2, 700)
        #expect(try sensor.sample().first?.quantity.value == 700)
    }

    @Test func singleShotThroughTheModel() throws {
        let model = model()
        model.set(.co2, 1234)
        model.set(.temperature, 19.5)
        model.set(.humidity, 55)
        let sensor = driver()
        try sensor.start()
        let shot = try sensor.measureSingleShot()
        #expect(shot.map(\.quantity.value).first == 1234)
        #expect(!model.isMeasuring)
        let rht = try sensor.measureSingleShot(rhtOnly: true)
        #expect(rht.map(\.channel) == [.temperature, .humidity])
        #expect(abs(rht[0].quantity.value - 19.5) <= model.resolution(of: .temperature))
        // An SCD41 driver on an SCD40 chip: the chip refuses the command.
        bus.detach(address)
        _ = self.model(.scd40)
        do {
            _ = try sensor.measureSingleShot()
            Issue.record("an SCD40 has no single shot")
        } catch {
            #expect(error.busError?.kind == .noAcknowledge(.data))
        }
    }

    @Test func aPowerCycleIsNotReadyThenStartRecovers() throws {
        let model = model()
        model.set(.co2, 650)
        let sensor = driver()
        try sensor.start()
        _ = try sensor.sample()
        model.powerOnReset()   // the chip comes back idle
        clock.advance(by: .seconds(1))
        #expect(throws: SCD4xError.notReady(timeout: .milliseconds(6001))) { try sensor.sample() }
        try sensor.start()
        #expect(try sensor.sample().first?.quantity.value == 650)
    }

    @Test func identificationAgainstTheModelAWrongChipAndNoChip() throws {
        _ = model()
        #expect(try SCD4xIdentification.identify(bus: bus, address: address, clock: clock))
        bus.detach(address)
        #expect(try SCD4xIdentification.identify(bus: bus, address: address, clock: clock) == false)
        bus.attach(AcknowledgingChip(), at: address)
        #expect(try SCD4xIdentification.identify(bus: bus, address: address, clock: clock) == false)
        do {
            try driver().start()
            Issue.record("start() should not accept a chip that answers zeros")
        } catch {
            #expect(error.category == .wrongChip)
        }
    }
}
