/// A random-forest classifier read from `firmware-interface/predictor-model.v1.md`, evaluated
/// exactly as scikit-learn's `RandomForestClassifier.predict_proba` (class 1 = spike).
///
/// Contract (what makes Swift agree with sklearn to the last bit or so):
/// - Inputs are cast to Float32 before comparing, as sklearn casts X to float32; the float32 value
///   is then compared, widened to Double, against the Double threshold with `<=`: go left when
///   `Double(Float(x)) <= threshold`, right otherwise (sklearn's `_tree.pyx` convention).
/// - Each tree gives the spike probability stored at the leaf reached; the forest's probability is
///   the plain mean over trees, summed in tree order.
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
        @usableFromInline var probability: Double
    }

    /// The model's identity, echoed in every verdict (`model_id`).
    public let modelID: String
    /// The features the trees read, in the model's column order.
    public let features: [FeatureName]
    /// The windows the features were computed with when training.
    public let windows: FeatureWindows
    /// A sample is a spike when its probability is at least this.
    public let decisionThreshold: Double
    public var treeCount: Int { roots.count }
    public var nodeCount: Int { nodes.count }

    @usableFromInline let nodes: [Node]
    @usableFromInline let roots: [Int]
    /// For each model column, the index into ``FeatureVector/values``.
    @usableFromInline let columns: [Int]

    init(modelID: String, features: [FeatureName], windows: FeatureWindows, decisionThreshold: Double,
         nodes: [Node], roots: [Int]) {
        self.modelID = modelID
        self.features = features
        self.windows = windows
        self.decisionThreshold = decisionThreshold
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
            var sum = 0.0
            for root in roots {
                var i = root
                while true {
                    let node = nodes[i]
                    if node.feature < 0 { sum += node.probability; break }
                    // sklearn compares the float32 input, widened, against a float64 threshold.
                    let x = Double(Float(input(Int(node.feature))))
                    i = x <= node.threshold ? Int(node.left) : Int(node.right)
                }
            }
            return sum / Double(roots.count)
        }
    }
}
