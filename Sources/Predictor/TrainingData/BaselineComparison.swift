import Predictor

/// Window-based scores of one detector (docs/predictor.md, "Evaluation against baselines").
///
/// Per series, on the scored part only (samples from `scoredFrom` on; the part before is what the
/// isolation forest is fitted on, for every detector alike):
/// - an *event* is a maximal run of labelled samples [s, e]; its *window* is [s, e + grace];
/// - an *alarm* is the first sample of a maximal run of flagged samples;
/// - the first alarm in an event's window detects the event (a true alarm); later alarms in the
///   same window are *repeats* (neither true nor false); an alarm in no window is a false alarm;
/// - recall = detected / events; precision = true / (true + false);
/// - chance = the events detected by the same alarms circularly shifted within the scored part
///   (mean over `shifts` evenly spaced offsets): same count and spacing, alignment destroyed;
///   lift = detected / chance.
public struct EventScore: Equatable, Sendable {
    public var events = 0
    public var detected = 0
    public var alarms = 0
    public var trueAlarms = 0
    public var falseAlarms = 0
    public var repeats = 0
    public var chanceDetected = 0.0
    public var samples = 0
    /// Σ scored samples × the series' sample interval.
    public var streamSeconds = 0.0

    public init() {}

    public var recall: Double { events == 0 ? 0 : Double(detected) / Double(events) }
    public var precision: Double { trueAlarms + falseAlarms == 0 ? 0 : Double(trueAlarms) / Double(trueAlarms + falseAlarms) }
    public var falseAlarmsPer1000: Double { samples == 0 ? 0 : Double(falseAlarms) * 1000 / Double(samples) }
    public var falseAlarmsPerStreamDay: Double { streamSeconds == 0 ? 0 : Double(falseAlarms) / (streamSeconds / 86_400) }
    public var chanceRecall: Double { events == 0 ? 0 : chanceDetected / Double(events) }
    /// detected / chance; infinite when chance finds nothing but the detector does.
    public var lift: Double {
        chanceDetected > 0 ? Double(detected) / chanceDetected : (detected > 0 ? .infinity : 0)
    }

    public static let shifts = 20

    public mutating func add(labels: [Bool], flags: [Bool], interval: Double, grace: Int, scoredFrom: Int) {
        let n = min(labels.count, flags.count)
        let from = min(max(scoredFrom, 0), n)
        let m = n - from
        samples += m
        streamSeconds += Double(m) * interval
        guard m > 0 else { return }
        // Events starting in the scored part, and each scored index's window (-1: none).
        var window = [Int](repeating: -1, count: m)
        var count = 0
        var i = from
        while i < n {
            guard labels[i] else { i += 1; continue }
            var e = i
            while e + 1 < n && labels[e + 1] { e += 1 }
            for k in i...min(e + grace, n - 1) where window[k - from] == -1 { window[k - from] = count }
            count += 1
            i = e + 1
        }
        events += count
        var onsets: [Int] = []
        for k in from..<n where flags[k] && (k == 0 || !flags[k - 1]) { onsets.append(k - from) }
        alarms += onsets.count
        var hit = [Bool](repeating: false, count: count)
        for a in onsets {
            let w = window[a]
            if w < 0 { falseAlarms += 1 } else if hit[w] { repeats += 1 } else { hit[w] = true; trueAlarms += 1; detected += 1 }
        }
        guard count > 0, !onsets.isEmpty else { return }
        var chance = 0
        for s in 1...Self.shifts {
            let offset = s * m / (Self.shifts + 1)
            var shiftedHit = [Bool](repeating: false, count: count)
            for a in onsets {
                let w = window[(a + offset) % m]
                if w >= 0 && !shiftedHit[w] { shiftedHit[w] = true; chance += 1 }
            }
        }
        chanceDetected += Double(chance) / Double(Self.shifts)
    }
}

/// One detector's output over one series: a score per sample (higher = more spike-like; warm-up
/// samples −∞) and its own verdict per sample.
public struct DetectorTrace: Sendable {
    public var scores: [Double]
    public var flags: [Bool]
}

/// The model against the in-agent fallback, a rolling z-score and an isolation forest on the same
/// samples, each baseline also re-thresholded to the model's alarm count (what
/// `spike-predictor evaluate` prints).
public struct BaselineComparison: Sendable {
    public struct Row: Sendable {
        public var name: String
        /// The score threshold when re-thresholded to the model's alarm count, else nil.
        public var threshold: Double?
        public var score: EventScore
    }

    public var rows: [Row]
    public var series: Int
    /// The part of each series the isolation forest is fitted on (and nobody is scored on).
    public static let fitFraction = 0.2
    /// |z| at or above which the rolling z-score flags (the textbook 3).
    public static let zThreshold = 3.0
    /// The isolation forest flags what scores above this quantile of its own fitting rows.
    public static let forestQuantile = 0.995

    /// The rolling z-score and isolation-forest features: the model's scale-free five.
    static let forestFeatures: [FeatureName] = [.zShort, .zLong, .deltaZ, .levelZ, .stdRatio]

