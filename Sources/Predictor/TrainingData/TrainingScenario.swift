#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HALSimulation
import Predictor
import SensorCore

/// What a series of training data can contain (`--kinds`).
public enum TrainingKind: String, CaseIterable, Sendable {
    /// A short upward excursion (label 1 while active).
    case spike
    /// A short downward excursion (label 1 while active: a dip is a spike downward).
    case dip
    /// A slow linear trend over the whole series (label 0).
    case drift
    /// A permanent level change (label 0: it starts like a spike but stays).
    case step
    /// A stretch of several times the usual noise (label 0). Made by this generator on top of the
    /// scenario, since HALSimulation's `Signal` has no such event.
    case noiseBurst = "noise-burst"

    /// True for the kinds labelled as spikes.
    public var isSpike: Bool { self == .spike || self == .dip }
}

/// What real sensors do beside spikes, none of it labelled a spike (`--effects`). Off by default,
/// so the training sets of issue 7 stay as they were.
public enum FieldEffect: String, CaseIterable, Sendable {
    /// A daily cycle of 2–15 noise-sigmas and a weekly one of 0–6, each with a random phase.
    case cycles
    /// Student-t noise (3 degrees of freedom) of 0.3–1 sigma on top of the Gaussian noise.
    case heavyTail = "heavy-tail"
    /// Stretches of 5–45 minutes, every 2–8 hours, where the reading repeats the last value.
    case stuck
    /// Half of the series are read through a converter of 0.5–2 noise-sigmas resolution.
    case quantised
    /// 2 % of the samples lost one by one, and a few gaps of 1–20 samples.
    case missing
}

/// One labelled reading of the export (`spike-predictor export`).
public struct LabeledReading: Equatable, Sendable {
    public var device: String
    public var channel: String
    /// Seconds since the start of the series.
    public var time: Double
    public var value: Double
    /// 1 while a spike or dip is active, else 0.
    public var label: Int
    /// The event active at this time (`spike`, `dip`, `step` for its first minutes,
    /// `noise-burst`), `drift` on a drifting series with no event, else `none`.
    public var kind: String
    public var seed: UInt64

    public init(device: String, channel: String, time: Double, value: Double, label: Int, kind: String, seed: UInt64) {
        self.device = device
        self.channel = channel
        self.time = time
        self.value = value
        self.label = label
        self.kind = kind
        self.seed = seed
    }
}

/// Generates labelled series from HALSimulation scenarios: for each seed, one simulated device
/// (`sim-<seed>`) with a temperature, a humidity and a pressure channel, each with its own
/// baseline, noise and a random sequence of events of the requested kinds.
///
/// Contract:
/// - Deterministic: the same seed, kinds, hours and interval give the same rows on every machine
///   (SplitMix64 draws, scenario noise a pure function of (seed, channel, time)).
/// - Events never overlap: each is followed by a quiet gap of 8–25 minutes, and the first comes
///   after 10–20 minutes, so the long window has filled.
/// - Spikes, dips and steps are 3–300 times the channel's noise, drawn log-uniformly (as many
///   of 3–30 sigmas as of 30–300): real sensors jump by hundreds of sigmas (a +8 °C jump on
///   0.05 °C of noise is 160), and since steps span the same sizes, only the shape tells a spike
///   from a level shift, never its size. Spikes and dips last 15–90 s, noise bursts 1–5 min at
///   2–5 times the noise, drifts 5–40 noise-sigmas per hour.
public struct TrainingGenerator: Sendable {
    public var kinds: Set<TrainingKind>
    public var hours: Double
    /// Seconds between samples (the boards sample every 5 s).
    public var interval: Double {
        get { intervals[0] }
        set { intervals = [newValue] }
    }
    /// Seconds between samples per seed: seed s samples every `intervals[s % intervals.count]`.
    public var intervals: [Double]
    public var effects: Set<FieldEffect>

    public init(kinds: Set<TrainingKind> = Set(TrainingKind.allCases), hours: Double = 4, interval: Double = 5,
                effects: Set<FieldEffect> = []) {
        self.kinds = kinds
        self.hours = hours
        self.intervals = [interval]
        self.effects = effects
    }

