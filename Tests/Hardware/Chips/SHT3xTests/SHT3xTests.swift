import HAL
import HALSimulation
import HALTesting
import SensorCore
import SHT3x
import Testing

/// Scripted-transaction tests: the exact bytes the driver sends and reads, and what it makes of
/// errors attached to a step. Byte values are transcribed from the datasheet;
/// CRCs were computed with the reference C routine (0x8010 → E1, 0x0000 → 81, 0x2000 → 5D,
/// 0x6666 → 93, 0x6AC9 → F5, 0x66FC → 71, 0x1A2B → 6D, 0x3C4D → F6).
@Suite struct SHT3xTests {
    typealias Step = ScriptedI2CBus.Expectation

    // The wire sequences, one place each.
    static let softReset = Step(0x44, [.write([0x30, 0xA2])])
    static let statusCommand = Step(0x44, [.write([0xF3, 0x2D])])
    static func statusReply(_ bytes: [UInt8]) -> Step { Step(0x44, [.read(count: 3)], returns: [bytes]) }
    static let clearStatus = Step(0x44, [.write([0x30, 0x41])])
    static let measure = Step(0x44, [.write([0x24, 0x00])])
    static func measurement(_ bytes: [UInt8]) -> Step { Step(0x44, [.read(count: 6)], returns: [bytes]) }
    static let busy = Step(0x44, [.read(count: 6)], fails: .noAcknowledge(.address))
    static let heaterOn = Step(0x44, [.write([0x30, 0x6D])])
    static let heaterOff = Step(0x44, [.write([0x30, 0x66])])

    static let startScript = [softReset, statusCommand, statusReply([0x80, 0x10, 0xE1]), clearStatus]

    func driver(_ bus: ScriptedI2CBus, _ clock: VirtualClock) -> SHT3x {
        SHT3x(bus: bus, address: I2CAddress(0x44), clock: clock)
    }

    @Test func startResetsIdentifiesAndClearsStatus() throws {
        let bus = ScriptedI2CBus(Self.startScript)
        let clock = VirtualClock()
        try driver(bus, clock).start()
        // 2 ms after the reset (t_SR ≤ 1.5 ms), 1 ms before reading the status, 1 ms after clearing.
        #expect(clock.now == .milliseconds(4))
        #expect(bus.done().isEmpty)
    }

