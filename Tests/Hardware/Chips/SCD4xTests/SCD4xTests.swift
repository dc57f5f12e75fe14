import HAL
import HALSimulation
import HALTesting
import SCD4x
import SensorCore
import Testing

/// Scripted-transaction tests: the exact bytes the driver sends and reads, in order, and what it
/// makes of errors attached to a step. Command bytes are transcribed from the datasheet's Table 9;
/// CRCs were computed with the datasheet's CRC routine (0x8000 → A2, 0x8006 → 04, 0x0000 → 81,
/// 0x0001 → B0, 0x0012 → A0, 0x01F4 → 33, 0x6667 → A2, 0x5EB9 → 3C, 0x03DB → 42).
@Suite struct SCD4xTests {
    typealias Step = ScriptedI2CBus.Expectation

    // The wire sequences, one place each.
    static let stop = Step(0x62, [.write([0x3F, 0x86])])
    static let serialCommand = Step(0x62, [.write([0x36, 0x82])])
    static func serialReply(_ bytes: [UInt8]) -> Step { Step(0x62, [.read(count: 9)], returns: [bytes]) }
    /// The datasheet's example serial number 0xF8969F073BBE.
    static let exampleSerial: [UInt8] = [0xF8, 0x96, 0x31, 0x9F, 0x07, 0xC2, 0x3B, 0xBE, 0x89]
    static let startPeriodic = Step(0x62, [.write([0x21, 0xB1])])
    static let dataReadyCommand = Step(0x62, [.write([0xE4, 0xB8])])
    static let notReady = Step(0x62, [.read(count: 3)], returns: [[0x80, 0x00, 0xA2]])
    static let ready = Step(0x62, [.read(count: 3)], returns: [[0x80, 0x06, 0x04]])
    static let readMeasurement = Step(0x62, [.write([0xEC, 0x05])])
    /// 500 ppm, 25.003 °C, 37.002 %RH.
    static let measurement = Step(0x62, [.read(count: 9)],
                                  returns: [[0x01, 0xF4, 0x33, 0x66, 0x67, 0xA2, 0x5E, 0xB9, 0x3C]])
    static let selfTestCommand = Step(0x62, [.write([0x36, 0x39])])

    static let startScript = [stop, serialCommand, serialReply(exampleSerial), startPeriodic]
    /// start() takes 500 ms (stop) + 1 ms (serial number).
    static let startedAt = Duration.milliseconds(501)

    func driver(_ bus: ScriptedI2CBus, _ clock: VirtualClock, variant: SCD4xVariant = .scd41) -> SCD4x {
        SCD4x(bus: bus, address: I2CAddress(UInt8(0x62)), clock: clock, variant: variant)
    }

    func expectExample(_ values: [ChannelValue]) {
        #expect(values.map(\.channel) == [.co2, .temperature, .humidity])
        #expect(values.map(\.quantity.unit) == [.partsPerMillion, .degreeCelsius, .percentRelativeHumidity])
        #expect(values.first?.quantity.value == 500)
        #expect(abs((values.dropFirst().first?.quantity.value ?? 0) - 25.00267) < 1e-5)
        #expect(abs((values.last?.quantity.value ?? 0) - 37.00160) < 1e-5)
    }

    // MARK: start

    @Test func startStopsIdentifiesAndStartsPeriodicMeasurement() throws {
        let bus = ScriptedI2CBus(Self.startScript)
        let clock = VirtualClock()
        try driver(bus, clock).start()
        #expect(clock.now == Self.startedAt)
        #expect(bus.done().isEmpty)
    }