    public init(kinds: Set<TrainingKind>, hours: Double, intervals: [Double], effects: Set<FieldEffect>) {
        self.kinds = kinds
        self.hours = hours
        self.intervals = intervals.isEmpty ? [5] : intervals
        self.effects = effects
    }

    /// The sample interval of one seed.
    public func interval(seed: UInt64) -> Double { intervals[Int(seed % UInt64(intervals.count))] }

    /// The channels of every simulated device, with the ranges their baseline and noise come from.
    static let channels: [(Channel, baseline: ClosedRange<Double>, noise: ClosedRange<Double>)] = [
        (.temperature, 18...30, 0.03...0.2),
        (.humidity, 30...70, 0.2...1.0),
        (.pressure, 98_000...103_000, 2...15),
    ]

    /// The sizes of spikes, dips and steps, in noise-sigmas (drawn log-uniformly).
    static let eventSigmas: ClosedRange<Double> = 3...300

    struct Burst {
        var start: Double
        var end: Double
        var sigma: Double
    }

    /// All rows of one seed: the channels one after the other, each in time order.
    public func series(seed: UInt64) -> [[LabeledReading]] {
        Self.channels.enumerated().map { index, spec in
            series(seed: seed, channelIndex: index, channel: spec.0, baseline: spec.baseline, noise: spec.noise)
        }
    }

    private func series(seed: UInt64, channelIndex: Int, channel: Channel,
                        baseline baselineRange: ClosedRange<Double>, noise noiseRange: ClosedRange<Double>) -> [LabeledReading] {
        let interval = interval(seed: seed)
        var rng = SplitMix64(seed: SplitMix64.hash(seed, UInt64(channelIndex), 0x7EA1_DA7A))
        func uniform(_ r: ClosedRange<Double>) -> Double { r.lowerBound + (r.upperBound - r.lowerBound) * rng.unit() }
        func logUniform(_ r: ClosedRange<Double>) -> Double { exp(uniform(log(r.lowerBound)...log(r.upperBound))) }

        let baseline = uniform(baselineRange)
        let sigma = uniform(noiseRange)
        let duration = hours * 3600
        var drift = 0.0
        if kinds.contains(.drift) {
            drift = sigma * uniform(5...40) * (rng.unit() < 0.5 ? -1 : 1)
        }
        var events: [Signal.Event] = []
        var bursts: [Burst] = []
        var spans: [(start: Double, end: Double, kind: TrainingKind)] = []
        let eventKinds = TrainingKind.allCases.filter { kinds.contains($0) && $0 != .drift }
        // Gaps count samples more than seconds: a slower sensor gets proportionally longer gaps.
        let pace = min(max(1, interval / 5), 20)
        var t = uniform(600...1200) * pace
        while !eventKinds.isEmpty {
            let kind = eventKinds[Int(rng.next() % UInt64(eventKinds.count))]
            let length: Double
            switch kind {
            case .spike, .dip:
                length = max((uniform(15...90) / interval).rounded(), 1) * interval
                let magnitude = sigma * logUniform(Self.eventSigmas)
                events.append(Signal.Event(kind == .spike ? .spike : .dip, at: .seconds(t), duration: .seconds(length),
                                           magnitude: magnitude))
            case .step:
                length = 120
                let magnitude = sigma * logUniform(Self.eventSigmas) * (rng.unit() < 0.5 ? -1 : 1)
                events.append(Signal.Event(.step, at: .seconds(t), magnitude: magnitude))
            case .noiseBurst:
                length = max((uniform(60...300) / interval).rounded(), 1) * interval
                bursts.append(Burst(start: t, end: t + length, sigma: sigma * uniform(2...5)))
            case .drift:
                length = 0
            }
            guard t + length < duration else { break }
            spans.append((t, t + length, kind))
            t += length + uniform(480...1500) * pace
        }

        let scenario = Scenario(seed: seed, signals: [channel: Signal(baseline: baseline, noise: sigma,
                                                                      driftPerHour: drift, events: events)])
        let device = "sim-\(seed)"
        let count = Int((duration / interval).rounded(.down))
        var rows: [LabeledReading] = []
        rows.reserveCapacity(count)
        var spanIndex = 0
        for k in 0..<count {
            let time = Double(k) * interval
            var value = scenario.value(channel, at: .milliseconds(Int64(k) * Int64((interval * 1000).rounded()))) ?? baseline
            while spanIndex < spans.count && spans[spanIndex].end <= time { spanIndex += 1 }
            var kind = drift != 0 ? "drift" : "none"
            var label = 0
            if spanIndex < spans.count, spans[spanIndex].start <= time {
                let span = spans[spanIndex]
                kind = span.kind.rawValue
                label = span.kind.isSpike ? 1 : 0
                if span.kind == .noiseBurst, let burst = bursts.first(where: { $0.start == span.start }) {
                    value += burst.sigma * Self.gaussian(seed: seed, channel: UInt64(channelIndex), step: UInt64(k))
                }
            }
            rows.append(LabeledReading(device: device, channel: channel.rawValue, time: time, value: value,
                                       label: label, kind: kind, seed: seed))
        }
        if !effects.isEmpty {
            var fx = SplitMix64(seed: SplitMix64.hash(seed, UInt64(channelIndex), 0xF1E1D))
            rows = Self.apply(effects, to: rows, sigma: sigma, interval: interval, seed: seed, channel: UInt64(channelIndex), rng: &fx)
        }
        return rows
    }

