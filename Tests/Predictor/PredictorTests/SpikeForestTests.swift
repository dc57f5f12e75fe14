import Foundation
import Testing
@testable import Predictor

/// The evaluator's rules on hand-built trees, and model-file validation.
struct SpikeForestTests {
    /// Two trees over [z_long, delta_z]. Tree 0 splits z_long at `threshold0`; tree 1 is one leaf.
    func model(threshold0: String = "3.5", extra: String = "", trees: String? = nil, version: String = "1",
               features: String = #"["z_long","delta_z"]"#) -> String {
        let defaultTrees = """
            [{"feature":[0,-2,-2],"threshold":[\(threshold0),-2,-2],"left":[1,-1,-1],"right":[2,-1,-1],"probability":[0.5,0.1,0.9]},
             {"feature":[-2],"threshold":[-2],"left":[-1],"right":[-1],"probability":[0.3]}]
            """
        return """
            {"format":"fieldagent-predictor-model","version":\(version),"model_id":"test-forest","kind":"random_forest_classifier",
             "windows":{"short":8,"long":60,"min_history":30,"std_floor":1e-6},"features":\(features),
             "decision_threshold":0.5,\(extra)"trees":\(trees ?? defaultTrees)}
            """
    }

    func forest(_ text: String) throws -> SpikeForest {
        try SpikeForest(json: Array(text.utf8))
    }

    @Test func averagesLeafProbabilitiesOverTrees() throws {
        let f = try forest(model())
        #expect(f.treeCount == 2)
        #expect(f.probability(row: [1.0, 0]) == (0.1 + 0.3) / 2)
        #expect(f.probability(row: [4.0, 0]) == (0.9 + 0.3) / 2)
    }

    @Test func equalToTheThresholdGoesLeft() throws {
        let f = try forest(model())
        #expect(f.probability(row: [3.5, 0]) == (0.1 + 0.3) / 2, "sklearn: x <= threshold goes left")
    }

    @Test func comparesTheFloat32InputLikeSklearn() throws {
        // 0.1 as float32 is 0.100000001490116…, above the float64 threshold 0.1: sklearn goes right.
        let f = try forest(model(threshold0: "0.1"))
        #expect(f.probability(row: [0.1, 0]) == (0.9 + 0.3) / 2)
        // A float64 threshold between two float32 values: 0.09999999 as float32 is below it.
        #expect(f.probability(row: [0.0999999, 0]) == (0.1 + 0.3) / 2)
    }

    @Test func picksItsColumnsFromAFeatureVector() throws {
        let f = try forest(model())
        var values = [Double](repeating: 0, count: FeatureName.allCases.count)
        values[FeatureName.index(of: .zLong)] = 10
        #expect(f.probability(FeatureVector(values: values, history: 60, warmingUp: false)) == 0.6)
        #expect(f.features == [.zLong, .deltaZ])
        #expect(f.windows == .v1)
    }

    @Test(arguments: [
        ("cycle", #"[{"feature":[0,-2],"threshold":[1,-2],"left":[0,-1],"right":[1,-1],"probability":[0,1]}]"#, "trees[0].left[0]"),
        ("child out of range", #"[{"feature":[0,-2],"threshold":[1,-2],"left":[1,-1],"right":[5,-1],"probability":[0,1]}]"#, "trees[0].right[0]"),
        ("half a leaf", #"[{"feature":[0,-2],"threshold":[1,-2],"left":[1,-1],"right":[-1,-1],"probability":[0,1]}]"#, "trees[0].right[0]"),
        ("feature column", #"[{"feature":[7,-2,-2],"threshold":[1,-2,-2],"left":[1,-1,-1],"right":[2,-1,-1],"probability":[0,1,0]}]"#, "trees[0].feature[0]"),
        ("leaf probability", #"[{"feature":[-2],"threshold":[-2],"left":[-1],"right":[-1],"probability":[1.5]}]"#, "trees[0].probability[0]"),
        ("lengths", #"[{"feature":[-2],"threshold":[-2,1],"left":[-1],"right":[-1],"probability":[1]}]"#, "trees[0].threshold"),
        ("no trees", "[]", "trees"),
        ("a string node", #"[{"feature":["a"],"threshold":[-2],"left":[-1],"right":[-1],"probability":[1]}]"#, "trees[0].feature[0]"),
    ])
    func refusesBrokenTrees(_ name: String, _ trees: String, _ path: String) {
        #expect(throws: ModelFormatError.self, "\(name)") { try forest(model(trees: trees)) }
        do {
            _ = try forest(model(trees: trees))
        } catch let error as ModelFormatError {
            #expect(error.path == path, "\(name): \(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func refusesOtherVersionsFormatsAndFeatures() {
        func path(_ text: String) -> String? {
            do {
                _ = try forest(text)
                return nil
            } catch let error as ModelFormatError {
                return error.path
            } catch {
                return "?"
            }
        }
        #expect(path(model(version: "2")) == "version")
        #expect(path(model(features: #"["z_long","wobble"]"#)) == "features[1]")
        #expect(path(model(features: #"["z_long","z_long"]"#)) == "features[1]")
        #expect(path(model(features: "[]")) == "features")
        #expect(path("[1,2]") == "")
        #expect(path("{\"format\":1") == "", "truncated JSON")
        #expect(path(model().replacingOccurrences(of: "\"std_floor\":1e-6", with: "\"std_floor\":0")) == "windows")
        #expect(path(model().replacingOccurrences(of: "fieldagent-predictor-model", with: "onnx")) == "format")
    }
}