    public static func run(series: [[LabeledReading]], model: SpikePredictor.Detector, fallback: RobustSpikeDetector.Parameters,
                           grace: Int) -> BaselineComparison {
        var modelPredictor = SpikePredictor(detector: model, maxStreams: max(series.count, 1))
        var fallbackPredictor = SpikePredictor(detector: .robust(fallback), maxStreams: max(series.count, 1))
        var traces: [[DetectorTrace]] = [[], [], [], []]
        var labels: [[Bool]] = [], intervals: [Double] = [], starts: [Int] = []
        for (index, readings) in series.enumerated() {
            let n = readings.count
            let interval = n > 1 ? (readings[n - 1].time - readings[0].time) / Double(n - 1) : 0
            let start = Int((Double(n) * fitFraction).rounded(.up))
            labels.append(readings.map { $0.label == 1 })
            intervals.append(interval)
            starts.append(start)
            var m = DetectorTrace(scores: [], flags: []), f = m, z = m, forestTrace = m
            var rolling = RollingFeatures(windows: .v1)
            var vectors: [[Double]] = []
            var warm: [Bool] = []
            for r in readings {
                let sample = PredictorSample(device: r.device, channel: r.channel, captureTime: r.time, value: r.value)
                if let v = try? modelPredictor.classify(sample) {
                    m.scores.append(v.warmingUp ? -.infinity : v.spikeProbability)
                    m.flags.append(v.spikeDetected)
                } else { m.scores.append(-.infinity); m.flags.append(false) }
                if let v = try? fallbackPredictor.classify(sample) {
                    let robust = v.features.first { $0.name == "robust_z" }?.value ?? 0
                    f.scores.append(v.warmingUp ? -.infinity : abs(robust))
                    f.flags.append(v.spikeDetected)
                } else { f.scores.append(-.infinity); f.flags.append(false) }
                let vector = rolling.next(r.value)
                z.scores.append(vector.warmingUp ? -.infinity : abs(vector[.zLong]))
                z.flags.append(!vector.warmingUp && abs(vector[.zLong]) >= zThreshold)
                vectors.append(forestFeatures.map { vector[$0] })
                warm.append(vector.warmingUp)
            }
            let fitRows = (0..<min(start, n)).filter { !warm[$0] }.map { vectors[$0] }
            let forest = IsolationForest(rows: fitRows, seed: UInt64(index))
            let fitScores = fitRows.map(forest.score).sorted()
            let cut = fitScores.isEmpty ? 1 : fitScores[min(Int(Double(fitScores.count) * forestQuantile), fitScores.count - 1)]
            for k in 0..<n {
                let s = warm[k] || k < start ? -.infinity : forest.score(vectors[k])
                forestTrace.scores.append(s)
                forestTrace.flags.append(s > cut)
            }
            traces[0].append(m)
            traces[1].append(f)
            traces[2].append(z)
            traces[3].append(forestTrace)
        }
        func score(_ t: [DetectorTrace]) -> EventScore {
            var s = EventScore()
            for i in t.indices {
                s.add(labels: labels[i], flags: t[i].flags, interval: intervals[i], grace: grace, scoredFrom: starts[i])
            }
            return s
        }
        let modelScore = score(traces[0])
        var rows = [Row(name: "model " + modelPredictor.modelID, threshold: nil, score: modelScore)]
        let names = ["fallback " + fallbackPredictor.modelID, "rolling z-score |z_long| ≥ \(zThreshold)",
                     "isolation forest (100 trees, fitted per series on its first \(Int(fitFraction * 100)) %)"]
        for (k, name) in names.enumerated() {
            let t = traces[k + 1]
            rows.append(Row(name: name, threshold: nil, score: score(t)))
            let threshold = equalAlarmThreshold(t, starts: starts, target: modelScore.alarms)
            let re = t.map { DetectorTrace(scores: $0.scores, flags: $0.scores.map { $0 >= threshold }) }
            rows.append(Row(name: name.split(separator: " ").prefix(2).joined(separator: " ") + " @ model's alarms",
                            threshold: threshold, score: score(re)))
        }
        return BaselineComparison(rows: rows, series: series.count)
    }

    /// The score threshold whose alarm count (run onsets in the scored parts) is closest to `target`,
    /// lowering the threshold from the top until the count passes the target (ties: the higher).
    static func equalAlarmThreshold(_ traces: [DetectorTrace], starts: [Int], target: Int) -> Double {
        // Sample k starts a run at threshold T exactly when previous < T <= score, so the count is
        // #{score >= T} - #{previous >= T} over the intervals that are not empty. It is not
        // monotonic (a higher threshold can split a run in two; a very low one merges every run
        // into a few), so the candidates are counted exactly from the top down, stopping where the
        // count first passes the target: never the merged regime near the bottom.
        var candidates: [Double] = [], uppers: [Double] = [], lowers: [Double] = []
        for (t, start) in zip(traces, starts) {
            var previous = -Double.infinity
            for (k, raw) in t.scores.enumerated() {
                let score = raw.isNaN ? -.infinity : raw
                if k >= start {
                    if score.isFinite { candidates.append(score) }
                    if previous < score { uppers.append(score); lowers.append(previous) }
                }
                previous = score
            }
        }
        guard !candidates.isEmpty else { return .infinity }
        candidates.sort()
        uppers.sort()
        lowers.sort()
        func atLeast(_ sorted: [Double], _ value: Double) -> Int {
            var lo = 0, hi = sorted.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if sorted[mid] < value { lo = mid + 1 } else { hi = mid }
            }
            return sorted.count - lo
        }
        var best = candidates[candidates.count - 1], bestGap = Int.max, last = Double.nan
        for c in candidates.reversed() where c != last {
            last = c
            let count = atLeast(uppers, c) - atLeast(lowers, c)
            if abs(count - target) < bestGap { best = c; bestGap = abs(count - target) }
            if count > target { break }
        }
        return best
    }
}
