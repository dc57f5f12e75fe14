import NIOCore
import Predictor
import Synchronization

/// The predictor shared by every connection: one ``SpikePredictor`` behind a lock, so several
/// agents (or several connections of one agent) feeding the same (device, channel) stream see
/// one rolling history. Classifying takes a few microseconds, so one lock is no bottleneck.
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

    private struct State {
        var predictor: SpikePredictor
        var lastSample: [StreamID: Duration] = [:]
        /// Open connections that fed each stream.
        var owners: [StreamID: Int] = [:]
        var lastSweep: Duration = .zero
    }

    private let state: Mutex<State>
    public let modelID: String
    public let idleStreamTimeout: Duration
    /// A monotonic clock (injected by tests).
    private let now: @Sendable () -> Duration

    public init(_ predictor: SpikePredictor, idleStreamTimeout: Duration = .seconds(3600),
                now: @escaping @Sendable () -> Duration = { .nanoseconds(Int64(clamping: NIODeadline.now().uptimeNanoseconds)) }) {
        modelID = predictor.modelID
        state = Mutex(State(predictor: predictor))
        self.idleStreamTimeout = idleStreamTimeout
        self.now = now
    }

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

    /// Answers one request payload: a verdict, or an error frame for anything malformed or refused.
    public func answer(payload: [UInt8]) -> PredictorMessage {
        answer(payload: payload, fed: { _ in })
    }

    /// Like ``answer(payload:)``; `fed` is told the stream of each sample classified.
    func answer(payload: [UInt8], fed: (StreamID) -> Void) -> PredictorMessage {
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
            fed(StreamID(device: sample.device, channel: sample.channel))
            return .verdict(id: id, verdict)
        case .failure(let rejection):
            let code = switch rejection {
            case .tooManyStreams: "too_many_streams"
            case .outOfOrder: "out_of_order"
            }
            return .error(id: id, code: code, message: rejection.description)
        }
    }

    public var streamCount: Int { state.withLock { $0.predictor.streamCount } }
}
