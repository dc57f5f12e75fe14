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
    /// The last `count` samples in arrival order (a ring; the oldest at `head` once full).
    private var ring: [Double]
    private var head = 0
    private var count = 0
    /// The window's finite samples sorted ascending, kept by binary-search insert and remove: a
    /// sample costs two searches, a move of at most `window` values and a half-window merge
    /// instead of two sorts (the agent scores every channel of every sample).
    private var sorted: [Double]
    /// Non-finite samples in the window, kept out of `sorted`: NaN has no place in an order and an
    /// infinite median makes NaN deviations, so while one is held the window is sorted per sample.
    private var nonFiniteCount = 0
    private var scratch: [Double]

    public init(parameters: Parameters = .standard) {
        self.parameters = parameters
        ring = [Double](repeating: 0, count: max(parameters.window, 1))
        sorted = []
        sorted.reserveCapacity(ring.count + 1)
        scratch = []
        scratch.reserveCapacity(ring.count)
    }

    public mutating func next(_ x: Double) -> Result {
        let result = score(x)
        if count == ring.count { forget(ring[head]) }
        remember(x)
        ring[head] = x
        head = (head + 1) % ring.count
        count = min(count + 1, ring.count)
        return result
    }

    private mutating func remember(_ x: Double) {
        if !x.isFinite { nonFiniteCount += 1; return }
        sorted.insert(x, at: Self.lowerBound(sorted, x))
    }

    private mutating func forget(_ x: Double) {
        if !x.isFinite { nonFiniteCount -= 1; return }
        sorted.remove(at: Self.lowerBound(sorted, x))
    }

    /// The first index whose value is not below `x`.
    private static func lowerBound(_ values: [Double], _ x: Double) -> Int {
        var low = 0, high = values.count
        while low < high {
            let mid = (low + high) / 2
            if values[mid] < x { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private mutating func score(_ x: Double) -> Result {
        guard count > 0 else {
            return Result(median: x, mad: 0, score: 0, spikeScore: 0, detected: false, warmingUp: true)
        }
        let (median, mad) = nonFiniteCount == 0 ? Self.medianAndMAD(sorted: sorted) : medianAndMADBySorting()
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

    /// Median and MAD of an ascending window of finite values without sorting: the deviations
    /// |v − median| of the values below the median, walked downwards, and of the rest, walked
    /// upwards, are each ascending (floating-point subtraction is monotonic), so merging the two
    /// walks up to the middle yields the middle deviation(s) of a full sort.
    static func medianAndMAD(sorted values: [Double]) -> (median: Double, mad: Double) {
        let n = values.count
        let median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
        var below = lowerBound(values, median) - 1  // next deviation of the lower walk
        var above = below + 1                       // next deviation of the upper walk
        func nextDeviation() -> Double {
            if below >= 0, above < n {
                let low = abs(values[below] - median), high = abs(values[above] - median)
                if low <= high { below -= 1; return low }
                above += 1
                return high
            }
            if below >= 0 { below -= 1; return abs(values[below + 1] - median) }
            above += 1
            return abs(values[above - 1] - median)
        }
        // Deviations in ascending order up to index n / 2 of the sorted deviations.
        var previous = 0.0, current = 0.0
        for _ in 0...(n / 2) {
            previous = current
            current = nextDeviation()
        }
        return (median, n % 2 == 1 ? current : (previous + current) / 2)
    }

    /// The window's median and MAD by sorting it (a window holding a non-finite sample).
    private mutating func medianAndMADBySorting() -> (median: Double, mad: Double) {
        scratch.removeAll(keepingCapacity: true)
        for i in 0..<count { scratch.append(ring[(head + ring.count - 1 - i) % ring.count]) }
        let median = Self.median(&scratch)
        for i in scratch.indices { scratch[i] = abs(scratch[i] - median) }
        return (median, Self.median(&scratch))
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
