import Predictor

/// Reads an ONNX-ML model holding one `TreeEnsembleClassifier` (as skl2onnx and onnxmltools write
/// them for scikit-learn and XGBoost binary classifiers) into a ``SpikeForest``. Only the messages
/// and fields needed are decoded, straight from the protobuf wire format.
///
/// Contract (firmware-interface/predictor-model.v1.md, "ONNX"):
/// - The graph may hold `TreeEnsembleClassifier` once, plus `ZipMap`, `Cast` and `Identity`, which
///   only reshape its outputs; any other operator is refused by name.
/// - Splits `BRANCH_LEQ`, `BRANCH_LT`, `BRANCH_GTE`, `BRANCH_GT` on float32 thresholds; inputs are
///   cast to float32 (ONNX Runtime's rule). Missing-value tracking is ignored: features are finite.
/// - The spike score is base_values[c] + Σ class_weights of class c, where c is the class labelled
///   1 when both classes carry weights, else the one class that does (the binary single-score
///   form). post_transform `NONE` takes that sum as the probability; `LOGISTIC` applies the
///   logistic link to it, summed in float32 as ONNX Runtime does.
/// - Metadata properties `fieldagent.model_id`, `fieldagent.features` (comma-separated feature
///   names), `fieldagent.windows` (short,long,min_history,std_floor),
///   `fieldagent.decision_threshold` and `fieldagent.persistence` say how to serve it; without them
///   the model id is `onnx-` and the graph's name, the features are v1's five scale-free ones,
///   the windows v1, the threshold 0.5 and persistence 1.
public enum ONNXTreeEnsemble {
    /// Operators that only pass on or reshape the classifier's outputs.
    public static let passThroughOperators: Set<String> = ["ZipMap", "Cast", "Identity"]
    public static let defaultFeatures: [FeatureName] = [.zShort, .zLong, .deltaZ, .levelZ, .stdRatio]
    /// The largest model file read (bounds every array decoded).
    public static let maxBytes = 64 << 20

    public static func load(_ bytes: [UInt8]) throws(ModelFormatError) -> SpikeForest {
        guard bytes.count <= maxBytes else { throw fail("", "the file has \(bytes.count) bytes, more than \(maxBytes)") }
        var graph: [UInt8]?
        var metadata: [String: String] = [:]
        try Wire.fields(bytes[...], path: "ModelProto") { field, value throws(ModelFormatError) in
            switch (field, value) {
            case (7, .bytes(let b)): graph = Array(b)
            case (14, .bytes(let b)):
                var key = "", text = ""
                try Wire.fields(b, path: "metadata_props") { f, v throws(ModelFormatError) in
                    if case .bytes(let s) = v { if f == 1 { key = String(decoding: s, as: UTF8.self) } else if f == 2 { text = String(decoding: s, as: UTF8.self) } }
                }
                metadata[key] = text
            default: break
            }
        }
        guard let graph else { throw fail("graph", "the file holds no graph; is it an ONNX model?") }
        var graphName = ""
        var ensemble: [Attribute]?
        try Wire.fields(graph[...], path: "graph") { field, value throws(ModelFormatError) in
            switch (field, value) {
            case (2, .bytes(let b)): graphName = String(decoding: b, as: UTF8.self)
            case (1, .bytes(let b)):
                var op = "", attributes: [Attribute] = []
                try Wire.fields(b, path: "graph.node") { f, v throws(ModelFormatError) in
                    guard case .bytes(let s) = v else { return }
                    if f == 4 { op = String(decoding: s, as: UTF8.self) }
                    if f == 5 { attributes.append(try Attribute(s)) }
                }
                if op == "TreeEnsembleClassifier" {
                    guard ensemble == nil else { throw fail("graph.node", "more than one TreeEnsembleClassifier") }
                    ensemble = attributes
                } else if !passThroughOperators.contains(op) {
                    throw fail("graph.node", "unsupported operator \"\(op)\": this predictor runs TreeEnsembleClassifier "
                               + "(with \(passThroughOperators.sorted().joined(separator: ", ")) around it) only")
                }
            default: break
            }
        }
        guard let ensemble else { throw fail("graph", "no TreeEnsembleClassifier node") }
        return try forest(ensemble, metadata: metadata, graphName: graphName)
    }

