import HAL
import HALSimulation
import SensorCore
import Synchronization

/// A register-level simulation of a Bosch BME280 (or BMP280) on I2C, written from the datasheet
/// BST-BME280-DS002 independently of the driver.
///
/// ## Bus face
/// - Reads auto-increment from the register pointer; a write is `pointer, data, address, data, …`
///   (address/data pairs, §6.2.1). ID, calibration, `status` and data registers ignore writes.
/// - `reset` (0xE0) ← 0xB6 and ``powerOnReset()`` restore the register defaults (Table 18) and start
///   the NVM copy: `status.im_update` is set for ``nvmCopyTime``.
/// - `ctrl_hum` (0xF2) is latched only by a following `ctrl_meas` write (§5.4.3).
/// - `config` (0xF5) writes are honoured only in sleep mode (§5.4.6 says they may be ignored otherwise;
///   the model always ignores them, to catch drivers that rely on luck).
/// - A forced-mode trigger (`ctrl_meas` mode 01/10) sets `status.measuring` for the typical
///   measurement time of §9.1, `1 + 2·osr_t + (2·osr_p + 0.5) + (2·osr_h + 0.5)` ms, plus
///   ``extraMeasurementTime``, measured against `environment.clock.now`. At the end the data
///   registers are updated in one go (shadowing) and the mode returns to sleep. Normal mode is
///   modelled as "always fresh": every data read converts anew.
///
/// ## Physical face
/// At the end of a conversion the model reads temperature (°C), pressure (Pa) and humidity (%RH)
/// from the environment and searches the ADC words whose datasheet compensation (its own copy)
/// is nearest, at the resolution the configuration gives: 16 + (osrs − 1) bits for T and P with the
/// IIR filter off, 20 bits with it on (§3.4.2–§3.4.3); humidity is 16 bits. With the filter on, T and
/// P go through `x = (x_old·(c − 1) + x_new) / c` (§3.4.4). A skipped measurement leaves
/// 0x80000 / 0x8000. Unset channels read 25 °C, 101325 Pa, 45 %RH.
///
/// ## Replay
/// ``init(environment:dump:)`` loads the ID, calibration and data registers of an `i2cdump`; the
/// model then keeps those data registers through conversions and resets, so a driver reads what
/// the datasheet formulas give for the dumped registers.
public final class BME280Model: ChipModel, @unchecked Sendable {
    /// Which part the model plays.
    public enum Part: Sendable, Equatable {
        /// `id` 0x60, temperature, pressure, humidity.
        case bme280
        /// `id` 0x58, temperature and pressure only (no `ctrl_hum`, no humidity calibration or data).
        case bmp280
    }

    /// The factory trimming NVM as it appears in the image registers.
    public struct NVMImage: Sendable, Equatable {
        /// `calib00`…`calib25` at 0x88…0xA1 (26 bytes).
        public var calib00: [UInt8]
        /// `calib26`… at 0xE1… (7 bytes used: 0xE1…0xE7).
        public var calib26: [UInt8]

        public init(calib00: [UInt8], calib26: [UInt8]) {
            self.calib00 = calib00
            self.calib26 = calib26
        }

        /// The calibration of the datasheet's worked example:
        /// T1 27504, T2 26435, T3 −1000, P1 36477, …, H1 75, H2 362, H3 0, H4 333, H5 0, H6 30.
        public static let workedExample = NVMImage(
            calib00: [0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC, 0x7D, 0x8E, 0x43, 0xD6, 0xD0, 0x0B, 0x27,
                      0x0B, 0x8C, 0x00, 0xF9, 0xFF, 0x8C, 0x3C, 0xF8, 0xC6, 0x70, 0x17, 0x00, 0x4B],
            calib26: [0x6A, 0x01, 0x00, 0x14, 0x0D, 0x00, 0x1E])
    }

    /// A dump that lacks registers the model needs, named by range.
    public struct DumpError: Error, Equatable, CustomStringConvertible {
        public var first: UInt8
        public var last: UInt8
        public var content: String

        public init(first: UInt8, last: UInt8, content: String) {
            self.first = first
            self.last = last
            self.content = content
        }

