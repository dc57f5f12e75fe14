import TestSupport
import Foundation
import JSON
import Testing
@testable import Predictor

/// The committed model against scikit-learn's own `predict_proba` on a fixed held-out test set
/// (models/spike-forest.v1.expected.json, written by scripts/train-predictor.py).
struct SklearnAgreementTests {
    static let models = URL(fileURLWithPath: repositoryPath("models"))

    static func load(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: models.appendingPathComponent(name)))
    }

    @Test func swiftGivesSklearnsProbabilitiesWithin1e6() throws {
        let forest = try SpikeForest(json: try Self.load("spike-forest.v1.json"))
        let expected = try JSONValue.parse(try Self.load("spike-forest.v1.expected.json"), maxDepth: 8)
        #expect(expected["model_id"] == .string(forest.modelID), "the expectations belong to another model; re-run scripts/train-predictor.py")
        guard case .array(let names)? = expected["features"], case .array(let rows)? = expected["rows"] else {
            Issue.record("expected.json has no features or rows")
            return
        }
        #expect(names == forest.features.map { .string($0.rawValue) })
        #expect(rows.count == 300)
        var worst = 0.0, spikes = 0, quiet = 0
        for (i, row) in rows.enumerated() {
            guard case .array(let xs)? = row["x"], let p = row["probability"]?.doubleValue else {
                Issue.record("row \(i) is malformed")
                continue
            }
            let x = xs.compactMap(\.doubleValue)
            #expect(x.count == xs.count, "row \(i) has a value that is not a number")
            let swift = forest.probability(row: x)
            worst = max(worst, abs(swift - p))
            #expect(abs(swift - p) <= 1e-6, "row \(i): Swift \(swift), sklearn \(p)")
            if p >= forest.decisionThreshold { spikes += 1 } else { quiet += 1 }
        }
        #expect(worst <= 1e-6)
        // The set exercises both sides of the decision, so agreement is not trivially at 0 or 1.
        #expect(spikes >= 50 && quiet >= 50, "\(spikes) rows above the threshold, \(quiet) below")
    }

    @Test func committedModelIsSmallAndValid() throws {
        let bytes = try Self.load("spike-forest.v1.json")
        #expect(bytes.count < 400_000, "keep the model a few hundred KB at most")
        let forest = try SpikeForest(json: bytes)
        #expect(forest.windows == .v1, "trained on FeatureWindows.v1, the windows `spike-predictor export` uses")
        #expect(forest.treeCount == 40)
    }
}
