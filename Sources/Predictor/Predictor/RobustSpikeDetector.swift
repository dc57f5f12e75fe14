/// The statistical fallback detector: a robust z-score against the median and MAD of a rolling
/// window, needing no training (Iglewicz & Hoaglin's modified z-score). It runs inside the agent
/// when the predictor process is down or late, and beside the model in `spike-predictor evaluate`.
///
/// Contract:
/// - `next(x)` scores `x` against the `window` samples before it (x itself is not in its window),
///   then remembers `x`.
/// - score = 0.6745 · (x − median) / max(MAD, floor), MAD = median(|v − median|). 0.6745 makes
///   MAD a consistent estimate of σ for Gaussian noise, so `threshold` reads in "sigmas".
/// - `mode` picks the direction: `.spikes` flags score ≥ threshold, `.dips` score ≤ −threshold,
///   `.spikesAndDips` both (the default: a dip is a spike downward, docs/predictor.md "Labels").
/// - Quiet while fewer than `minHistory` samples are held (as Azure Stream Analytics documents for `AnomalyDetection_SpikeAndDip`: early outputs of a
///   window-based detector are unreliable).
/// - `spikeScore` = s²/(s² + threshold²) with s the score in the flagged direction(s): a number in
///   [0, 1) that crosses 0.5 exactly at the threshold. A score, not a calibrated probability.
public struct RobustSpikeDetector: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        case spikes
        case dips
        case spikesAndDips = "spikes_and_dips"
    }

    public struct Parameters: Equatable, Sendable {
        public var window: Int
        public var threshold: Double
        public var minHistory: Int
        public var mode: Mode
        public var madFloor: Double

        public init(window: Int = 60, threshold: Double = 3.5, minHistory: Int = 30,
                    mode: Mode = .spikesAndDips, madFloor: Double = 1e-6) {
            self.window = window
            self.threshold = threshold
            self.minHistory = minHistory
            self.mode = mode
            self.madFloor = madFloor
        }

        /// The defaults: 60 samples (5 min at 5 s), 3.5 (Iglewicz & Hoaglin's outlier cut-off).
        public static let standard = Parameters()

        /// Nil when valid, else what is wrong.
        public var problem: String? {
            if window < 3 || window > 10_000 { return "the window must hold 3…10000 samples, not \(window)" }
            if minHistory < 1 || minHistory > window { return "min history must be 1…\(window), not \(minHistory)" }
            if !(threshold > 0) || !threshold.isFinite { return "the threshold must be positive, not \(threshold)" }
            if !(madFloor > 0) || !madFloor.isFinite { return "the MAD floor must be positive, not \(madFloor)" }
            return nil
        }
    }

    /// One scored sample.
    public struct Result: Equatable, Sendable {
        public var median: Double
        public var mad: Double
        /// The signed robust z-score.
        public var score: Double
        public var spikeScore: Double
        public var detected: Bool
        public var warmingUp: Bool
    }

    public let parameters: Parameters
    private var ring: [Double]
    private var head = 0
    private var count = 0
    private var scratch: [Double]

    public init(parameters: Parameters = .standard) {
        self.parameters = parameters
        ring = [Double](repeating: 0, count: max(parameters.window, 1))
        scratch = []
        scratch.reserveCapacity(ring.count)
    }

    public mutating func next(_ x: Double) -> Result {
        let result = score(x)
        ring[head] = x
        head = (head + 1) % ring.count
        count = min(count + 1, ring.count)
        return result
    }

    private mutating func score(_ x: Double) -> Result {
        guard count > 0 else {
            return Result(median: x, mad: 0, score: 0, spikeScore: 0, detected: false, warmingUp: true)
        }
        scratch.removeAll(keepingCapacity: true)
        for i in 0..<count { scratch.append(ring[(head + ring.count - 1 - i) % ring.count]) }
        let median = Self.median(&scratch)
        for i in scratch.indices { scratch[i] = abs(scratch[i] - median) }
        let mad = Self.median(&scratch)
        let z = 0.6745 * (x - median) / max(mad, parameters.madFloor)
        let directed: Double = switch parameters.mode {
        case .spikes: max(z, 0)
        case .dips: max(-z, 0)
        case .spikesAndDips: abs(z)
        }
        let t = parameters.threshold
        let warming = count < parameters.minHistory
        let spikeScore = directed.isFinite ? directed * directed / (directed * directed + t * t) : 1
        return Result(median: median, mad: mad, score: z, spikeScore: warming ? 0 : spikeScore,
                      detected: !warming && directed >= t, warmingUp: warming)
    }

    /// The median of `values` (the mean of the two middle values for an even count); sorts in place.
    static func median(_ values: inout [Double]) -> Double {
        values.sort()
        let n = values.count
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

extension RobustSpikeDetector {
    /// `spikeScore` at the threshold, s²/(s² + s²): a sample scoring at least this is detected.
    public static let scoreAtThreshold = 0.5
}
