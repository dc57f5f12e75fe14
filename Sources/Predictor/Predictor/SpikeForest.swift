#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A tree-ensemble classifier read from `firmware-interface/predictor-model.v1.md` (our JSON, or
/// an ONNX-ML `TreeEnsembleClassifier`): a random forest evaluated exactly as scikit-learn's
/// `RandomForestClassifier.predict_proba`, or gradient-boosted trees as XGBoost's
/// `binary:logistic` and scikit-learn's `GradientBoostingClassifier` predict (class 1 = spike).
///
/// Contract (what makes Swift agree with the Python libraries to the last bit or so):
/// - Inputs are cast to Float32 before comparing, as sklearn casts X to float32; the float32 value
///   is then compared, widened to Double, against the Double threshold with `<=`: go left when
///   `Double(Float(x)) <= threshold`, right otherwise (sklearn's `_tree.pyx` convention).
///   A strict `<` split on a float32 threshold t (XGBoost, ONNX `BRANCH_LT`) is stored as `<=` the
///   next float32 below t, which decides every float32 input the same way.
/// - A forest's probability is the plain mean over trees of the leaf probabilities, summed in tree
///   order. Boosted trees add their leaf values to `base` in tree order (in binary32 when
///   `float32Sum`, as XGBoost and ONNX Runtime do, else binary64) and apply the logistic link.
/// - A model is validated once at load: every internal node's children come after it (so a walk
///   always ends), feature indices are in range, thresholds are finite, leaf probabilities are in
///   [0, 1]. After that, evaluation cannot fail.
public struct SpikeForest: Sendable {
    /// One node of the flattened forest. Leaves have `feature == -1`.
    @usableFromInline
    struct Node: Sendable {
        @usableFromInline var feature: Int32
        @usableFromInline var left: Int32
        @usableFromInline var right: Int32
        @usableFromInline var threshold: Double
        /// A leaf's output: its probability (forest) or its margin contribution (boosting).
        @usableFromInline var value: Double
    }

    /// How leaf outputs become the spike probability.
    public enum Aggregation: Equatable, Sendable {
        /// The mean of leaf probabilities (random forest).
        case meanProbability
        /// logistic(base + Σ leaf values) (gradient boosting, `binary:logistic`).
        case logisticMargin(base: Double, float32Sum: Bool)
    }

    /// The model's identity, echoed in every verdict (`model_id`).
    public let modelID: String
    /// The features the trees read, in the model's column order.
    public let features: [FeatureName]
    /// The windows the features were computed with when training.
    public let windows: FeatureWindows
    /// A sample is a spike when its probability is at least this.
    public let decisionThreshold: Double
    /// A stream alarms only once this many consecutive samples reach the threshold (1: at once).
    public let persistence: Int
    public let aggregation: Aggregation
    public var treeCount: Int { roots.count }
    public var nodeCount: Int { nodes.count }

    @usableFromInline let nodes: [Node]
    @usableFromInline let roots: [Int]
    /// For each model column, the index into ``FeatureVector/values``.
    @usableFromInline let columns: [Int]

    init(modelID: String, features: [FeatureName], windows: FeatureWindows, decisionThreshold: Double,
         persistence: Int = 1, aggregation: Aggregation = .meanProbability, nodes: [Node], roots: [Int]) {
        self.modelID = modelID
        self.features = features
        self.windows = windows
        self.decisionThreshold = decisionThreshold
        self.persistence = persistence
        self.aggregation = aggregation
        self.nodes = nodes
        self.roots = roots
        columns = features.map { FeatureName.index(of: $0) }
    }

    /// The spike probability of a row given in the model's own column order (`features`).
    /// Rows shorter than `features` read missing columns as 0; callers pass whole rows.
    public func probability(row: [Double]) -> Double {
        row.withUnsafeBufferPointer { buffer in
            evaluate { column in column < buffer.count ? buffer[column] : 0 }
        }
    }

    /// The spike probability of a feature vector (the model picks its columns).
    public func probability(_ vector: FeatureVector) -> Double {
        vector.values.withUnsafeBufferPointer { buffer in
            columns.withUnsafeBufferPointer { columns in
                evaluate { column in buffer[columns[column]] }
            }
        }
    }

    @inline(__always)
    private func evaluate(_ input: (Int) -> Double) -> Double {
        nodes.withUnsafeBufferPointer { nodes in
            @inline(__always) func leaf(_ root: Int) -> Double {
                var i = root
                while true {
                    let node = nodes[i]
                    if node.feature < 0 { return node.value }
                    // The float32 input, widened, against a binary64 threshold (sklearn's rule).
                    let x = Double(Float(input(Int(node.feature))))
                    i = x <= node.threshold ? Int(node.left) : Int(node.right)
                }
            }
            switch aggregation {
            case .meanProbability:
                var sum = 0.0
                for root in roots { sum += leaf(root) }
                return sum / Double(roots.count)
            case .logisticMargin(let base, false):
                var margin = base
                for root in roots { margin += leaf(root) }
                return 1 / (1 + exp(-margin))
            case .logisticMargin(let base, true):
                var margin = Float(base)
                for root in roots { margin += Float(leaf(root)) }
                return Double(1 / (1 + exp(-margin)))
            }
        }
    }
}
