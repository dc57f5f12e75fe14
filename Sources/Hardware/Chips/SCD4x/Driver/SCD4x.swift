import HAL
import SensorCore
import Synchronization

/// Driver for the Sensirion SCD4x (SCD40/SCD41) photoacoustic CO2 sensor with its built-in
/// temperature and humidity sensor.
///
/// ## Wire sequences
/// Every access is a 16-bit command written MSB first; a read command is followed, after its
/// execution time, by a read of words that each carry a CRC-8 byte (``SCD4xCommand``).
/// - `start()`: `w[3F 86]` (stop_periodic_measurement), wait 500 ms; `w[36 82]`, wait 1 ms,
///   `r9` (get_serial_number: three words + CRC, the chip's identification); `w[21 B1]`
///   (start_periodic_measurement, a new result every 5 s).
/// - `sample()`: `w[E4 B8]`, wait 1 ms, `r3` (get_data_ready_status) until the status says ready,
///   then `w[EC 05]`, wait 1 ms, `r9` = `CO2 crc T crc RH crc`. When the first status says "not
///   ready" the driver sleeps until the next measurement is due (5 s after the last one it saw
///   arrive), then asks every 100 ms; it gives up with `.notReady` 6 s after it began.
/// - `selfTest()`: `w[3F 86]`, wait 500 ms; `w[36 39]`, wait 10 s, `r3` (perform_self_test,
///   0 = no malfunction); `w[21 B1]` to measure again.
///
/// The chip takes only read_measurement, get_data_ready_status, stop_periodic_measurement and
/// set_ambient_pressure while it measures, so every idle-only operation stops the measurement
/// first and starts it again afterwards if it was running.
///
/// ## Units and failures
/// CO2 in ppm, temperature in °C, humidity in %RH, with the datasheet's exact formulas. Every
/// word's CRC is checked; a bad CRC throws `.crcMismatch` and never becomes a reading. All waiting
/// goes through the injected clock.
///
/// ## Concurrency
/// Each public operation holds a lock for its whole command sequence, so two callers cannot
/// interleave commands on the chip. `selfTest()` holds it for about 10.5 s, `sample()` for up to
/// one measurement interval.
public final class SCD4x: Sensor {
    public let chipName = "SCD4x"
    public let address: I2CAddress
    public let channels: [Channel] = [.co2, .temperature, .humidity]
    /// SCD40 or SCD41: the specified CO2 span and whether single shot exists.
    public let variant: SCD4xVariant

    /// The SCD4x has this one address (datasheet §3, Table 8).
    public static let defaultAddress = I2CAddress(UInt8(0x62))
    /// Signal update interval in periodic mode (datasheet §3.5).
    public static let measurementInterval = Duration.seconds(5)
    /// Step between data-ready queries once a measurement is overdue (as in Sensirion's example).
    static let readyPollInterval = Duration.milliseconds(100)
    /// The longest `sample()` waits for data: one interval, plus 1 s for the chip's own clock.
    static let readyTimeout = measurementInterval + .seconds(1)

    /// What the driver knows of the chip's state.
    private enum Mode {
        /// Not known yet: the chip may still measure from before this process started.
        case unknown
        case idle
        /// Periodic measurement; a measurement completed at about `anchor` (the start command,
        /// then each time a not-ready status turned ready), so the next is due one interval on.
        case periodic(anchor: Duration)
    }

    private let bus: any I2CBus
    private let clock: any HALClock
    /// Held for each whole command sequence (see "Concurrency").
    private let mode = Mutex(Mode.unknown)

    /// - Parameters:
    ///   - bus: the bus the chip sits on; the driver owns it.
    ///   - address: 0x62, the only SCD4x address.
    ///   - clock: all waiting goes through it.
    ///   - variant: SCD40 or SCD41 (default).
    public init(bus: any I2CBus, address: I2CAddress = SCD4x.defaultAddress, clock: any HALClock,
                variant: SCD4xVariant = .scd41) {
        self.bus = bus
        self.address = address
        self.clock = clock
        self.variant = variant
    }

    // MARK: Sensor

