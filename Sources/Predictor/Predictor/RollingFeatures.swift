/// Rolling features of one stream (one device's one channel).
///
/// Contract:
/// - `next(x)` computes the features of `x` against the samples before it, then remembers `x`.
/// - Short window: the last `short` samples of history; long window: the last `long` samples.
///   While history is shorter, a window holds what there is (an empty window has mean x and
///   standard deviation 0).
/// - mean = Σv/n; std = sqrt(Σ(v − mean)²/n) (population, ddof 0), two-pass for stability.
/// - Everything is a pure function of the values seen, so `spike-predictor export --features` and
///   the served predictor compute bit-identical features (one implementation for training and
///   serving).
public struct RollingFeatures: Sendable {
    public let windows: FeatureWindows
    /// The last `long` values, oldest first once full (ring buffer).
    private var ring: [Double]
    private var head = 0
    private var count = 0

    public init(windows: FeatureWindows) {
        self.windows = windows
        ring = [Double](repeating: 0, count: max(windows.long, 1))
    }

    /// Samples of history held (at most the long window).
    public var history: Int { count }

    /// The history oldest first (for the median-based fallback detector and tests).
    public var historyValues: [Double] {
        (0..<count).map { ring[(head + ring.count - count + $0) % ring.count] }
    }

    public mutating func next(_ x: Double) -> FeatureVector {
        let capacity = ring.count
        let n = count
        // Index of the i-th newest value (0 = newest).
        @inline(__always) func newest(_ i: Int) -> Double { ring[(head + capacity - 1 - i) % capacity] }

        let nShort = min(windows.short, n)
        let (shortMean, shortStd) = Self.moments(n: nShort, fallback: x) { newest($0) }
        let (longMean, longStd) = Self.moments(n: n, fallback: x) { newest($0) }
        let delta = n > 0 ? x - newest(0) : 0
        let floor = windows.stdFloor
        let longScale = max(longStd, floor)
        let values: [Double] = [
            x,
            delta,
            shortMean,
            shortStd,
            longMean,
            longStd,
            (x - shortMean) / max(shortStd, floor),
            (x - longMean) / longScale,
            delta / longScale,
            (shortMean - longMean) / longScale,
            shortStd / longScale,
        ]
        let vector = FeatureVector(values: values, history: n, warmingUp: n < windows.minHistory)

        ring[head] = x
        head = (head + 1) % capacity
        count = min(count + 1, capacity)
        return vector
    }

    /// Mean and population standard deviation of the `n` newest values, summed newest first.
    @inline(__always)
    private static func moments(n: Int, fallback: Double, _ value: (Int) -> Double) -> (Double, Double) {
        guard n > 0 else { return (fallback, 0) }
        var sum = 0.0
        for i in 0..<n { sum += value(i) }
        let mean = sum / Double(n)
        var squares = 0.0
        for i in 0..<n {
            let d = value(i) - mean
            squares += d * d
        }
        return (mean, (squares / Double(n)).squareRoot())
    }
}
