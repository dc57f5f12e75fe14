import Foundation
import TestSupport
import Testing
@testable import Predictor

/// The fallback detector: worked values, a planted spike, and silence on plain noise.
struct RobustSpikeDetectorTests {
    /// Deterministic standard normal noise (SplitMix64 + Box–Muller), independent of HALSimulation.
    struct Noise {
        var random: SeededGenerator
        init(state: UInt64) { random = SeededGenerator(seed: state) }
        mutating func next() -> Double {
            let u1 = max(random.unit(), .leastNonzeroMagnitude), u2 = random.unit()
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
    }

    @Test func scoresAgainstMedianAndMAD() {
        var d = RobustSpikeDetector(parameters: .init(window: 5, threshold: 3.5, minHistory: 5))
        for x in [1.0, 2, 3, 4, 100] { _ = d.next(x) }
        // median 3, MAD = median(|-2, -1, 0, 1, 97|) = 1: z = 0.6745 · 7 / 1.
        let r = d.next(10)
        #expect(r.median == 3)
        #expect(r.mad == 1)
        #expect(abs(r.score - 0.6745 * 7) < 1e-12)
        #expect(r.detected)
        #expect(abs(r.spikeScore - r.score * r.score / (r.score * r.score + 3.5 * 3.5)) < 1e-12)
    }

    @Test func medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        var values = [4.0, 1, 3, 2]
        #expect(RobustSpikeDetector.median(&values) == 2.5)
    }

    /// The incremental sorted window gives what sorting the window per sample gives, bit for bit:
    /// random walks, heavy ties (coarsely quantised values), every window parity and fill level,
    /// and a window that holds NaN or infinity for a while.
    @Test(arguments: [3, 4, 5, 60, 61])
    func incrementalWindowAgreesWithSortingPerSample(window: Int) {
        var random = SeededGenerator(seed: UInt64(window))
        var d = RobustSpikeDetector(parameters: .init(window: window, minHistory: min(window, 3)))
        var history: [Double] = []
        var mismatches: [String] = []
        for i in 0..<4_000 {
            var x = i < 2_000 ? 20 + random.unit() : (random.unit() * 8).rounded() / 4  // ties
            if i == 2_500 { x = .nan }
            if i == 3_000 { x = .infinity }
            if i == 3_200 { x = -.infinity }
            let r = d.next(x)
            // Newest first, as the detector always listed its window for the sort: with NaN in
            // it the sort's result depends on that order.
            let past = Array(history.suffix(window).reversed())
            if !past.isEmpty {
                var values = past
                let median = RobustSpikeDetector.median(&values)
                var deviations = past.map { abs($0 - median) }
                let mad = RobustSpikeDetector.median(&deviations)
                let z = 0.6745 * (x - median) / max(mad, 1e-6)
                func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
                if !same(r.median, median) || !same(r.mad, mad) || !same(r.score, z) {
                    mismatches.append("sample \(i): \(r.median)/\(r.mad)/\(r.score), sorted \(median)/\(mad)/\(z)")
                }
            }
            history.append(x)
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.first ?? "")")
    }

    @Test func modeChoosesTheDirection() {
        func detects(_ mode: RobustSpikeDetector.Mode, _ x: Double) -> Bool {
            var d = RobustSpikeDetector(parameters: .init(window: 5, threshold: 3.5, minHistory: 5, mode: mode))
            for v in [1.0, 2, 3, 4, 5] { _ = d.next(v) }
            return d.next(x).detected
        }
        #expect(detects(.spikes, 20) && !detects(.spikes, -20))
        #expect(detects(.dips, -20) && !detects(.dips, 20))
        #expect(detects(.spikesAndDips, 20) && detects(.spikesAndDips, -20))
    }

    @Test func catchesAPlantedSpikeAndStaysQuietOnNoise() {
        var noise = Noise(state: 42)
        var d = RobustSpikeDetector()
        var flagged: [Int] = []
        for i in 0..<5_000 {
            var x = 20 + 0.1 * noise.next()
            if (3_000..<3_004).contains(i) { x += 1.0 }  // a 10-sigma spike for 4 samples
            if d.next(x).detected { flagged.append(i) }
        }
        #expect(flagged.contains(3_000), "the spike's first sample is flagged")
        #expect((3_000..<3_004).allSatisfy(flagged.contains), "every spike sample is flagged")
        let falseFlags = flagged.filter { !(3_000..<3_004).contains($0) }
        #expect(falseFlags.count <= 10, "plain noise flagged \(falseFlags.count) times in 5000 samples")
    }

    @Test func quietWhileWarmingUp() {
        var d = RobustSpikeDetector()
        for i in 0..<30 {
            let r = d.next(i == 29 ? 1_000 : 1 + Double(i % 2))
            #expect(!r.detected && r.warmingUp && r.spikeScore == 0, "sample \(i)")
        }
        #expect(!d.next(1).warmingUp, "30 samples of history end the warm-up")
    }

    @Test func aConstantSignalGivesFiniteScores() {
        var d = RobustSpikeDetector()
        for _ in 0..<40 { _ = d.next(5) }
        let r = d.next(5.001)
        #expect(r.score.isFinite && r.detected, "MAD 0 is floored, a change off a flat line is a spike")
        #expect(RobustSpikeDetector.Parameters(window: 2).problem != nil)
    }
}