    /// Stops any running measurement, identifies the chip by its serial number (all three CRCs
    /// must be valid: the SCD4x has no ID register) and starts periodic measurement. The first
    /// result is ready 5 s later. Safe to call again after any failure.
    ///
    /// - Throws: `.bus` when a transaction fails, `.notIdentified` when a serial-number CRC is
    ///   wrong (another chip at this address), `.unexpectedLength`.
    public func start() throws(SCD4xError) {
        try mode.withLock { mode throws(SCD4xError) in
            try stop(&mode)
            try send(.getSerialNumber)
            let reply = try receive(count: 9)
            do throws(SCD4xError) {
                _ = try Self.decodeWords(reply)
            } catch {
                guard case .crcMismatch(let word, let expected, _) = error else { throw error }
                throw .notIdentified(reply: reply, word: word, expectedCRC: expected)
            }
            try startPeriodic(&mode)
        }
    }

    /// The next periodic result: `[co2 ppm, temperature °C, humidity %RH]`. Waits (bounded) until
    /// the chip has one; starts periodic measurement first if the chip is known to be idle.
    ///
    /// - Throws: `.bus`, `.notReady(timeout:)`, `.crcMismatch(word:…)` (0 = CO2,
    ///   1 = temperature, 2 = humidity), `.unexpectedLength`.
    public func sample() throws(SCD4xError) -> [ChannelValue] {
        try mode.withLock { mode throws(SCD4xError) in
            if case .idle = mode { try startPeriodic(&mode) }
            try waitForData(&mode)
            return try readMeasurement(rhtOnly: false)
        }
    }

    /// The chip's own test of its function and supply (perform_self_test, 10 s): passes when it
    /// returns 0. Measurement is stopped for the test and restarted after it, even when the test
    /// fails to run. A malfunction returns `passed: false`; a failed transfer throws.
    public func selfTest() throws(SCD4xError) -> SelfTestResult {
        let word = try mode.withLock { mode throws(SCD4xError) in
            try whileIdle(&mode) { () throws(SCD4xError) in
                try send(.performSelfTest)
                return try Self.decodeWords(try receive(count: 3))[0]
            }
        }
        let detail = word == 0
            ? "perform_self_test returned \(hex4(word)): no malfunction detected"
            : "perform_self_test returned \(hex4(word)), expected 0x0000: the chip detected a malfunction "
                + "of the sensor or its supply"
        return SelfTestResult(passed: word == 0, detail: detail)
    }

    // MARK: Details for the doctor

    /// The 48-bit serial number (get_serial_number, every CRC checked). Stops a running
    /// measurement for the read and restarts it; before `start()` it leaves the chip idle.
    public func readSerialNumber() throws(SCD4xError) -> UInt64 {
        try mode.withLock { mode throws(SCD4xError) in
            try whileIdle(&mode) { () throws(SCD4xError) in
                try send(.getSerialNumber)
                return Self.serialNumber(words: try Self.decodeWords(try receive(count: 9)))
            }
        }
    }

    /// Whether automatic self-calibration is on (the factory default; it assumes the sensor sees
    /// fresh air, about 400 ppm, at least once a week). Stops a running measurement for the read
    /// and restarts it; before `start()` it leaves the chip idle.
    public func readAutomaticSelfCalibrationEnabled() throws(SCD4xError) -> Bool {
        try mode.withLock { mode throws(SCD4xError) in
            try whileIdle(&mode) { () throws(SCD4xError) in
                try send(.getAutomaticSelfCalibrationEnabled)
                return try Self.decodeWords(try receive(count: 3))[0] != 0
            }
        }
    }

    // MARK: Other operations

    /// Pressure compensation for CO2 (set_ambient_pressure, accepted while measuring), e.g. from
    /// a barometer on the same board. Overrides the altitude setting until power-off.
    ///
    /// - Throws: `.outOfRange` (nothing sent) outside 70 000–120 000 Pa, `.bus`.
    public func setAmbientPressure(pascals: Double) throws(SCD4xError) {
        guard let word = Self.ambientPressureWord(pascals: pascals) else {
            throw .outOfRange(setting: "ambient pressure (Pa)", value: pascals, allowed: Self.ambientPressureRange)
        }
        try mode.withLock { _ throws(SCD4xError) in
            try send(.setAmbientPressure, word: word)
        }
    }