        public var description: String {
            let range = first == last ? "0x\(hex2(first))" : "0x\(hex2(first))…0x\(hex2(last))"
            return "i2cdump has no bytes (XX) at \(range) (\(content)); a BME280 replay needs the id 0xD0, "
                + "calibration 0x88…0xA1 and 0xE1…0xE7, and data 0xF7…0xFE"
        }
    }

    // Register addresses, transcribed from the datasheet memory map (§5.3, Table 18).
    fileprivate enum Reg {
        static let calib00: UInt8 = 0x88
        static let calib25: UInt8 = 0xA1
        static let id: UInt8 = 0xD0
        static let reset: UInt8 = 0xE0
        static let calib26: UInt8 = 0xE1
        static let calib41: UInt8 = 0xF0
        static let ctrlHum: UInt8 = 0xF2
        static let status: UInt8 = 0xF3
        static let ctrlMeas: UInt8 = 0xF4
        static let config: UInt8 = 0xF5
        static let pressMSB: UInt8 = 0xF7
        static let tempMSB: UInt8 = 0xFA
        static let humMSB: UInt8 = 0xFD
        static let humLSB: UInt8 = 0xFE
    }
    fileprivate static let resetWord: UInt8 = 0xB6
    fileprivate static let statusMeasuring: UInt8 = 0x08
    fileprivate static let statusImUpdate: UInt8 = 0x01
    /// Defaults for unset channels.
    fileprivate static let fallback: [Channel: Double] = [.temperature: 25, .pressure: 101_325, .humidity: 45]

    fileprivate struct State {
        var environment: Environment
        var part: Part
        var nvm: NVMImage
        var registers = [UInt8](repeating: 0, count: 256)
        var pointer: UInt8 = 0
        /// `osrs_h` as latched by the last `ctrl_meas` write.
        var latchedHumidityOversampling: UInt8 = 0
        var conversionEnd: Duration?
        var nvmReadyAt: Duration = .zero
        var filteredT: Int?
        var filteredP: Int?
        var replaying = false
        var nvmCopyTime = Duration.microseconds(500)
        var extraMeasurementTime = Duration.zero
        var conversions = 0
    }
    private let state: Mutex<State>

    /// A BME280 (or BMP280) with factory trimming `nvm`, freshly powered on.
    public init(environment: Environment, part: Part = .bme280, nvm: NVMImage = .workedExample) {
        state = Mutex(State(environment: environment, part: part, nvm: nvm))
        state.withLock { $0.powerOn(now: $0.environment.clock.now) }
    }

    /// A model replaying a dump taken with `i2cdump -y BUS 0x76` on a real board: ID, calibration
    /// and data registers come from the dump; conversions leave the data registers alone.
    ///
    /// - Throws: ``DumpError`` naming the first missing register range. A dump whose `id` reads
    ///   0x58 is replayed as a BMP280 and needs no humidity registers.
    public convenience init(environment: Environment, dump: I2CDump) throws(DumpError) {
        func need(_ first: UInt8, _ last: UInt8, _ content: String) throws(DumpError) -> [UInt8] {
            guard let bytes = dump.slice(Int(first), count: Int(last - first) + 1) else {
                throw DumpError(first: first, last: last, content: content)
            }
            return bytes
        }
        let id = try need(0xD0, 0xD0, "chip id")[0]
        let part: Part = id == 0x58 ? .bmp280 : .bme280
        let low = try need(0x88, 0xA1, "calibration dig_T1…dig_P9, dig_H1")
        var high: [UInt8] = []
        let data: [UInt8]
        if part == .bme280 {
            high = try need(0xE1, 0xE7, "humidity calibration dig_H2…dig_H6")
            data = try need(0xF7, 0xFE, "data press/temp/hum")
        } else {
            data = try need(0xF7, 0xFC, "data press/temp")
        }
        self.init(environment: environment, part: part, nvm: NVMImage(calib00: low, calib26: high))
        state.withLock { state in
            state.registers[Int(Reg.id)] = id
            state.replaying = true
            for (i, byte) in data.enumerated() { state.registers[Int(Reg.pressMSB) + i] = byte }
        }
    }

    // MARK: Knobs and introspection for tests

    /// True for a model built from a dump: conversions do not touch the data registers.
    public var isReplaying: Bool { state.withLock { $0.replaying } }

