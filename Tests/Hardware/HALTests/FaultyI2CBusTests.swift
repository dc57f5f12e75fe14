import HAL
import HALSimulation
import SensorCore
import Testing

/// A tiny register chip for the fault layer: register 0x10 powers on as 0x42 (everything else 0x00),
/// and every power-on reset is counted, so tests can tell "reset once" from "never" or "twice".
final class ResettableChip: ChipModel, @unchecked Sendable {
    static let configRegister: UInt8 = 0x10
    static let powerOnValue: UInt8 = 0x42

    let registers = RegisterFile()
    private(set) var resets = 0
    var environment: Environment
    let physicalChannels: [Channel] = []

    init(clock: any HALClock) {
        environment = Environment(clock: clock)
        registers[Self.configRegister] = Self.powerOnValue
    }

    func write(_ bytes: [UInt8]) throws(I2CError) { try registers.busWrite(bytes) }
    func read(count: Int) throws(I2CError) -> [UInt8] { registers.busRead(count: count) }
    func range(of channel: Channel) -> ClosedRange<Double> { 0...0 }
    func resolution(of channel: Channel) -> Double { 0 }

    func powerOnReset() {
        resets += 1
        registers.load(Array(repeating: 0, count: 256), at: 0)
        registers[Self.configRegister] = Self.powerOnValue
        registers.pointer = 0
    }
}

/// One faulty bus over a simulated bus with a chip at 0x40 (the target) and one at 0x41 (a bystander).
struct FaultRig {
    static let target = I2CAddress(0x40)
    static let bystander = I2CAddress(0x41)
    let clock = VirtualClock()
    let base = SimulatedI2CBus(name: "sim:i2c-1")
    let chip: ResettableChip
    let other: ResettableChip
    let bus: FaultyI2CBus

    init(_ faults: [Fault], seed: UInt64 = 7) {
        chip = ResettableChip(clock: clock)
        other = ResettableChip(clock: clock)
        base.attach(chip, at: Self.target)
        base.attach(other, at: Self.bystander)
        bus = FaultyI2CBus(base: base, faults: faults, clock: clock, seed: seed)
    }

    /// Reads the configuration register of `address` through the fault layer.
    func readConfig(_ address: I2CAddress = target) throws(I2CError) -> UInt8 {
        try bus.writeRead(address, [ResettableChip.configRegister], count: 1)[0]
    }

    func writeConfig(_ value: UInt8, _ address: I2CAddress = target) throws(I2CError) {
        try bus.write(address, [ResettableChip.configRegister, value])
    }
}

/// The I2C error a call threw, or nil when it succeeded.
func i2cFailure<R>(_ body: () throws -> R) -> I2CError? {
    do {
        _ = try body()
        return nil
    } catch let error as I2CError {
        return error
    } catch {
        Issue.record("not an I2CError: \(error)")
        return nil
    }
}

@Suite struct FaultyI2CBusTests {
    @Test func addressNACKFailsOnlyItsAddressAndSaysItWasInjected() throws {
        let rig = FaultRig([Fault(.addressNACK, at: FaultRig.target)])
        let error = try #require(i2cFailure { try rig.readConfig() })
        #expect(error.kind == .noAcknowledge(.address))
        #expect(error.address == FaultRig.target)
        #expect(error.bus == "sim:i2c-1")
        #expect(error.operation == "w[10] r1")
        #expect(error.detail?.contains("injected fault") == true)
        #expect(error.detail?.contains("addressNACK") == true)
        #expect(try rig.readConfig(FaultRig.bystander) == 0x42)
        #expect(try rig.bus.probe(FaultRig.target) == false)
        #expect(try rig.bus.probe(FaultRig.bystander))
        // Two NACKed transactions at the target (read, probe); the bystander is never counted.
        #expect(rig.bus.injectedCounts == ["addressNACK": 2])
    }

    /// The pass/fail pattern of `count` transactions to the target under a 30 % intermittent NACK.
    func intermittentPattern(seed: UInt64, count: Int) -> [Bool] {
        let rig = FaultRig([Fault(.intermittentNACK(rate: 0.3), at: FaultRig.target)], seed: seed)
        return (0..<count).map { _ in
            if let error = i2cFailure({ try rig.readConfig() }) {
                #expect(error.kind == .noAcknowledge(.address))
                return false
            }
            return true
        }
    }

