import HAL
import HALSimulation
import SensorCore
import Synchronization

/// A command-level simulation of a Sensirion SCD40/SCD41, written from the datasheet (SCD4x v1.3,
/// §3) independently of the driver: its command codes, execution times, CRC and formulas are its
/// own copies.
///
/// ## Bus face
/// - A 2-byte write is a command (MSB first); a 5-byte write is a command with one data word
///   (`cmd cmd msb lsb crc`). A data word with a wrong CRC, a data word on a command that takes
///   none (or none on one that needs it) and an unknown command are NACKed on the data byte.
///   Empty writes (quick-write probes) and 1-byte writes (an incomplete command) are ACKed and
///   ignored.
/// - Modes: idle, periodic (a new result every 5 s of `environment.clock` after
///   start_periodic_measurement) and low-power periodic (every 30 s). While measuring, only
///   read_measurement, get_data_ready_status, stop_periodic_measurement and set_ambient_pressure
///   are accepted (datasheet Table 9, "During meas."); anything else is NACKed on the data byte.
/// - Execution times (Table 9) are honoured: until a command has finished, every access (the read
///   header of a read command, or the next command) is NACKed on the address. stop takes 500 ms,
///   persist_settings 800 ms, reinit 20 ms, perform_self_test 10 s, measure_single_shot 5 s,
///   measure_single_shot_rht_only 50 ms, the reads 1 ms.
/// - Data ready: a new result sets it, read_measurement clears it (the buffer holds one result;
///   a newer one replaces an unread one). get_data_ready_status answers 0x8006 when ready and
///   0x8000 when not (only the 11 low bits count). read_measurement with nothing buffered leaves
///   nothing to read: the read is NACKed on the address.
/// - A reply is consumed by one read; reading past its end gives 0xFF (SDA released).
/// - Settings: temperature offset (default 4 °C, word 0x05DA), altitude (0 m), ambient pressure
///   (1013 hPa) and the ASC flag (on) live in RAM; persist_settings copies them to the EEPROM,
///   reinit and a power-on reset load them back. They are stored and read back but do not change
///   the simulated readings.
/// - SCD41 only: measure_single_shot and measure_single_shot_rht_only (idle only; the result
///   then reads as any other, CO2 = 0 for RH/T only). An SCD40 NACKs them as unknown commands.
/// - Not modelled (NACKed as unknown): forced recalibration, factory reset, power_down/wake_up,
///   get_ambient_pressure, and the commands newer than datasheet v1.3.
///
/// ## Physical face
/// CO2 (ppm), temperature and humidity come from `environment` at the instant a measurement
/// completes. They are encoded as CO2 = round(ppm) limited to 0…40 000, S_T = (T + 45) · 65535 /
/// 175 and S_RH = RH · 65535 / 100, rounded and limited to 0…65535. A channel with no source reads
/// 0 (as for every model).
public final class SCD4xModel: ChipModel, @unchecked Sendable {
    /// The two parts the model can be.
    public enum Variant: String, Sendable, CaseIterable {
        case scd40 = "SCD40"
        /// Adds the single-shot commands.
        case scd41 = "SCD41"
    }

    /// Command codes and execution times transcribed from the datasheet (Table 9) for the model.
    private enum Code {
        static let startPeriodic: UInt16 = 0x21B1
        static let readMeasurement: UInt16 = 0xEC05
        static let stopPeriodic: UInt16 = 0x3F86
        static let setTemperatureOffset: UInt16 = 0x241D
        static let getTemperatureOffset: UInt16 = 0x2318
        static let setAltitude: UInt16 = 0x2427
        static let getAltitude: UInt16 = 0x2322
        static let setAmbientPressure: UInt16 = 0xE000
        static let setASC: UInt16 = 0x2416
        static let getASC: UInt16 = 0x2313
        static let startLowPower: UInt16 = 0x21AC
        static let getDataReady: UInt16 = 0xE4B8
        static let persistSettings: UInt16 = 0x3615
        static let getSerialNumber: UInt16 = 0x3682
        static let selfTest: UInt16 = 0x3639
        static let reinit: UInt16 = 0x3646
        static let singleShot: UInt16 = 0x219D
        static let singleShotRHT: UInt16 = 0x2196