    static func fail(_ path: String, _ reason: String) -> ModelFormatError {
        ModelFormatError(path: path.isEmpty ? "onnx" : "onnx " + path, reason: reason)
    }

    private static func forest(_ attributes: [Attribute], metadata: [String: String], graphName: String) throws(ModelFormatError) -> SpikeForest {
        var a: [String: Attribute] = [:]
        for attribute in attributes { a[attribute.name] = attribute }
        func ints(_ name: String) throws(ModelFormatError) -> [Int64] {
            guard let v = a[name]?.ints else { throw fail("TreeEnsembleClassifier.\(name)", "missing") }
            return v
        }
        func floats(_ name: String) throws(ModelFormatError) -> [Float] {
            guard let v = a[name]?.floats else {
                if a[name + "_as_tensor"] != nil { throw fail("TreeEnsembleClassifier.\(name)_as_tensor", "tensor attributes are not supported; export float32 thresholds") }
                throw fail("TreeEnsembleClassifier.\(name)", "missing")
            }
            return v
        }
        let treeIDs = try ints("nodes_treeids"), nodeIDs = try ints("nodes_nodeids"), featureIDs = try ints("nodes_featureids")
        let values = try floats("nodes_values"), trueIDs = try ints("nodes_truenodeids"), falseIDs = try ints("nodes_falsenodeids")
        guard let modes = a["nodes_modes"]?.strings else { throw fail("TreeEnsembleClassifier.nodes_modes", "missing") }
        let n = treeIDs.count
        for (name, count) in [("nodes_nodeids", nodeIDs.count), ("nodes_featureids", featureIDs.count), ("nodes_values", values.count),
                              ("nodes_truenodeids", trueIDs.count), ("nodes_falsenodeids", falseIDs.count), ("nodes_modes", modes.count)]
        where count != n {
            throw fail("TreeEnsembleClassifier.\(name)", "expected \(n) entries like nodes_treeids, found \(count)")
        }
        let weightTrees = try ints("class_treeids"), weightNodes = try ints("class_nodeids"), weightClasses = try ints("class_ids")
        let weights = try floats("class_weights")
        guard weightNodes.count == weightTrees.count, weightClasses.count == weightTrees.count, weights.count == weightTrees.count else {
            throw fail("TreeEnsembleClassifier.class_weights", "class_treeids, class_nodeids, class_ids and class_weights differ in length")
        }
        let labels = a["classlabels_int64s"]?.ints ?? []
        let used = Set(weightClasses)
        let spikeClass: Int64
        if used.count == 1, let only = used.first {
            spikeClass = only
        } else if let i = labels.firstIndex(of: 1), used.contains(Int64(i)) {
            spikeClass = Int64(i)
        } else {
            throw fail("TreeEnsembleClassifier.class_ids", "expected a binary classifier with class label 1 (spike), found labels \(labels)")
        }
        let transform = a["post_transform"]?.string ?? "NONE"
        guard transform == "NONE" || transform == "LOGISTIC" else {
            throw fail("TreeEnsembleClassifier.post_transform", "expected NONE or LOGISTIC, found \(transform)")
        }
        let base = a["base_values"]?.floats ?? []
        let baseValue = Double(base.count > Int(spikeClass) ? base[Int(spikeClass)] : (base.count == 1 ? base[0] : 0))

        // Group nodes by tree, keyed by node id; leaves' weights for the spike class.
        var byTree: [Int64: [Int64: Int]] = [:]
        for i in 0..<n { byTree[treeIDs[i], default: [:]][nodeIDs[i]] = i }
        var leafWeight: [Int64: [Int64: Double]] = [:]
        for k in weightTrees.indices where weightClasses[k] == spikeClass {
            leafWeight[weightTrees[k], default: [:]][weightNodes[k], default: 0] += Double(weights[k])
        }
        let features = metadata["fieldagent.features"].map { $0.split(separator: ",").compactMap { FeatureName(rawValue: String($0)) } }
            ?? defaultFeatures
        guard !features.isEmpty, features.count == (metadata["fieldagent.features"]?.split(separator: ",").count ?? features.count) else {
            throw fail("metadata fieldagent.features", "expected comma-separated feature names of docs/predictor.md")
        }
        let treeOrder = byTree.keys.sorted()
        guard !treeOrder.isEmpty else { throw fail("TreeEnsembleClassifier", "no trees") }
        let scale = transform == "NONE" ? Double(treeOrder.count) : 1
        var trees: [SpikeForest.Tree] = []
        for t in treeOrder {
            guard let nodes = byTree[t] else { continue }
            // Renumber depth-first from the root so children follow parents (what the reader checks).
            let children = Set(nodes.values.flatMap { i in modes[i] == "LEAF" ? [] : [trueIDs[i], falseIDs[i]] })
            let roots = nodes.keys.filter { !children.contains($0) }
            guard roots.count == 1, let root = roots.first else { throw fail("tree \(t)", "expected one root, found \(roots.count)") }
            var tree = SpikeForest.Tree(feature: [], threshold: [], left: [], right: [], value: [])
            var stack: [(id: Int64, parent: Int, isLeft: Bool)] = [(root, -1, false)]
            var seen = Set<Int64>()
            while let (id, parent, isLeft) = stack.popLast() {
                guard let i = nodes[id], seen.insert(id).inserted, seen.count <= nodes.count else {
                    throw fail("tree \(t) node \(id)", "missing, or reached twice")
                }
                let index = tree.feature.count
                if parent >= 0 { if isLeft { tree.left[parent] = Double(index) } else { tree.right[parent] = Double(index) } }
                if modes[i] == "LEAF" {
                    tree.feature.append(-2); tree.threshold.append(0); tree.left.append(-1); tree.right.append(-1)
                    // A forest's weights are probability / trees in float32: scaled back, clamp the rounding.
                    let w = (leafWeight[t]?[id] ?? 0) * scale
                    tree.value.append(transform == "NONE" ? min(max(w, 0), 1) : w)
                    continue
                }
                var yes = trueIDs[i], no = falseIDs[i]
                let threshold: Double
                switch modes[i] {
                case "BRANCH_LEQ": threshold = Double(values[i])
                case "BRANCH_LT": threshold = SpikeForest.lessOrEqualThreshold(strictlyBelow: Double(values[i]))
                case "BRANCH_GT": threshold = Double(values[i]); swap(&yes, &no)
                case "BRANCH_GTE": threshold = SpikeForest.lessOrEqualThreshold(strictlyBelow: Double(values[i])); swap(&yes, &no)
                default: throw fail("tree \(t) node \(id)", "unsupported split mode \(modes[i])")
                }
                tree.feature.append(Double(featureIDs[i])); tree.threshold.append(threshold)
                tree.left.append(-1); tree.right.append(-1); tree.value.append(0)
                // Right pushed first so the left subtree is numbered first.
                stack.append((no, index, false))
                stack.append((yes, index, true))
            }
            trees.append(tree)
        }
        var windows = FeatureWindows.v1
        if let w = metadata["fieldagent.windows"] {
            let parts = w.split(separator: ",").map { Double($0) }
            guard parts.count == 4, let s = parts[0], let l = parts[1], let m = parts[2], let e = parts[3],
                  s == s.rounded(), l == l.rounded(), m == m.rounded(), abs(s) < 1e6, abs(l) < 1e6, abs(m) < 1e6 else {
                throw fail("metadata fieldagent.windows", "expected short,long,min_history,std_floor")
            }
            windows = FeatureWindows(short: Int(s), long: Int(l), minHistory: Int(m), stdFloor: e)
            if let problem = windows.problem { throw fail("metadata fieldagent.windows", problem) }
        }
        let threshold = metadata["fieldagent.decision_threshold"].flatMap(Double.init) ?? 0.5
        let persistence = metadata["fieldagent.persistence"].flatMap { Int($0) } ?? 1
        guard threshold > 0, threshold <= 1, persistence >= 1, persistence <= 100 else {
            throw fail("metadata", "decision threshold must be in (0, 1] and persistence 1…100")
        }
        let id = metadata["fieldagent.model_id"] ?? "onnx-\(graphName.isEmpty ? "model" : graphName)"
        guard !id.isEmpty, id.utf8.count <= 128 else { throw fail("metadata fieldagent.model_id", "expected 1…128 bytes") }
        return try SpikeForest(modelID: id, features: features, windows: windows, decisionThreshold: threshold, persistence: persistence,
                               aggregation: transform == "NONE" ? .meanProbability : .logisticMargin(base: baseValue, float32Sum: true),
                               trees: trees, leafName: transform == "NONE" ? "class_weights" : "value")
    }
}

