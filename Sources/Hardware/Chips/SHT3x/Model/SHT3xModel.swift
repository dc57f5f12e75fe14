import HAL
import HALSimulation
import SensorCore
import Synchronization

/// A command-level simulation of a Sensirion SHT3x, written from the datasheet (SHT3x-DIS v5,
/// §4) independently of the driver: its command codes, CRC and formulas are its own copies,
/// so a transcription error in either shows up as a failing test.
///
/// ## Bus face
/// - A 2-byte write is a command (MSB first). Unknown command → `.noAcknowledge(.data)` and
///   status bit 1 ("command not processed"). A 5-byte write is an alert-limit write
///   (`cmd cmd data data crc`): a wrong data CRC sets status bit 0 and leaves the limit alone.
///   Any other write length to a command → `.noAcknowledge(.data)`. Empty writes (quick-write
///   probes) and 1-byte writes (an incomplete command) are ACKed and ignored.
/// - Single shot without clock stretching (0x2400/0x240B/0x2416): a read before the
///   conversion time (15/6/4 ms on `environment.clock`) is NACKed on the address, as is any
///   read with nothing to send. With clock stretching (0x2C06/0x2C0D/0x2C10) an early read
///   stretches: the model sleeps on the environment's clock until the result is ready.
/// - Replies are words, each followed by a CRC-8 (poly 0x31, init 0xFF). A reply is consumed
///   by one read; reading past its end gives 0xFF (SDA released).
/// - Status register: defaults 0x8010 (alert pending, reset detected; datasheet Table 18),
///   bit 13 follows the heater, 0x3041 clears bits 15, 11, 10 and 4.
/// - Periodic mode (Table 10, ART 0x2B32), fetch (0xE000, NACK on the read when there is no
///   new result) and break (0x3093) are modelled; alerts are not evaluated (bits 15/11/10
///   only change on reset and clear).
/// - A command sent while a single-shot conversion runs replaces it (simplification: the
///   datasheet does not say what the chip does).
/// - There is no register image, so an `i2cdump` cannot be replayed into this model.
///
/// ## Physical face
/// Temperature and humidity come from `environment` at the instant the conversion finishes
/// and are encoded with S_T = (T + 45) / 175 · 65535 and S_RH = RH / 100 · 65535, rounded and
/// limited to 0…65535. The heater adds `heaterRise` (+3 °C) to the reported temperature,
/// ramping linearly over the first second of heating and vanishing at once when switched off
/// (a simplification: a real die cools over seconds). Humidity is left unchanged by the heater.
public final class SHT3xModel: ChipModel, @unchecked Sendable {
    /// Temperature the heater adds once fully warmed up (a modelling choice: the datasheet
    /// gives heater power, 3.6–33 mW, not a temperature rise).
    public static let heaterRise = 3.0
    /// Time for the heater to reach `heaterRise` (linear ramp).
    public static let heaterRampTime = Duration.seconds(1)

    private enum Repeatability {
        case high, medium, low

        /// Datasheet Table 4 maxima, as Linux `SHT3X_NONBLOCKING_WAIT_TIME_*`.
        var conversionTime: Duration {
            switch self {
            case .high: .milliseconds(15)
            case .medium: .milliseconds(6)
            case .low: .milliseconds(4)
            }
        }
    }

    /// Command words transcribed from the datasheet for the model (not the driver's).
    private enum Code {
        /// Table 9: single shot → (repeatability, clock stretching).
        static let singleShot: [UInt16: (Repeatability, stretch: Bool)] = [
            0x2C06: (.high, true), 0x2C0D: (.medium, true), 0x2C10: (.low, true),
            0x2400: (.high, false), 0x240B: (.medium, false), 0x2416: (.low, false),
        ]
        /// Table 10 (+ Table 12 ART, 4 Hz): periodic → (repeatability, period).
        static let periodic: [UInt16: (Repeatability, period: Duration)] = [
            0x2032: (.high, .seconds(2)), 0x2024: (.medium, .seconds(2)), 0x202F: (.low, .seconds(2)),
            0x2130: (.high, .seconds(1)), 0x2126: (.medium, .seconds(1)), 0x212D: (.low, .seconds(1)),
            0x2236: (.high, .milliseconds(500)), 0x2220: (.medium, .milliseconds(500)), 0x222B: (.low, .milliseconds(500)),
            0x2334: (.high, .milliseconds(250)), 0x2322: (.medium, .milliseconds(250)), 0x2329: (.low, .milliseconds(250)),
            0x2737: (.high, .milliseconds(100)), 0x2721: (.medium, .milliseconds(100)), 0x272A: (.low, .milliseconds(100)),
            0x2B32: (.high, .milliseconds(250)),
        ]
        static let fetchData: UInt16 = 0xE000
        static let breakPeriodic: UInt16 = 0x3093
        static let softReset: UInt16 = 0x30A2
        static let heaterOn: UInt16 = 0x306D
        static let heaterOff: UInt16 = 0x3066
        static let readStatus: UInt16 = 0xF32D
        static let clearStatus: UInt16 = 0x3041
        static let readSerial: UInt16 = 0x3780
        /// Alert limits, in the order high-set, high-clear, low-clear, low-set.
        static let readLimit: [UInt16] = [0xE11F, 0xE114, 0xE109, 0xE102]
        static let writeLimit: [UInt16] = [0x611D, 0x6116, 0x610B, 0x6100]
    }