    /// How long `im_update` stays set after a reset (default 0.5 ms; the datasheet allows 2 ms start-up).
    public var nvmCopyTime: Duration {
        get { state.withLock { $0.nvmCopyTime } }
        set { state.withLock { $0.nvmCopyTime = newValue } }
    }

    /// Added to every conversion: a slow or ageing chip.
    public var extraMeasurementTime: Duration {
        get { state.withLock { $0.extraMeasurementTime } }
        set { state.withLock { $0.extraMeasurementTime = newValue } }
    }

    /// Forced or normal-mode conversions completed since creation.
    public var conversions: Int { state.withLock { $0.conversions } }

    /// A register as the bus would read it now, without moving the pointer.
    public func peek(_ register: UInt8) -> UInt8 {
        state.withLock { state in
            let now = state.environment.clock.now
            state.settle(now: now)
            return state.value(at: register, now: now)
        }
    }

    // MARK: ChipModel

    public var environment: Environment {
        get { state.withLock { $0.environment } }
        set { state.withLock { $0.environment = newValue } }
    }

    public var physicalChannels: [Channel] {
        state.withLock { $0.part == .bme280 ? [.temperature, .humidity, .pressure] : [.temperature, .pressure] }
    }

    /// The datasheet operating range (§1): −40…85 °C, 300…1100 hPa, 0…100 %RH.
    public func range(of channel: Channel) -> ClosedRange<Double> {
        switch channel {
        case .temperature: -40...85
        case .pressure: 30_000...110_000
        case .humidity: 0...100
        default: 0...0
        }
    }

    /// One ADC step at the present conditions and configuration, plus the output quantum
    /// (0.01 °C, 1/256 Pa, 1/1024 %RH). The model encodes the nearest ADC word, so a correct driver
    /// is off by at most about half of this; the full step is reported as margin.
    /// Typically ≈ 0.01 °C, ≈ 3 Pa at ×1 (16-bit) down to ≈ 0.2 Pa at ×16 or with the filter on, ≈ 0.012 %RH.
    public func resolution(of channel: Channel) -> Double {
        state.withLock { $0.resolution(of: channel) }
    }

    public func powerOnReset() {
        state.withLock { $0.powerOn(now: $0.environment.clock.now) }
    }

    // MARK: SimulatedI2CDevice

    public func write(_ bytes: [UInt8]) throws(I2CError) {
        state.withLock { state in
            let now = state.environment.clock.now
            state.settle(now: now)
            guard let first = bytes.first else { return }
            state.pointer = first
            // §6.2.1: after the first register address, data and further addresses alternate.
            var index = 1
            while index < bytes.count {
                state.store(bytes[index], at: state.pointer, now: now)
                index += 1
                if index < bytes.count {
                    state.pointer = bytes[index]
                    index += 1
                }
            }
        }
    }

    public func read(count: Int) throws(I2CError) -> [UInt8] {
        state.withLock { state in
            let now = state.environment.clock.now
            state.settle(now: now)
            var out: [UInt8] = []
            out.reserveCapacity(count)
            let end = Int(state.pointer) + count - 1
            if state.isNormalMode, Int(state.pointer) <= Int(Reg.humLSB), end >= Int(Reg.pressMSB) {
                state.convert(at: now)
            }
            for _ in 0..<count {
                out.append(state.value(at: state.pointer, now: now))
                state.pointer &+= 1
            }
            return out
        }
    }
}

// MARK: - State machine

extension BME280Model.State {
    typealias Reg = BME280Model.Reg

    var isNormalMode: Bool { registers[Int(Reg.ctrlMeas)] & 0x03 == 0x03 }