/// One ONNX `AttributeProto`, with the fields a tree ensemble uses.
struct Attribute {
    var name = ""
    var floats: [Float]?
    var ints: [Int64]?
    var strings: [String]?
    var string: String?

    init(_ bytes: ArraySlice<UInt8>) throws(ModelFormatError) {
        var floats: [Float] = [], ints: [Int64] = [], strings: [String] = []
        var sawFloats = false, sawInts = false, sawStrings = false
        try Wire.fields(bytes, path: "attribute") { field, value throws(ModelFormatError) in
            switch (field, value) {
            case (1, .bytes(let b)): name = String(decoding: b, as: UTF8.self)
            case (4, .bytes(let b)): string = String(decoding: b, as: UTF8.self)
            case (7, .fixed32(let bits)): floats.append(Float(bitPattern: bits)); sawFloats = true
            case (7, .bytes(let b)):
                guard b.count % 4 == 0 else { throw ONNXTreeEnsemble.fail("attribute \(name)", "packed floats of \(b.count) bytes") }
                var i = b.startIndex
                while i < b.endIndex {
                    let bits = UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
                    floats.append(Float(bitPattern: bits))
                    i += 4
                }
                sawFloats = true
            case (8, .varint(let v)): ints.append(Int64(bitPattern: v)); sawInts = true
            case (8, .bytes(let b)):
                var rest = b
                while !rest.isEmpty { ints.append(Int64(bitPattern: try Wire.varint(&rest, path: "attribute \(name)"))) }
                sawInts = true
            case (9, .bytes(let b)): strings.append(String(decoding: b, as: UTF8.self)); sawStrings = true
            default: break
            }
        }
        if sawFloats { self.floats = floats }
        if sawInts { self.ints = ints }
        if sawStrings { self.strings = strings }
    }
}

