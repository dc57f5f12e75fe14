// Pure window statistics: mean acceleration per axis and vibration of the magnitude. Zero I/O.

extension ADXL345 {
    /// What one window of samples says: the mean vector and the vibration of its magnitude.
    ///
    /// ## Definition
    /// For samples aᵢ (i = 1…n) in g:
    /// - mᵢ = |aᵢ| = √(xᵢ² + yᵢ² + zᵢ²), the magnitude of each sample;
    /// - m̄ = (1/n) Σ mᵢ, its window mean (gravity plus any steady acceleration);
    /// - `vibrationRMS` = √((1/n) Σ (mᵢ − m̄)²), the RMS of the AC part of the magnitude;
    /// - `vibrationPeak` = maxᵢ |mᵢ − m̄|.
    ///
    /// The magnitude makes the figure independent of how the board is mounted. The price: a
    /// vibration perpendicular to gravity changes the magnitude only to second order
    /// (√(1 + A²sin²) ≈ 1 + A²sin²/2), so sideways shaking is under-reported; one along the gravity
    /// axis (amplitude A on top of 1 g) gives RMS = A/√2 over whole periods.
    public struct WindowSummary: Equatable, Sendable {
        /// Per-axis mean over the window, in g.
        public var mean: Acceleration
        /// RMS of the AC part of the magnitude, in g.
        public var vibrationRMS: Double
        /// Largest absolute AC deviation of the magnitude, in g.
        public var vibrationPeak: Double
        public var sampleCount: Int

        /// Returns nil for an empty window.
        public init?(_ samples: [Acceleration]) {
            guard !samples.isEmpty else { return nil }
            let n = Double(samples.count)
            var sx = 0.0, sy = 0.0, sz = 0.0
            var magnitudes: [Double] = []
            magnitudes.reserveCapacity(samples.count)
            for s in samples {
                sx += s.x
                sy += s.y
                sz += s.z
                magnitudes.append(s.magnitude)
            }
            // Deviations are taken from the first magnitude before averaging (the shifted-data
            // method), so a constant window gives exactly 0 and ~1 g of gravity does not cost
            // precision in the sums.
            let pivot = magnitudes[0]
            let meanShifted = magnitudes.reduce(0) { $0 + ($1 - pivot) } / n
            var sumSquares = 0.0
            var peak = 0.0
            for m in magnitudes {
                let ac = (m - pivot) - meanShifted
                sumSquares += ac * ac
                peak = max(peak, abs(ac))
            }
            mean = Acceleration(x: sx / n, y: sy / n, z: sz / n)
            vibrationRMS = (sumSquares / n).squareRoot()
            vibrationPeak = peak
            sampleCount = samples.count
        }
    }
}
