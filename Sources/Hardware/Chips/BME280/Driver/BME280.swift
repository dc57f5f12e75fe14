import HAL
import SensorCore
import Synchronization

/// Driver for the Bosch BME280 temperature / pressure / humidity sensor (and the BMP280, its
/// pressure-only variant) on I2C, in forced mode.
///
/// ## Wire sequences
/// `start()`:
/// 1. `w[D0] r1`: the `id` register must read the variant's chip ID (0x60 for BME280).
/// 2. `w[E0 B6]`: soft reset; then, up to 5 times, wait 2 ms on the clock and read `status`
///    (`w[F3] r1`) until `im_update` is clear (the NVM copy is done).
/// 3. `w[88] r26`, `w[E1] r7`: calibration, one write-read each (no 0xE1 block on a BMP280).
/// 4. `w[F2 osrs_h]` before `w[F4 …]` (§5.4.3: `ctrl_hum` takes effect only after a `ctrl_meas` write),
///    `w[F5 filter]` while the chip is in sleep mode (§5.4.6), `w[F4 osrs_t|osrs_p|sleep]`.
///
/// `sample()`:
/// 1. `w[F4 osrs_t|osrs_p|forced]` starts one conversion.
/// 2. Wait the maximum measurement time (``maxMeasurementTime(_:variant:)``) on the clock, then read
///    `status` until `measuring` is clear (at most 10 polls, 1 ms apart).
/// 3. `w[F7] r8` (`r6` on a BMP280): all data registers in one burst, so T, P and H belong to
///    the same conversion (§4, data shadowing).
///
/// ## Units
/// Temperature °C (0.01 °C steps), pressure Pa (1/256 Pa steps), humidity %RH (1/1024 %RH steps),
/// from the datasheet's integer compensation (see ``BME280Calibration``).
///
/// ## Threading
/// All bus traffic of one call happens under a lock, so concurrent calls cannot interleave
/// their register writes. Waiting goes through the injected `HALClock`.
public final class BME280: Sensor, @unchecked Sendable {
    /// SDO wired to GND.
    public static let primaryAddress = I2CAddress(UInt8(0x76))
    /// SDO wired to VDDIO.
    public static let secondaryAddress = I2CAddress(UInt8(0x77))

    /// §5.4.2 / Bosch `BME280_STARTUP_DELAY`: wait 2 ms after a soft reset before talking to the chip.
    static let resetDelay = Duration.milliseconds(2)
    /// Status reads after a reset before giving up on `im_update` (Bosch `bme280_soft_reset` uses 5).
    static let resetPolls = 5
    /// Interval and count of `status` reads after the maximum measurement time has passed.
    static let measuringPollInterval = Duration.milliseconds(1)
    static let measuringPolls = 10

    public let address: I2CAddress
    public let variant: BME280Variant
    public let options: BME280Options
    public var chipName: String { variant.name }

    /// The channels `sample()` returns: the variant's channels minus those whose oversampling is skipped.
    public let channels: [Channel]

    private let bus: any I2CBus
    private let clock: any HALClock

    private struct State {
        var calibration: BME280Calibration?
        /// The calibration bytes as read by `start()`, for `selfTest()` to compare against.
        var calibrationBytes: [UInt8] = []
    }
    private let state = Mutex(State())

    public init(bus: any I2CBus, address: I2CAddress = BME280.primaryAddress, clock: any HALClock,
                variant: BME280Variant = .bme280, options: BME280Options = BME280Options()) {
        self.bus = bus
        self.address = address
        self.clock = clock
        self.variant = variant
        self.options = options
        channels = variant.channels.filter { channel in
            switch channel {
            case .temperature: options.temperatureOversampling != .skipped
            case .pressure: options.pressureOversampling != .skipped
            case .humidity: options.humidityOversampling != .skipped
            default: false
            }
        }
    }

    /// The calibration read by the last successful `start()`, `nil` before.
    public var calibration: BME280Calibration? { state.withLock { $0.calibration } }

    // MARK: Sensor

    /// Identifies, resets, reads the calibration and configures the chip (wire sequence above).
    /// Safe to call again at any time, e.g. after the chip was power-cycled.
    public func start() throws(BME280Error) {
        guard options.temperatureOversampling != .skipped else {
            throw .invalidConfiguration("temperature oversampling is 'skipped', but pressure and humidity compensation need t_fine from it")
        }
        try state.withLock { (state: inout State) throws(BME280Error) in
            state.calibration = nil
            let id = try readRegisters(Register.id, count: 1)[0]
            guard id == variant.chipID else {
                throw .unexpectedChipID(expected: variant.chipID, actual: id)
            }
            try softReset()
            let bytes = try readCalibrationBytes()
            state.calibration = try parseCalibration(bytes)
            state.calibrationBytes = bytes
            if variant.hasHumidity {
                try writeRegister(Register.ctrlHum, BME280.ctrlHum(humidity: options.humidityOversampling))
            }
            // After the reset the chip is in sleep mode, where config writes are honoured.
            try writeRegister(Register.config, BME280.config(filter: options.filter))
            try writeRegister(Register.ctrlMeas, ctrlMeas(.sleep))
        }
    }

