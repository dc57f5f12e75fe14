import HAL
import SensorCore
import Synchronization

/// Driver for the Analog Devices ADXL345 3-axis accelerometer on I2C (0x53 with ALT ADDRESS/SDO
/// low, 0x1D with it high).
///
/// Reports the mean acceleration per axis over a window of samples and the vibration of the
/// acceleration magnitude over the same window (``WindowSummary``), all in g. The part runs in
/// full-resolution mode (3.9 mg/LSB at every range) with the FIFO in stream mode, so a window is
/// gathered by draining the FIFO rather than by polling single samples.
///
/// ## Wire sequence
/// - `start()`: read DEVID (0x00), expect 0xE5; POWER_CTL (0x2D) ← 0x00 (standby while
///   configuring); BW_RATE (0x2C) ← rate code; DATA_FORMAT (0x31) ← FULL_RES | range;
///   FIFO_CTL (0x38) ← 0x00 (bypass: empties entries left from an earlier configuration), then
///   ← 0x80 (stream); POWER_CTL ← 0x08 (MEASURE).
/// - `sample()`: repeat { read FIFO_STATUS (0x39); for each entry read 6 bytes from DATAX0 (0x32),
///   each burst popping one entry; when empty, sleep on the clock for about half a FIFO's worth
///   of sample periods } until the window is full or the timeout (``Options/timeout(forSamples:)``)
///   passes → ``ADXL345Error/notReady(timeout:received:expected:)``.
/// - `selfTest()`: see ``selfTest()``.
///
/// ## Concurrency
/// A `Mutex` serialises `start`, `sample` and `selfTest`: a window is many transactions and two
/// callers draining one FIFO would each get half of it.
public final class ADXL345: Sensor {
    /// The address with ALT ADDRESS (SDO) tied low.
    public static let primaryAddress = I2CAddress(UInt8(0x53))
    /// The address with ALT ADDRESS (SDO) tied high.
    public static let alternateAddress = I2CAddress(UInt8(0x1D))

    /// How the part is set up and how much each reading averages ("chip variants are data").
    public struct Options: Equatable, Sendable {
        /// The g range. In full resolution the scale is 3.9 mg/LSB at every range; the range only
        /// sets where the output saturates. Default ±16 g: shocks on machinery do not clip.
        public var range: MeasurementRange
        /// Default 400 Hz: 200 Hz of bandwidth and about 40 % of a 100 kHz I2C bus.
        public var outputDataRate: OutputDataRate
        /// Samples per reading (1…65 536). Default 256: 0.64 s at 400 Hz.
        public var windowSamples: Int
        /// The part's supply, which scales the self-test limits. Default 3.3 V (Pi breakouts).
        public var supplyVoltage: SupplyVoltage
        /// Samples averaged for each half of the self-test; nil: 0.1 s worth but at least 10,
        /// the starting point ADI's "Using Self-Test" procedure suggests.
        public var selfTestSamples: Int?

        public init(range: MeasurementRange = .g16, outputDataRate: OutputDataRate = .hz400,
                    windowSamples: Int = 256, supplyVoltage: SupplyVoltage = .v3_30, selfTestSamples: Int? = nil) {
            self.range = range
            self.outputDataRate = outputDataRate
            self.windowSamples = windowSamples
            self.supplyVoltage = supplyVoltage
            self.selfTestSamples = selfTestSamples
        }

        /// The DATA_FORMAT value for normal measurement: FULL_RES and the range, right-justified.
        public var dataFormat: DataFormat { DataFormat.fullResolution.union(.range(range)) }

        /// Samples averaged per self-test half.
        public var selfTestSampleCount: Int {
            selfTestSamples ?? max(10, Int((outputDataRate.hertz * 0.1).rounded(.up)))
        }

        /// How long collecting `count` samples may take: twice their nominal duration plus 100 ms
        /// for bus latency and the part's turn-on time (1.1 ms + 1/ODR).
        public func timeout(forSamples count: Int) -> Duration {
            outputDataRate.period * (2 * count) + .milliseconds(100)
        }

        static let windowLimits = 1...65_536
    }

    public let chipName = "ADXL345"
    public let address: I2CAddress
    public let channels: [Channel] = [.accelerationX, .accelerationY, .accelerationZ, .vibrationRMS, .vibrationPeak]
    public let options: Options

