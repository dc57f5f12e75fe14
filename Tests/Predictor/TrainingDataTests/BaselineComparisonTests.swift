import Foundation
import HALSimulation
import TestSupport
import Testing
@testable import Predictor
@testable import TrainingData

struct EventScoreTests {
    /// 40 samples, nothing unscored; events [10, 12] and [30, 31], grace 2 (windows [10, 14], [30, 33]).
    static let labels: [Bool] = (0..<40).map { (10...12).contains($0) || (30...31).contains($0) }

    static func flags(_ on: [Int]) -> [Bool] { (0..<40).map { on.contains($0) } }

    @Test func firstAlarmInAWindowDetectsLaterOnesAreRepeatsOthersAreFalse() {
        var s = EventScore()
        // Alarm onsets: 11 (detects event 1), 14 (repeat: still in its window), 20 (false), 25-26 (one false run).
        s.add(labels: Self.labels, flags: Self.flags([11, 14, 20, 25, 26]), interval: 60, grace: 2, scoredFrom: 0)
        #expect(s.events == 2)
        #expect(s.alarms == 4)
        #expect(s.detected == 1 && s.trueAlarms == 1)
        #expect(s.repeats == 1)
        #expect(s.falseAlarms == 2)
        #expect(s.recall == 0.5)
        #expect(abs(s.precision - 1.0 / 3.0) < 1e-12)
        #expect(s.falseAlarmsPer1000 == 50, "2 false alarms in 40 samples")
        #expect(abs(s.falseAlarmsPerStreamDay - 2 / (40.0 * 60 / 86_400)) < 1e-9)
    }

    @Test func unscoredHeadIsIgnored() {
        var s = EventScore()
        s.add(labels: Self.labels, flags: Self.flags([11, 30]), interval: 1, grace: 0, scoredFrom: 20)
        #expect(s.events == 1 && s.detected == 1 && s.alarms == 1 && s.samples == 20)
    }

    @Test func alarmsEverywhereHaveLiftOneAndAlignedAlarmsMore() {
        // A detector that flags every other sample hits every window whatever the shift: lift 1.
        var everywhere = EventScore()
        everywhere.add(labels: Self.labels, flags: (0..<40).map { $0 % 2 == 0 }, interval: 1, grace: 2, scoredFrom: 0)
        #expect(everywhere.recall == 1)
        #expect(abs(everywhere.lift - 1) < 1e-12, "\(everywhere.lift)")
        // Two alarms exactly on the events: shifted, they mostly miss.
        var aligned = EventScore()
        aligned.add(labels: Self.labels, flags: Self.flags([10, 30]), interval: 1, grace: 2, scoredFrom: 0)
        #expect(aligned.recall == 1)
        #expect(aligned.chanceRecall < 0.5 && aligned.lift > 2, "chance \(aligned.chanceRecall), lift \(aligned.lift)")
    }

    @Test func equalAlarmThresholdMatchesTheCount() {
        let scores: [Double] = (0..<200).map { Double(($0 * 37) % 101) }
        let trace = DetectorTrace(scores: scores, flags: [])
        for target in [1, 5, 20] {
            let t = BaselineComparison.equalAlarmThreshold([trace], starts: [0], target: target)
            let flags = scores.map { $0 >= t }
            let onsets = flags.indices.filter { flags[$0] && ($0 == 0 || !flags[$0 - 1]) }.count
            #expect(abs(onsets - target) <= 1, "target \(target): \(onsets) alarms at threshold \(t)")
        }
    }

    /// A higher threshold can raise more alarms (it splits a run in two): the count is not
    /// monotonic, and the closest count is still found.
    @Test func equalAlarmThresholdWhenARunSplits() {
        let trace = DetectorTrace(scores: [0, 5, 3, 5, 0, .nan, 4], flags: [])
        // Thresholds 0 and 3: two runs (0…4 or 1…3, and 6); 4: three (1, 3, 6); 5: two (1, 3).
        // A NaN never flags. Bisecting as if the count fell with the threshold finds 2, not 3.
        #expect(BaselineComparison.equalAlarmThreshold([trace], starts: [0], target: 3) == 4)
        #expect(BaselineComparison.equalAlarmThreshold([trace], starts: [0], target: 2) == 5, "ties: the higher threshold")
        // Near the bottom every run merges into few: 0 flags all but the NaN, two runs. Counting
        // down from the top stops at 4 (three alarms) and never takes 0 for a target of 1.
        #expect(BaselineComparison.equalAlarmThreshold([trace], starts: [0], target: 1) == 5)
    }
}