    /// The field effects, drawn from their own generator so the events stay those of the plain series.
    static func apply(_ effects: Set<FieldEffect>, to input: [LabeledReading], sigma: Double, interval: Double,
                      seed: UInt64, channel: UInt64, rng: inout SplitMix64) -> [LabeledReading] {
        func uniform(_ r: ClosedRange<Double>) -> Double { r.lowerBound + (r.upperBound - r.lowerBound) * rng.unit() }
        var rows = input
        if effects.contains(.cycles) {
            let daily = sigma * uniform(2...15), weekly = sigma * uniform(0...6)
            let dayPhase = uniform(0...(2 * .pi)), weekPhase = uniform(0...(2 * .pi))
            for i in rows.indices {
                let t = rows[i].time
                rows[i].value += daily * sin(2 * .pi * t / 86_400 + dayPhase) + weekly * sin(2 * .pi * t / 604_800 + weekPhase)
            }
        }
        if effects.contains(.heavyTail) {
            let scale = sigma * uniform(0.3...1)
            for i in rows.indices {
                // Student t with 3 degrees of freedom: a normal over the root of a chi-square / 3.
                let z = gaussian(seed: seed, channel: channel, step: UInt64(i) &+ 0x7_0000_0000)
                var chi = 0.0
                for k in 0..<3 { let g = gaussian(seed: seed, channel: channel &+ 17, step: UInt64(3 * i + k)); chi += g * g }
                rows[i].value += scale * z / max((chi / 3).squareRoot(), 1e-3)
            }
        }
        if effects.contains(.stuck) {
            var t = uniform(7_200...28_800)
            let end = rows.last?.time ?? 0
            while t < end {
                let length = uniform(300...2_700)
                if let first = rows.firstIndex(where: { $0.time >= t }) {
                    let held = rows[max(first - 1, 0)].value
                    var i = first
                    while i < rows.count && rows[i].time < t + length {
                        rows[i].value = held
                        if rows[i].label == 0 { rows[i].kind = "stuck" }
                        i += 1
                    }
                }
                t += length + uniform(7_200...28_800)
            }
        }
        if effects.contains(.quantised), rng.unit() < 0.5 {
            let step = sigma * uniform(0.5...2)
            for i in rows.indices { rows[i].value = (rows[i].value / step).rounded() * step }
        }
        if effects.contains(.missing) {
            var kept: [LabeledReading] = []
            kept.reserveCapacity(rows.count)
            var skip = 0
            for r in rows {
                if skip > 0 { skip -= 1; continue }
                let u = rng.unit()
                if u < 0.02 { continue }
                if u < 0.0215 { skip = Int(uniform(1...20)); continue }
                kept.append(r)
            }
            rows = kept
        }
        return rows
    }

    /// Standard normal noise for noise bursts, a pure function of (seed, channel, sample).
    static func gaussian(seed: UInt64, channel: UInt64, step: UInt64) -> Double {
        var g = SplitMix64(seed: SplitMix64.hash(seed, channel, step, 0xB0B5))
        let u1 = max(g.unit(), .leastNonzeroMagnitude)
        let u2 = g.unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