    private let bus: any I2CBus
    private let clock: any HALClock
    /// Whether the last `start()` succeeded; also the lock that serialises whole operations.
    private let started = Mutex(false)

    public init(bus: any I2CBus, address: I2CAddress = ADXL345.primaryAddress, clock: any HALClock,
                options: Options = Options()) {
        self.bus = bus
        self.address = address
        self.clock = clock
        self.options = options
    }

    /// Identifies and configures the part; callable again after a failure or a power cycle.
    public func start() throws(ADXL345Error) {
        try started.withLock { (started: inout Bool) throws(ADXL345Error) in
            started = false
            try validateOptions()
            let id = try readRegister(Register.devID)
            guard id == ADXL345.deviceID else {
                throw .unexpectedChipID(expected: ADXL345.deviceID, actual: id)
            }
            // Configure in standby and set MEASURE last ("Register 0x2D—POWER_CTL": the data sheet
            // recommends configuring the part in standby mode).
            try writeRegister(Register.powerCtl, 0)
            try writeRegister(Register.bwRate, BandwidthRate.rate(options.outputDataRate).rawValue)
            try writeRegister(Register.dataFormat, options.dataFormat.rawValue)
            try writeRegister(Register.fifoCtl, FIFOControl.bypass.rawValue)
            try writeRegister(Register.fifoCtl, FIFOControl.stream.rawValue)
            try writeRegister(Register.powerCtl, PowerControl.measure.rawValue)
            started = true
        }
    }

    /// Collects one window (``Options/windowSamples``) from the FIFO and returns, in `channels`
    /// order: mean X, Y, Z, vibration RMS and vibration peak, all in g.
    ///
    /// Stream mode keeps the newest 32 samples, so the window starts with up to 32 samples taken
    /// just before the call and continues without gaps as long as the bus keeps up. A FIFO overrun
    /// (we slept too long) only shortens the history; it is not reported.
    public func sample() throws(ADXL345Error) -> [ChannelValue] {
        try started.withLock { (started: inout Bool) throws(ADXL345Error) -> [ChannelValue] in
            guard started else { throw .notStarted }
            let raw = try collect(options.windowSamples)
            guard let summary = WindowSummary(raw.map(\.acceleration)) else {
                throw .notReady(timeout: options.timeout(forSamples: options.windowSamples), received: 0,
                                expected: options.windowSamples)
            }
            return [
                ChannelValue(.accelerationX, summary.mean.x),
                ChannelValue(.accelerationY, summary.mean.y),
                ChannelValue(.accelerationZ, summary.mean.z),
                ChannelValue(.vibrationRMS, summary.vibrationRMS),
                ChannelValue(.vibrationPeak, summary.vibrationPeak),
            ]
        }
    }

    /// The data sheet's self-test ("Self-Test", "Using Self-Test"), in full resolution at ±16 g so
    /// that gravity plus the electrostatic force cannot clip:
    ///
    /// 1. DATA_FORMAT ← 0x0B, wait 36 sample periods, average N samples (self-test off);
    /// 2. DATA_FORMAT ← 0x8B (SELF_TEST), wait, average N samples (self-test on);
    /// 3. DATA_FORMAT ← the configured format, wait.
    ///
    /// Waiting 32 + 4 periods flushes the stream-mode FIFO (it keeps only the newest 32) and lets
    /// the output settle, so no average mixes both states. The per-axis change on − off, in LSB,
    /// must lie inside ``SelfTestLimits`` for ``Options/supplyVoltage``. The part must keep still.
    /// Throws ``ADXL345Error/invalidConfiguration(_:)`` at rates where the limits do not hold.
    public func selfTest() throws(ADXL345Error) -> SelfTestResult {
        try started.withLock { (started: inout Bool) throws(ADXL345Error) -> SelfTestResult in
            guard started else { throw .notStarted }
            let rate = options.outputDataRate
            guard rate.supportsSelfTest else {
                throw .invalidConfiguration("self-test needs an output data rate of 100…800 Hz or 3200 Hz "
                                            + "(data sheet \"Self-Test\"); configured \(rate.hertz) Hz")
            }
            let count = options.selfTestSampleCount
            let settle = rate.period * (ADXL345.fifoDepth + 4)
            let testFormat = DataFormat.fullResolution.union(.range(.g16))

            try writeRegister(Register.dataFormat, testFormat.rawValue)
            clock.sleep(for: settle)
            let off = try average(collect(count))

            let on: (x: Double, y: Double, z: Double)
            do throws(ADXL345Error) {
                try writeRegister(Register.dataFormat, testFormat.union(.selfTest).rawValue)
                clock.sleep(for: settle)
                on = try average(collect(count))
            } catch {
                // Leave the part measuring normally if we can; report the first failure.
                try? writeRegister(Register.dataFormat, options.dataFormat.rawValue)
                throw error
            }
            try writeRegister(Register.dataFormat, options.dataFormat.rawValue)
            clock.sleep(for: settle)
            return SelfTestLimits(supply: options.supplyVoltage).evaluate(off: off, on: on, supply: options.supplyVoltage)
        }
    }

