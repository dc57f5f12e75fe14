import TestSupport
import Foundation
import Testing
@testable import Predictor

/// Spikes of every size on a clean stream (issue 16, "Large spikes"): the shipped model must flag
/// large spikes. spike-gbt.v2, trained on 3–12 sigma spikes only, alerted on none of 12 sigmas
/// or more here (the demo's +8 °C on 0.05 °C of noise is 160).
struct SpikeSizeSweepTests {
    static let sizes: [Double] = [4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 50, 100, 160, 300]
    static let seeds: [UInt64] = Array(1...20)

    /// Gaussian noise of 0.05 around 21, a sample every 2 s: 60 quiet samples, a spike of `size`
    /// sigmas for 5 samples, 20 quiet samples. Returns whether the agent's rule alerted during the
    /// spike and whether it alerted before it. The agent's default rule is the model's own (its
    /// decision threshold on `persistence` consecutive samples: `spikeDetected`; the agent's
    /// default `spike_persistence` equals it, SpikeRoutingTests checks that).
    static func run(_ model: SpikeForest, size: Double, seed: UInt64) throws -> (hit: Bool, early: Bool) {
        var predictor = SpikePredictor(detector: .forest(model))
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        func unit() -> Double {
            // SplitMix64.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        func gaussian() -> Double { (-2 * log(max(unit(), .leastNonzeroMagnitude))).squareRoot() * cos(2 * .pi * unit()) }
        let sigma = 0.05
        var hit = false, early = false
        for i in 0..<85 {
            let inSpike = (60..<65).contains(i)
            let value = 21 + sigma * gaussian() + (inSpike ? size * sigma : 0)
            let verdict = try predictor.classify(PredictorSample(device: "d", channel: "temperature", captureTime: Double(i) * 2, value: value))
            let alert = verdict.spikeDetected
            if alert && i < 60 { early = true }
            if alert && (60..<67).contains(i) { hit = true }
        }
        return (hit, early)
    }

    /// Alerts out of 20 seeds at each size, and alerts raised before any spike.
    static func sweep(_ model: SpikeForest) throws -> (alerts: [Double: Int], early: Int) {
        var alerts: [Double: Int] = [:], early = 0
        for size in sizes {
            for seed in seeds {
                let r = try run(model, size: size, seed: seed)
                alerts[size, default: 0] += r.hit ? 1 : 0
                early += r.early ? 1 : 0
            }
        }
        return (alerts, early)
    }

    @Test func theShippedModelFlagsLargeSpikes() throws {
        let model = try SpikeForest(json: [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/spike-gbt.v3.json")))))
        let (alerts, early) = try Self.sweep(model)
        let row = Self.sizes.map { "\(Int($0))σ \(alerts[$0] ?? 0)" }.joined(separator: ", ")
        print("spike size sweep, \(model.modelID), alerts of 20: \(row); false alerts before the spike: \(early)")
        // spike-gbt.v3 alerts on 19–20 of 20 from 10 sigmas up, 16 at 8 (docs/predictor.md).
        for size in Self.sizes where size >= 8 {
            #expect((alerts[size] ?? 0) >= (size >= 10 ? 18 : 14), "\(Int(size)) sigmas: \(alerts[size] ?? 0) of 20 alerted (\(row))")
        }
        #expect(early <= 2, "alerts on the quiet part of \(Self.sizes.count * Self.seeds.count) streams: \(early)")
    }
}
