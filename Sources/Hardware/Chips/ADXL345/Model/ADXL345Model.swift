import HAL
import HALSimulation
import SensorCore
import Synchronization

/// A register-level model of the ADXL345 accelerometer, written from the data sheet (Rev. E)
/// independently of the driver: its constants are transcribed here, never imported.
///
/// ## Bus face
/// - Register pointer with auto-increment (``RegisterFile``). Power-on values per the data sheet
///   "Register Map": DEVID 0xE5 (read-only), BW_RATE 0x0A (100 Hz), INT_SOURCE 0x02, all others
///   0x00: standby, FIFO bypassed, 10-bit ±2 g right-justified.
/// - Setting MEASURE (POWER_CTL bit 3) starts conversions at the BW_RATE data rate, the first one
///   after the turn-on time 1.1 ms + 1/ODR. Conversions are computed lazily on each bus access from
///   `environment.clock.now`: every sample instant since the last access samples
///   `environment.value(.accelerationX/Y/Z, at: t)`, so scenario waveforms reach the driver
///   sample by sample.
/// - Encoding follows DATA_FORMAT at conversion time: FULL_RES → 3.9 mg/LSB with 10…13 bits for
///   ±2…±16 g; otherwise 10 bits with 3.9/7.8/15.6/31.2 mg/LSB. Values outside the range
///   saturate. Right-justified only (JUSTIFY is stored but not modelled).
/// - FIFO_CTL mode: bypass → the newest sample sits in DATAX0…DATAZ1 and the FIFO is empty;
///   FIFO → collects 32 and then drops new samples; stream (and trigger, whose trigger event is
///   not modelled) → keeps the newest 32. A read that starts at DATAX0 pops the oldest entry
///   into DATAX0…DATAZ1 first, so one 6-byte burst reads one entry. FIFO_STATUS D5:D0 reports
///   the entries; INT_SOURCE reports DATA_READY, WATERMARK and OVERRUN.
/// - SELF_TEST (DATA_FORMAT bit 7) adds ``selfTestShift`` (an electrostatic force, in g) to every
///   conversion.
///
/// ## Replay
/// ``init(environment:dump:)`` loads an `i2cdump` image. A replayed chip is frozen at the dumped
/// instant: DEVID and the data registers stay as dumped, FIFO_STATUS always reports 32 entries
/// and every pop returns the dumped sample, so a driver reads the dumped acceleration with zero
/// vibration. Configuration writes are stored but change nothing.
public final class ADXL345Model: ChipModel, @unchecked Sendable {
    /// Register addresses, transcribed from the data sheet "Register Map" for the model.
    enum Reg {
        static let devID: UInt8 = 0x00
        static let reservedLow: ClosedRange<UInt8> = 0x01...0x1C
        static let actTapStatus: UInt8 = 0x2B
        static let bwRate: UInt8 = 0x2C
        static let powerCtl: UInt8 = 0x2D
        static let intSource: UInt8 = 0x30
        static let dataFormat: UInt8 = 0x31
        static let dataX0: UInt8 = 0x32
        static let dataZ1: UInt8 = 0x37
        static let fifoCtl: UInt8 = 0x38
        static let fifoStatus: UInt8 = 0x39
        /// Registers that are stored from a dump as configuration (THRESH_TAP…INT_MAP, DATA_FORMAT, FIFO_CTL).
        static let configuration: [UInt8] = Array(0x1D...0x2A) + [0x2C, 0x2D, 0x2E, 0x2F, 0x31, 0x38]
    }

    static let deviceID: UInt8 = 0xE5
    static let bwRateReset: UInt8 = 0x0A
    /// Full-resolution scale: 3.9 mg/LSB (data sheet Table 1, "Scale Factor").
    static let gPerLSB = 0.0039
    static let fifoCapacity = 32
    /// Turn-on time from standby to the first valid sample is 1.1 ms + 1/ODR (data sheet Table 1).
    static let turnOnDelay = Duration.microseconds(1_100)