    @Test func intermittentNACKFailsAboutItsRateAndRepeatsPerSeed() {
        let pattern = intermittentPattern(seed: 11, count: 2000)
        let failures = pattern.filter { !$0 }.count
        let fraction = Double(failures) / 2000
        #expect((0.25...0.35).contains(fraction), "failure fraction \(fraction)")

        #expect(intermittentPattern(seed: 11, count: 2000) == pattern)
        let other = intermittentPattern(seed: 12, count: 2000)
        #expect(other != pattern)
        // Not merely shifted or nearly equal: independent 30 % patterns differ in about 42 % of places.
        let differences = zip(pattern, other).filter { $0 != $1 }.count
        #expect(differences > 400, "only \(differences) of 2000 transactions differ")
    }

    @Test func intermittentNACKCountsEachInjection() {
        let rig = FaultRig([Fault(.intermittentNACK(rate: 0.3), at: FaultRig.target)])
        let failures = (0..<200).filter { _ in i2cFailure { try rig.readConfig() } != nil }.count
        #expect(failures > 0)
        #expect(rig.bus.injectedCounts == ["intermittentNACK(rate: 0.3)": failures])
    }

    @Test func crcCorruptionFlipsBitZeroOfTheLastByteOfEachReadAndLeavesWritesAlone() throws {
        let rig = FaultRig([Fault(.crcCorruption(rate: 1), at: FaultRig.target)])
        try rig.bus.write(FaultRig.target, [0x20, 0x12, 0x34, 0x56, 0x78])
        // The write reached the chip unchanged (looked at behind the fault layer).
        #expect(rig.chip.registers.slice(0x20, count: 4) == [0x12, 0x34, 0x56, 0x78])

        #expect(try rig.bus.writeRead(FaultRig.target, [0x20], count: 3) == [0x12, 0x34, 0x57])
        #expect(try rig.bus.writeRead(FaultRig.target, [0x23], count: 1) == [0x79])
        // Two reads in one transaction: each read's last byte is flipped.
        let reads = try rig.bus.transaction(FaultRig.target, [.write([0x20]), .read(count: 2), .read(count: 2)])
        #expect(reads == [[0x12, 0x35], [0x56, 0x79]])
        // The bystander is untouched.
        try rig.bus.write(FaultRig.bystander, [0x20, 0x12, 0x34])
        #expect(try rig.bus.writeRead(FaultRig.bystander, [0x20], count: 2) == [0x12, 0x34])
        #expect(rig.bus.injectedCounts == ["crcCorruption(rate: 1.0)": 4])
    }

    @Test func crcCorruptionAtRateZeroChangesNothing() throws {
        let rig = FaultRig([Fault(.crcCorruption(rate: 0), at: FaultRig.target)])
        try rig.bus.write(FaultRig.target, [0x20, 0x12, 0x34, 0x56])
        for _ in 0..<100 {
            #expect(try rig.bus.writeRead(FaultRig.target, [0x20], count: 3) == [0x12, 0x34, 0x56])
        }
        #expect(rig.bus.injectedCounts.isEmpty)
    }

    @Test func stuckAtNilFreezesTheFirstAnswerPerRequest() throws {
        let rig = FaultRig([Fault(.stuckAt(nil), at: FaultRig.target, until: .seconds(10))])
        #expect(try rig.readConfig() == 0x42)
        #expect(try rig.bus.writeRead(FaultRig.target, [0x11], count: 1) == [0x00])

        // The chip's registers change (a write through the layer, and one behind its back).
        try rig.writeConfig(0x99)
        #expect(rig.chip.registers[0x10] == 0x99)
        rig.chip.registers[0x11] = 0x55
        #expect(try rig.readConfig() == 0x42)
        #expect(try rig.bus.writeRead(FaultRig.target, [0x11], count: 1) == [0x00])
        // A request not seen before gets its own (live) first answer, then that one is frozen.
        #expect(try rig.bus.writeRead(FaultRig.target, [0x10], count: 2) == [0x99, 0x55])
        rig.chip.registers[0x10] = 0x01
        #expect(try rig.bus.writeRead(FaultRig.target, [0x10], count: 2) == [0x99, 0x55])
        #expect(try rig.readConfig(FaultRig.bystander) == 0x42)

        // After the window the chip answers live again.
        rig.clock.advance(to: .seconds(10))
        #expect(try rig.readConfig() == 0x01)
    }