    mutating func powerOn(now: Duration) {
        let keep = replaying ? Array(registers[Int(Reg.pressMSB)...Int(Reg.humLSB)]) : nil
        registers = [UInt8](repeating: 0, count: 256)
        registers[Int(Reg.id)] = part == .bme280 ? 0x60 : 0x58
        for (i, byte) in nvm.calib00.prefix(26).enumerated() { registers[Int(Reg.calib00) + i] = byte }
        if part == .bme280 {
            for (i, byte) in nvm.calib26.prefix(16).enumerated() { registers[Int(Reg.calib26) + i] = byte }
        }
        // Data register reset values (Table 18): press 0x80 00 00, temp 0x80 00 00, hum 0x80 00.
        registers[Int(Reg.pressMSB)] = 0x80
        registers[Int(Reg.tempMSB)] = 0x80
        if part == .bme280 { registers[Int(Reg.humMSB)] = 0x80 }
        if let keep {
            for (i, byte) in keep.enumerated() { registers[Int(Reg.pressMSB) + i] = byte }
        }
        pointer = 0
        latchedHumidityOversampling = 0
        conversionEnd = nil
        filteredT = nil
        filteredP = nil
        nvmReadyAt = now + nvmCopyTime
    }

    func value(at register: UInt8, now: Duration) -> UInt8 {
        switch register {
        case Reg.status:
            (conversionEnd != nil ? BME280Model.statusMeasuring : 0) | (now < nvmReadyAt ? BME280Model.statusImUpdate : 0)
        case Reg.reset:
            0x00
        default:
            registers[Int(register)]
        }
    }

    mutating func store(_ value: UInt8, at register: UInt8, now: Duration) {
        switch register {
        case Reg.reset:
            if value == BME280Model.resetWord { powerOn(now: now) }
        case Reg.ctrlHum:
            if part == .bme280 { registers[Int(register)] = value & 0x07 }
        case Reg.config:
            // §5.4.6: honoured in sleep mode only.
            if registers[Int(Reg.ctrlMeas)] & 0x03 == 0, conversionEnd == nil { registers[Int(register)] = value }
        case Reg.ctrlMeas:
            registers[Int(register)] = value
            latchedHumidityOversampling = part == .bme280 ? registers[Int(Reg.ctrlHum)] & 0x07 : 0
            if value & 0x03 == 0x01 || value & 0x03 == 0x02 {
                conversionEnd = now + measurementTime() + extraMeasurementTime
            }
        case Reg.id, Reg.status, Reg.calib00...Reg.calib25, Reg.calib26...Reg.calib41, Reg.pressMSB...Reg.humLSB:
            break  // read-only
        default:
            registers[Int(register)] = value
        }
    }

    /// Oversampling factor of a 3-bit `osrs` code (§5.4.3, §5.4.5): 0, 1, 2, 4, 8, 16, 16, 16.
    static func factor(_ code: UInt8) -> Int { code == 0 ? 0 : 1 << Swift.min(Int(code) - 1, 4) }

    var osrsT: UInt8 { registers[Int(Reg.ctrlMeas)] >> 5 }
    var osrsP: UInt8 { (registers[Int(Reg.ctrlMeas)] >> 2) & 0x07 }
    var filterCoefficient: Int {
        let code = Int((registers[Int(Reg.config)] >> 2) & 0x07)
        return code == 0 ? 1 : 1 << Swift.min(code, 4)
    }

    /// Typical measurement time, datasheet §9.1.
    func measurementTime() -> Duration {
        let t = Self.factor(osrsT), p = Self.factor(osrsP), h = Self.factor(latchedHumidityOversampling)
        var micros = 1000 + 2000 * t
        if p > 0 { micros += 2000 * p + 500 }
        if h > 0 { micros += 2000 * h + 500 }
        return .microseconds(micros)
    }

    /// ADC bits of T or P for an `osrs` code (§3.4.2–§3.4.3): 20 with the filter, else 16 + (code − 1).
    func bits(_ code: UInt8) -> Int {
        filterCoefficient > 1 ? 20 : Swift.min(20, 16 + Swift.max(Int(code), 1) - 1)
    }

    /// Completes a conversion whose time is up.
    mutating func settle(now: Duration) {
        guard let end = conversionEnd, now >= end else { return }
        convert(at: end)
        conversionEnd = nil
        registers[Int(Reg.ctrlMeas)] &= ~0x03  // back to sleep mode
    }

    func world(_ channel: Channel, at time: Duration) -> Double {
        environment.value(channel, at: time, fallback: BME280Model.fallback[channel] ?? 0)
    }

