import JSON

/// One predictor.v1 message (`firmware-interface/predictor.v1.md`).
public enum PredictorMessage: Equatable, Sendable {
    /// Agent → predictor. `id` is the sender's correlation number, echoed in the answer.
    case sample(id: UInt64, PredictorSample)
    /// Predictor → agent.
    case verdict(id: UInt64, PredictorVerdict)
    /// Predictor → agent: the request (id nil when it could not be read) was refused.
    case error(id: UInt64?, code: String, message: String)
    /// Agent → predictor: serve the model file at `path` once its SHA-256 is `sha256` (hex) and it
    /// passes the self-test; answered with `modelLoaded` or an error `model_refused`.
    case loadModel(id: UInt64, path: String, sha256: String)
    /// Predictor → agent: the model now serving, and the one it replaced.
    case modelLoaded(id: UInt64, modelID: String, previousModelID: String)
}

/// Why a frame was refused. `code` is the wire name sent back in an error frame.
public enum PredictorFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A length prefix of 0.
    case emptyFrame
    /// A length prefix above the limit; the stream cannot be resynchronised, so the connection closes.
    case frameTooLong(length: Int, limit: Int)
    case malformedJSON(JSONValueError)
    case notAnObject(found: String)
    case unsupportedVersion(found: String)
    case unknownType(String)
    case missingField(String)
    case wrongType(field: String, expected: String, found: String)
    case invalidValue(field: String, reason: String)
    case unexpectedField(String)

    /// The `code` of the error frame (stable wire names).
    public var code: String {
        switch self {
        case .emptyFrame: "empty_frame"
        case .frameTooLong: "frame_too_long"
        case .malformedJSON: "malformed_json"
        case .notAnObject: "not_an_object"
        case .unsupportedVersion: "unsupported_version"
        case .unknownType: "unknown_type"
        case .missingField: "missing_field"
        case .wrongType: "wrong_type"
        case .invalidValue: "invalid_value"
        case .unexpectedField: "unexpected_field"
        }
    }

    /// True when the byte stream can no longer be trusted to be at a frame boundary.
    public var closesConnection: Bool {
        switch self {
        case .emptyFrame, .frameTooLong: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .emptyFrame: "a frame's length prefix was 0; every frame carries 1…\(PredictorWire.maxPayload) bytes of JSON"
        case let .frameTooLong(length, limit): "a frame announced \(length) bytes, more than the limit of \(limit); is the peer speaking predictor.v1?"
        case .malformedJSON(let e): "the frame is not JSON: invalid JSON at byte \(e.offset): \(e.reason)"
        case .notAnObject(let found): "expected a JSON object, found \(found)"
        case .unsupportedVersion(let found): "expected \"v\": 1 (predictor.v1), found \(found); upgrade the older side"
        case .unknownType(let type): "unknown message type \"\(type)\"; expected sample, verdict, error, load_model or model_loaded"
        case .missingField(let field): "the member \"\(field)\" is missing"
        case let .wrongType(field, expected, found): "\"\(field)\" must be \(expected), found \(found)"
        case let .invalidValue(field, reason): "\"\(field)\": \(reason)"
        case .unexpectedField(let field): "unexpected member \"\(field)\" (predictor.v1 is strict; a new member needs a new version)"
        }
    }
}

/// The predictor.v1 framing: a 4-byte big-endian payload length, then that many bytes of UTF-8
/// JSON (one object). Pure encode/decode; the server and the client do the I/O.
public enum PredictorWire {
    public static let version = 1
    /// Largest payload accepted in either direction.
    public static let maxPayload = 16_384
    public static let maxDeviceBytes = 128
    public static let maxChannelBytes = 64
    public static let maxModelIDBytes = 128
    public static let maxFeatures = 64
    public static let maxPathBytes = 4_096
    /// Largest `id`: 2^53 − 1, so every id survives a JSON number round trip.
    public static let maxID: UInt64 = (1 << 53) - 1

    // MARK: Framing

    /// The payload length announced by a 4-byte prefix.
    public static func payloadLength(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) throws(PredictorFrameError) -> Int {
        let length = Int(b0) << 24 | Int(b1) << 16 | Int(b2) << 8 | Int(b3)
        if length == 0 { throw .emptyFrame }
        if length > maxPayload { throw .frameTooLong(length: length, limit: maxPayload) }
        return length
    }

