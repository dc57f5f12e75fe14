import JSON

/// Why a model file was refused: the JSON path of the offending member and what was expected.
public struct ModelFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// e.g. `trees[3].left[17]`.
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        "model file: \(path.isEmpty ? "" : "\(path): ")\(reason) (format: firmware-interface/predictor-model.v1.md; re-export with scripts/train-predictor.py)"
    }
}

extension SpikeForest {
    /// The `format` member every v1 model carries.
    public static let formatName = "fieldagent-predictor-model"
    public static let maxTrees = 1_000
    public static let maxNodesPerTree = 100_000

    /// Reads a model from the JSON text of `firmware-interface/predictor-model.v1.md`.
    public init(json bytes: [UInt8]) throws(ModelFormatError) {
        let root: JSONValue
        do throws(JSONValueError) {
            root = try JSONValue.parse(bytes, maxDepth: 8)
        } catch {
            throw ModelFormatError(path: "", reason: "invalid JSON at byte \(error.offset): \(error.reason)")
        }
        try self.init(model: root)
    }

    public init(model root: JSONValue) throws(ModelFormatError) {
        guard case .object = root else { throw ModelFormatError(path: "", reason: "expected an object, found \(root.kind)") }
        let format = try Self.string(root, "format")
        guard format == Self.formatName else {
            throw ModelFormatError(path: "format", reason: "expected \"\(Self.formatName)\", found \"\(format)\"")
        }
        let version = try Self.number(root, "version")
        guard version == 1 else {
            throw ModelFormatError(path: "version", reason: "this predictor reads version 1, the file is version \(version)")
        }
        let kind = try Self.string(root, "kind")
        let aggregation: Aggregation
        var strict = false
        switch kind {
        case "random_forest_classifier":
            aggregation = .meanProbability
        case "gradient_boosted_trees":
            let base = try Self.number(root, "base_margin")
            guard base.isFinite else { throw ModelFormatError(path: "base_margin", reason: "expected a finite number") }
            let sum = root["sum"] == nil ? "float64" : try Self.string(root, "sum")
            guard sum == "float64" || sum == "float32" else {
                throw ModelFormatError(path: "sum", reason: "expected \"float64\" or \"float32\", found \"\(sum)\"")
            }
            let split = root["split"] == nil ? "<=" : try Self.string(root, "split")
            guard split == "<=" || split == "<" else {
                throw ModelFormatError(path: "split", reason: "expected \"<=\" or \"<\", found \"\(split)\"")
            }
            strict = split == "<"
            aggregation = .logisticMargin(base: base, float32Sum: sum == "float32")
        default:
            throw ModelFormatError(path: "kind", reason: "expected \"random_forest_classifier\" or \"gradient_boosted_trees\", found \"\(kind)\"")
        }
        let modelID = try Self.string(root, "model_id")
        guard !modelID.isEmpty, modelID.utf8.count <= 128 else {
            throw ModelFormatError(path: "model_id", reason: "expected 1…128 bytes, found \(modelID.utf8.count)")
        }

        guard let w = root["windows"], case .object = w else {
            throw ModelFormatError(path: "windows", reason: "expected an object with short, long, min_history, std_floor")
        }
        let windows = FeatureWindows(
            short: Int(try Self.integer(w, "short", path: "windows.short")),
            long: Int(try Self.integer(w, "long", path: "windows.long")),
            minHistory: Int(try Self.integer(w, "min_history", path: "windows.min_history")),
            stdFloor: try Self.number(w, "std_floor", path: "windows.std_floor"))
        if let problem = windows.problem { throw ModelFormatError(path: "windows", reason: problem) }

        guard case .array(let names)? = root["features"], !names.isEmpty else {
            throw ModelFormatError(path: "features", reason: "expected a non-empty array of feature names")
        }
        var features: [FeatureName] = []
        for (i, name) in names.enumerated() {
            guard case .string(let text) = name, let feature = FeatureName(rawValue: text) else {
                let known = FeatureName.allCases.map(\.rawValue).joined(separator: ", ")
                throw ModelFormatError(path: "features[\(i)]", reason: "expected one of \(known)")
            }
            guard !features.contains(feature) else {
                throw ModelFormatError(path: "features[\(i)]", reason: "\(text) is listed twice")
            }
            features.append(feature)
        }

        let decisionThreshold = try Self.number(root, "decision_threshold")
        guard decisionThreshold > 0, decisionThreshold <= 1 else {
            throw ModelFormatError(path: "decision_threshold", reason: "expected a number in (0, 1], found \(decisionThreshold)")
        }
        let persistence = root["persistence"] == nil ? 1 : Int(try Self.integer(root, "persistence", path: "persistence"))
        guard persistence >= 1, persistence <= 100 else {
            throw ModelFormatError(path: "persistence", reason: "expected 1…100 consecutive samples, found \(persistence)")
        }

        guard case .array(let trees)? = root["trees"], !trees.isEmpty, trees.count <= Self.maxTrees else {
            throw ModelFormatError(path: "trees", reason: "expected an array of 1…\(Self.maxTrees) trees")
        }
        let leaves = aggregation == .meanProbability ? "probability" : "value"
        var parsed: [Tree] = []
        for (t, tree) in trees.enumerated() {
            let path = "trees[\(t)]"
            var threshold = try Self.numbers(tree, "threshold", path: path)
            if strict { threshold = threshold.map(Self.lessOrEqualThreshold(strictlyBelow:)) }
            parsed.append(Tree(feature: try Self.numbers(tree, "feature", path: path), threshold: threshold,
                               left: try Self.numbers(tree, "left", path: path), right: try Self.numbers(tree, "right", path: path),
                               value: try Self.numbers(tree, leaves, path: path)))
        }
        try self.init(modelID: modelID, features: features, windows: windows, decisionThreshold: decisionThreshold,
                      persistence: persistence, aggregation: aggregation, trees: parsed, leafName: leaves)
    }

