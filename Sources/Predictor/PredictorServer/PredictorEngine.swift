import Predictor
import Synchronization

/// The predictor shared by every connection: one ``SpikePredictor`` behind a lock, so several
/// agents (or several connections of one agent) feeding the same (device, channel) stream see
/// one rolling history. Classifying takes a few microseconds, so one lock is no bottleneck.
///
/// Hot swap (`load_model`): the file is read, its SHA-256 checked against the pinned one, parsed
/// and self-tested (``ModelSelfTest``) outside the lock; only then is the detector replaced, under
/// the lock, between two samples. Every sample gets a verdict from either the old or the new
/// model; a refused model leaves the old one serving.
public final class PredictorEngine: Sendable {
    /// Where delivered models come from: the service reads files and parses JSON or ONNX; tests
    /// inject their own.
    public struct ModelSource: Sendable {
        /// The file's bytes, or why it cannot be read.
        public var read: @Sendable (String) -> Result<[UInt8], ModelRefusal>
        public var parse: @Sendable ([UInt8]) -> Result<SpikeForest, ModelRefusal>

        public init(read: @escaping @Sendable (String) -> Result<[UInt8], ModelRefusal>,
                    parse: @escaping @Sendable ([UInt8]) -> Result<SpikeForest, ModelRefusal>) {
            self.read = read
            self.parse = parse
        }
    }

    /// Why a delivered model was not taken into service (the previous one keeps serving).
    public struct ModelRefusal: Error, Equatable, Sendable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    private let predictor: Mutex<SpikePredictor>
    private let models: ModelSource?

    public init(_ predictor: SpikePredictor, models: ModelSource? = nil) {
        self.predictor = Mutex(predictor)
        self.models = models
    }

    /// The model serving now.
    public var modelID: String { predictor.withLock { $0.modelID } }

    public func classify(_ sample: PredictorSample) -> Result<PredictorVerdict, SpikePredictor.Rejection> {
        predictor.withLock { p in
            do throws(SpikePredictor.Rejection) {
                return .success(try p.classify(sample))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Verifies and swaps in the model at `path`: (previous id, new id), or why it was refused.
    public func loadModel(path: String, sha256: String) -> Result<(previous: String, current: String), ModelRefusal> {
        guard let models else { return .failure(ModelRefusal("this predictor does not take model deliveries")) }
        let bytes: [UInt8]
        switch models.read(path) {
        case .success(let b): bytes = b
        case .failure(let refusal): return .failure(refusal)
        }
        let digest = SHA256.hex(bytes)
        guard digest == sha256 else {
            return .failure(ModelRefusal("\(path) has SHA-256 \(digest), not the pinned \(sha256)"))
        }
        let model: SpikeForest
        switch models.parse(bytes) {
        case .success(let m): model = m
        case .failure(let refusal): return .failure(ModelRefusal("\(path): \(refusal.reason)"))
        }
        if let failure = ModelSelfTest.failure(of: model) {
            return .failure(ModelRefusal("\(path) (\(model.modelID)) failed the self-test: \(failure)"))
        }
        let previous = predictor.withLock { p in
            let previous = p.modelID
            p.replaceDetector(with: .forest(model))
            return previous
        }
        return .success((previous, model.modelID))
    }

    /// Answers one request payload: a verdict, or an error frame for anything malformed or refused.
    public func answer(payload: [UInt8]) -> PredictorMessage {
        let message: PredictorMessage
        do throws(PredictorFrameError) {
            message = try PredictorWire.decode(payload: payload)
        } catch {
            return .error(id: PredictorWire.requestID(inPayload: payload), code: error.code, message: error.description)
        }
        switch message {
        case .sample(let id, let sample):
            guard sample.value.isFinite, sample.captureTime.isFinite else {
                return .error(id: id, code: "invalid_value", message: "value and capture_time must be finite numbers")
            }
            switch classify(sample) {
            case .success(let verdict):
                return .verdict(id: id, verdict)
            case .failure(let rejection):
                let code = switch rejection {
                case .tooManyStreams: "too_many_streams"
                case .outOfOrder: "out_of_order"
                }
                return .error(id: id, code: code, message: rejection.description)
            }
        case .loadModel(let id, let path, let sha256):
            switch loadModel(path: path, sha256: sha256) {
            case .success(let swap): return .modelLoaded(id: id, modelID: swap.current, previousModelID: swap.previous)
            case .failure(let refusal): return .error(id: id, code: "model_refused", message: refusal.reason)
            }
        default:
            return .error(id: PredictorWire.requestID(inPayload: payload), code: "unexpected_message",
                          message: "the predictor accepts only \"sample\" and \"load_model\" messages")
        }
    }

    public var streamCount: Int { predictor.withLock { $0.streamCount } }
}
