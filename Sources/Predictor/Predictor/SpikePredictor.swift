/// The predictor's engine: one rolling state per (device, channel) stream and one detector (the
/// forest, or the fallback robust z-score when no model is loaded). Pure and single-threaded;
/// the server guards one instance with a lock, the agent owns one for its fallback.
public struct SpikePredictor: Sendable {
    public enum Detector: Sendable {
        case forest(SpikeForest)
        case robust(RobustSpikeDetector.Parameters)
    }

    /// Why a sample was refused. The stream's state is unchanged.
    public enum Rejection: Error, Equatable, Sendable, CustomStringConvertible {
        /// A new stream would exceed `maxStreams`.
        case tooManyStreams(limit: Int)
        /// The capture time did not increase (a duplicate, a replay or a clock step backwards).
        case outOfOrder(device: String, channel: String, last: Double, got: Double)

        public var description: String {
            switch self {
            case .tooManyStreams(let limit):
                "the predictor already tracks \(limit) streams (device, channel); restart it or raise --max-streams"
            case let .outOfOrder(device, channel, last, got):
                "capture time \(got) of \(device)/\(channel) is not after the last one (\(last)); send each sample once, in capture order"
            }
        }
    }

    private struct StreamKey: Hashable, Sendable {
        var device: String
        var channel: String
    }

    /// One stream's rolling state: the forest's features or the fallback's window (whichever the
    /// predictor's detector uses), the last capture time and, for the forest, `run`, the
    /// consecutive samples at or above the decision threshold (for the persistence rule).
    ///
    /// A struct of optionals, not an enum with a payload per detector: a multi-payload enum keeps
    /// its case in the spare high bits of a payload's pointer, which LeakSanitizer cannot follow,
    /// so `scripts/leak-check.sh` reported the live fallback windows of a running agent as leaked.
    private struct StreamState: Sendable {
        var forest: RollingFeatures?
        var robust: RobustSpikeDetector?
        var lastTime = -Double.infinity
        var run = 0
    }

    public private(set) var detector: Detector
    public let maxStreams: Int
    private var streams: [StreamKey: StreamState] = [:]

    public init(detector: Detector, maxStreams: Int = 4_096) {
        self.detector = detector
        self.maxStreams = maxStreams
    }

    /// The id reported in verdicts: the model's, or the fallback's with its parameters.
    public var modelID: String {
        switch detector {
        case .forest(let forest): forest.modelID
        case .robust(let p): "robust-z.v1(window=\(p.window),threshold=\(p.threshold))"
        }
    }

    public var streamCount: Int { streams.count }

    public mutating func classify(_ sample: PredictorSample) throws(Rejection) -> PredictorVerdict {
        let key = StreamKey(device: sample.device, channel: sample.channel)
        var state: StreamState
        if let existing = streams[key] {
            guard sample.captureTime > existing.lastTime else {
                throw .outOfOrder(device: sample.device, channel: sample.channel, last: existing.lastTime, got: sample.captureTime)
            }
            state = existing
        } else {
            guard streams.count < maxStreams else { throw .tooManyStreams(limit: maxStreams) }
            switch detector {
            case .forest(let forest): state = StreamState(forest: RollingFeatures(windows: forest.windows))
            case .robust(let p): state = StreamState(robust: RobustSpikeDetector(parameters: p))
            }
        }
        // Take the state out of the dictionary while mutating it, so its ring buffer is not copied.
        streams[key] = nil
        let verdict: PredictorVerdict
        switch detector {
        case .forest(let forest):
            var rolling = state.forest ?? RollingFeatures(windows: forest.windows)
            state.forest = nil  // one reference, so `next` mutates the window in place
            let vector = rolling.next(sample.value)
            let p = forest.probability(vector)
            let above = !vector.warmingUp && p >= forest.decisionThreshold
            let newRun = above ? state.run + 1 : 0
            verdict = PredictorVerdict(
                device: sample.device, channel: sample.channel, captureTime: sample.captureTime,
                spikeProbability: vector.warmingUp ? 0 : p,
                spikeDetected: newRun >= forest.persistence,
                modelID: forest.modelID, warmingUp: vector.warmingUp,
                features: forest.features.map { NamedFeature($0.rawValue, vector[$0]) },
                decisionThreshold: forest.decisionThreshold)
            state = StreamState(forest: rolling, lastTime: sample.captureTime, run: min(newRun, forest.persistence))
        case .robust(let p):
            var robust = state.robust ?? RobustSpikeDetector(parameters: p)
            state.robust = nil  // one reference, so `next` mutates the window in place
            let r = robust.next(sample.value)
            verdict = PredictorVerdict(
                device: sample.device, channel: sample.channel, captureTime: sample.captureTime,
                spikeProbability: r.spikeScore, spikeDetected: r.detected, modelID: modelID, warmingUp: r.warmingUp,
                features: [NamedFeature("median", r.median), NamedFeature("mad", r.mad), NamedFeature("robust_z", r.score)],
                decisionThreshold: RobustSpikeDetector.scoreAtThreshold)
            state = StreamState(robust: robust, lastTime: sample.captureTime)
        }
        streams[key] = state
        return verdict
    }

    /// Serves `detector` from the next sample on. Streams keep their rolling history when the old
    /// and the new detector are forests with the same windows (so there is no new warm-up: the next
    /// sample of every stream gets a full verdict); otherwise each stream starts afresh.
    public mutating func replaceDetector(with detector: Detector) {
        let keep: Bool = switch (self.detector, detector) {
        case (.forest(let old), .forest(let new)): old.windows == new.windows
        default: false
        }
        self.detector = detector
        if keep {
            for key in streams.keys { streams[key]?.run = 0 }
        } else {
            streams.removeAll()
        }
    }

    /// Forgets one stream (e.g. after a sensor was replaced) so its next sample starts afresh.
    public mutating func reset(device: String, channel: String) {
        streams[StreamKey(device: device, channel: channel)] = nil
    }
}