    /// The whole frame: prefix and JSON payload.
    public static func encode(_ message: PredictorMessage) -> [UInt8] {
        let payload = json(message).encoded(sortingKeys: false)
        let n = payload.count
        var frame: [UInt8] = [UInt8(truncatingIfNeeded: n >> 24), UInt8(truncatingIfNeeded: n >> 16),
                              UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)]
        frame.reserveCapacity(n + 4)
        frame += payload
        return frame
    }

    /// Decodes one payload (without its prefix).
    public static func decode(payload: [UInt8]) throws(PredictorFrameError) -> PredictorMessage {
        if payload.isEmpty { throw .emptyFrame }
        if payload.count > maxPayload { throw .frameTooLong(length: payload.count, limit: maxPayload) }
        let root: JSONValue
        do throws(JSONValueError) {
            root = try JSONValue.parse(payload, maxDepth: 4)
        } catch {
            throw .malformedJSON(error)
        }
        guard case .object(let members) = root else { throw .notAnObject(found: root.kind) }
        var fields = Fields(members: members)
        guard let v = fields.take("v") else { throw .missingField("v") }
        guard v.doubleValue == Double(version) else {
            throw .unsupportedVersion(found: String(decoding: v.encoded(sortingKeys: false), as: UTF8.self))
        }
        let type = try fields.string("type", maxBytes: 32)
        let message: PredictorMessage
        switch type {
        case "sample":
            let id = try fields.id()
            let sample = PredictorSample(device: try fields.string("device", maxBytes: maxDeviceBytes),
                                         channel: try fields.string("channel", maxBytes: maxChannelBytes),
                                         captureTime: try fields.number("capture_time"),
                                         value: try fields.number("value"))
            message = .sample(id: id, sample)
        case "verdict":
            let id = try fields.id()
            let device = try fields.string("device", maxBytes: maxDeviceBytes)
            let channel = try fields.string("channel", maxBytes: maxChannelBytes)
            let captureTime = try fields.number("capture_time")
            let probability = try fields.number("spike_probability")
            guard probability >= 0, probability <= 1 else {
                throw .invalidValue(field: "spike_probability", reason: "expected 0…1, found \(probability)")
            }
            let detected = try fields.bool("spike_detected")
            let modelID = try fields.string("model_id", maxBytes: maxModelIDBytes)
            let warmingUp = try fields.bool("warming_up")
            let features = try fields.features()
            let threshold = try fields.optionalNumber("decision_threshold")
            if let threshold, !(0...1).contains(threshold) {
                throw .invalidValue(field: "decision_threshold", reason: "expected 0…1, found \(threshold)")
            }
            message = .verdict(id: id, PredictorVerdict(device: device, channel: channel, captureTime: captureTime,
                                                        spikeProbability: probability, spikeDetected: detected,
                                                        modelID: modelID, warmingUp: warmingUp, features: features,
                                                        decisionThreshold: threshold))
        case "load_model":
            let id = try fields.id()
            let path = try fields.string("path", maxBytes: maxPathBytes)
            let sha256 = try fields.string("sha256", maxBytes: 64)
            guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw .invalidValue(field: "sha256", reason: "expected 64 lowercase hex digits")
            }
            message = .loadModel(id: id, path: path, sha256: sha256)
        case "model_loaded":
            message = .modelLoaded(id: try fields.id(), modelID: try fields.string("model_id", maxBytes: maxModelIDBytes),
                                   previousModelID: try fields.string("previous_model_id", maxBytes: maxModelIDBytes))
        case "error":
            let id: UInt64? = fields.peekIsNull("id") ? nil : try fields.id()
            _ = fields.take("id")
            message = .error(id: id, code: try fields.string("code", maxBytes: 64),
                             message: try fields.string("message", maxBytes: 4_096, allowEmpty: true))
        default:
            throw .unknownType(type)
        }
        if let extra = fields.remainingKey { throw .unexpectedField(extra) }
        return message
    }

    /// The request id of a payload that failed to decode, when it can be read: error frames echo
    /// it so the client can match the refusal to its request.
    public static func requestID(inPayload payload: [UInt8]) -> UInt64? {
        guard let root = try? JSONValue.parse(payload, maxDepth: 4), let d = root["id"]?.doubleValue,
              d >= 0, d <= Double(maxID), d == d.rounded() else { return nil }
        return UInt64(d)
    }

    // MARK: JSON shapes

    /// The message as a JSON object, members in the order of `firmware-interface/predictor.v1.md`.
    static func json(_ message: PredictorMessage) -> JSONValue {
        func object(_ members: JSONObject) -> JSONValue { .object(members) }
        switch message {
        case let .sample(id, s):
            return object(["v": .integer(1), "type": .string("sample"), "id": .integer(Int64(id)),
                           "device": .string(s.device), "channel": .string(s.channel),
                           "capture_time": .number(s.captureTime), "value": .number(s.value)])
        case let .verdict(id, v):
            var members: JSONObject = ["v": .integer(1), "type": .string("verdict"), "id": .integer(Int64(id)),
                                       "device": .string(v.device), "channel": .string(v.channel),
                                       "capture_time": .number(v.captureTime),
                                       "spike_probability": .number(v.spikeProbability),
                                       "spike_detected": .bool(v.spikeDetected), "model_id": .string(v.modelID),
                                       "warming_up": .bool(v.warmingUp),
                                       "features": .object(JSONObject(uniqueKeysWithValues: v.features.map { ($0.name, .number($0.value)) }))]
            if let threshold = v.decisionThreshold { members["decision_threshold"] = .number(threshold) }
            return object(members)
        case let .error(id, code, text):
            return object(["v": .integer(1), "type": .string("error"), "id": id.map { .integer(Int64($0)) } ?? .null,
                           "code": .string(code), "message": .string(text)])
        case let .loadModel(id, path, sha256):
            return object(["v": .integer(1), "type": .string("load_model"), "id": .integer(Int64(id)),
                           "path": .string(path), "sha256": .string(sha256)])
        case let .modelLoaded(id, modelID, previous):
            return object(["v": .integer(1), "type": .string("model_loaded"), "id": .integer(Int64(id)),
                           "model_id": .string(modelID), "previous_model_id": .string(previous)])
        }
    }

    /// Members of the frame object, taken one by one so leftovers are reported as unexpected.
    private struct Fields {
        var members: JSONObject

        mutating func take(_ key: String) -> JSONValue? {
            members.removeValue(forKey: key)
        }

        func peekIsNull(_ key: String) -> Bool {
            members[key] == .null
        }

        var remainingKey: String? { members.keys.first }

        mutating func string(_ key: String, maxBytes: Int, allowEmpty: Bool = false) throws(PredictorFrameError) -> String {
            guard let value = take(key) else { throw .missingField(key) }
            guard case .string(let s) = value else { throw .wrongType(field: key, expected: "a string", found: value.kind) }
            let n = s.utf8.count
            if n == 0 && !allowEmpty { throw .invalidValue(field: key, reason: "must not be empty") }
            if n > maxBytes { throw .invalidValue(field: key, reason: "at most \(maxBytes) bytes, found \(n)") }
            return s
        }

        mutating func number(_ key: String) throws(PredictorFrameError) -> Double {
            guard let value = take(key) else { throw .missingField(key) }
            guard let d = value.doubleValue else { throw .wrongType(field: key, expected: "a number", found: value.kind) }
            return d
        }

        mutating func optionalNumber(_ key: String) throws(PredictorFrameError) -> Double? {
            guard members[key] != nil else { return nil }
            return try number(key)
        }

        mutating func bool(_ key: String) throws(PredictorFrameError) -> Bool {
            guard let value = take(key) else { throw .missingField(key) }
            guard case .bool(let b) = value else { throw .wrongType(field: key, expected: "true or false", found: value.kind) }
            return b
        }

        mutating func id() throws(PredictorFrameError) -> UInt64 {
            let d = try number("id")
            guard d >= 0, d <= Double(PredictorWire.maxID), d == d.rounded() else {
                throw .invalidValue(field: "id", reason: "expected an integer 0…\(PredictorWire.maxID), found \(d)")
            }
            return UInt64(d)
        }

        mutating func features() throws(PredictorFrameError) -> [NamedFeature] {
            guard let value = take("features") else { throw .missingField("features") }
            guard case .object(let members) = value else {
                throw .wrongType(field: "features", expected: "an object of name: number", found: value.kind)
            }
            guard members.count <= PredictorWire.maxFeatures else {
                throw .invalidValue(field: "features", reason: "at most \(PredictorWire.maxFeatures) features, found \(members.count)")
            }
            var out: [NamedFeature] = []
            for (name, v) in members {
                guard let d = v.doubleValue else {
                    throw .wrongType(field: "features.\(name)", expected: "a number", found: v.kind)
                }
                out.append(NamedFeature(name, d))
            }
            return out
        }
    }
}

/// Splits a byte stream into predictor.v1 payloads (the client's reader; the server uses NIO's
/// buffers with the same ``PredictorWire/payloadLength(_:_:_:_:)``).
public struct PredictorFrameReader: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes received but not yet returned as a payload.
    public var pendingByteCount: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 4_096 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete payload, nil if more bytes are needed. A framing error (empty or
    /// oversized frame) means the stream is unusable: close the connection.
    public mutating func nextPayload() throws(PredictorFrameError) -> [UInt8]? {
        guard pendingByteCount >= 4 else { return nil }
        let length = try PredictorWire.payloadLength(buffer[start], buffer[start + 1], buffer[start + 2], buffer[start + 3])
        guard pendingByteCount >= 4 + length else { return nil }
        let payload = Array(buffer[(start + 4)..<(start + 4 + length)])
        start += 4 + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return payload
    }
}