    /// Failure to replay a dump.
    public struct ReplayError: Error, Equatable, CustomStringConvertible {
        /// Registers the replay needs that the dump marks `XX` or lacks.
        public var missingRegisters: [UInt8]
        public var description: String {
            "ADXL345 dump lacks register(s) " + missingRegisters.map { "0x" + hex2($0) }.joined(separator: ", ")
                + "; a replay needs DEVID (0x00) and DATAX0…DATAZ1 (0x32…0x37)"
        }
    }

    public let physicalChannels: [Channel] = [.accelerationX, .accelerationY, .accelerationZ]

    private let lock = Mutex(())
    private let registers = RegisterFile()
    /// The environment's three axes, read once per conversion.
    private var axes: Environment.Reader
    private var _environment: Environment { axes.environment }
    private var _selfTestShift: SIMD3<Double>
    /// Converted samples waiting in the FIFO, oldest first.
    private var fifo = SampleRing()
    /// The next conversion instant while MEASURE is set; nil in standby.
    private var nextConversion: Duration?
    /// The environment's values for the conversions of one catch-up (at most the 33 visible ones),
    /// kept between catch-ups so that only the first allocates.
    private var pending: [SIMD3<Double>] = []
    private var overrun = false
    /// A conversion landed in the data registers since they were last read (bypass mode).
    private var freshData = false
    /// The dump being replayed, if any.
    private var replay: I2CDump? { didSet { replaying = replay != nil } }
    /// `replay != nil`, kept apart so the FIFO pops test a flag instead of copying the dump.
    private var replaying = false

    /// The change in g the self-test force adds to each axis. The default (+0.8, −0.8, +1.2 g =
    /// +205, −205, +308 LSB at 3.9 mg/LSB) lies inside the data sheet's self-test limits at every
    /// supply voltage from 2.0 V (X 32…346, Z 60…700 LSB) to 3.6 V. Set it to zero to model a
    /// part whose proof mass is stuck.
    public var selfTestShift: SIMD3<Double> {
        get { lock.withLock { _ in _selfTestShift } }
        set { lock.withLock { _ in _selfTestShift = newValue } }
    }

    public var environment: Environment {
        get { lock.withLock { _ in _environment } }
        set { lock.withLock { _ in axes = Self.axes(of: newValue) } }
    }

    public init(environment: Environment, selfTestShift: SIMD3<Double> = SIMD3(0.8, -0.8, 1.2)) {
        axes = Self.axes(of: environment)
        _selfTestShift = selfTestShift
        registers.readOnly = Set([Reg.devID, Reg.actTapStatus, Reg.intSource, Reg.fifoStatus])
            .union(Reg.reservedLow).union(Reg.dataX0...Reg.dataZ1).union(0x3A...0xFF)
        installHooks()
        resetRegisters()
    }

    /// Replays a register image captured with `i2cdump -y BUS ADDR` (see "Replay" above).
    public convenience init(environment: Environment, dump: I2CDump) throws(ReplayError) {
        let needed = [Reg.devID] + Array(Reg.dataX0...Reg.dataZ1)
        let missing = needed.filter { dump.slice(Int($0), count: 1) == nil }
        guard missing.isEmpty else { throw ReplayError(missingRegisters: missing) }
        self.init(environment: environment)
        lock.withLock { _ in
            replay = dump
            loadReplayImage(dump, includingConfiguration: true)
        }
    }

    // MARK: - Bus face

    public func write(_ bytes: [UInt8]) throws(I2CError) {
        try lock.withLock { _ throws(I2CError) in
            catchUp()
            try registers.busWrite(bytes)
        }
    }

    public func read(count: Int) throws(I2CError) -> [UInt8] {
        lock.withLock { _ in
            catchUp()
            return registers.busRead(count: count)
        }
    }

    // MARK: - Backend face

    public func range(of channel: Channel) -> ClosedRange<Double> {
        guard physicalChannels.contains(channel) else { return 0...0 }
        let (bits, lsb) = lock.withLock { _ in encoding(format: registers[Reg.dataFormat]) }
        let limit = Double(1 << (bits - 1))
        return -limit * lsb...(limit - 1) * lsb
    }

