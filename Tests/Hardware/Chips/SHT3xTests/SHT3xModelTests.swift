import HAL
import HALSimulation
import SensorCore
import SHT3x
import SHT3xModel
import Testing

/// Test-only fault overlay: passes everything to the wrapped device but flips bit 0 of the third
/// byte of every read (the first word's CRC).
final class CorruptFirstCRC: SimulatedI2CDevice {
    let inner: any SimulatedI2CDevice
    init(_ inner: any SimulatedI2CDevice) { self.inner = inner }
    func write(_ bytes: [UInt8]) throws(I2CError) { try inner.write(bytes) }
    func read(count: Int) throws(I2CError) -> [UInt8] {
        var bytes = try inner.read(count: count)
        if bytes.count > 2 { bytes[2] ^= 0x01 }
        return bytes
    }
    func stop() { inner.stop() }
}

/// A register-file chip (think BMP-style): it ACKs anything, so an SHT3x driver meets a wrong chip.
final class RegisterChip: SimulatedI2CDevice, @unchecked Sendable {
    let registers = RegisterFile()
    func write(_ bytes: [UInt8]) throws(I2CError) { try registers.busWrite(bytes) }
    func read(count: Int) throws(I2CError) -> [UInt8] { registers.busRead(count: count) }
}

/// The driver against the model on a simulated bus, plus the model's bus face on its own.
@Suite struct SHT3xModelTests {
    let clock = VirtualClock()
    let bus = SimulatedI2CBus(name: "sim:i2c-1")
    let model: SHT3xModel
    let sensor: SHT3x
    let address: I2CAddress = I2CAddress(UInt8(0x44))

    init() {
        model = SHT3xModel(environment: Environment(clock: clock))
        bus.attach(model, at: address)
        sensor = SHT3x(bus: bus, address: address, clock: clock, variant: .sht35)
    }

    /// CRC-8 as the datasheet gives it (Table 20), transcribed for the tests.
    static func crc(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var c: UInt8 = 0xFF
        for byte in [a, b] {
            c ^= byte
            for _ in 0..<8 { c = c & 0x80 != 0 ? (c << 1) ^ 0x31 : c << 1 }
        }
        return c
    }

    func value(_ values: [ChannelValue], _ channel: Channel) -> Double? {
        values.first { $0.channel == channel }?.quantity.value
    }

    // MARK: Driver against model

    @Test(arguments: [(23.4, 45.6), (-40, 0), (125, 100), (0, 99.99), (-12.345, 12.345)])
    func readsBackWhatTheWorldIs(temperature: Double, humidity: Double) throws {
        try sensor.start()
        model.set(.temperature, temperature)
        model.set(.humidity, humidity)
        let values = try sensor.sample()
        let t = try #require(value(values, .temperature))
        let rh = try #require(value(values, .humidity))
        #expect(abs(t - temperature) <= model.resolution(of: .temperature))
        #expect(abs(rh - humidity) <= model.resolution(of: .humidity))
        #expect(values.count == sensor.channels.count)
    }

    @Test func startClearsTheResetFlag() throws {
        #expect(model.statusRegister == 0x8010)
        try sensor.start()
        #expect(model.statusRegister == 0x0000)
        #expect(try sensor.readStatus() == [])
    }

    @Test func wrongChipIsATypedError() {
        bus.detach(address)
        bus.attach(RegisterChip(), at: address)
        do {
            try sensor.start()
            Issue.record("start() should fail on a register chip")
        } catch {
            guard case .notIdentified(let reply, _) = error else {
                Issue.record("expected notIdentified, got \(error)")
                return
            }
            #expect(reply.count == 3)
            #expect(error.category == .wrongChip)
        }
        #expect((try? SHT3xIdentification.identify(bus: bus, address: address, clock: clock)) == false)
    }

    @Test func absentChipIsAnAddressNACK() {
        bus.detach(address)
        do {
            try sensor.start()
            Issue.record("start() should fail with no chip")
        } catch {
            #expect(error.category == .bus)
            #expect(error.busError?.kind == .noAcknowledge(.address))
            #expect(error.busError?.bus == "sim:i2c-1")
        }
        #expect((try? SHT3xIdentification.identify(bus: bus, address: address, clock: clock)) == false)
    }

