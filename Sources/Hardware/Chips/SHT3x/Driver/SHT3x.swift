import HAL
import SensorCore
import Synchronization

/// Driver for the Sensirion SHT3x (SHT30/SHT31/SHT35) humidity and temperature sensor.
///
/// ## Wire sequences
/// The chip has no registers: every access is a 16-bit command written MSB first, optionally
/// followed (after a pause) by a read of words that each carry a CRC-8 byte.
/// - `start()`: `w[30 A2]` (soft reset), wait 2 ms; `w[F3 2D]`, wait 1 ms, `r3` (status word +
///   CRC, the chip's identification); `w[30 41]` (clear status), wait 1 ms.
/// - `sample()`: `w[24 00]` (single shot, high repeatability, no clock stretching), wait 15 ms,
///   `r6` = `T_msb T_lsb T_crc RH_msb RH_lsb RH_crc`. While the conversion runs the chip NACKs
///   its address; the driver then retries the read up to 10 times, 1 ms apart, before throwing
///   `.notReady`.
/// - `selfTest()`: measure, `w[30 6D]` (heater on), wait 3 s, measure, read status,
///   `w[30 66]` (heater off).
///
/// ## Units and failures
/// Temperature in °C, humidity in %RH, computed with the datasheet's exact formulas. Every
/// word's CRC is checked; a bad CRC throws `.crcMismatch` and never becomes a reading. All
/// waiting goes through the injected clock.
///
/// ## Concurrency
/// Each public operation holds a lock for its whole command sequence, so two callers cannot
/// interleave commands on the chip (the bus serializes single transactions only). `selfTest()`
/// holds it for about 3 s.
public final class SHT3x: Sensor {
    public let chipName = "SHT3x"
    public let address: I2CAddress
    public let channels: [Channel] = [.temperature, .humidity]
    /// SHT30, SHT31 or SHT35: the accuracy figures; the protocol is the same.
    public let variant: SHT3xVariant

    private let bus: any I2CBus
    private let clock: any HALClock
    /// Held for each whole command sequence (see "Concurrency").
    private let exclusive = Mutex(())

    /// Pause after a command before the next access (Sensirion `SHT3X_CMD_DURATION_USEC`, 1 ms).
    static let commandGap = Duration.milliseconds(1)
    /// Pause after a soft reset: t_SR is at most 1.5 ms (datasheet Table 4); 2 ms leaves margin.
    static let softResetTime = Duration.milliseconds(2)
    /// Repeatability used by `sample()`.
    static let repeatability = SHT3xRepeatability.high
    /// Extra read attempts while the chip still NACKs its address after the conversion time.
    static let readyRetries = 10
    static let readyRetryInterval = Duration.milliseconds(1)
    /// How long `selfTest()` heats.
    static let heatingTime = Duration.seconds(3)
    /// Smallest temperature rise, in °C, that counts as "the heater works". An engineering
    /// choice, not a datasheet limit: the datasheet gives the heater power (3.6–33 mW, §2.2)
    /// and only says it raises the temperature by a few degrees. 0.5 °C is well above the
    /// noise of a high-repeatability reading (0.04 °C) and below what a working heater gives
    /// within 3 s in still air.
    static let minimumHeaterRise = 0.5

    /// - Parameters:
    ///   - bus: the bus the chip sits on; the driver owns it.
    ///   - address: 0x44 (ADDR low) or 0x45 (ADDR high), see ``SHT3xAddress``.
    ///   - clock: all waiting goes through it.
    ///   - variant: SHT30, SHT31 (default) or SHT35.
    public init(bus: any I2CBus, address: I2CAddress = SHT3xAddress.addrLow, clock: any HALClock,
                variant: SHT3xVariant = .sht31) {
        self.bus = bus
        self.address = address
        self.clock = clock
        self.variant = variant
    }

    // MARK: Public operations

    /// Soft-resets the chip, identifies it by reading the status register (the reply's CRC
    /// must be valid: the SHT3x has no ID register) and clears the status flags.
    /// Safe to call again after any failure, e.g. on a replugged chip.
    ///
    /// - Throws: `.bus` when a transaction fails, `.notIdentified` when the status reply's CRC
    ///   is wrong (another chip at this address), `.unexpectedLength`.
    public func start() throws(SHT3xError) {
        try exclusive.withLock { _ throws(SHT3xError) in
            try send(.softReset, thenWait: Self.softResetTime)
            try send(.readStatus, thenWait: Self.commandGap)
            let reply = try receive(count: 3)
            let expected = Self.crc8(reply[0..<2])
            guard expected == reply[2] else { throw .notIdentified(reply: reply, expectedCRC: expected) }
            try send(.clearStatus, thenWait: Self.commandGap)
        }
    }

    /// One single-shot, high-repeatability measurement: `[temperature °C, humidity %RH]`.
    ///
    /// - Throws: `.bus` (the command failed, or the read failed in a way other than the
    ///   "busy" address NACK), `.notReady(timeout:)`, `.crcMismatch(word:…)` (0 = temperature,
    ///   1 = humidity), `.unexpectedLength`.
    public func sample() throws(SHT3xError) -> [ChannelValue] {
        try exclusive.withLock { _ throws(SHT3xError) in
            let reading = try measure()
            return [ChannelValue(.temperature, reading.temperature), ChannelValue(.humidity, reading.humidity)]
        }
    }

