#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import HALSimulation
import Testing

/// The scenario's noise is drawn by the ziggurat method: its draws must be standard normal.
/// The reference is the normal distribution function computed here from libm's `erfc`, and the
/// probabilities below are the standard table values (Φ(1) = 0.841345, Φ(2) = 0.977250,
/// Φ(3) = 0.998650, Φ(4) = 0.9999683), none of them from the generator's tables.
struct ZigguratTests {
    static let draws: [Double] = {
        var generator = SplitMix64(seed: 0x5EED)
        return (0..<1_000_000).map { _ in Ziggurat.normal(using: &generator) }
    }()

    /// Φ(x), the standard normal distribution function.
    static func phi(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    @Test func meanAndVarianceAreThoseOfAStandardNormal() {
        let n = Double(Self.draws.count)
        let mean = Self.draws.reduce(0, +) / n
        let variance = Self.draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        // Standard errors: 0.001 for the mean, 0.0014 for the variance; six of them allowed.
        #expect(abs(mean) < 0.006, "mean \(mean)")
        #expect(abs(variance - 1) < 0.0085, "variance \(variance)")
    }

    @Test func theShareWithinOneTwoAndThreeSigmaAndBeyondFourIsTheTables() {
        let n = Double(Self.draws.count)
        func share(within k: Double) -> Double { Double(Self.draws.count { abs($0) < k }) / n }
        // 2Φ(k) − 1 from the table values, with about six binomial standard errors allowed.
        #expect(abs(share(within: 1) - 0.682690) < 0.003, "\(share(within: 1))")
        #expect(abs(share(within: 2) - 0.954500) < 0.0013, "\(share(within: 2))")
        #expect(abs(share(within: 3) - 0.997300) < 0.0003, "\(share(within: 3))")
        // Beyond 4σ lies the tail the ziggurat draws separately (it begins at 3.44): 2(1 − Φ(4))
        // = 6.33e-5, 63 of a million expected (standard error 8).
        let beyondFour = Self.draws.count { abs($0) > 4 }
        #expect((25...110).contains(beyondFour), "\(beyondFour) beyond 4σ")
        #expect(Self.draws.contains { $0 > 4 } && Self.draws.contains { $0 < -4 }, "both tails drawn")
    }

    /// Kolmogorov–Smirnov against Φ: D below the 0.1 % critical value 1.95/√n.
    @Test func kolmogorovSmirnovAgainstTheNormalDistributionPasses() {
        let sorted = Self.draws.sorted()
        let n = Double(sorted.count)
        var d = 0.0
        for (i, x) in sorted.enumerated() {
            let f = Self.phi(x)
            d = max(d, Double(i + 1) / n - f, f - Double(i) / n)
        }
        #expect(d < 1.95 / n.squareRoot(), "D = \(d)")
    }

    @Test func theTableReferenceIsPhi() {
        #expect(abs(Self.phi(1) - 0.841345) < 1e-6)
        #expect(abs(Self.phi(2) - 0.977250) < 1e-6)
        #expect(abs(Self.phi(3) - 0.998650) < 1e-6)
    }
}