    /// One tree in scikit-learn's `tree_` layout (firmware-interface/predictor-model.v1.md): node i is
    /// entry i of each array, node 0 the root; a leaf has −1 on both sides; go left when
    /// `Double(Float(x[feature])) <= threshold`.
    public struct Tree: Sendable {
        public var feature: [Double]
        public var threshold: [Double]
        public var left: [Double]
        public var right: [Double]
        /// Leaf outputs: probabilities (forest) or margins (boosting).
        public var value: [Double]

        public init(feature: [Double], threshold: [Double], left: [Double], right: [Double], value: [Double]) {
            self.feature = feature
            self.threshold = threshold
            self.left = left
            self.right = right
            self.value = value
        }
    }

    /// A model from trees read elsewhere (the JSON format, ONNX), validated as the contract says.
    public init(modelID: String, features: [FeatureName], windows: FeatureWindows, decisionThreshold: Double,
                persistence: Int, aggregation: Aggregation, trees: [Tree], leafName: String = "value") throws(ModelFormatError) {
        guard !trees.isEmpty, trees.count <= Self.maxTrees else {
            throw ModelFormatError(path: "trees", reason: "expected 1…\(Self.maxTrees) trees, found \(trees.count)")
        }
        var nodes: [Node] = []
        var roots: [Int] = []
        for (t, tree) in trees.enumerated() {
            roots.append(nodes.count)
            nodes += try Self.nodes(tree, path: "trees[\(t)]", featureCount: features.count, offset: nodes.count,
                                    leaves: leafName, probabilities: aggregation == .meanProbability)
        }
        self.init(modelID: modelID, features: features, windows: windows, decisionThreshold: decisionThreshold,
                  persistence: persistence, aggregation: aggregation, nodes: nodes, roots: roots)
    }

    /// `x < t` for float32 x and t is `x <= t.nextDown`: one comparison rule for every node.
    public static func lessOrEqualThreshold(strictlyBelow t: Double) -> Double {
        Double(Float(t).nextDown)
    }

