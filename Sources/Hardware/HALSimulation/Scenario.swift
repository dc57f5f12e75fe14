import HAL
import SensorCore

/// How one environmental quantity evolves: baseline + drift + Gaussian noise + events.
public struct Signal: Equatable, Sendable {
    public enum EventKind: String, Sendable, CaseIterable {
        /// Adds `magnitude` for `duration`, then returns to normal.
        case spike
        /// Subtracts `magnitude` for `duration`.
        case dip
        /// Adds `magnitude` from `at` on.
        case step
    }

    public struct Event: Equatable, Sendable {
        public var kind: EventKind
        public var at: Duration
        public var duration: Duration
        public var magnitude: Double

        public init(_ kind: EventKind, at: Duration, duration: Duration = .seconds(10), magnitude: Double) {
            self.kind = kind
            self.at = at
            self.duration = duration
            self.magnitude = magnitude
        }

        func offset(at t: Duration) -> Double {
            switch kind {
            case .spike where t >= at && t < at + duration: magnitude
            case .dip where t >= at && t < at + duration: -magnitude
            case .step where t >= at: magnitude
            default: 0
            }
        }
    }

    public var baseline: Double
    /// Standard deviation of the noise.
    public var noise: Double
    public var driftPerHour: Double
    public var events: [Event]

    public init(baseline: Double, noise: Double = 0, driftPerHour: Double = 0, events: [Event] = []) {
        self.baseline = baseline
        self.noise = noise
        self.driftPerHour = driftPerHour
        self.events = events
    }

    /// The noise-free value at `t` (what a perfect sensor would read without noise).
    public func trend(at t: Duration) -> Double {
        baseline + driftPerHour * t.seconds / 3600 + events.reduce(0) { $0 + $1.offset(at: t) }
    }
}

/// How a machine shakes the accelerometer. Vibration acts along the sensor's Z axis (the mounting
/// axis, aligned with gravity), so it shows in the acceleration magnitude the driver analyses.
public enum VibrationProfile: String, Sendable, CaseIterable {
    /// Machine off: sensor noise only.
    case idle
    /// Motor running: a 50 Hz component of 0.1 g.
    case running
    /// Worn bearing: the running signature plus a 157 Hz defect tone of 0.5 g with 10 Hz impacts.
    case bearingFault = "bearing_fault"

    /// AC acceleration in g along the mounting axis at time `t` (deterministic, no noise).
    func waveform(at t: Duration) -> Double {
        let s = t.seconds
        let motor = 0.1 * _sin(2 * .pi * 50 * s)
        switch self {
        case .idle: return 0
        case .running: return motor
        case .bearingFault:
            let impactPhase = (s * 10).truncatingRemainder(dividingBy: 1)
            let envelope = impactPhase < 0.3 ? 1.0 : 0.3
            return motor + 0.5 * envelope * _sin(2 * .pi * 157 * s)
        }
    }
}

/// The simulated physical world of a board: environmental signals plus a vibration timeline, all
/// driven by the scenario clock and a seed. The same seed gives the same values at the same
/// times, bit for bit: noise is a pure function of (seed, channel, time step), not of call order.
public struct Scenario: Equatable, Sendable {
    public var seed: UInt64
    public var signals: [Channel: Signal]
    /// Profiles by start time, sorted; before the first one the machine is idle.
    public var vibration: [(from: Duration, profile: VibrationProfile)]
    /// Accelerometer noise (g, standard deviation per axis).
    public var accelerationNoise: Double

    public init(seed: UInt64, signals: [Channel: Signal] = [:],
                vibration: [(from: Duration, profile: VibrationProfile)] = [], accelerationNoise: Double = 0.002) {
        self.seed = seed
        self.signals = signals
        self.vibration = vibration.sorted { $0.from < $1.from }
        self.accelerationNoise = accelerationNoise
    }

    public static func == (a: Scenario, b: Scenario) -> Bool {
        a.seed == b.seed && a.signals == b.signals && a.accelerationNoise == b.accelerationNoise
            && a.vibration.elementsEqual(b.vibration) { $0.from == $1.from && $0.profile == $1.profile }
    }

    /// The vibration profile in force at `t`.
    public func profile(at t: Duration) -> VibrationProfile {
        Self.profile(in: vibration, at: t)
    }

    private static func profile(in vibration: [(from: Duration, profile: VibrationProfile)], at t: Duration) -> VibrationProfile {
        vibration.last { $0.from <= t }?.profile ?? .idle
    }

    /// The value of `channel` at `t`: nil when the scenario says nothing about it.
    public func value(_ channel: Channel, at t: Duration) -> Double? {
        value(channel, at: t, salt: Self.salt(channel))
    }

    /// The noise stream of a channel: its position in `Channel.allCases`.
    private static func salt(_ channel: Channel) -> UInt64 {
        UInt64(Channel.allCases.firstIndex(of: channel) ?? 0)
    }

