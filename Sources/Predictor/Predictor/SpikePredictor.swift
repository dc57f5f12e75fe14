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

    private enum StreamState: Sendable {
        /// `run`: consecutive samples at or above the decision threshold (for the persistence rule).
        case forest(RollingFeatures, lastTime: Double, run: Int)
        case robust(RobustSpikeDetector, lastTime: Double)

        var lastTime: Double {
            switch self {
            case .forest(_, let t, _), .robust(_, let t): t
            }
        }
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
            case .forest(let forest): state = .forest(RollingFeatures(windows: forest.windows), lastTime: -.infinity, run: 0)
            case .robust(let p): state = .robust(RobustSpikeDetector(parameters: p), lastTime: -.infinity)
            }
        }
        // Take the state out of the dictionary while mutating it, so its ring buffer is not copied.
        streams[key] = nil
        let verdict: PredictorVerdict
        switch (state, detector) {
        case (.forest(var rolling, _, let run), .forest(let forest)):
            let vector = rolling.next(sample.value)
            let p = forest.probability(vector)
            let above = !vector.warmingUp && p >= forest.decisionThreshold
            let newRun = above ? run + 1 : 0
            verdict = PredictorVerdict(
                device: sample.device, channel: sample.channel, captureTime: sample.captureTime,
                spikeProbability: vector.warmingUp ? 0 : p,
                spikeDetected: newRun >= forest.persistence,
                modelID: forest.modelID, warmingUp: vector.warmingUp,
                features: forest.features.map { NamedFeature($0.rawValue, vector[$0]) },
                decisionThreshold: forest.decisionThreshold)
            state = .forest(rolling, lastTime: sample.captureTime, run: min(newRun, forest.persistence))
        case (.robust(var robust, _), _):
            let r = robust.next(sample.value)
            verdict = PredictorVerdict(
                device: sample.device, channel: sample.channel, captureTime: sample.captureTime,
                spikeProbability: r.spikeScore, spikeDetected: r.detected, modelID: modelID, warmingUp: r.warmingUp,
                features: [NamedFeature("median", r.median), NamedFeature("mad", r.mad), NamedFeature("robust_z", r.score)],
                decisionThreshold: RobustSpikeDetector.scoreAtThreshold)
            state = .robust(robust, lastTime: sample.captureTime)
        case (.forest, .robust):
            // Unreachable: a stream's state is made from this predictor's own detector.
            return PredictorVerdict(device: sample.device, channel: sample.channel, captureTime: sample.captureTime,
                                    spikeProbability: 0, spikeDetected: false, modelID: modelID, warmingUp: true, features: [])
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
            for (key, state) in streams {
                if case .forest(let rolling, let lastTime, _) = state { streams[key] = .forest(rolling, lastTime: lastTime, run: 0) }
            }
        } else {
            streams.removeAll()
        }
    }

    /// Forgets one stream (e.g. after a sensor was replaced) so its next sample starts afresh.
    public mutating func reset(device: String, channel: String) {
        streams[StreamKey(device: device, channel: channel)] = nil
    }
}