    /// One LSB of the current encoding (rounding costs half of it) plus 0.1 mg for arithmetic;
    /// 0 for channels the chip does not sense (vibration is the driver's computation).
    public func resolution(of channel: Channel) -> Double {
        guard physicalChannels.contains(channel) else { return 0 }
        let lsb = lock.withLock { _ in encoding(format: registers[Reg.dataFormat]).lsb }
        return lsb + 0.0001
    }

    /// Register defaults, empty FIFO, standby. A replayed chip keeps its dumped DEVID and sample.
    public func powerOnReset() {
        lock.withLock { _ in
            resetRegisters()
            if let replay { loadReplayImage(replay, includingConfiguration: false) }
        }
    }

    // MARK: - Internals (called with the lock held)

    private static func axes(of environment: Environment) -> Environment.Reader {
        Environment.Reader(environment, .accelerationX, .accelerationY, .accelerationZ)
    }

    private func resetRegisters() {
        registers.load(Array(repeating: 0, count: 256), at: 0)
        registers[Reg.devID] = Self.deviceID
        registers[Reg.bwRate] = Self.bwRateReset
        registers.pointer = 0
        fifo.removeAll()
        nextConversion = nil
        overrun = false
        freshData = false
    }

    private func loadReplayImage(_ dump: I2CDump, includingConfiguration: Bool) {
        let registersToLoad = [Reg.devID] + Array(Reg.dataX0...Reg.dataZ1)
            + (includingConfiguration ? Reg.configuration : [])
        for register in registersToLoad {
            if let value = dump.slice(Int(register), count: 1)?.first { registers[register] = value }
        }
    }

    private func installHooks() {
        // `unowned(unsafe)`: the hooks live in `registers`, which this model owns and calls only
        // from its own methods, so they never outlive it; the FIFO pops run tens of thousands of
        // times per simulated second, and a checked unowned reference costs a retain each time.
        registers.onWrite[Reg.powerCtl] = { [unowned(unsafe) self] value in
            let measure = value & 0x08 != 0
            if measure, nextConversion == nil {
                nextConversion = _environment.clock.now + Self.turnOnDelay + period
            } else if !measure {
                nextConversion = nil
            }
        }
        registers.onWrite[Reg.bwRate] = { [unowned(unsafe) self] _ in
            if nextConversion != nil { nextConversion = _environment.clock.now + period }
        }
        registers.onWrite[Reg.fifoCtl] = { [unowned(unsafe) self] value in
            // Bypass: "the FIFO is not operational and remains empty".
            if value >> 6 == 0 {
                fifo.removeAll()
                overrun = false
            }
        }
        registers.onRead[Reg.fifoStatus] = { [unowned(unsafe) self] in
            UInt8(replaying ? Self.fifoCapacity : fifo.count)
        }
        registers.onRead[Reg.dataX0] = { [unowned(unsafe) self] in
            if !replaying, let entry = fifo.popFirst() {
                storeData(entry)
                overrun = false
            }
            freshData = false
            return registers[Reg.dataX0]
        }
        registers.onRead[Reg.intSource] = { [unowned(unsafe) self] in
            let entries = replaying ? Self.fifoCapacity : fifo.count
            var bits: UInt8 = 0
            if entries > 0 || freshData { bits |= 0x80 }                       // DATA_READY
            if entries >= Int(registers[Reg.fifoCtl] & 0x1F) { bits |= 0x02 }  // WATERMARK
            if overrun { bits |= 0x01 }                                         // OVERRUN
            return bits
        }
    }

    /// ODR = 3200 Hz / 2^(15 − code): 312.5 µs · 2^(15 − code).
    private var period: Duration {
        .nanoseconds(312_500 << (15 - Int(registers[Reg.bwRate] & 0x0F)))
    }

    /// Bits per axis and g per LSB for a DATA_FORMAT value.
    private func encoding(format: UInt8) -> (bits: Int, lsb: Double) {
        let rangeCode = Int(format & 0x03)
        if format & 0x08 != 0 { return (10 + rangeCode, Self.gPerLSB) }
        return (10, Self.gPerLSB * Double(1 << rangeCode))
    }