    /// Status bits (datasheet Table 18).
    private enum Bit {
        static let alertPending: UInt16 = 0x8000
        static let heater: UInt16 = 0x2000
        static let rhTrackingAlert: UInt16 = 0x0800
        static let tTrackingAlert: UInt16 = 0x0400
        static let resetDetected: UInt16 = 0x0010
        static let commandNotProcessed: UInt16 = 0x0002
        static let writeChecksumWrong: UInt16 = 0x0001
        static let powerOnDefault: UInt16 = alertPending | resetDetected
        static let clearedByClearStatus: UInt16 = alertPending | rhTrackingAlert | tTrackingAlert | resetDetected
    }

    private enum Reply {
        case nothing
        case measurement(readyAt: Duration, stretch: Bool, words: [UInt16])
        case words([UInt16])
    }

    private struct Periodic {
        var start: Duration
        var period: Duration
        var repeatability: Repeatability
        var lastFetched: Int
    }

    private struct State {
        var environment: Environment
        var status: UInt16 = Bit.powerOnDefault
        var heaterSince: Duration?
        var reply: Reply = .nothing
        var periodic: Periodic?
        var limits: [UInt16] = SHT3xModel.defaultLimits
    }

    private let state: Mutex<State>
    /// The factory serial number returned by 0x3780.
    public let serialNumber: UInt32

    public init(environment: Environment, serialNumber: UInt32 = 0x1A2B_3C4D) {
        state = Mutex(State(environment: environment))
        self.serialNumber = serialNumber
    }

    // MARK: ChipModel

    public let physicalChannels: [Channel] = [.temperature, .humidity]

    public var environment: Environment {
        get { state.withLock { $0.environment } }
        set { state.withLock { $0.environment = newValue } }
    }

    /// The specified range: −40…125 °C, 0…100 %RH (datasheet Tables 1–2).
    public func range(of channel: Channel) -> ClosedRange<Double> {
        switch channel {
        case .temperature: -40...125
        case .humidity: 0...100
        default: 0...0
        }
    }

    /// One raw step (175/65535 °C, 100/65535 %RH) plus a tiny margin for floating point.
    public func resolution(of channel: Channel) -> Double {
        switch channel {
        case .temperature: 175.0 / 65535 + 1e-9
        case .humidity: 100.0 / 65535 + 1e-9
        default: 0
        }
    }

    /// Heater off, status 0x8010, alert limits to defaults, periodic mode stopped, any pending
    /// result dropped. The serial number stays (it is factory data).
    public func powerOnReset() {
        state.withLock { Self.reset(&$0) }
    }

    // MARK: Inspection for tests and demos

    /// The status register as the chip would report it now.
    public var statusRegister: UInt16 {
        state.withLock { $0.status | ($0.heaterSince != nil ? Bit.heater : 0) }
    }

    public var isHeaterOn: Bool { state.withLock { $0.heaterSince != nil } }

    // MARK: SimulatedI2CDevice

    public func write(_ bytes: [UInt8]) throws(I2CError) {
        guard bytes.count >= 2 else { return }
        let code = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let data = Array(bytes.dropFirst(2))
        try state.withLock { state throws(I2CError) in
            try execute(code, data: data, in: &state)
        }
    }

    public func read(count: Int) throws(I2CError) -> [UInt8] {
        try state.withLock { state throws(I2CError) in
            switch state.reply {
            case .nothing:
                throw Self.nack(.address, "no data to read")
            case .measurement(let readyAt, let stretch, let words):
                let now = state.environment.clock.now
                if now < readyAt {
                    guard stretch else { throw Self.nack(.address, "conversion still running") }
                    state.environment.clock.sleep(for: readyAt - now)
                }
                state.reply = .nothing
                return Self.encode(words, count: count)
            case .words(let words):
                state.reply = .nothing
                return Self.encode(words, count: count)
            }
        }
    }

    // MARK: Command decoder