    @Test func identifiesTheModelAndReadsItsSerialNumber() throws {
        #expect(try SHT3xIdentification.identify(bus: bus, address: address, clock: clock))
        #expect(try sensor.readSerialNumber() == model.serialNumber)
    }

    @Test func corruptedCRCIsACRCMismatchWithTheWordIndex() throws {
        try sensor.start()
        model.set(.temperature, 25.0)   // S_T = 0x6666, CRC 0x93; the overlay turns it into 0x92
        model.set(.humidity, 40.0)
        bus.detach(address)
        bus.attach(CorruptFirstCRC(model), at: address)
        #expect(throws: SHT3xError.crcMismatch(word: 0, expected: 0x93, actual: 0x92)) {
            try sensor.sample()
        }
    }

    @Test func selfTestPassesAgainstTheModelAndLeavesTheHeaterOff() throws {
        try sensor.start()
        model.set(.temperature, 21.0)
        let result = try sensor.selfTest()
        #expect(result.passed, "\(result.detail)")
        #expect(result.detail.contains("21.00 → 24.00 °C"))
        #expect(!model.isHeaterOn)
        #expect(model.statusRegister & 0x2000 == 0)
        // Without the heater the next reading is the world again.
        #expect(abs((value(try sensor.sample(), .temperature) ?? .nan) - 21.0) <= model.resolution(of: .temperature))
    }

    @Test func powerOnResetThenStartRecovers() throws {
        try sensor.start()
        try bus.write(address, [0x30, 0x6D])   // heater on
        try bus.write(address, [0x24, 0x00])   // a measurement in flight
        #expect(model.isHeaterOn)
        model.powerOnReset()
        #expect(!model.isHeaterOn)
        #expect(model.statusRegister == 0x8010)
        clock.advance(by: .milliseconds(20))
        // The pending measurement is gone: the read is NACKed, the driver reports not ready.
        #expect(throws: I2CError.self) { try bus.read(address, count: 6) }
        try sensor.start()
        model.set(.temperature, 30.0)
        #expect(abs((value(try sensor.sample(), .temperature) ?? .nan) - 30.0) <= model.resolution(of: .temperature))
    }

    @Test func unpluggedChipFailsThenRecoversAfterReplug() throws {
        try sensor.start()
        let chip = try #require(bus.detach(address))
        #expect(throws: SHT3xError.self) { try sensor.sample() }
        bus.attach(chip, at: address)
        try sensor.start()
        #expect(try sensor.sample().count == 2)
    }

    // MARK: Model bus face

    @Test(arguments: [([UInt8]([0x24, 0x00]), 15), ([0x24, 0x0B], 6), ([0x24, 0x16], 4)])
    func readBeforeConversionEndsIsNACKedOnAddress(command: [UInt8], milliseconds: Int) throws {
        try bus.write(address, command)
        clock.advance(by: .milliseconds(Int64(milliseconds - 1)))
        do {
            _ = try bus.read(address, count: 6)
            Issue.record("read should be NACKed while converting")
        } catch {
            #expect(error.kind == .noAcknowledge(.address))
        }
        clock.advance(by: .milliseconds(1))
        let bytes = try bus.read(address, count: 6)
        #expect(bytes.count == 6)
        #expect(bytes[2] == Self.crc(bytes[0], bytes[1]))
        #expect(bytes[5] == Self.crc(bytes[3], bytes[4]))
        // Consumed: a second read has nothing to send.
        #expect(throws: I2CError.self) { try bus.read(address, count: 6) }
    }

    @Test func readWithNothingPendingIsNACKedOnAddress() {
        do {
            _ = try bus.read(address, count: 3)
            Issue.record("read should be NACKed")
        } catch {
            #expect(error.kind == .noAcknowledge(.address))
        }
    }

    @Test func clockStretchingReadWaitsForTheResult() throws {
        model.set(.temperature, 25.0)
        model.set(.humidity, 40.0)
        try bus.write(address, [0x2C, 0x06])
        let bytes = try bus.read(address, count: 6)
        #expect(bytes == [0x66, 0x66, 0x93, 0x66, 0x66, 0x93])
        #expect(clock.now == .milliseconds(15))
    }

    @Test func unknownCommandIsNACKedOnDataAndFlagged() throws {
        do {
            try bus.write(address, [0x12, 0x34])
            Issue.record("unknown command should be NACKed")
        } catch {
            #expect(error.kind == .noAcknowledge(.data))
        }
        #expect(model.statusRegister & 0x0002 != 0)
        #expect(try sensor.readStatus().contains(.commandNotProcessed))
    }

    @Test func softResetSetsTheResetFlagAndStopsTheHeater() throws {
        try bus.write(address, [0x30, 0x41])   // clear status
        try bus.write(address, [0x30, 0x6D])   // heater on
        #expect(model.statusRegister == 0x2000)
        try bus.write(address, [0x30, 0xA2])   // soft reset
        #expect(model.statusRegister == 0x8010)
    }

    @Test func alertLimitWriteChecksItsCRC() throws {
        // Default high-set limit 60 °C / 80 %RH: (S_RH 0xCCCC & 0xFE00) | (S_T 0x9999 >> 7) = 0xCD33.
        let defaultLimit: [UInt8] = [0xCD, 0x33, Self.crc(0xCD, 0x33)]
        #expect(try bus.writeRead(address, [0xE1, 0x1F], count: 3) == defaultLimit)
        // Wrong CRC: status bit 0, limit unchanged.
        let limit: [UInt8] = [0x12, 0x34]
        try bus.write(address, [0x61, 0x1D] + limit + [Self.crc(0x12, 0x34) ^ 0xFF])
        #expect(model.statusRegister & 0x0001 != 0)
        #expect(try bus.writeRead(address, [0xE1, 0x1F], count: 3) == defaultLimit)
        // Right CRC: stored, bit 0 cleared, read back with its CRC.
        try bus.write(address, [0x61, 0x1D] + limit + [Self.crc(0x12, 0x34)])
        #expect(model.statusRegister & 0x0001 == 0)
        #expect(try bus.writeRead(address, [0xE1, 0x1F], count: 3) == limit + [Self.crc(0x12, 0x34)])
    }

    @Test func periodicModeFetchesEachResultOnce() throws {
        model.set(.temperature, 25.0)
        model.set(.humidity, 40.0)
        try bus.write(address, [0x21, 0x30])   // 1 mps, high repeatability
        try bus.write(address, [0xE0, 0x00])   // fetch: nothing yet
        #expect(throws: I2CError.self) { try bus.read(address, count: 6) }
        clock.advance(by: .milliseconds(15))
        try bus.write(address, [0xE0, 0x00])
        #expect(try bus.read(address, count: 6) == [0x66, 0x66, 0x93, 0x66, 0x66, 0x93])
        try bus.write(address, [0xE0, 0x00])   // already fetched
        #expect(throws: I2CError.self) { try bus.read(address, count: 6) }
        try bus.write(address, [0x30, 0x93])   // break
        clock.advance(by: .seconds(5))
        try bus.write(address, [0xE0, 0x00])
        #expect(throws: I2CError.self) { try bus.read(address, count: 6) }
    }

    @Test func heaterRaisesTheModelTemperatureLinearlyOverOneSecond() throws {
        model.set(.temperature, 20.0)
        try bus.write(address, [0x30, 0x6D])
        clock.advance(by: .milliseconds(485))   // conversion ends at 0.5 s: half warmed
        try bus.write(address, [0x2C, 0x06])
        let half = try bus.read(address, count: 3)
        let halfT = -45 + 175 * Double(UInt16(half[0]) << 8 | UInt16(half[1])) / 65535
        #expect(abs(halfT - 21.5) <= model.resolution(of: .temperature))
    }

    @Test func rangesAndResolutionsAreTheDatasheetOnes() {
        #expect(model.physicalChannels == [.temperature, .humidity])
        #expect(model.range(of: .temperature) == -40...125)
        #expect(model.range(of: .humidity) == 0...100)
        #expect(abs(model.resolution(of: .temperature) - 175.0 / 65535) < 1e-6)
        #expect(abs(model.resolution(of: .humidity) - 100.0 / 65535) < 1e-6)
    }
}