    /// Encodes the environment at `time` into the data registers.
    mutating func convert(at time: Duration) {
        conversions += 1
        guard !replaying else { return }
        let trim = BME280Model.Trimming(low: nvm.calib00, high: nvm.calib26)

        // Temperature: nearest t_fine (1/5120 °C), at the configured resolution, then the IIR filter.
        let tBits = bits(osrsT)
        let celsius = world(.temperature, at: time)
        var adcT = BME280Model.nearestCode(levels: 1 << tBits, target: celsius) {
            Double(trim.fineTemperature($0 << (20 - tBits))) / 5120
        } << (20 - tBits)
        if filterCoefficient > 1 {
            let c = filterCoefficient
            adcT = filteredT.map { ($0 * (c - 1) + adcT) / c } ?? adcT
            filteredT = adcT
        }
        let fine = trim.fineTemperature(adcT)

        var adcP = 0x80000
        if osrsP != 0 {
            let pBits = bits(osrsP)
            let pascals = world(.pressure, at: time)
            adcP = BME280Model.nearestCode(levels: 1 << pBits, target: pascals) {
                Double(trim.pressureQ8($0 << (20 - pBits), fine: fine)) / 256
            } << (20 - pBits)
            if filterCoefficient > 1 {
                let c = filterCoefficient
                adcP = filteredP.map { ($0 * (c - 1) + adcP) / c } ?? adcP
                filteredP = adcP
            }
        }
        if osrsT == 0 { adcT = 0x80000 }
        put20(adcT, at: Reg.tempMSB)
        put20(adcP, at: Reg.pressMSB)

        if part == .bme280 {
            var adcH = 0x8000
            if latchedHumidityOversampling != 0 {
                let percent = world(.humidity, at: time)
                adcH = BME280Model.nearestCode(levels: 1 << 16, target: percent) {
                    Double(trim.humidityQ10($0, fine: fine)) / 1024
                }
            }
            registers[Int(Reg.humMSB)] = UInt8(adcH >> 8)
            registers[Int(Reg.humMSB) + 1] = UInt8(adcH & 0xFF)
        }
    }

    /// `msb = adc[19:12]`, `lsb = adc[11:4]`, `xlsb[7:4] = adc[3:0]` (§5.4.7, §5.4.8).
    mutating func put20(_ adc: Int, at register: UInt8) {
        registers[Int(register)] = UInt8((adc >> 12) & 0xFF)
        registers[Int(register) + 1] = UInt8((adc >> 4) & 0xFF)
        registers[Int(register) + 2] = UInt8((adc & 0x0F) << 4)
    }

    func resolution(of channel: Channel) -> Double {
        let trim = BME280Model.Trimming(low: nvm.calib00, high: nvm.calib26)
        let now = environment.clock.now
        let tQuantum = 1 << (20 - bits(osrsT))
        let adcT = BME280Model.nearestCode(levels: 1 << 20, target: world(.temperature, at: now)) {
            Double(trim.fineTemperature($0)) / 5120
        }
        let fine = trim.fineTemperature(adcT)
        switch channel {
        case .temperature:
            let step = Double(abs(trim.fineTemperature(adcT + tQuantum) - fine)) / 5120
            return step + 0.01
        case .pressure:
            let quantum = 1 << (20 - bits(osrsP))
            let adcP = BME280Model.nearestCode(levels: 1 << 20, target: world(.pressure, at: now)) {
                Double(trim.pressureQ8($0, fine: fine)) / 256
            }
            let here = trim.pressureQ8(adcP, fine: fine)
            let next = trim.pressureQ8(Swift.min(adcP + quantum, (1 << 20) - 1), fine: fine)
            let prev = trim.pressureQ8(Swift.max(adcP - quantum, 0), fine: fine)
            return Double(Swift.max(abs(next - here), abs(here - prev))) / 256 + 1.0 / 256
        case .humidity:
            let adcH = BME280Model.nearestCode(levels: 1 << 16, target: world(.humidity, at: now)) {
                Double(trim.humidityQ10($0, fine: fine)) / 1024
            }
            let here = trim.humidityQ10(adcH, fine: fine)
            let step = Swift.max(abs(trim.humidityQ10(Swift.min(adcH + 1, 65535), fine: fine) - here),
                                 abs(here - trim.humidityQ10(Swift.max(adcH - 1, 0), fine: fine)))
            return Double(step) / 1024 + 1.0 / 1024
        default:
            return 0
        }
    }
}
