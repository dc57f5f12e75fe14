import NIOCore
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
///
/// Streams are bounded in time as well as in number: a stream lives while a connection that fed
/// it is open (``retain(_:)``/``release(_:)``, done by the connection handler) and is evicted
/// once no sample came for ``idleStreamTimeout``, so clients that come and go, or devices that
/// disappear, do not fill the predictor's stream table for good.
public final class PredictorEngine: Sendable {
    /// A (device, channel) stream.
    public struct StreamID: Hashable, Sendable {
        public var device: String
        public var channel: String
    }

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

    private struct State {
        var predictor: SpikePredictor
        var lastSample: [StreamID: Duration] = [:]
        /// Open connections that fed each stream.
        var owners: [StreamID: Int] = [:]
        var lastSweep: Duration = .zero
    }

    private let state: Mutex<State>
    /// Whether a model delivery is being read, checked or swapped in.
    private let loading = Mutex(false)
    private let models: ModelSource?
    public let idleStreamTimeout: Duration
    /// A monotonic clock (injected by tests).
    private let now: @Sendable () -> Duration

    public init(_ predictor: SpikePredictor, models: ModelSource? = nil, idleStreamTimeout: Duration = .seconds(3600),
                now: @escaping @Sendable () -> Duration = { .nanoseconds(Int64(clamping: NIODeadline.now().uptimeNanoseconds)) }) {
        state = Mutex(State(predictor: predictor))
        self.models = models
        self.idleStreamTimeout = idleStreamTimeout
        self.now = now
    }

    /// The model serving now.
    public var modelID: String { state.withLock { $0.predictor.modelID } }

    public func classify(_ sample: PredictorSample) -> Result<PredictorVerdict, SpikePredictor.Rejection> {
        let time = now()
        return state.withLock { state in
            evictIdle(&state, now: time)
            do throws(SpikePredictor.Rejection) {
                let verdict = try state.predictor.classify(sample)
                state.lastSample[StreamID(device: sample.device, channel: sample.channel)] = time
                return .success(verdict)
            } catch {
                return .failure(error)
            }
        }
    }

    /// Streams with no sample for ``idleStreamTimeout`` are forgotten; the table is swept at most
    /// every quarter of it, so a sweep costs nothing per sample.
    private func evictIdle(_ state: inout State, now: Duration) {
        guard now - state.lastSweep >= idleStreamTimeout / 4 else { return }
        state.lastSweep = now
        for (stream, last) in state.lastSample where now - last >= idleStreamTimeout {
            forget(&state, stream)
        }
    }

    private func forget(_ state: inout State, _ stream: StreamID) {
        state.predictor.reset(device: stream.device, channel: stream.channel)
        state.lastSample[stream] = nil
    }

    /// A connection fed `stream` for the first time.
    func retain(_ stream: StreamID) {
        state.withLock { $0.owners[stream, default: 0] += 1 }
    }

    /// A connection that fed these streams closed: a stream no open connection feeds is forgotten.
    func release(_ streams: some Sequence<StreamID>) {
        state.withLock { state in
            for stream in streams {
                let owners = (state.owners[stream] ?? 1) - 1
                state.owners[stream] = owners > 0 ? owners : nil
                if owners <= 0 { forget(&state, stream) }
            }
        }
    }

    /// Verifies and swaps in the model at `path`: (previous id, new id), or why it was refused.
    /// One delivery at a time: another one arriving meanwhile is refused (it would race this one,
    /// and each holds a thread of the server while it reads, parses and self-tests).
    public func loadModel(path: String, sha256: String) -> Result<(previous: String, current: String), ModelRefusal> {
        guard let models else { return .failure(ModelRefusal("this predictor does not take model deliveries")) }
        guard loading.withLock({ busy in defer { busy = true }; return !busy }) else {
            return .failure(ModelRefusal("another model delivery is in progress; deliver \(path) again when it is answered"))
        }
        defer { loading.withLock { $0 = false } }
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
        let previous = state.withLock { state in
            let previous = state.predictor.modelID
            state.predictor.replaceDetector(with: .forest(model))
            return previous
        }
        return .success((previous, model.modelID))
    }

    /// Answers one request payload: a verdict, or an error frame for anything malformed or refused.
    public func answer(payload: [UInt8]) -> PredictorMessage {
        answer(payload: payload, fed: { _ in })
    }

    /// Like ``answer(payload:)``; `fed` is told the stream of each sample classified.
    func answer(payload: [UInt8], fed: (StreamID) -> Void) -> PredictorMessage {
        switch Self.decode(payload: payload) {
        case .success(let message): answer(message, payload: payload, fed: fed)
        case .failure(let refusal): refusal.answer
        }
    }

    /// A payload that is not a valid predictor.v1 message, with the error frame that answers it.
    struct Undecodable: Error {
        var answer: PredictorMessage
    }

    static func decode(payload: [UInt8]) -> Result<PredictorMessage, Undecodable> {
        do throws(PredictorFrameError) {
            return .success(try PredictorWire.decode(payload: payload))
        } catch {
            return .failure(Undecodable(answer: .error(id: PredictorWire.requestID(inPayload: payload), code: error.code, message: error.description)))
        }
    }

    /// The answer to a decoded request (`payload` is its text, for the id of an unexpected one).
    func answer(_ message: PredictorMessage, payload: [UInt8], fed: (StreamID) -> Void) -> PredictorMessage {
        switch message {
        case .sample(let id, let sample):
            guard sample.value.isFinite, sample.captureTime.isFinite else {
                return .error(id: id, code: "invalid_value", message: "value and capture_time must be finite numbers")
            }
            switch classify(sample) {
            case .success(let verdict):
                fed(StreamID(device: sample.device, channel: sample.channel))
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

    public var streamCount: Int { state.withLock { $0.predictor.streamCount } }
}
