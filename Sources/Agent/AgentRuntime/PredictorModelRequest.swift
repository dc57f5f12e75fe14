import JSON

/// The twin's `predictorModel` desired property, `{"path": "...", "sha256": "<64 hex>"}`: the model
/// file the co-located predictor should serve. The agent only passes it on (`load_model`); the
/// predictor checks the hash, loads, self-tests and swaps, or keeps its model and says why.
struct PredictorModelRequest: Equatable, Sendable {
    static let key = "predictorModel"
    var path: String
    var sha256: String

    /// nil when the desired section has no `predictorModel`; a failure says what is malformed.
    static func from(desired: JSONValue?) -> Result<PredictorModelRequest, PredictorModelRequestError>? {
        guard let value = desired?[key], value != .null else { return nil }
        guard case .string(let path)? = value["path"], !path.isEmpty, path.utf8.count <= 4_096,
              case .string(let sha256)? = value["sha256"], sha256.utf8.count == 64,
              sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            return .failure(PredictorModelRequestError(reason: "expected {\"path\": a model file on the device, \"sha256\": 64 lowercase hex digits}"))
        }
        return .success(PredictorModelRequest(path: path, sha256: sha256))
    }

    var twinValue: JSONValue { .object(["path": .string(path), "sha256": .string(sha256)]) }
}

struct PredictorModelRequestError: Error, Equatable, Sendable {
    var reason: String
}