struct IsolationForestTests {
    @Test func outliersScoreHigherThanInliers() {
        var rng = SplitMix64(seed: 3)
        func normal() -> Double { (-2 * log(max(rng.unit(), 1e-300))).squareRoot() * cos(2 * .pi * rng.unit()) }
        let rows = (0..<500).map { _ in [normal(), normal()] }
        let forest = IsolationForest(rows: rows, seed: 1)
        let inlier = forest.score([0, 0]), outlier = forest.score([8, -8])
        #expect(outlier > 0.6, "\(outlier)")
        #expect(inlier < 0.5, "\(inlier)")
        #expect(forest.score([0, 0]) == IsolationForest(rows: rows, seed: 1).score([0, 0]), "deterministic")
    }
}

struct FieldEffectTests {
    @Test func effectsChangeTheSeriesButNotTheLabels() {
        let plain = TrainingGenerator(kinds: [.spike, .dip], hours: 24, intervals: [60], effects: [])
        let field = TrainingGenerator(kinds: [.spike, .dip], hours: 24, intervals: [60], effects: Set(FieldEffect.allCases))
        let a = plain.series(seed: 9)[0], b = field.series(seed: 9)[0]
        #expect(b.count < a.count, "missing samples: \(b.count) of \(a.count)")
        #expect(b.count > a.count * 9 / 10)
        // The labels of the samples that survived are those of the plain series at the same time.
        let labelAt = Dictionary(uniqueKeysWithValues: a.map { ($0.time, $0.label) })
        #expect(b.allSatisfy { labelAt[$0.time] == $0.label })
        #expect(b.contains { $0.kind == "stuck" }, "a stuck stretch in 24 hours")
        let stuck = b.filter { $0.kind == "stuck" }
        #expect(Set(stuck.prefix(5).map(\.value)).count == 1, "a stuck sensor repeats its value")
    }

    @Test func severalRatesBySeed() {
        let g = TrainingGenerator(kinds: [.spike], hours: 2, intervals: [5, 60, 300], effects: [])
        #expect(g.series(seed: 3)[0][1].time == 5)
        #expect(g.series(seed: 4)[0][1].time == 60)
        #expect(g.series(seed: 5)[0][1].time == 300)
    }
}


struct BaselineComparisonRunTests {
    @Test func everyBaselineAlsoRunsAtTheModelsAlarmCount() throws {
        let model = try SpikeForest(json: [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/spike-forest.v1.json")))))
        let generator = TrainingGenerator(kinds: Set(TrainingKind.allCases), hours: 6, intervals: [5, 60],
                                          effects: Set(FieldEffect.allCases))
        let series = (2001...2002).flatMap { generator.series(seed: UInt64($0)) }
        let comparison = BaselineComparison.run(series: series, model: .forest(model), fallback: .standard, grace: 12)
        #expect(comparison.rows.count == 7, "the model, then each of three baselines on its own and at equal alarms")
        let modelAlarms = comparison.rows[0].score.alarms
        #expect(modelAlarms > 10)
        for row in comparison.rows.dropFirst() where row.threshold != nil {
            // The fallback's scores tie in blocks (a MAD of 0 on a stuck or quantised stretch gives
            // many samples one score), so its count moves in steps of several alarms; the other
            // baselines' scores are continuous.
            let slack = row.name.hasPrefix("fallback") ? modelAlarms / 5 : modelAlarms / 10
            #expect(abs(row.score.alarms - modelAlarms) <= max(3, slack), "\(row.name): \(row.score.alarms) vs \(modelAlarms)")
        }
        #expect(Set(comparison.rows.map(\.score.events)).count == 1, "every detector is scored on the same events")
        #expect(comparison.rows[0].score.lift > 1, "the model's alarms line up with spikes better than shifted copies")
    }
}