/// The protobuf wire format, just enough to walk messages.
enum Wire {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    static func varint(_ data: inout ArraySlice<UInt8>, path: String) throws(ModelFormatError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = data.first {
            data = data.dropFirst()
            guard shift < 64 else { break }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw ONNXTreeEnsemble.fail(path, "truncated or overlong varint")
    }

    /// Calls `visit` with each field of a message, in order.
    static func fields(_ message: ArraySlice<UInt8>, path: String,
                       _ visit: (UInt64, Value) throws(ModelFormatError) -> Void) throws(ModelFormatError) {
        var data = message
        while !data.isEmpty {
            let key = try varint(&data, path: path)
            let field = key >> 3
            switch key & 7 {
            case 0: try visit(field, .varint(try varint(&data, path: path)))
            case 1:
                guard data.count >= 8 else { throw ONNXTreeEnsemble.fail(path, "truncated 64-bit field \(field)") }
                var v: UInt64 = 0
                for (k, b) in data.prefix(8).enumerated() { v |= UInt64(b) << (8 * UInt64(k)) }
                data = data.dropFirst(8)
                try visit(field, .fixed64(v))
            case 2:
                let length = try varint(&data, path: path)
                guard length <= UInt64(data.count) else { throw ONNXTreeEnsemble.fail(path, "field \(field) runs past the end of its message") }
                let body = data.prefix(Int(length))
                data = data.dropFirst(Int(length))
                try visit(field, .bytes(body))
            case 5:
                guard data.count >= 4 else { throw ONNXTreeEnsemble.fail(path, "truncated 32-bit field \(field)") }
                var v: UInt32 = 0
                for (k, b) in data.prefix(4).enumerated() { v |= UInt32(b) << (8 * UInt32(k)) }
                data = data.dropFirst(4)
                try visit(field, .fixed32(v))
            default:
                throw ONNXTreeEnsemble.fail(path, "wire type \(key & 7) of field \(field) is not protobuf 3")
            }
        }
    }
}