    @Test func stuckAtByteReturnsThatByteEverywhere() throws {
        let rig = FaultRig([Fault(.stuckAt(0xFF), at: FaultRig.target)])
        #expect(try rig.readConfig() == 0xFF)
        #expect(try rig.bus.writeRead(FaultRig.target, [0x00], count: 5) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try rig.bus.read(FaultRig.target, count: 2) == [0xFF, 0xFF])
        // Writes still reach the chip.
        try rig.writeConfig(0x07)
        #expect(rig.chip.registers[0x10] == 0x07)
        #expect(try rig.readConfig(FaultRig.bystander) == 0x42)
    }

    @Test func timeoutFailsWithTimeout() throws {
        let rig = FaultRig([Fault(.timeout, at: FaultRig.target)])
        let error = try #require(i2cFailure { try rig.writeConfig(0x07) })
        #expect(error.kind == .timeout)
        #expect(error.detail?.contains("injected fault") == true)
        #expect(error.operation == "w[10 07]")
        // The write never reached the chip.
        #expect(rig.chip.registers[0x10] == 0x42)
        #expect(try rig.readConfig(FaultRig.bystander) == 0x42)
        #expect(rig.bus.injectedCounts == ["timeout": 1])
    }

    @Test func chipResetHappensOnceWhenTheClockPassesItsTime() throws {
        let rig = FaultRig([Fault(.chipReset, at: FaultRig.target, from: .seconds(10))])
        try rig.writeConfig(0x07)
        rig.clock.advance(to: .milliseconds(9_999))
        #expect(try rig.readConfig() == 0x07)
        #expect(rig.chip.resets == 0)

        // Whoever asks first after 10 s (here: the bystander) makes the reset happen.
        rig.clock.advance(to: .seconds(10))
        #expect(try rig.readConfig(FaultRig.bystander) == 0x42)
        #expect(rig.chip.resets == 1)
        #expect(rig.other.resets == 0)
        #expect(try rig.readConfig() == 0x42)

        // Configured again, it stays configured: the reset does not repeat.
        try rig.writeConfig(0x07)
        rig.clock.advance(to: .seconds(60))
        #expect(try rig.readConfig() == 0x07)
        #expect(rig.chip.resets == 1)
    }

    @Test func unplugNACKsInsideTheWindowAndReplugsInPowerOnState() throws {
        let rig = FaultRig([Fault(.unplug, at: FaultRig.target, from: .seconds(5), until: .seconds(10))])
        try rig.writeConfig(0x07)
        rig.clock.advance(to: .milliseconds(4_999))
        #expect(try rig.readConfig() == 0x07)
        #expect(rig.base.device(at: FaultRig.target) != nil)

        rig.clock.advance(to: .seconds(5))
        #expect(i2cFailure { try rig.readConfig() }?.kind == .noAcknowledge(.address))
        #expect(rig.base.device(at: FaultRig.target) == nil)
        #expect(rig.base.addresses == [FaultRig.bystander])
        rig.clock.advance(to: .milliseconds(9_999))
        #expect(i2cFailure { try rig.readConfig() }?.kind == .noAcknowledge(.address))
        #expect(try rig.readConfig(FaultRig.bystander) == 0x42)
        #expect(rig.chip.resets == 0)

        rig.clock.advance(to: .seconds(10))
        #expect(try rig.readConfig() == 0x42)
        #expect(rig.base.device(at: FaultRig.target) === rig.chip)
        #expect(rig.chip.resets == 1)
        rig.clock.advance(to: .seconds(30))
        #expect(try rig.readConfig() == 0x42)
        #expect(rig.chip.resets == 1)
        #expect(rig.other.resets == 0)
    }

    /// Nobody talks to the bus while the chip is out: it was still unplugged, so it must come back
    /// in its power-on state (a driver that configured it must notice the lost configuration).
    @Test func unplugWindowNobodyWatchedStillPowerCyclesTheChip() throws {
        let rig = FaultRig([Fault(.unplug, at: FaultRig.target, from: .seconds(5), until: .seconds(10))])
        try rig.writeConfig(0x07)
        rig.clock.advance(to: .seconds(12))
        #expect(try rig.readConfig() == 0x42)
        #expect(rig.chip.resets == 1)
        #expect(try rig.readConfig() == 0x42)
        #expect(rig.chip.resets == 1)
    }