        /// Table 9 "During meas." = yes.
        static let allowedWhileMeasuring: Set<UInt16> = [readMeasurement, getDataReady, stopPeriodic, setAmbientPressure]
        /// Commands followed by one data word (the "write" sequence type).
        static let takesWord: Set<UInt16> = [setTemperatureOffset, setAltitude, setAmbientPressure, setASC]
    }

    private enum Time {
        static let read = Duration.milliseconds(1)
        static let stop = Duration.milliseconds(500)
        static let persist = Duration.milliseconds(800)
        static let reinit = Duration.milliseconds(20)
        static let selfTest = Duration.seconds(10)
        static let singleShot = Duration.seconds(5)
        static let singleShotRHT = Duration.milliseconds(50)
        /// After power-up the chip needs 1000 ms to reach idle (§3.1).
        static let powerUp = Duration.seconds(1)
        static let periodicInterval = Duration.seconds(5)
        static let lowPowerInterval = Duration.seconds(30)
    }

    private struct Settings {
        /// Temperature offset word: 4 °C · 65535 / 175 = 1498.
        var temperatureOffset: UInt16 = 0x05DA
        var altitude: UInt16 = 0
        var ambientPressure: UInt16 = 1013
        var asc: UInt16 = 1
    }

    private enum Mode {
        case idle
        /// Results at `start + k · interval`, k ≥ 1; `latest` is the last k buffered.
        case periodic(start: Duration, interval: Duration, latest: Int)
    }

    private struct State {
        var environment: Environment
        var mode = Mode.idle
        /// Every access before this instant is NACKed: a command is still executing.
        var busyUntil = Duration.zero
        /// Words waiting for the read header.
        var reply: [UInt16]?
        /// The measurement buffer; non-nil means data ready.
        var result: [UInt16]?
        /// A single shot in progress: when it completes and whether it skips CO2.
        var shot: (at: Duration, rhtOnly: Bool)?
        var settings = Settings()
        var eeprom = Settings()
        var selfTestWord: UInt16 = 0
    }

    private let state: Mutex<State>
    public let variant: Variant
    /// The factory serial number (48 bits) returned by get_serial_number. The default is the
    /// datasheet's example, 0xF896_9F07_3BBE.
    public let serialNumber: UInt64

    public init(environment: Environment, variant: Variant = .scd41, serialNumber: UInt64 = 0xF896_9F07_3BBE) {
        state = Mutex(State(environment: environment))
        self.variant = variant
        self.serialNumber = serialNumber & 0xFFFF_FFFF_FFFF
    }

    // MARK: ChipModel

    public let physicalChannels: [Channel] = [.co2, .temperature, .humidity]

    public var environment: Environment {
        get { state.withLock { $0.environment } }
        set { state.withLock { $0.environment = newValue } }
    }

    /// CO2 output range 0–40 000 ppm; measurement ranges −10…60 °C and 0…100 %RH (datasheet §1).
    public func range(of channel: Channel) -> ClosedRange<Double> {
        switch channel {
        case .co2: 0...40_000
        case .temperature: -10...60
        case .humidity: 0...100
        default: 0...0
        }
    }

    /// Half a raw step (0.5 ppm, 175/65535/2 °C, 100/65535/2 %RH): the model rounds to the nearest
    /// word and a correct driver applies the exact formula. Plus a tiny margin for floating point.
    public func resolution(of channel: Channel) -> Double {
        switch channel {
        case .co2: 0.5 + 1e-9
        case .temperature: 175.0 / 65535 / 2 + 1e-9
        case .humidity: 100.0 / 65535 / 2 + 1e-9
        default: 0
        }
    }