    /// One forced-mode measurement, one value per entry of ``channels``.
    public func sample() throws(BME280Error) -> [ChannelValue] {
        let measurement = try state.withLock { (state: inout State) throws(BME280Error) -> BME280Measurement in
            guard let calibration = state.calibration else {
                throw .notCalibrated(reason: "start() has not completed; no calibration was read")
            }
            return try measure(calibration)
        }
        return channels.compactMap { channel in
            switch channel {
            case .temperature: ChannelValue(.temperature, measurement.temperature)
            case .pressure: measurement.pressure.map { ChannelValue(.pressure, $0) }
            case .humidity: measurement.humidity.map { ChannelValue(.humidity, $0) }
            default: nil
            }
        }
    }

    /// The BME280 has no built-in self-test; this checks what can be checked from outside:
    /// - the calibration re-read now equals the copy read by `start()` (running `start()` first if needed),
    ///   and `dig_T1` and `dig_P1` are non-zero;
    /// - one measurement lies within the operating range (−40…85 °C, 300…1100 hPa, 0…100 %RH, §1).
    ///
    /// Throws when `start()` (run first if it never succeeded) fails or the bus fails; a chip that
    /// answers but is implausible (changed calibration, skipped or unready measurement, values out of
    /// range) yields `passed == false` with the reason in `detail`.
    public func selfTest() throws(BME280Error) -> SelfTestResult {
        if calibration == nil { try start() }
        let (cached, now) = try state.withLock { (state: inout State) throws(BME280Error) -> ([UInt8], [UInt8]) in
            (state.calibrationBytes, try readCalibrationBytes())
        }
        var problems: [String] = []
        var findings: [String] = []
        if let index = zip(cached, now).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            let register = calibrationRegister(at: index)
            problems.append("calibration register 0x\(hex2(register)) changed: read 0x\(hex2(now[index])) now, 0x\(hex2(cached[index])) at start()")
        } else if cached.count != now.count {
            problems.append("calibration read \(now.count) bytes now, \(cached.count) at start()")
        } else {
            findings.append("calibration (\(now.count) bytes) re-read unchanged")
        }
        let digT1 = now.count >= 2 ? UInt16(now[0]) | UInt16(now[1]) << 8 : 0
        let digP1 = now.count >= 8 ? UInt16(now[6]) | UInt16(now[7]) << 8 : 0
        if digT1 == 0 { problems.append("dig_T1 is 0, expected a factory value") }
        if digP1 == 0 { problems.append("dig_P1 is 0, expected a factory value") }