    /// Runs every conversion due between the last access and now.
    private func catchUp() {
        guard !replaying, var next = nextConversion else { return }
        let now = _environment.clock.now
        guard next <= now else { return }
        let period = self.period
        // Only the newest 33 conversions can still be seen (32 in the FIFO, one in the data
        // registers); skip the rest so a long idle stretch costs nothing.
        let due = Int((now - next).attoseconds / period.attoseconds) + 1
        let visible = Self.fifoCapacity + 1
        if due > visible {
            next += period * (due - visible)
            if registers[Reg.fifoCtl] >> 6 != 0 { overrun = true }
        }
        // The registers cannot change while catching up (no bus access happens meanwhile), so
        // every conversion of the run uses the same format and FIFO mode.
        let format = registers[Reg.dataFormat], mode = registers[Reg.fifoCtl] >> 6
        let (bits, lsb) = encoding(format: format)
        let shift = format & 0x80 != 0 ? _selfTestShift : nil
        let count = min(due, visible)
        pending.removeAll(keepingCapacity: true)
        pending.append(contentsOf: repeatElement(.zero, count: count))
        axes.values(from: next, every: period, into: &pending)
        for g in pending {
            convert(g, bits: bits, lsb: lsb, selfTestShift: shift, mode: mode)
        }
        nextConversion = next + period * count
    }

    /// One conversion of the environment's acceleration `g`, encoded per DATA_FORMAT (`bits`,
    /// `lsb`, the self-test force when SELF_TEST is set) and stored per the FIFO_CTL `mode`.
    private func convert(_ g: SIMD3<Double>, bits: Int, lsb: Double, selfTestShift: SIMD3<Double>?, mode: UInt8) {
        var g = g
        if let selfTestShift { g += selfTestShift }
        let entry = SIMD3(Self.counts(g.x, lsb: lsb, bits: bits), Self.counts(g.y, lsb: lsb, bits: bits),
                          Self.counts(g.z, lsb: lsb, bits: bits))
        switch mode {
        case 0:  // bypass: the data registers always hold the newest conversion
            storeData(entry)
            freshData = true
        case 1:  // FIFO: stops collecting when full
            if fifo.count < Self.fifoCapacity { fifo.append(entry) } else { overrun = true }
        default:  // stream, trigger: keeps the newest 32
            if fifo.count == Self.fifoCapacity {
                _ = fifo.popFirst()
                overrun = true
            }
            fifo.append(entry)
        }
    }

    /// DATAX0…DATAZ1 ← one conversion, little-endian two's complement per axis.
    private func storeData(_ counts: SIMD3<Int16>) {
        var words = (counts.x.littleEndian, counts.y.littleEndian, counts.z.littleEndian)
        withUnsafeBytes(of: &words) { registers.store($0, at: Reg.dataX0) }
    }

    /// Rounds to the nearest count and saturates at the range limits, as the part's output does.
    static func counts(_ g: Double, lsb: Double, bits: Int) -> Int16 {
        let high = Double((1 << (bits - 1)) - 1), low = -Double(1 << (bits - 1))
        let value = (g / lsb).rounded()
        if value.isNaN { return 0 }
        return Int16(min(max(value, low), high))
    }
}

/// The FIFO's entries (counts per axis), oldest first, in a fixed ring: a conversion or a pop
/// allocates nothing and moves no other entry.
struct SampleRing {
    private var storage = [SIMD3<Int16>](repeating: .zero, count: ADXL345Model.fifoCapacity)
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Appends behind the newest entry; the caller keeps `count` within the capacity.
    mutating func append(_ entry: SIMD3<Int16>) {
        storage[(head + count) % storage.count] = entry
        count += 1
    }

    mutating func popFirst() -> SIMD3<Int16>? {
        guard count > 0 else { return nil }
        defer {
            head = (head + 1) % storage.count
            count -= 1
        }
        return storage[head]
    }

    mutating func removeAll() {
        head = 0
        count = 0
    }
}
