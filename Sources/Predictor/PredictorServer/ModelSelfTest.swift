import Predictor

/// The check every delivered model passes before it serves (hot swap): it runs over stored
/// reference samples and must give finite probabilities in [0, 1], catch at least one of the 4
/// planted spikes (a flag on the spike or within 3 samples after it) and raise at most 3 alarms
/// elsewhere: a smoke test that refuses a model which flags nothing, flags everything or was
/// mangled, not a quality bar (that is `spike-predictor evaluate`). A model that fails is refused
/// and the previous one keeps serving.
public enum ModelSelfTest {
    /// 800 readings around 20 with noise of σ ≈ 0.1 (sums of four uniforms, a fixed hash), and
    /// spikes of 8–12 σ lasting 4–6 samples (20–30 s at the boards’ 5 s) at fixed places after the first 200.
    public static let reference: [(value: Double, spike: Bool)] = {
        var state: UInt64 = 0x5EED_0F_5E1F_7E57
        func unit() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(UInt64(1) << 53)
        }
        let spikes: [(at: Int, length: Int, size: Double)] = [(230, 4, 1.0), (380, 5, -0.9), (520, 4, 1.2), (690, 6, 0.8)]
        return (0..<800).map { i in
            let noise = (unit() + unit() + unit() + unit() - 2) * 0.1 * (3.0).squareRoot()
            if let s = spikes.first(where: { i >= $0.at && i < $0.at + $0.length }) { return (20 + s.size + noise, true) }
            return (20 + noise, false)
        }
    }()

    /// nil when the model passes, else why it failed.
    public static func failure(of model: SpikeForest) -> String? {
        var predictor = SpikePredictor(detector: .forest(model), maxStreams: 1)
        var flags: [Bool] = []
        for (i, r) in reference.enumerated() {
            let sample = PredictorSample(device: "self-test", channel: "reference", captureTime: Double(i), value: r.value)
            guard let verdict = try? predictor.classify(sample) else { return "sample \(i) was refused" }
            guard verdict.spikeProbability.isFinite, verdict.spikeProbability >= 0, verdict.spikeProbability <= 1 else {
                return "sample \(i) got probability \(verdict.spikeProbability), outside [0, 1]"
            }
            flags.append(verdict.spikeDetected)
        }
        var caught = 0, falseAlarms = 0
        var i = 0
        while i < reference.count {
            guard reference[i].spike else {
                if flags[i] && (i == 0 || !flags[i - 1]) {
                    // An onset just after a spike is the spike's own (late) alarm.
                    let recent = (max(0, i - 3)...i).contains { reference[$0].spike }
                    if !recent { falseAlarms += 1 }
                }
                i += 1
                continue
            }
            var end = i
            while end + 1 < reference.count && reference[end + 1].spike { end += 1 }
            if (i...min(end + 3, reference.count - 1)).contains(where: { flags[$0] }) { caught += 1 }
            i = end + 1
        }
        if caught < 1 { return "caught none of the 4 reference spikes of 8–12 sigma" }
        if falseAlarms > 3 { return "raised \(falseAlarms) false alarms on the reference samples (at most 3)" }
        return nil
    }
}
