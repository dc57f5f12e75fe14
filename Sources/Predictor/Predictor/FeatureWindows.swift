/// The window sizes and constants of the rolling features (docs/predictor.md, "Features").
///
/// Windows count samples, not seconds: like Azure Stream Analytics' `AnomalyDetection_SpikeAndDip`
/// the predictor assumes a uniformly sampled series per (device, channel); the agent samples at a
/// fixed interval. A model records the windows it was trained with and the predictor uses those.
public struct FeatureWindows: Equatable, Sendable {
    /// Samples in the short window (the most recent history).
    public var short: Int
    /// Samples in the long window (the baseline).
    public var long: Int
    /// Below this many samples of history a stream is warming up: features are computed, but no
    /// detector flags anything (both the model and the fallback stay quiet).
    public var minHistory: Int
    /// The smallest standard deviation a z-score divides by, so a constant signal gives large but
    /// finite z-scores instead of infinities.
    public var stdFloor: Double

    public init(short: Int, long: Int, minHistory: Int, stdFloor: Double) {
        self.short = short
        self.long = long
        self.minHistory = minHistory
        self.stdFloor = stdFloor
    }

    /// The windows of feature set v1: 8 and 60 samples (40 s and 5 min at the boards' 5 s).
    public static let v1 = FeatureWindows(short: 8, long: 60, minHistory: 30, stdFloor: 1e-6)

    /// Nil when valid, else what is wrong and what would be accepted.
    public var problem: String? {
        if short < 2 { return "the short window must hold at least 2 samples, not \(short)" }
        if long < short { return "the long window (\(long)) must be at least the short window (\(short))" }
        if long > 10_000 { return "the long window must hold at most 10000 samples, not \(long)" }
        if minHistory < 1 || minHistory > long {
            return "min history must be between 1 and the long window (\(long)), not \(minHistory)"
        }
        if !(stdFloor > 0) || !stdFloor.isFinite { return "the standard-deviation floor must be positive, not \(stdFloor)" }
        return nil
    }
}

/// The names of the features, in the column order of `spike-predictor export --features` and of
/// ``FeatureVector/values``. A model names the subset it uses.
public enum FeatureName: String, CaseIterable, Sendable {
    /// The sample's value x.
    case value
    /// x − previous value (0 for the first sample of a stream).
    case delta
    case shortMean = "short_mean"
    case shortStd = "short_std"
    case longMean = "long_mean"
    case longStd = "long_std"
    /// (x − short_mean) / max(short_std, floor).
    case zShort = "z_short"
    /// (x − long_mean) / max(long_std, floor).
    case zLong = "z_long"
    /// delta / max(long_std, floor).
    case deltaZ = "delta_z"
    /// (short_mean − long_mean) / max(long_std, floor).
    case levelZ = "level_z"
    /// short_std / max(long_std, floor).
    case stdRatio = "std_ratio"
}

/// The features of one sample, computed against the history *before* it (the sample itself is
/// never in its own windows, so a spike does not dilute its own z-score).
public struct FeatureVector: Equatable, Sendable {
    /// One value per ``FeatureName``, in `FeatureName.allCases` order.
    public var values: [Double]
    /// Samples of history the windows were computed from (at most the long window).
    public var history: Int
    /// True while `history < windows.minHistory`.
    public var warmingUp: Bool

    public init(values: [Double], history: Int, warmingUp: Bool) {
        self.values = values
        self.history = history
        self.warmingUp = warmingUp
    }

    public subscript(name: FeatureName) -> Double {
        values[FeatureName.index(of: name)]
    }
}

extension FeatureName {
    /// The column of this feature in ``FeatureVector/values``.
    public static func index(of name: FeatureName) -> Int {
        switch name {
        case .value: 0
        case .delta: 1
        case .shortMean: 2
        case .shortStd: 3
        case .longMean: 4
        case .longStd: 5
        case .zShort: 6
        case .zLong: 7
        case .deltaZ: 8
        case .levelZ: 9
        case .stdRatio: 10
        }
    }
}