    @Test func startWithABadSerialCRCIsNotIdentified() {
        let reply: [UInt8] = [0xF8, 0x96, 0x31, 0x9F, 0x07, 0x00, 0x3B, 0xBE, 0x89]
        let bus = ScriptedI2CBus([Self.stop, Self.serialCommand, Self.serialReply(reply)])
        #expect(throws: SCD4xError.notIdentified(reply: reply, word: 1, expectedCRC: 0xC2)) {
            try driver(bus, VirtualClock()).start()
        }
        #expect(bus.done().isEmpty)
    }

    @Test func startWithNoChipIsABusError() {
        let bus = ScriptedI2CBus([Step(0x62, [.write([0x3F, 0x86])], fails: .noAcknowledge(.address))])
        do {
            try driver(bus, VirtualClock()).start()
            Issue.record("start() should fail")
        } catch {
            #expect(error.category == .bus)
            #expect(error.busError?.kind == .noAcknowledge(.address))
            #expect(error.busError?.operation == "w[3F 86]")
        }
        #expect(bus.done().isEmpty)
    }

    // MARK: sample

    @Test func sampleReadsABufferedResultAtOnce() throws {
        let bus = ScriptedI2CBus(Self.startScript + [Self.dataReadyCommand, Self.ready, Self.readMeasurement, Self.measurement])
        let clock = VirtualClock()
        let sensor = driver(bus, clock)
        try sensor.start()
        clock.advance(by: .seconds(7))
        expectExample(try sensor.sample())
        #expect(clock.now == Self.startedAt + .seconds(7) + .milliseconds(2))
        #expect(bus.done().isEmpty)
    }

    @Test func sampleSleepsUntilTheNextMeasurementIsDue() throws {
        let bus = ScriptedI2CBus(Self.startScript + [
            Self.dataReadyCommand, Self.notReady,        // at 0.502 s: the first result comes at 5.501 s
            Self.dataReadyCommand, Self.ready,           // asked at 5.501 s
            Self.readMeasurement, Self.measurement,
            Self.dataReadyCommand, Self.notReady,        // at 5.504 s: next due 5 s after ready was seen
            Self.dataReadyCommand, Self.ready,           // asked at 10.502 s
            Self.readMeasurement, Self.measurement,
        ])
        let clock = VirtualClock()
        let sensor = driver(bus, clock)
        try sensor.start()
        expectExample(try sensor.sample())
        #expect(clock.now == .milliseconds(5503))
        expectExample(try sensor.sample())
        #expect(clock.now == .milliseconds(10_504))
        #expect(bus.done().isEmpty)
    }

    @Test func samplePollsEvery100msOnceTheMeasurementIsOverdue() throws {
        let bus = ScriptedI2CBus(Self.startScript + [
            Self.dataReadyCommand, Self.notReady,        // 0.502 s
            Self.dataReadyCommand, Self.notReady,        // 5.502 s: late
            Self.dataReadyCommand, Self.notReady,        // 5.603 s
            Self.dataReadyCommand, Self.ready,           // 5.704 s
            Self.readMeasurement, Self.measurement,
        ])
        let clock = VirtualClock()
        let sensor = driver(bus, clock)
        try sensor.start()
        expectExample(try sensor.sample())
        #expect(clock.now == .milliseconds(5705))
        #expect(bus.done().isEmpty)
    }

    @Test func sampleGivesUpAfterOneIntervalAndASecond() {
        // Status at 0.502 s, at 5.502 s (when due), then every 101 ms (100 ms + the 1 ms command
        // time) up to 6.411 s, a last one at the 6.501 s deadline: 12 queries, 6.001 s in all.
        let polls = Array(repeating: [Self.dataReadyCommand, Self.notReady], count: 12).flatMap { $0 }
        let bus = ScriptedI2CBus(Self.startScript + polls)
        let clock = VirtualClock()
        let sensor = driver(bus, clock)
        #expect(throws: SCD4xError.notReady(timeout: .milliseconds(6001))) {
            try sensor.start()
            _ = try sensor.sample()
        }
        #expect(bus.done().isEmpty)
    }

    @Test func sampleWithACorruptHumidityCRCThrowsAndReturnsNothing() {
        let corrupt = Step(0x62, [.read(count: 9)], returns: [[0x01, 0xF4, 0x33, 0x66, 0x67, 0xA2, 0x5E, 0xB9, 0x3D]])
        let bus = ScriptedI2CBus(Self.startScript + [Self.dataReadyCommand, Self.ready, Self.readMeasurement, corrupt])
        let sensor = driver(bus, VirtualClock())
        #expect(throws: SCD4xError.crcMismatch(word: 2, expected: 0x3C, actual: 0x3D)) {
            try sensor.start()
            _ = try sensor.sample()
        }
        #expect(bus.done().isEmpty)
    }

    @Test func aCorruptStatusCRCIsAChecksumFailureNotAWait() {
        let bus = ScriptedI2CBus(Self.startScript + [Self.dataReadyCommand,
                                                     Step(0x62, [.read(count: 3)], returns: [[0x80, 0x06, 0x05]])])
        let sensor = driver(bus, VirtualClock())
        #expect(throws: SCD4xError.crcMismatch(word: 0, expected: 0x04, actual: 0x05)) {
            try sensor.start()
            _ = try sensor.sample()
        }
        #expect(bus.done().isEmpty)
    }

    @Test func aMeasurementReadNACKIsABusError() {
        let bus = ScriptedI2CBus(Self.startScript + [Self.dataReadyCommand, Self.ready, Self.readMeasurement,
                                                     Step(0x62, [.read(count: 9)], fails: .noAcknowledge(.address))])
        let sensor = driver(bus, VirtualClock())
        do {
            try sensor.start()
            _ = try sensor.sample()
            Issue.record("sample() should fail")
        } catch {
            #expect(error.category == .bus)
            #expect(error.busError?.kind == .noAcknowledge(.address))
            #expect(error.busError?.operation == "r9")
        }
        #expect(bus.done().isEmpty)
    }

    @Test func sampleAfterASingleShotStartsPeriodicMeasurementAgain() throws {
        let bus = ScriptedI2CBus([
            Self.stop, Step(0x62, [.write([0x21, 0x96])]), Self.readMeasurement, Self.measurement,
            Self.startPeriodic, Self.dataReadyCommand, Self.notReady, Self.dataReadyCommand, Self.ready,
            Self.readMeasurement, Self.measurement,
        ])
        let clock = VirtualClock()
        let sensor = driver(bus, clock)
        _ = try sensor.measureSingleShot(rhtOnly: true)
        expectExample(try sensor.sample())
        #expect(bus.done().isEmpty)
    }

    // MARK: selfTest

    @Test func selfTestStopsTestsForTenSecondsAndRestarts() throws {
        let bus = ScriptedI2CBus(Self.startScript + [
            Self.stop, Self.selfTestCommand, Step(0x62, [.read(count: 3)], returns: [[0x00, 0x00, 0x81]]),
            Self.startPeriodic,
        ])
        let clock = VirtualClock()
        let sensor = driver(bus, clock)
        try sensor.start()
        let result = try sensor.selfTest()
        #expect(result.passed, "\(result.detail)")
        #expect(result.detail.contains("returned 0x0000"))
        #expect(clock.now == Self.startedAt + .milliseconds(500) + .seconds(10))
        #expect(bus.done().isEmpty)
    }

    @Test func selfTestReportsAMalfunctionWord() throws {
        let bus = ScriptedI2CBus(Self.startScript + [
            Self.stop, Self.selfTestCommand, Step(0x62, [.read(count: 3)], returns: [[0x00, 0x12, 0xA0]]),
            Self.startPeriodic,
        ])
        let sensor = driver(bus, VirtualClock())
        try sensor.start()
        let result = try sensor.selfTest()
        #expect(!result.passed)
        #expect(result.detail.contains("returned 0x0012, expected 0x0000"))
        #expect(bus.done().isEmpty)
    }

    @Test func selfTestRestartsMeasurementEvenWhenTheTestFails() {
        let bus = ScriptedI2CBus(Self.startScript + [
            Self.stop, Self.selfTestCommand, Step(0x62, [.read(count: 3)], fails: .bus), Self.startPeriodic,
        ])
        let sensor = driver(bus, VirtualClock())
        do {
            try sensor.start()
            _ = try sensor.selfTest()
            Issue.record("selfTest() should throw")
        } catch {
            #expect(error.busError?.kind == .bus)
        }
        #expect(bus.done().isEmpty)
    }

    // MARK: Details, settings, single shot

    @Test func serialNumberAndASCFlagBeforeStartLeaveTheChipIdle() throws {
        let bus = ScriptedI2CBus([
            Self.stop, Self.serialCommand, Self.serialReply(Self.exampleSerial),
            Step(0x62, [.write([0x23, 0x13])]), Step(0x62, [.read(count: 3)], returns: [[0x00, 0x01, 0xB0]]),
        ])
        let sensor = driver(bus, VirtualClock())
        #expect(try sensor.readSerialNumber() == 0xF896_9F07_3BBE)
        #expect(try sensor.readAutomaticSelfCalibrationEnabled())
        #expect(bus.done().isEmpty)
    }

    @Test func detailsWhileMeasuringStopAndRestart() throws {
        let bus = ScriptedI2CBus(Self.startScript + [
            Self.stop, Step(0x62, [.write([0x23, 0x13])]), Step(0x62, [.read(count: 3)], returns: [[0x00, 0x00, 0x81]]),
            Self.startPeriodic,
        ])
        let sensor = driver(bus, VirtualClock())
        try sensor.start()
        #expect(try sensor.readAutomaticSelfCalibrationEnabled() == false)
        #expect(bus.done().isEmpty)
    }

    @Test func ambientPressureIsOneFramedWordAndNeedsNoStop() throws {
        let bus = ScriptedI2CBus(Self.startScript + [Step(0x62, [.write([0xE0, 0x00, 0x03, 0xDB, 0x42])])])
        let clock = VirtualClock()
        let sensor = driver(bus, clock)
        try sensor.start()
        try sensor.setAmbientPressure(pascals: 98_700)
        #expect(throws: SCD4xError.outOfRange(setting: "ambient pressure (Pa)", value: 50_000, allowed: 70_000...120_000)) {
            try sensor.setAmbientPressure(pascals: 50_000)
        }
        #expect(clock.now == Self.startedAt + .milliseconds(1))
        #expect(bus.done().isEmpty)
    }

    @Test func singleShotTakesFiveSecondsOnAnSCD41() throws {
        let bus = ScriptedI2CBus([Self.stop, Step(0x62, [.write([0x21, 0x9D])]), Self.readMeasurement, Self.measurement])
        let clock = VirtualClock()
        expectExample(try driver(bus, clock).measureSingleShot())
        #expect(clock.now == .milliseconds(500 + 5000 + 1))
        #expect(bus.done().isEmpty)
    }

    @Test func singleShotRHTOnlyHasNoCO2() throws {
        let bus = ScriptedI2CBus([Self.stop, Step(0x62, [.write([0x21, 0x96])]), Self.readMeasurement,
                                  Step(0x62, [.read(count: 9)], returns: [[0x00, 0x00, 0x81, 0x66, 0x67, 0xA2, 0x5E, 0xB9, 0x3C]])])
        let clock = VirtualClock()
        let values = try driver(bus, clock).measureSingleShot(rhtOnly: true)
        #expect(values.map(\.channel) == [.temperature, .humidity])
        #expect(clock.now == .milliseconds(500 + 50 + 1))
        #expect(bus.done().isEmpty)
    }

    @Test func singleShotOnAnSCD40SendsNothing() {
        let bus = ScriptedI2CBus([])
        let sensor = driver(bus, VirtualClock(), variant: .scd40)
        #expect(throws: SCD4xError.unsupported(command: "measure_single_shot", variant: "SCD40")) {
            try sensor.measureSingleShot()
        }
        #expect(throws: SCD4xError.unsupported(command: "measure_single_shot_rht_only", variant: "SCD40")) {
            try sensor.measureSingleShot(rhtOnly: true)
        }
        #expect(bus.done().isEmpty)
    }

    // MARK: Identification

    @Test func identificationIsASerialNumberWithValidCRCs() throws {
        let bus = ScriptedI2CBus([
            Self.stop, Self.serialCommand, Self.serialReply(Self.exampleSerial),
            Self.stop, Self.serialCommand, Self.serialReply(Array(repeating: 0xFF, count: 9)),
            Step(0x62, [.write([0x3F, 0x86])], fails: .noAcknowledge(.data)),
            Step(0x62, [.write([0x3F, 0x86])], fails: .noAcknowledge(.address)),
            Step(0x62, [.write([0x3F, 0x86])], fails: .timeout),
        ])
        let clock = VirtualClock()
        let address = SCD4x.defaultAddress
        #expect(try SCD4xIdentification.identify(bus: bus, address: address, clock: clock))
        #expect(try SCD4xIdentification.identify(bus: bus, address: address, clock: clock) == false)
        #expect(try SCD4xIdentification.identify(bus: bus, address: address, clock: clock) == false)
        #expect(try SCD4xIdentification.identify(bus: bus, address: address, clock: clock) == false)
        #expect(throws: I2CError.self) { try SCD4xIdentification.identify(bus: bus, address: address, clock: clock) }
        #expect(bus.done().isEmpty)
    }
}