    private func value(_ channel: Channel, at t: Duration, salt: UInt64) -> Double? {
        switch channel {
        case .accelerationX, .accelerationY, .accelerationZ:
            return acceleration(channel, at: t, salt: salt, step: Self.step(t, Self.accelerationNoiseStep))
        default:
            guard let signal = signals[channel] else { return nil }
            return signal.trend(at: t) + signal.noise * gaussian(salt, step: Self.step(t, .milliseconds(10)))
        }
    }

    /// How long the accelerometer noise holds a value.
    private static let accelerationNoiseStep = Duration.microseconds(100)
    private static let accelerationAxes: [Channel] = [.accelerationX, .accelerationY, .accelerationZ]

    /// One acceleration axis at `t`, given the noise step `t` falls in.
    private func acceleration(_ channel: Channel, at t: Duration, salt: UInt64, step: UInt64) -> Double {
        let ac = channel == .accelerationZ ? profile(at: t).waveform(at: t) : 0
        return Self.acceleration(channel, ac: ac, noise: accelerationNoise * gaussian(salt, step: step))
    }

    /// Gravity (1 g on the mounting axis Z) plus the machine's AC part plus the noise: the one
    /// formula of both the single-axis and the batched path, so they agree bit for bit.
    @inline(__always)
    private static func acceleration(_ channel: Channel, ac: Double, noise: Double) -> Double {
        let gravity = channel == .accelerationZ ? 1.0 : 0.0
        return gravity + ac + noise
    }

    /// The three axes at `start`, `start + step`, … (one instant per element of `values`), as
    /// `value(.accelerationX/Y/Z, at: t)` gives them, with the noise step computed once per instant
    /// (the ADXL345 model converts thousands of samples a message, a catch-up at a time).
    private func acceleration(from start: Duration, every step: Duration, into values: inout [SIMD3<Double>],
                              salts: (UInt64, UInt64, UInt64)) {
        let vibration = self.vibration, noise = accelerationNoise
        values.withUnsafeMutableBufferPointer { out in
            var t = start
            for i in out.indices {
                let noiseStep = Self.step(t, Self.accelerationNoiseStep)
                let profile = Self.profile(in: vibration, at: t)
                out[i] = SIMD3(
                    Self.acceleration(.accelerationX, ac: 0, noise: noise * gaussian(salts.0, step: noiseStep)),
                    Self.acceleration(.accelerationY, ac: 0, noise: noise * gaussian(salts.1, step: noiseStep)),
                    Self.acceleration(.accelerationZ, ac: profile.waveform(at: t),
                                      noise: noise * gaussian(salts.2, step: noiseStep)))
                t += step
            }
        }
    }

    /// The index of the `length`-long step of time that `t` falls in (0 before time zero).
    private static func step(_ t: Duration, _ length: Duration) -> UInt64 {
        UInt64(max(0, t.ratio(length)).rounded(.down))
    }

    /// Standard normal noise, constant within each step of time (`step`: its index): a ziggurat
    /// draw from a generator seeded by (seed, salt, step).
    private func gaussian(_ salt: UInt64, step index: UInt64) -> Double {
        var g = SplitMix64(seed: SplitMix64.hash(seed, salt, index))
        return Ziggurat.normal(using: &g)
    }

    /// Connects a chip's environment to this world for every channel the scenario drives.
    /// With all three acceleration axes among `channels`, also attaches them as one joint source.
    public func drive(_ environment: Environment, channels: [Channel]) {
        for channel in channels where value(channel, at: .zero) != nil {
            let scenario = self, salt = Self.salt(channel)
            environment.attach(channel) { t in scenario.value(channel, at: t, salt: salt) ?? 0 }
        }
        let axes = Self.accelerationAxes
        if axes.allSatisfy(channels.contains) {
            let scenario = self, salts = (Self.salt(axes[0]), Self.salt(axes[1]), Self.salt(axes[2]))
            environment.attach(axes[0], axes[1], axes[2]) { start, step, values in
                scenario.acceleration(from: start, every: step, into: &values, salts: salts)
            }
        }
    }
}

extension Duration {
    /// `self / divisor` exactly as the standard library computes `Duration / Duration` (each
    /// side's attoseconds rounded to the nearest `Double`, then divided), without its generic
    /// 128-bit conversion: the scenario's noise divides per sample and axis.
    func ratio(_ divisor: Duration) -> Double {
        Self.nearestDouble(attoseconds) / Self.nearestDouble(divisor.attoseconds)
    }

    /// `Double(value)`, rounded to nearest, ties to even: the top 64 bits of the magnitude with a
    /// sticky bit for any set bit below them round exactly as the whole magnitude does, because
    /// the sticky bit lies below the 53 bits kept.
    static func nearestDouble(_ value: Int128) -> Double {
        if let small = Int64(exactly: value) { return Double(small) }
        let magnitude = value.magnitude
        let shift = max(0, 64 - magnitude.leadingZeroBitCount)
        var top = UInt64(truncatingIfNeeded: magnitude >> shift)
        if shift > 0, magnitude & ((1 << shift) - 1) != 0 { top |= 1 }
        let result = Double(sign: .plus, exponent: shift, significand: Double(top))
        return value < 0 ? -result : result
    }
}
