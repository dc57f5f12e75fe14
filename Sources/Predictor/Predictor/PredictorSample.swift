/// One reading sent to the predictor (`firmware-interface/predictor.v1.md`, "sample").
public struct PredictorSample: Equatable, Sendable {
    /// The device id (1…128 bytes of UTF-8).
    public var device: String
    /// The channel name (1…64 bytes), e.g. `temperature`; with `device` it names a stream.
    public var channel: String
    /// Capture time in seconds on the sender's clock (any fixed origin per stream); must increase
    /// from one sample of a stream to the next.
    public var captureTime: Double
    /// The value in the channel's SI unit.
    public var value: Double

    public init(device: String, channel: String, captureTime: Double, value: Double) {
        self.device = device
        self.channel = channel
        self.captureTime = captureTime
        self.value = value
    }
}

/// A named feature value reported with a verdict ("the features used").
public struct NamedFeature: Equatable, Sendable {
    public var name: String
    public var value: Double

    public init(_ name: String, _ value: Double) {
        self.name = name
        self.value = value
    }
}

/// The predictor's answer for one sample (`firmware-interface/predictor.v1.md`, "verdict").
public struct PredictorVerdict: Equatable, Sendable {
    public var device: String
    public var channel: String
    public var captureTime: Double
    /// The model's spike probability in [0, 1] (for the fallback detector: its spike score).
    public var spikeProbability: Double
    /// The detector's own alert rule on this sample: the probability reached its decision
    /// threshold on as many consecutive samples as the model's `persistence` asks (never while
    /// warming up). What `spike-predictor evaluate` scores.
    public var spikeDetected: Bool
    /// The probability at or above which one sample counts as spiking (the model's
    /// `decision_threshold`; 0.5 for the fallback, whose score is 0.5 at its z threshold). The
    /// agent applies its own persistence rule to samples judged by it; nil from a predictor that
    /// does not say (the agent then takes `spikeDetected`).
    public var decisionThreshold: Double?
    /// Which model or detector decided, e.g. `spike-forest.v1-…` or `robust-z.v1`.
    public var modelID: String
    /// True while the stream has too little history to judge (the verdict is then "no spike").
    public var warmingUp: Bool
    /// The features the decision used, in the model's order.
    public var features: [NamedFeature]

    public init(device: String, channel: String, captureTime: Double, spikeProbability: Double, spikeDetected: Bool,
                modelID: String, warmingUp: Bool, features: [NamedFeature], decisionThreshold: Double? = nil) {
        self.device = device
        self.channel = channel
        self.captureTime = captureTime
        self.spikeProbability = spikeProbability
        self.spikeDetected = spikeDetected
        self.modelID = modelID
        self.warmingUp = warmingUp
        self.features = features
        self.decisionThreshold = decisionThreshold
    }
}