    private static func nodes(_ tree: Tree, path: String, featureCount: Int, offset: Int, leaves: String,
                              probabilities: Bool) throws(ModelFormatError) -> [Node] {
        let (feature, threshold, left, right, probability) = (tree.feature, tree.threshold, tree.left, tree.right, tree.value)
        let n = feature.count
        guard n >= 1, n <= maxNodesPerTree else {
            throw ModelFormatError(path: "\(path).feature", reason: "expected 1…\(maxNodesPerTree) nodes, found \(n)")
        }
        for (name, array) in [("threshold", threshold), ("left", left), ("right", right), (leaves, probability)]
        where array.count != n {
            throw ModelFormatError(path: "\(path).\(name)", reason: "expected \(n) entries like \"feature\", found \(array.count)")
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(n)
        for i in 0..<n {
            let l = left[i], r = right[i]
            if l == -1 && r == -1 {
                let p = probability[i]
                guard probabilities ? (p >= 0 && p <= 1) : p.isFinite else {
                    throw ModelFormatError(path: "\(path).\(leaves)[\(i)]",
                                           reason: probabilities ? "a leaf probability must be in [0, 1], found \(p)" : "expected a finite number, found \(p)")
                }
                nodes.append(Node(feature: -1, left: -1, right: -1, threshold: 0, value: p))
                continue
            }
            // Children after their parent (sklearn numbers nodes depth-first) rule out cycles.
            for (side, child) in [("left", l), ("right", r)] where child != child.rounded() || child <= Double(i) || child >= Double(n) {
                throw ModelFormatError(path: "\(path).\(side)[\(i)]",
                                       reason: "expected a node index in \(i + 1)…\(n - 1) (or -1 on both sides for a leaf), found \(child)")
            }
            let f = feature[i]
            guard f == f.rounded(), f >= 0, f < Double(featureCount) else {
                throw ModelFormatError(path: "\(path).feature[\(i)]", reason: "expected a column 0…\(featureCount - 1), found \(f)")
            }
            guard !threshold[i].isNaN else {
                throw ModelFormatError(path: "\(path).threshold[\(i)]", reason: "expected a number, found NaN")
            }
            nodes.append(Node(feature: Int32(f), left: Int32(offset + Int(l)), right: Int32(offset + Int(r)),
                              threshold: threshold[i], value: probability[i]))
        }
        return nodes
    }

    private static func member(_ object: JSONValue, _ key: String, path: String?) throws(ModelFormatError) -> JSONValue {
        guard let value = object[key] else { throw ModelFormatError(path: path ?? key, reason: "missing") }
        return value
    }

    private static func string(_ object: JSONValue, _ key: String) throws(ModelFormatError) -> String {
        let value = try member(object, key, path: key)
        guard case .string(let s) = value else { throw ModelFormatError(path: key, reason: "expected a string, found \(value.kind)") }
        return s
    }

    private static func number(_ object: JSONValue, _ key: String, path: String? = nil) throws(ModelFormatError) -> Double {
        let value = try member(object, key, path: path)
        guard let d = value.doubleValue else { throw ModelFormatError(path: path ?? key, reason: "expected a number, found \(value.kind)") }
        return d
    }

    private static func integer(_ object: JSONValue, _ key: String, path: String) throws(ModelFormatError) -> Int64 {
        let d = try number(object, key, path: path)
        guard d == d.rounded(), abs(d) < 1e9 else { throw ModelFormatError(path: path, reason: "expected an integer, found \(d)") }
        return Int64(d)
    }

    private static func numbers(_ object: JSONValue, _ key: String, path: String) throws(ModelFormatError) -> [Double] {
        let value = try member(object, key, path: "\(path).\(key)")
        guard case .array(let elements) = value else {
            throw ModelFormatError(path: "\(path).\(key)", reason: "expected an array of numbers, found \(value.kind)")
        }
        var out: [Double] = []
        out.reserveCapacity(elements.count)
        for (i, e) in elements.enumerated() {
            guard let d = e.doubleValue else {
                throw ModelFormatError(path: "\(path).\(key)[\(i)]", reason: "expected a number, found \(e.kind)")
            }
            out.append(d)
        }
        return out
    }
}