    /// Power cycle: idle, settings reloaded from the EEPROM, buffers dropped, and 1 s before the
    /// chip answers again.
    public func powerOnReset() {
        state.withLock { state in
            state.mode = .idle
            state.reply = nil
            state.result = nil
            state.shot = nil
            state.settings = state.eeprom
            state.busyUntil = state.environment.clock.now + Time.powerUp
        }
    }

    // MARK: Inspection and faults for tests

    /// Whether a periodic (normal or low-power) measurement is running.
    public var isMeasuring: Bool {
        state.withLock { if case .periodic = $0.mode { true } else { false } }
    }

    /// The ASC flag as the chip holds it in RAM.
    public var automaticSelfCalibration: Bool { state.withLock { $0.settings.asc != 0 } }

    /// The word perform_self_test returns: 0 (healthy) unless a test plants a malfunction.
    public var selfTestResult: UInt16 {
        get { state.withLock { $0.selfTestWord } }
        set { state.withLock { $0.selfTestWord = newValue } }
    }

    // MARK: SimulatedI2CDevice

    public func write(_ bytes: [UInt8]) throws(I2CError) {
        try state.withLock { state throws(I2CError) in
            let now = state.environment.clock.now
            guard now >= state.busyUntil else { throw Self.nack(.address, "busy executing the previous command") }
            guard bytes.count >= 2 else { return }
            Self.catchUp(&state, now: now)
            let code = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
            try execute(code, data: Array(bytes.dropFirst(2)), now: now, in: &state)
        }
    }

    public func read(count: Int) throws(I2CError) -> [UInt8] {
        try state.withLock { state throws(I2CError) in
            let now = state.environment.clock.now
            guard now >= state.busyUntil else { throw Self.nack(.address, "command still executing") }
            guard let words = state.reply else { throw Self.nack(.address, "no data to read") }
            state.reply = nil
            return Self.encode(words, count: count)
        }
    }

    // MARK: Command decoder

    private func execute(_ code: UInt16, data: [UInt8], now: Duration, in state: inout State) throws(I2CError) {
        if case .periodic = state.mode, !Code.allowedWhileMeasuring.contains(code) {
            throw Self.refuse(code, "not allowed while measuring")
        }
        let word: UInt16?
        switch data.count {
        case 0 where !Code.takesWord.contains(code):
            word = nil
        case 3 where Code.takesWord.contains(code):
            guard Self.crc(data[0], data[1]) == data[2] else { throw Self.refuse(code, "data word CRC wrong") }
            word = UInt16(data[0]) << 8 | UInt16(data[1])
        default:
            throw Self.refuse(code, "\(data.count) data bytes")
        }
        state.reply = nil

        switch (code, word) {
        case (Code.startPeriodic, _):
            state.mode = .periodic(start: now, interval: Time.periodicInterval, latest: 0)
            state.result = nil
        case (Code.startLowPower, _):
            state.mode = .periodic(start: now, interval: Time.lowPowerInterval, latest: 0)
            state.result = nil
        case (Code.stopPeriodic, _):
            state.mode = .idle
            state.busyUntil = now + Time.stop
        case (Code.readMeasurement, _):
            state.reply = state.result
            state.result = nil
            state.busyUntil = now + Time.read
        case (Code.getDataReady, _):
            state.reply = [state.result != nil ? 0x8006 : 0x8000]
            state.busyUntil = now + Time.read
        case (Code.getSerialNumber, _):
            state.reply = [UInt16(serialNumber >> 32), UInt16(serialNumber >> 16 & 0xFFFF), UInt16(serialNumber & 0xFFFF)]
            state.busyUntil = now + Time.read
        case (Code.selfTest, _):
            state.reply = [state.selfTestWord]
            state.busyUntil = now + Time.selfTest
        case (Code.setTemperatureOffset, let value?):
            state.settings.temperatureOffset = value
            state.busyUntil = now + Time.read
        case (Code.getTemperatureOffset, _):
            state.reply = [state.settings.temperatureOffset]
            state.busyUntil = now + Time.read
        case (Code.setAltitude, let value?):
            state.settings.altitude = value
            state.busyUntil = now + Time.read
        case (Code.getAltitude, _):
            state.reply = [state.settings.altitude]
            state.busyUntil = now + Time.read
        case (Code.setAmbientPressure, let value?):
            state.settings.ambientPressure = value
            state.busyUntil = now + Time.read
        case (Code.setASC, let value?):
            state.settings.asc = value
            state.busyUntil = now + Time.read
        case (Code.getASC, _):
            state.reply = [state.settings.asc]
            state.busyUntil = now + Time.read
        case (Code.persistSettings, _):
            state.eeprom = state.settings
            state.busyUntil = now + Time.persist
        case (Code.reinit, _):
            state.settings = state.eeprom
            state.busyUntil = now + Time.reinit
        case (Code.singleShot, _) where variant == .scd41:
            state.shot = (now + Time.singleShot, false)
            state.busyUntil = now + Time.singleShot
        case (Code.singleShotRHT, _) where variant == .scd41:
            state.shot = (now + Time.singleShotRHT, true)
            state.busyUntil = now + Time.singleShotRHT
        default:
            throw Self.refuse(code, "unknown command")
        }
    }