    @Test func startWithBadStatusCRCIsNotIdentified() {
        let bus = ScriptedI2CBus([Self.softReset, Self.statusCommand, Self.statusReply([0x00, 0x00, 0x00])])
        #expect(throws: SHT3xError.notIdentified(reply: [0x00, 0x00, 0x00], expectedCRC: 0x81)) {
            try driver(bus, VirtualClock()).start()
        }
        #expect(bus.done().isEmpty)
    }

    @Test func startWithResetRefusedIsABusError() {
        let bus = ScriptedI2CBus([Step(0x44, [.write([0x30, 0xA2])], fails: .noAcknowledge(.data))])
        do {
            try driver(bus, VirtualClock()).start()
            Issue.record("start() should fail")
        } catch {
            #expect(error.busError?.kind == .noAcknowledge(.data))
            #expect(error.category == .bus)
        }
        #expect(bus.done().isEmpty)
    }

    @Test func sampleReadsSixBytesAfter15ms() throws {
        let bus = ScriptedI2CBus([Self.measure, Self.measurement([0x66, 0x66, 0x93, 0x66, 0x66, 0x93])])
        let clock = VirtualClock()
        let values = try driver(bus, clock).sample()
        #expect(values.map(\.channel) == [.temperature, .humidity])
        #expect(values.map(\.quantity.unit) == [.degreeCelsius, .percentRelativeHumidity])
        #expect(abs(values[0].quantity.value - 25.0) < 1e-9)
        #expect(abs(values[1].quantity.value - 40.0) < 1e-9)
        #expect(clock.now == .milliseconds(15))
        #expect(bus.done().isEmpty)
    }

    @Test func sampleRetriesWhileTheChipIsBusy() throws {
        let bus = ScriptedI2CBus([Self.measure, Self.busy, Self.busy,
                                  Self.measurement([0x66, 0x66, 0x93, 0x66, 0x66, 0x93])])
        let clock = VirtualClock()
        let values = try driver(bus, clock).sample()
        #expect(abs(values[0].quantity.value - 25.0) < 1e-9)
        #expect(clock.now == .milliseconds(17))
        #expect(bus.done().isEmpty)
    }

    @Test func sampleGivesUpAfterBoundedRetries() {
        // One read after 15 ms, then 10 retries 1 ms apart: 11 NACKed reads, 25 ms in all.
        let bus = ScriptedI2CBus([Self.measure] + Array(repeating: Self.busy, count: 11))
        let clock = VirtualClock()
        #expect(throws: SHT3xError.notReady(timeout: .milliseconds(25))) {
            try driver(bus, clock).sample()
        }
        #expect(clock.now == .milliseconds(25))
        #expect(bus.done().isEmpty)
    }

    @Test func sampleWithCorruptHumidityCRCThrowsAndReturnsNothing() {
        let bus = ScriptedI2CBus([Self.measure, Self.measurement([0x66, 0x66, 0x93, 0x66, 0x66, 0x92])])
        #expect(throws: SHT3xError.crcMismatch(word: 1, expected: 0x93, actual: 0x92)) {
            try driver(bus, VirtualClock()).sample()
        }
        #expect(bus.done().isEmpty)
    }

    @Test func sampleCommandNACKedOnAddressIsABusErrorWithoutRetries() {
        let bus = ScriptedI2CBus([Step(0x44, [.write([0x24, 0x00])], fails: .noAcknowledge(.address))])
        do {
            _ = try driver(bus, VirtualClock()).sample()
            Issue.record("sample() should fail")
        } catch {
            #expect(error.busError?.kind == .noAcknowledge(.address))
            #expect(error.busError?.operation == "w[24 00]")
        }
        #expect(bus.done().isEmpty)
    }

    @Test func otherReadErrorsAreNotRetried() {
        let bus = ScriptedI2CBus([Self.measure, Step(0x44, [.read(count: 6)], fails: .arbitrationLost)])
        do {
            _ = try driver(bus, VirtualClock()).sample()
            Issue.record("sample() should fail")
        } catch {
            #expect(error.busError?.kind == .arbitrationLost)
        }
        #expect(bus.done().isEmpty)
    }

    @Test func selfTestPassesWhenHeaterBitSetAndTemperatureRises() throws {
        let bus = ScriptedI2CBus([
            Self.measure, Self.measurement([0x66, 0x66, 0x93, 0x66, 0x66, 0x93]),  // 25.00 °C
            Self.heaterOn,
            Self.measure, Self.measurement([0x6A, 0xC9, 0xF5, 0x66, 0x66, 0x93]),  // 28.00 °C
            Self.statusCommand, Self.statusReply([0x20, 0x00, 0x5D]),              // heater on
            Self.heaterOff,
        ])
        let clock = VirtualClock()
        let result = try driver(bus, clock).selfTest()
        #expect(result.passed, "\(result.detail)")
        #expect(result.detail.contains("25.00 → 28.00 °C"))
        #expect(result.detail.contains("rise 3.00 °C"))
        // 15 ms + 1 ms + 3 s of heating + 15 ms + 1 ms + 1 ms.
        #expect(clock.now == .seconds(3) + .milliseconds(33))
        #expect(bus.done().isEmpty)
    }

    @Test func selfTestFailsOnTooSmallARise() throws {
        let bus = ScriptedI2CBus([
            Self.measure, Self.measurement([0x66, 0x66, 0x93, 0x66, 0x66, 0x93]),  // 25.00 °C
            Self.heaterOn,
            Self.measure, Self.measurement([0x66, 0xFC, 0x71, 0x66, 0x66, 0x93]),  // 25.40 °C
            Self.statusCommand, Self.statusReply([0x20, 0x00, 0x5D]),
            Self.heaterOff,
        ])
        let result = try driver(bus, VirtualClock()).selfTest()
        #expect(!result.passed)
        #expect(result.detail.contains("rise 0.40 °C, need ≥ 0.50 °C"))
        #expect(bus.done().isEmpty)
    }

    @Test func selfTestFailsWhenTheHeaterBitStaysClear() throws {
        let bus = ScriptedI2CBus([
            Self.measure, Self.measurement([0x66, 0x66, 0x93, 0x66, 0x66, 0x93]),
            Self.heaterOn,
            Self.measure, Self.measurement([0x6A, 0xC9, 0xF5, 0x66, 0x66, 0x93]),
            Self.statusCommand, Self.statusReply([0x00, 0x00, 0x81]),
            Self.heaterOff,
        ])
        let result = try driver(bus, VirtualClock()).selfTest()
        #expect(!result.passed)
        #expect(result.detail.contains("heater bit NOT set"))
        #expect(bus.done().isEmpty)
    }

    @Test func selfTestSwitchesTheHeaterOffEvenWhenAStepFails() {
        let bus = ScriptedI2CBus([
            Self.measure, Self.measurement([0x66, 0x66, 0x93, 0x66, 0x66, 0x93]),
            Self.heaterOn,
            Self.measure, Step(0x44, [.read(count: 6)], fails: .bus),
            Self.heaterOff,
        ])
        do {
            _ = try driver(bus, VirtualClock()).selfTest()
            Issue.record("selfTest() should throw")
        } catch {
            #expect(error.busError?.kind == .bus)
        }
        #expect(bus.done().isEmpty)
    }

    @Test func serialNumberIsTwoCRCCheckedWords() throws {
        let bus = ScriptedI2CBus([
            Step(0x44, [.write([0x37, 0x80])]),
            Step(0x44, [.read(count: 6)], returns: [[0x1A, 0x2B, 0x6D, 0x3C, 0x4D, 0xF6]]),
            Step(0x44, [.write([0x37, 0x80])]),
            Step(0x44, [.read(count: 6)], returns: [[0x1A, 0x2B, 0x6D, 0x3C, 0x4D, 0xF7]]),
        ])
        let sensor = driver(bus, VirtualClock())
        #expect(try sensor.readSerialNumber() == 0x1A2B_3C4D)
        #expect(throws: SHT3xError.crcMismatch(word: 1, expected: 0xF6, actual: 0xF7)) {
            try sensor.readSerialNumber()
        }
        #expect(bus.done().isEmpty)
    }

    @Test func identificationIsAStatusReadWithAValidCRC() throws {
        let bus = ScriptedI2CBus([
            Self.statusCommand, Self.statusReply([0x80, 0x10, 0xE1]),
            Self.statusCommand, Self.statusReply([0xFF, 0xFF, 0xFF]),
            Step(0x44, [.write([0xF3, 0x2D])], fails: .noAcknowledge(.data)),
            Step(0x44, [.write([0xF3, 0x2D])], fails: .timeout),
        ])
        let clock = VirtualClock()
        let address: I2CAddress = I2CAddress(UInt8(0x44))
        #expect(try SHT3xIdentification.identify(bus: bus, address: address, clock: clock))
        #expect(try SHT3xIdentification.identify(bus: bus, address: address, clock: clock) == false)
        #expect(try SHT3xIdentification.identify(bus: bus, address: address, clock: clock) == false)
        #expect(throws: I2CError.self) { try SHT3xIdentification.identify(bus: bus, address: address, clock: clock) }
        #expect(bus.done().isEmpty)
    }
}