    // MARK: - Window collection

    private func validateOptions() throws(ADXL345Error) {
        guard Options.windowLimits.contains(options.windowSamples) else {
            throw .invalidConfiguration("windowSamples must be in \(Options.windowLimits), got \(options.windowSamples)")
        }
        if let n = options.selfTestSamples, !Options.windowLimits.contains(n) {
            throw .invalidConfiguration("selfTestSamples must be in \(Options.windowLimits), got \(n)")
        }
    }

    /// Drains `count` samples from the FIFO, sleeping on the clock while it is empty.
    private func collect(_ count: Int) throws(ADXL345Error) -> [RawSample] {
        let period = options.outputDataRate.period
        let timeout = options.timeout(forSamples: count)
        let begin = clock.now
        var samples: [RawSample] = []
        samples.reserveCapacity(count)
        // The burst below, built once per window rather than per entry (two arrays fewer each).
        let burst = I2COperation.writeRead([Register.dataX0], count: ADXL345.sampleByteCount)
        while samples.count < count {
            let entries = Int(try readRegister(Register.fifoStatus) & FIFOStatus.entriesMask)
            if entries == 0 {
                guard clock.now - begin < timeout else {
                    throw .notReady(timeout: timeout, received: samples.count, expected: count)
                }
                // Half a FIFO (or what the window still lacks): reads come in bursts, and stream
                // mode never has to overwrite unread entries while we sleep.
                clock.sleep(for: period * min(count - samples.count, ADXL345.fifoDepth / 2))
                continue
            }
            for _ in 0..<min(entries, count - samples.count) {
                // A 6-byte burst from DATAX0 pops one entry ("Retrieving Data from FIFO"); the
                // required 5 µs between reads is covered by the STOP/START of the next transaction.
                let bytes = try readRegisters(Register.dataX0, count: ADXL345.sampleByteCount, burst)
                guard let sample = RawSample(bytes: bytes) else { break }
                samples.append(sample)
            }
        }
        return samples
    }

    /// Per-axis mean in LSB.
    private func average(_ samples: [RawSample]) -> (x: Double, y: Double, z: Double) {
        let n = Double(max(samples.count, 1))
        var x = 0.0, y = 0.0, z = 0.0
        for s in samples {
            x += Double(s.x)
            y += Double(s.y)
            z += Double(s.z)
        }
        return (x / n, y / n, z / n)
    }

    // MARK: - Transport (the only code that touches the bus)

    private func readRegister(_ register: UInt8) throws(ADXL345Error) -> UInt8 {
        try readRegisters(register, count: 1)[0]
    }

    /// `w[register] rN`: sets the register pointer, then reads with auto-increment. `operations`:
    /// the same transaction built beforehand, if the caller has it.
    private func readRegisters(_ register: UInt8, count: Int,
                               _ operations: [I2COperation]? = nil) throws(ADXL345Error) -> [UInt8] {
        let bytes: [UInt8]
        do throws(I2CError) {
            bytes = try bus.writeRead(address, operations ?? I2COperation.writeRead([register], count: count))
        } catch {
            throw .bus(error)
        }
        guard bytes.count == count else {
            throw .bus(I2CError(.other, bus: bus.name, address: address, operation: "w[\(hex2(register))] r\(count)",
                                detail: "short read: \(bytes.count) of \(count) bytes"))
        }
        return bytes
    }

    /// `w[register value]`.
    private func writeRegister(_ register: UInt8, _ value: UInt8) throws(ADXL345Error) {
        do throws(I2CError) {
            try bus.write(address, [register, value])
        } catch {
            throw .bus(error)
        }
    }
}