    /// Buffers the results that completed up to `now` (the latest one wins).
    private static func catchUp(_ state: inout State, now: Duration) {
        if let shot = state.shot, now >= shot.at {
            var words = measure(at: shot.at, state.environment)
            if shot.rhtOnly { words[0] = 0 }
            state.result = words
            state.shot = nil
        }
        if case .periodic(let start, let interval, let latest) = state.mode {
            let due = Int(((now - start) / interval).rounded(.down))
            if due > latest {
                state.result = measure(at: start + interval * due, state.environment)
                state.mode = .periodic(start: start, interval: interval, latest: due)
            }
        }
    }

    /// The bus fills in the real bus name, address and operation; the address here is a placeholder.
    private static func nack(_ source: I2CError.NoAcknowledgeSource, _ why: String) -> I2CError {
        I2CError(.noAcknowledge(source), address: I2CAddress(0x62), detail: "SCD4x model: " + why)
    }

    private static func refuse(_ code: UInt16, _ why: String) -> I2CError {
        nack(.data, "command 0x\(hex2(UInt8(code >> 8)))\(hex2(UInt8(code & 0xFF))) refused: \(why)")
    }

    // MARK: Physics and encoding

    /// [CO2, S_T, S_RH] for a measurement completing at `time`.
    private static func measure(at time: Duration, _ environment: Environment) -> [UInt16] {
        let ppm = environment.value(.co2, at: time)
        let celsius = environment.value(.temperature, at: time)
        let percent = environment.value(.humidity, at: time)
        return [quantise(ppm, limit: 40_000), quantise((celsius + 45) * 65535 / 175, limit: 65535),
                quantise(percent * 65535 / 100, limit: 65535)]
    }

    private static func quantise(_ value: Double, limit: Double) -> UInt16 {
        guard value.isFinite else { return value > 0 ? UInt16(limit) : 0 }
        return UInt16(min(limit, max(0, value.rounded())))
    }

    /// Words on the wire: MSB, LSB, CRC for each; past the end the bus reads 0xFF.
    private static func encode(_ words: [UInt16], count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for word in words {
            let msb = UInt8(word >> 8), lsb = UInt8(word & 0xFF)
            bytes += [msb, lsb, crc(msb, lsb)]
        }
        if bytes.count < count { bytes += Array(repeating: 0xFF, count: count - bytes.count) }
        return Array(bytes.prefix(count))
    }

    /// CRC-8 of one word (datasheet §3.11): x⁸ + x⁵ + x⁴ + 1 (0x131 with the top bit), initial
    /// value 0xFF, MSB first, no reflection, no final XOR.
    static func crc(_ msb: UInt8, _ lsb: UInt8) -> UInt8 {
        var register = 0xFF
        for byte in [msb, lsb] {
            register ^= Int(byte)
            for _ in 0..<8 {
                register <<= 1
                if register & 0x100 != 0 { register ^= 0x131 }
            }
        }
        return UInt8(register & 0xFF)
    }
}
