import TestSupport
import Foundation
import Testing
@testable import Predictor
@testable import TrainingData

struct TrainingGeneratorTests {
    @Test func sameSeedSameRowsOtherSeedOtherRows() {
        let g = TrainingGenerator(hours: 1)
        #expect(g.series(seed: 3) == g.series(seed: 3))
        #expect(g.series(seed: 3)[0].map(\.value) != g.series(seed: 4)[0].map(\.value))
    }

    @Test func onePerChannelAtTheInterval() {
        let series = TrainingGenerator(hours: 1, interval: 5).series(seed: 1)
        #expect(series.map { $0.first?.channel } == ["temperature", "humidity", "pressure"])
        #expect(series.allSatisfy { $0.count == 720 && $0[1].time == 5 && $0.allSatisfy { $0.device == "sim-1" } })
    }

    @Test func labelsMarkExactlyTheSpikesAndDips() {
        let rows = (1...6).flatMap { TrainingGenerator(hours: 4).series(seed: UInt64($0)).joined() }
        let kinds = Set(rows.map(\.kind))
        #expect(kinds.isSuperset(of: ["spike", "dip", "step", "noise-burst"]), "\(kinds)")
        for r in rows {
            #expect((r.label == 1) == (r.kind == "spike" || r.kind == "dip"), "\(r)")
        }
        #expect(rows.contains { $0.label == 1 })
    }

    @Test func kindsFilterTheEvents() {
        let rows = (1...4).flatMap { TrainingGenerator(kinds: [.spike], hours: 4).series(seed: UInt64($0)).joined() }
        #expect(Set(rows.map(\.kind)) == ["none", "spike"], "no drift, dips, steps or bursts asked for")
    }

    @Test func aPlantedSpikeShowsInTheValues() throws {
        let series = TrainingGenerator(kinds: [.spike], hours: 4).series(seed: 2)[0]
        let start = try #require(series.firstIndex { $0.label == 1 })
        let before = series[(start - 20)..<start].map(\.value)
        let mean = before.reduce(0, +) / Double(before.count)
        let sd = (before.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(before.count)).squareRoot()
        #expect(abs(series[start].value - mean) > 2 * sd, "a spike of 3-300 sigma stands out")
    }

    /// Spikes and steps both come in every size, small and huge: a model can then tell them
    /// apart only by their shape, and never learns that a huge jump is not a spike.
    @Test func spikesAndStepsSpanThreeToThreeHundredSigmas() throws {
        var sizes: [String: [Double]] = [:]
        for seed in 1...12 {
            let series = TrainingGenerator(kinds: [.spike, .step], hours: 24).series(seed: UInt64(seed))[0]
            // The first event comes after 10 minutes: the first 100 samples are plain noise.
            let quiet = series[0..<100].map(\.value)
            let mean = quiet.reduce(0, +) / 100
            let sigma = (quiet.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 100).squareRoot()
            var i = 100
            while i < series.count {
                guard series[i].kind != series[i - 1].kind, series[i].kind == "spike" || series[i].kind == "step" else { i += 1; continue }
                let before = series[(i - 12)..<i].map(\.value).reduce(0, +) / 12
                let after = series[i..<min(i + 3, series.count)].map(\.value).reduce(0, +) / Double(min(3, series.count - i))
                sizes[series[i].kind, default: []].append(abs(after - before) / sigma)
                i += 1
            }
        }
        for kind in ["spike", "step"] {
            let s = try #require(sizes[kind]).sorted()
            #expect(s.count >= 40, "\(kind): \(s.count) events")
            #expect(s.filter { $0 < 12 }.count >= s.count / 8, "\(kind): small ones too: \(s)")
            #expect(s.filter { $0 > 100 }.count >= s.count / 8, "\(kind): huge ones: \(s)")
            #expect(s.allSatisfy { $0 < 330 }, "\(kind): at most 300 sigmas plus noise: \(s.last ?? 0)")
        }
    }

    @Test func csvCarriesTheSwiftFeaturesAndReadsBack() throws {
        let series = TrainingGenerator(hours: 1).series(seed: 5)[1]
        let lines = TrainingCSV.lines(series, features: .v1)
        let header = TrainingCSV.header(features: true).split(separator: ",").map(String.init)
        #expect(header.count == lines[100].split(separator: ",").count)
        var rolling = RollingFeatures(windows: .v1)
        for (i, line) in lines.enumerated() {
            let fields = line.split(separator: ",").map(String.init)
            let vector = rolling.next(series[i].value)
            #expect(fields[header.firstIndex(of: "warming_up")!] == (vector.warmingUp ? "1" : "0"))
            for name in TrainingCSV.featureColumns {
                #expect(Double(fields[header.firstIndex(of: name.rawValue)!]) == vector[name], "row \(i) \(name)")
            }
        }
        let text = TrainingCSV.header(features: true) + "\n" + lines.joined(separator: "\n") + "\n"
        let parsed = try TrainingCSV.parse(text)
        #expect(parsed == [series], "values survive the text form bit for bit")
    }

    @Test func csvErrorsNameTheLine() {
        #expect(throws: TrainingDataError(line: 3, reason: "label must be 0 or 1, found \"2\"")) {
            try TrainingCSV.parse("device,channel,time,value,label\nd,c,0,1,0\nd,c,5,1,2\n")
        }
        #expect(throws: TrainingDataError.self) { try TrainingCSV.parse("device,time\n") }
    }

    @Test func argumentsParse() {
        #expect(TrainingArguments.seeds("1-24") == 1...24)
        #expect(TrainingArguments.seeds("7") == 7...7)
        #expect(TrainingArguments.seeds("9-2") == nil)
        #expect(TrainingArguments.kinds("spike,noise-burst") == [.spike, .noiseBurst])
        #expect(TrainingArguments.kinds("spike,wobble") == nil)
    }
}

/// Acceptance (issue 7): on held-out seeds, with a kind the model never saw (noise bursts), the
/// model's event-level F1 beats the fallback detector's, and both report delays.
struct HeldOutTests {
    @Test func modelBeatsTheFallbackOnHeldOutSeedsAndKinds() throws {
        let root = URL(fileURLWithPath: repositoryRoot)
        let bytes = try Data(contentsOf: root.appendingPathComponent("models/spike-forest.v1.json"))
        let forest = try SpikeForest(json: [UInt8](bytes))
        let generator = TrainingGenerator(kinds: Set(TrainingKind.allCases), hours: 4)
        let series = (1001...1004).flatMap { generator.series(seed: UInt64($0)) }
        let result = DetectorComparison.run(series: series, forest: forest, fallback: .standard, grace: 12)
        #expect(result.model.events >= 50, "enough events to compare: \(result.model.events)")
        #expect(result.model.f1 > result.fallback.f1, "model F1 \(result.model.f1) vs fallback \(result.fallback.f1)")
        #expect(result.model.recall >= 0.8, "model recall \(result.model.recall)")
        #expect(result.model.meanDelay != nil && result.fallback.meanDelay != nil)
        #expect(result.model.falseAlarmsPerDay < result.fallback.falseAlarmsPerDay)
    }
}