        let values: [ChannelValue]
        do throws(BME280Error) {
            values = try sample()
        } catch where error.category != .bus {
            problems.append("measurement: \(error)")
            values = []
        }
        for value in values {
            let q = value.quantity
            let (range, shown): (ClosedRange<Double>, String) = switch value.channel {
            case .temperature: (-40...85, "−40…85 °C")
            case .pressure: (30_000...110_000, "30000…110000 Pa")
            default: (0...100, "0…100 %RH")
            }
            if range.contains(q.value) {
                findings.append("\(value.channel) \(q)")
            } else {
                problems.append("\(value.channel) \(q) outside the operating range \(shown)")
            }
        }
        if problems.isEmpty {
            return SelfTestResult(passed: true, detail: "\(variant.name) has no built-in self-test; "
                + findings.joined(separator: "; ") + ", within the operating range")
        }
        return SelfTestResult(passed: false, detail: problems.joined(separator: "; "))
    }

    // MARK: Steps (called with the state lock held)

    private func ctrlMeas(_ mode: Mode) -> UInt8 {
        BME280.ctrlMeas(temperature: options.temperatureOversampling,
                        pressure: options.pressureOversampling, mode: mode)
    }

    /// §5.4.2: reset, then wait for the NVM copy (`im_update`) to finish.
    private func softReset() throws(BME280Error) {
        try writeRegister(Register.reset, Command.softReset)
        for _ in 0..<BME280.resetPolls {
            clock.sleep(for: BME280.resetDelay)
            let status = Status(rawValue: try readRegisters(Register.status, count: 1)[0])
            if !status.contains(.imUpdate) { return }
        }
        throw .notReady(timeout: BME280.resetDelay * BME280.resetPolls, waitingFor: .imUpdate)
    }

    /// 0x88…0xA1, then 0xE1…0xE7 on parts with humidity, concatenated.
    private func readCalibrationBytes() throws(BME280Error) -> [UInt8] {
        var bytes = try readRegisters(Register.calib00, count: Length.calibTemperaturePressure)
        if variant.hasHumidity {
            bytes += try readRegisters(Register.calib26, count: Length.calibHumidity)
        }
        return bytes
    }

    private func parseCalibration(_ bytes: [UInt8]) throws(BME280Error) -> BME280Calibration {
        let tp = Array(bytes.prefix(Length.calibTemperaturePressure))
        let h = variant.hasHumidity ? Array(bytes.dropFirst(Length.calibTemperaturePressure)) : nil
        return try BME280Calibration(temperaturePressure: tp, humidity: h)
    }

    private func calibrationRegister(at index: Int) -> UInt8 {
        index < Length.calibTemperaturePressure
            ? Register.calib00 &+ UInt8(index)
            : Register.calib26 &+ UInt8(truncatingIfNeeded: index - Length.calibTemperaturePressure)
    }

    private func measure(_ calibration: BME280Calibration) throws(BME280Error) -> BME280Measurement {
        try writeRegister(Register.ctrlMeas, ctrlMeas(.forced))
        let wait = BME280.maxMeasurementTime(options, variant: variant)
        clock.sleep(for: wait)
        var polls = 0
        while Status(rawValue: try readRegisters(Register.status, count: 1)[0]).contains(.measuring) {
            polls += 1
            guard polls < BME280.measuringPolls else {
                throw .notReady(timeout: wait + BME280.measuringPollInterval * (polls - 1), waitingFor: .measuring)
            }
            clock.sleep(for: BME280.measuringPollInterval)
        }
        let count = variant.hasHumidity ? Length.dataAll : Length.dataTemperaturePressure
        let burst = try readRegisters(Register.pressMSB, count: count)
        guard var raw = BME280RawSample(burst: burst) else {
            throw .bus(I2CError(.other, bus: bus.name, address: address, detail: "data burst returned \(burst.count) bytes, expected \(count)"))
        }
        if raw.adcT == BME280RawSample.skipped20 { throw .measurementSkipped(.temperature) }
        if options.pressureOversampling == .skipped {
            raw.adcP = nil
        } else if raw.adcP == BME280RawSample.skipped20 {
            throw .measurementSkipped(.pressure)
        }
        if options.humidityOversampling == .skipped {
            raw.adcH = nil
        } else if raw.adcH == BME280RawSample.skipped16 {
            throw .measurementSkipped(.humidity)
        }
        return try calibration.compensate(raw)
    }

    // MARK: Transport (the only code that touches the bus)

    /// `w[register] r<count>`: one write-read; the chip auto-increments the register address.
    private func readRegisters(_ register: UInt8, count: Int) throws(BME280Error) -> [UInt8] {
        let bytes: [UInt8]
        do throws(I2CError) {
            bytes = try bus.writeRead(address, [register], count: count)
        } catch {
            throw .bus(error)
        }
        guard bytes.count == count else {
            throw .bus(I2CError(.other, bus: bus.name, address: address,
                                operation: "w[\(hex2(register))] r\(count)", detail: "returned \(bytes.count) bytes"))
        }
        return bytes
    }

    /// `w[register value]`: one register per transaction (the BME280 takes address/data pairs
    /// on I2C writes, §6.2.1, so single pairs are valid on every bus).
    private func writeRegister(_ register: UInt8, _ value: UInt8) throws(BME280Error) {
        do throws(I2CError) {
            try bus.write(address, [register, value])
        } catch {
            throw .bus(error)
        }
    }
}

/// Identification for `doctor` and bus scans: reads the `id` register (0xD0) and names the part.
public enum BME280Identification {
    /// The known variant whose chip ID the `id` register reads, or `nil` for anything else.
    public static func variant(bus: any I2CBus, address: I2CAddress) throws(I2CError) -> BME280Variant? {
        let id = try bus.writeRead(address, [BME280.Register.id], count: 1).first
        return BME280Variant.known.first { $0.chipID == id }
    }

    /// Whether a BME280 (id 0x60) answers at `address`.
    public static func identify(bus: any I2CBus, address: I2CAddress) throws(I2CError) -> Bool {
        try variant(bus: bus, address: address) == .bme280
    }
}