    /// Heater self-test: the status heater bit must follow the heater command and the
    /// temperature must rise by at least 0.5 °C within 3 s of heating (see
    /// `minimumHeaterRise` for why 0.5 °C). The heater is switched off again even when a step
    /// fails. A failed check returns `passed: false`; a failed transfer throws.
    public func selfTest() throws(SHT3xError) -> SelfTestResult {
        try exclusive.withLock { _ throws(SHT3xError) in
            let before = try measure().temperature
            try send(.heaterEnable, thenWait: Self.commandGap)
            let heated: Result<(temperature: Double, status: SHT3xStatus), SHT3xError>
            do throws(SHT3xError) {
                clock.sleep(for: Self.heatingTime)
                let after = try measure().temperature
                heated = .success((after, try readStatusWord()))
            } catch {
                heated = .failure(error)
            }
            // Always switch the heater off: left on, it biases every later reading. The first
            // failure is the one reported.
            let switchOff: SHT3xError?
            do throws(SHT3xError) {
                try send(.heaterDisable, thenWait: Self.commandGap)
                switchOff = nil
            } catch {
                switchOff = error
            }
            let (after, status) = try heated.get()
            if let switchOff { throw switchOff }

            let rise = after - before
            let heaterBit = status.contains(.heaterOn)
            let passed = heaterBit && rise >= Self.minimumHeaterRise
            let detail = "heater bit \(heaterBit ? "set" : "NOT set") (status \(status)); "
                + "T \(fixed2(before)) → \(fixed2(after)) °C after \(Int(Self.heatingTime.seconds)) s of heating, "
                + "rise \(fixed2(rise)) °C, need ≥ \(fixed2(Self.minimumHeaterRise)) °C"
            return SelfTestResult(passed: passed, detail: detail)
        }
    }

    /// Reads the status register (one word, CRC checked). For the doctor and for tests.
    public func readStatus() throws(SHT3xError) -> SHT3xStatus {
        try exclusive.withLock { _ throws(SHT3xError) in try readStatusWord() }
    }

    /// Reads the chip's 32-bit serial number (command 0x3780: two words, each CRC checked).
    public func readSerialNumber() throws(SHT3xError) -> UInt32 {
        try exclusive.withLock { _ throws(SHT3xError) in
            try send(.readSerialNumber, thenWait: Self.commandGap)
            let words = try Self.decodeWords(try receive(count: 6))
            return UInt32(words[0]) << 16 | UInt32(words[1])
        }
    }

    // MARK: Sequences (called with the lock held)

    private func measure() throws(SHT3xError) -> (temperature: Double, humidity: Double) {
        let repeatability = Self.repeatability
        try send(repeatability.command, thenWait: repeatability.conversionTime)
        var waited = repeatability.conversionTime
        var retries = 0
        while true {
            let bytes: [UInt8]
            do throws(SHT3xError) {
                bytes = try receive(count: 6)
            } catch {
                // Datasheet §4.4: the chip NACKs its read header until the conversion is done.
                guard case .bus(let busError) = error, busError.kind == .noAcknowledge(.address) else { throw error }
                guard retries < Self.readyRetries else { throw .notReady(timeout: waited) }
                retries += 1
                clock.sleep(for: Self.readyRetryInterval)
                waited += Self.readyRetryInterval
                continue
            }
            let words = try Self.decodeWords(bytes)
            return (Self.temperature(raw: words[0]), Self.humidity(raw: words[1]))
        }
    }

    private func readStatusWord() throws(SHT3xError) -> SHT3xStatus {
        try send(.readStatus, thenWait: Self.commandGap)
        let words = try Self.decodeWords(try receive(count: 3))
        return SHT3xStatus(rawValue: words[0])
    }

    // MARK: Transport: the only code that touches the bus

    /// Writes a command (MSB first), then waits `pause` on the clock.
    private func send(_ command: SHT3xCommand, thenWait pause: Duration) throws(SHT3xError) {
        do throws(I2CError) {
            try bus.write(address, command.bytes)
        } catch {
            throw .bus(error)
        }
        clock.sleep(for: pause)
    }

    /// Reads exactly `count` bytes.
    private func receive(count: Int) throws(SHT3xError) -> [UInt8] {
        let bytes: [UInt8]
        do throws(I2CError) {
            bytes = try bus.read(address, count: count)
        } catch {
            throw .bus(error)
        }
        guard bytes.count == count else { throw .unexpectedLength(expected: count, actual: bytes.count) }
        return bytes
    }
}

/// `-1.05`, `26.40`: two decimals without Foundation, for self-test details.
fileprivate func fixed2(_ value: Double) -> String {
    let hundredths = Int((abs(value) * 100).rounded())
    let sign = value < 0 && hundredths != 0 ? "-" : ""
    let fraction = hundredths % 100
    return "\(sign)\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
