import TestSupport
import Foundation
import JSON
import Testing
@testable import Predictor
import PredictorONNX

/// Gradient-boosted trees (our JSON and ONNX-ML) against XGBoost's and scikit-learn's own
/// predictions on held-out rows (models/spike-gbt.v3.expected.json, written by
/// scripts/train-predictor.py), and the rules checked by hand on a tiny model.
struct BoostedTreesTests {
    static func load(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/\(name)"))))
    }

    static func tiny(split: String, sum: String) -> String {
        // One stump on z_long at 2: left 0.5, right 3; a second tree adds −1 everywhere; base −2.
        """
        {"format":"fieldagent-predictor-model","version":1,"model_id":"tiny","kind":"gradient_boosted_trees",
         "base_margin":-2,"split":"\(split)","sum":"\(sum)",
         "windows":{"short":8,"long":60,"min_history":30,"std_floor":1e-6},"features":["z_long"],
         "decision_threshold":0.5,"persistence":2,
         "trees":[{"feature":[0,-2,-2],"threshold":[2,0,0],"left":[1,-1,-1],"right":[2,-1,-1],"value":[0,0.5,3]},
                  {"feature":[-2],"threshold":[0],"left":[-1],"right":[-1],"value":[-1]}]}
        """
    }

    @Test func marginsAddToTheBaseThroughTheLogisticLink() throws {
        let le = try SpikeForest(json: Array(Self.tiny(split: "<=", sum: "float64").utf8))
        func logistic(_ m: Double) -> Double { 1 / (1 + exp(-m)) }
        #expect(le.probability(row: [1]) == logistic(-2 + 0.5 - 1))
        #expect(le.probability(row: [2]) == logistic(-2 + 0.5 - 1), "x <= 2 goes left")
        #expect(le.probability(row: [2.5]) == logistic(-2 + 3 - 1))
        #expect(le.persistence == 2)
        let lt = try SpikeForest(json: Array(Self.tiny(split: "<", sum: "float32").utf8))
        #expect(abs(lt.probability(row: [2]) - logistic(0)) < 1e-7, "x < 2 is false at 2: right")
        #expect(abs(lt.probability(row: [Double(Float(2).nextDown)]) - logistic(-2.5)) < 1e-7)
    }

    @Test func persistenceNeedsConsecutiveSamples() throws {
        let model = try SpikeForest(json: Array(Self.tiny(split: "<=", sum: "float64").utf8))
        var predictor = SpikePredictor(detector: .forest(model))
        var flagged: [Bool] = []
        for i in 0..<40 {
            // A calm ramp-free series, then two samples far above it.
            let value = i < 37 ? Double(i % 2) : 100
            flagged.append(try predictor.classify(PredictorSample(device: "d", channel: "c", captureTime: Double(i), value: value)).spikeDetected)
        }
        #expect(flagged[37] == false, "one sample above the threshold is not yet an alarm")
        #expect(flagged[38] == true, "the second consecutive one is")
    }

    @Test func xgboostAndSklearnPredictionsWithin1e6() throws {
        let expected = try JSONValue.parse(try Self.load("spike-gbt.v3.expected.json"), maxDepth: 8)
        guard case .array(let rows)? = expected["rows"] else { Issue.record("no rows"); return }
        #expect(rows.count == 300)
        let models: [(String, SpikeForest)] = [
            ("xgboost", try SpikeForest(json: try Self.load("spike-gbt.v3.json"))),
            ("sklearn", try SpikeForest(json: try Self.load("spike-sklearn-gbt.v3.json"))),
            ("xgboost", try ONNXTreeEnsemble.load(try Self.load("spike-gbt.v3.onnx"))),
            ("sklearn", try ONNXTreeEnsemble.load(try Self.load("spike-sklearn-gbt.v3.onnx"))),
        ]
        for (library, model) in models {
            #expect(expected["models"]?[library] == .string(model.modelID), "\(library): the fixture belongs to another model")
            var worst = 0.0, above = 0
            for row in rows {
                guard case .array(let xs)? = row["x"], let p = row[library]?.doubleValue else { Issue.record("malformed row"); continue }
                let swift = model.probability(row: xs.compactMap(\.doubleValue))
                worst = max(worst, abs(swift - p))
                if p >= model.decisionThreshold { above += 1 }
            }
            #expect(worst <= 1e-6, "\(library) \(model.modelID): worst difference \(worst)")
            #expect(above >= 30 && above <= 270, "\(library): \(above) of 300 rows above the threshold; both sides exercised")
        }
    }

    @Test func onnxCarriesTheServingMetadata() throws {
        let json = try SpikeForest(json: try Self.load("spike-gbt.v3.json"))
        let onnx = try ONNXTreeEnsemble.load(try Self.load("spike-gbt.v3.onnx"))
        #expect(onnx.modelID == json.modelID)
        #expect(onnx.features == json.features)
        #expect(onnx.windows == json.windows)
        #expect(onnx.decisionThreshold == json.decisionThreshold && onnx.persistence == json.persistence)
        #expect(onnx.treeCount == json.treeCount)
    }

    @Test func unknownOperatorsAreRefusedByName() throws {
        var bytes = try Self.load("spike-gbt.v3.onnx")
        // Rename every "TreeEnsembleClassifier" (op_type, and node names) to an operator of the same length.
        let name = Array("TreeEnsembleClassifier".utf8), other = Array("TreeEnsembleRegressorX".utf8)
        var renamed = 0
        for at in 0...(bytes.count - name.count) where Array(bytes[at..<(at + name.count)]) == name {
            bytes.replaceSubrange(at..<(at + name.count), with: other)
            renamed += 1
        }
        #expect(renamed >= 1)
        #expect {
            _ = try ONNXTreeEnsemble.load(bytes)
        } throws: { error in
            "\(error)".contains("unsupported operator \"TreeEnsembleRegressorX\"")
        }
        #expect(throws: ModelFormatError.self) { _ = try ONNXTreeEnsemble.load(Array(bytes.prefix(bytes.count / 2))) }
    }
}