    private func execute(_ code: UInt16, data: [UInt8], in state: inout State) throws(I2CError) {
        let now = state.environment.clock.now
        if let limit = Code.writeLimit.firstIndex(of: code) {
            guard data.count == 3 else {
                guard data.isEmpty else { throw Self.refuse(code, &state) }
                return   // command without its data: the transfer ended early, nothing happens
            }
            if Self.crc(data[0], data[1]) == data[2] {
                state.limits[limit] = UInt16(data[0]) << 8 | UInt16(data[1])
                state.status &= ~Bit.writeChecksumWrong
            } else {
                state.status |= Bit.writeChecksumWrong
            }
            state.status &= ~Bit.commandNotProcessed
            return
        }
        guard data.isEmpty else { throw Self.refuse(code, &state) }

        if let (repeatability, stretch) = Code.singleShot[code] {
            state.periodic = nil
            let readyAt = now + repeatability.conversionTime
            state.reply = .measurement(readyAt: readyAt, stretch: stretch, words: Self.convert(at: readyAt, state))
        } else if let (repeatability, period) = Code.periodic[code] {
            state.periodic = Periodic(start: now, period: period, repeatability: repeatability, lastFetched: -1)
            state.reply = .nothing
        } else if let limit = Code.readLimit.firstIndex(of: code) {
            state.reply = .words([state.limits[limit]])
        } else {
            switch code {
            case Code.fetchData:
                state.reply = .nothing
                if var periodic = state.periodic {
                    let elapsed = now - periodic.start - periodic.repeatability.conversionTime
                    if elapsed >= .zero {
                        let latest = Int((elapsed / periodic.period).rounded(.down))
                        if latest > periodic.lastFetched {
                            periodic.lastFetched = latest
                            let finished = periodic.start + periodic.period * latest
                                + periodic.repeatability.conversionTime
                            state.reply = .words(Self.convert(at: finished, state))
                            state.periodic = periodic
                        }
                    }
                }
            case Code.breakPeriodic:
                state.periodic = nil
                state.reply = .nothing
            case Code.softReset:
                Self.reset(&state)
            case Code.heaterOn:
                if state.heaterSince == nil { state.heaterSince = now }
            case Code.heaterOff:
                state.heaterSince = nil
            case Code.readStatus:
                // Reading the status leaves bit 1 alone, or that bit could never be seen.
                state.reply = .words([state.status | (state.heaterSince != nil ? Bit.heater : 0)])
                return
            case Code.clearStatus:
                state.status &= ~Bit.clearedByClearStatus
            case Code.readSerial:
                state.reply = .words([UInt16(serialNumber >> 16), UInt16(serialNumber & 0xFFFF)])
            default:
                throw Self.refuse(code, &state)
            }
        }
        state.status &= ~Bit.commandNotProcessed
    }

    /// The bus fills in the real bus name, address and operation; the address here is a placeholder.
    private static func nack(_ source: I2CError.NoAcknowledgeSource, _ why: String) -> I2CError {
        I2CError(.noAcknowledge(source), address: I2CAddress(0x44), detail: "SHT3x model: " + why)
    }

    private static func refuse(_ code: UInt16, _ state: inout State) -> I2CError {
        state.status |= Bit.commandNotProcessed
        return nack(.data, "command 0x\(hex2(UInt8(code >> 8)))\(hex2(UInt8(code & 0xFF))) not accepted")
    }

    private static func reset(_ state: inout State) {
        state.status = Bit.powerOnDefault
        state.heaterSince = nil
        state.reply = .nothing
        state.periodic = nil
        state.limits = defaultLimits
    }

    // MARK: Physics and encoding

    /// [S_T, S_RH] as the chip would report them for a conversion finishing at `time`.
    private static func convert(at time: Duration, _ state: State) -> [UInt16] {
        var temperature = state.environment.value(.temperature, at: time)
        if let since = state.heaterSince {
            let warmed = min(1, max(0, (time - since) / heaterRampTime))
            temperature += heaterRise * warmed
        }
        let humidity = state.environment.value(.humidity, at: time)
        return [rawTemperature(temperature), rawHumidity(humidity)]
    }

    /// Datasheet §4.13 inverted: S_T = (T + 45) · 65535 / 175.
    private static func rawTemperature(_ celsius: Double) -> UInt16 {
        quantise((celsius + 45) * 65535 / 175)
    }

    /// Datasheet §4.13 inverted: S_RH = RH · 65535 / 100.
    private static func rawHumidity(_ percent: Double) -> UInt16 {
        quantise(percent * 65535 / 100)
    }

    private static func quantise(_ value: Double) -> UInt16 {
        guard value.isFinite else { return value > 0 ? .max : 0 }
        return UInt16(min(65535, max(0, value.rounded())))
    }

    /// Alert-limit defaults (high-set 60 °C/80 %RH, high-clear 58 °C/79 %RH, low-clear
    /// −9 °C/22 %RH, low-set −10 °C/20 %RH; Sensirion alert-mode application note, not
    /// re-checked), packed as 7 MSBs of S_RH and 9 MSBs of S_T (the SHT3x datasheet).
    static let defaultLimits: [UInt16] = [(60.0, 80.0), (58, 79), (-9, 22), (-10, 20)].map { t, rh in
        (rawHumidity(rh) & 0xFE00) | ((rawTemperature(t) >> 7) & 0x01FF)
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

    /// CRC-8 of one word (datasheet §4.12, Table 20): x⁸ + x⁵ + x⁴ + 1 (0x131 with the top
    /// bit), initial value 0xFF, MSB first, no reflection, no final XOR.
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