    /// The soak board unplugs the same chip again and again: each window is its own fault, and
    /// each replug brings the chip back in its power-on state.
    @Test func theSameChipUnpluggedInSeveralWindowsComesBackAfterEach() throws {
        let rig = FaultRig([Fault(.unplug, at: FaultRig.target, from: .seconds(5), until: .seconds(10)),
                            Fault(.unplug, at: FaultRig.target, from: .seconds(20), until: .seconds(30))])
        try rig.writeConfig(0x07)
        rig.clock.advance(to: .seconds(6))
        #expect(i2cFailure { try rig.readConfig() }?.kind == .noAcknowledge(.address))
        rig.clock.advance(to: .seconds(12))
        #expect(try rig.readConfig() == 0x42)
        try rig.writeConfig(0x07)
        rig.clock.advance(to: .seconds(21))
        #expect(i2cFailure { try rig.readConfig() }?.kind == .noAcknowledge(.address))
        rig.clock.advance(to: .seconds(30))
        #expect(try rig.readConfig() == 0x42)
        #expect(rig.chip.resets == 2)
        // Nobody watched the second window: the chip was still out, and still comes back reset.
        let unwatched = FaultRig([Fault(.unplug, at: FaultRig.target, from: .seconds(5), until: .seconds(10)),
                                  Fault(.unplug, at: FaultRig.target, from: .seconds(20), until: .seconds(30))])
        unwatched.clock.advance(to: .seconds(6))
        #expect(i2cFailure { try unwatched.readConfig() }?.kind == .noAcknowledge(.address))
        unwatched.clock.advance(to: .seconds(25))
        #expect(i2cFailure { try unwatched.readConfig() }?.kind == .noAcknowledge(.address))
        unwatched.clock.advance(to: .seconds(31))
        #expect(try unwatched.readConfig() == 0x42)
        #expect(unwatched.base.device(at: FaultRig.target) === unwatched.chip)
    }

    @Test func unplugWithoutUntilNeverComesBack() throws {
        let rig = FaultRig([Fault(.unplug, at: FaultRig.target, from: .seconds(1))])
        #expect(try rig.readConfig() == 0x42)
        rig.clock.advance(to: .seconds(1))
        #expect(i2cFailure { try rig.readConfig() }?.kind == .noAcknowledge(.address))
        rig.clock.advance(to: .seconds(100_000))
        #expect(i2cFailure { try rig.readConfig() }?.kind == .noAcknowledge(.address))
        #expect(rig.chip.resets == 0)
    }

    @Test func faultWindowsAreHalfOpen() throws {
        let rig = FaultRig([
            Fault(.addressNACK, at: FaultRig.target, from: .seconds(5), until: .seconds(10)),
            Fault(.timeout, at: FaultRig.bystander, from: .seconds(20)),
        ])
        let expectations: [(ms: Int64, target: I2CError.Kind?, bystander: I2CError.Kind?)] = [
            (0, nil, nil),
            (4_999, nil, nil),
            (5_000, .noAcknowledge(.address), nil),
            (9_999, .noAcknowledge(.address), nil),
            (10_000, nil, nil),
            (19_999, nil, nil),
            (20_000, nil, .timeout),
            (1_000_000, nil, .timeout),
        ]
        for step in expectations {
            rig.clock.advance(to: .milliseconds(step.ms))
            #expect(i2cFailure { try rig.readConfig() }?.kind == step.target, "target at \(step.ms) ms")
            #expect(i2cFailure { try rig.readConfig(FaultRig.bystander) }?.kind == step.bystander,
                    "bystander at \(step.ms) ms")
        }
        #expect(rig.bus.injectedCounts == ["addressNACK": 2, "timeout": 2])
    }

    @Test func plantedFaultsTakeEffectAndAreCountedPerKind() throws {
        let rig = FaultRig([])
        #expect(try rig.readConfig() == 0x42)
        #expect(rig.bus.injectedCounts.isEmpty)

        rig.bus.plant(Fault(.timeout, at: FaultRig.target))
        rig.bus.plant(Fault(.crcCorruption(rate: 1), at: FaultRig.bystander))
        for _ in 0..<3 { #expect(i2cFailure { try rig.readConfig() }?.kind == .timeout) }
        for _ in 0..<5 { #expect(try rig.readConfig(FaultRig.bystander) == 0x43) }
        // Writes to the CRC-faulted chip change nothing and are not counted.
        try rig.writeConfig(0x42, FaultRig.bystander)
        #expect(rig.bus.injectedCounts == ["timeout": 3, "crcCorruption(rate: 1.0)": 5])
    }
}
