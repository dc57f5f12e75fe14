import Predictor
import Synchronization

/// The predictor shared by every connection: one ``SpikePredictor`` behind a lock, so several
/// agents (or several connections of one agent) feeding the same (device, channel) stream see
/// one rolling history. Classifying takes a few microseconds, so one lock is no bottleneck.
public final class PredictorEngine: Sendable {
    private let predictor: Mutex<SpikePredictor>
    public let modelID: String

    public init(_ predictor: SpikePredictor) {
        modelID = predictor.modelID
        self.predictor = Mutex(predictor)
    }

    public func classify(_ sample: PredictorSample) -> Result<PredictorVerdict, SpikePredictor.Rejection> {
        predictor.withLock { p in
            do throws(SpikePredictor.Rejection) {
                return .success(try p.classify(sample))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Answers one request payload: a verdict, or an error frame for anything malformed or refused.
    public func answer(payload: [UInt8]) -> PredictorMessage {
        let message: PredictorMessage
        do throws(PredictorFrameError) {
            message = try PredictorWire.decode(payload: payload)
        } catch {
            return .error(id: PredictorWire.requestID(inPayload: payload), code: error.code, message: error.description)
        }
        guard case .sample(let id, let sample) = message else {
            return .error(id: PredictorWire.requestID(inPayload: payload), code: "unexpected_message",
                          message: "the predictor accepts only \"sample\" messages")
        }
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
    }

    public var streamCount: Int { predictor.withLock { $0.streamCount } }
}