    /// One on-demand measurement (SCD41 only): measure_single_shot (5 s) or, with `rhtOnly`,
    /// measure_single_shot_rht_only (50 ms, no CO2), then read_measurement. Stops a running
    /// periodic measurement first and leaves the chip idle; a later `sample()` starts periodic
    /// measurement again.
    ///
    /// - Returns: `[co2, temperature, humidity]`, or `[temperature, humidity]` with `rhtOnly`.
    /// - Throws: `.unsupported` on an SCD40 (nothing sent), `.bus`, `.crcMismatch`.
    public func measureSingleShot(rhtOnly: Bool = false) throws(SCD4xError) -> [ChannelValue] {
        let command: SCD4xCommand = rhtOnly ? .measureSingleShotRHTOnly : .measureSingleShot
        guard variant.hasSingleShot || !command.isSingleShotFamily else {
            throw .unsupported(command: command.name, variant: variant.name)
        }
        return try mode.withLock { mode throws(SCD4xError) in
            if !Self.isIdle(mode) { try stop(&mode) }
            try send(command)
            return try readMeasurement(rhtOnly: rhtOnly)
        }
    }

    // MARK: Sequences (called with the lock held)

    private func stop(_ mode: inout Mode) throws(SCD4xError) {
        try send(.stopPeriodicMeasurement)
        mode = .idle
    }

    private func startPeriodic(_ mode: inout Mode) throws(SCD4xError) {
        try send(.startPeriodicMeasurement)
        mode = .periodic(anchor: clock.now)
    }

    private static func isIdle(_ mode: Mode) -> Bool {
        if case .idle = mode { true } else { false }
    }

    /// Runs an idle-only `body`: stops the measurement first unless the chip is known to be idle,
    /// and restarts it afterwards if this driver had started it, also when `body` failed (then
    /// `body`'s error is the one thrown).
    private func whileIdle<T>(_ mode: inout Mode, _ body: () throws(SCD4xError) -> T) throws(SCD4xError) -> T {
        let wasMeasuring = if case .periodic = mode { true } else { false }
        if !Self.isIdle(mode) { try stop(&mode) }
        let result: Result<T, SCD4xError>
        do throws(SCD4xError) {
            result = .success(try body())
        } catch {
            result = .failure(error)
        }
        var restartFailure: SCD4xError?
        if wasMeasuring {
            do throws(SCD4xError) { try startPeriodic(&mode) } catch { restartFailure = error }
        }
        let value = try result.get()
        if let restartFailure { throw restartFailure }
        return value
    }

    /// Returns once get_data_ready_status says ready; see "Wire sequences" for the schedule.
    private func waitForData(_ mode: inout Mode) throws(SCD4xError) {
        let began = clock.now
        let deadline = began + Self.readyTimeout
        var missed = false
        while true {
            try send(.getDataReadyStatus)
            let status = try Self.decodeWords(try receive(count: 3))[0]
            let now = clock.now
            if Self.isDataReady(status: status) {
                // Seen turning ready within the last poll: a good estimate of the chip's schedule.
                if missed, case .periodic = mode { mode = .periodic(anchor: now) }
                return
            }
            guard now < deadline else { throw .notReady(timeout: now - began) }
            var pause = Self.readyPollInterval
            if !missed, case .periodic(let anchor) = mode {
                let due = anchor + Self.measurementInterval * Int(((now - anchor) / Self.measurementInterval).rounded(.up))
                if due > now { pause = due - now }
            }
            missed = true
            clock.sleep(for: min(pause, deadline - now))
        }
    }

    /// read_measurement: `[co2, temperature, humidity]`, or without CO2 after an RH/T-only shot.
    private func readMeasurement(rhtOnly: Bool) throws(SCD4xError) -> [ChannelValue] {
        try send(.readMeasurement)
        let words = try Self.decodeWords(try receive(count: 9))
        let climate = [ChannelValue(.temperature, Self.temperature(raw: words[1])),
                       ChannelValue(.humidity, Self.humidity(raw: words[2]))]
        return rhtOnly ? climate : [ChannelValue(.co2, Self.co2(raw: words[0]))] + climate
    }

    // MARK: Transport: the only code that touches the bus

    /// Writes a command (MSB first) and its data word with CRC if any, then waits the command's
    /// execution time on the clock.
    private func send(_ command: SCD4xCommand, word: UInt16? = nil) throws(SCD4xError) {
        do throws(I2CError) {
            try bus.write(address, command.bytes + (word.map(Self.frame) ?? []))
        } catch {
            throw .bus(error)
        }
        if command.executionTime > .zero { clock.sleep(for: command.executionTime) }
    }

    /// Reads exactly `count` bytes.
    private func receive(count: Int) throws(SCD4xError) -> [UInt8] {
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

/// `0x8006`: a word as four upper-case hex digits.
func hex4(_ word: UInt16) -> String {
    "0x" + hex2(UInt8(word >> 8)) + hex2(UInt8(word & 0xFF))
}
