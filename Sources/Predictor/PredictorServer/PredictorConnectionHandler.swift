import Logging
import NIOCore
import Predictor
import SystemCalls

/// One client connection: splits the byte stream into predictor.v1 frames, answers each with a
/// verdict or an error frame, and flushes once per read batch.
///
/// A malformed payload gets an error frame and the connection goes on; a broken length prefix
/// (0 or over ``PredictorWire/maxPayload``) gets an error frame and the connection closes, since
/// the next frame boundary cannot be found.
///
/// Bounded: while the channel is not writable (the client does not read its answers) no more
/// requests are read, and a connection whose unsent answers pass ``maximumPendingOutputBytes``
/// is closed; the streams it fed are released when it closes (``PredictorEngine/release(_:)``).
///
/// A `load_model` is read, hashed, parsed and self-tested on a thread of its own (tens to
/// hundreds of milliseconds), not on the event loop, so the other connections' samples keep
/// their answers within the agent's deadline during a hot swap. This connection reads nothing
/// more until the delivery is answered, so its answers stay in request order.
final class PredictorConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let engine: PredictorEngine
    private let logger: Logger
    private var pending: ByteBuffer?
    private var closing = false
    /// A model delivery from this connection is being loaded off the event loop.
    private var loading = false
    /// Streams this connection fed (each retained once in the engine).
    private var streams: Set<PredictorEngine.StreamID> = []
    static let maximumPendingOutputBytes = 1 << 20

    init(engine: PredictorEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var incoming = unwrapInboundIn(data)
        if pending == nil {
            pending = incoming
        } else {
            pending?.writeBuffer(&incoming)
        }
        answerPending(context: context)
    }

    /// Answers every complete frame buffered, until a model delivery is under way.
    private func answerPending(context: ChannelHandlerContext) {
        while var buffer = pending, buffer.readableBytes >= 4, !closing, !loading {
            let length: Int
            do throws(PredictorFrameError) {
                let b = buffer.readableBytesView
                let start = b.startIndex
                length = try PredictorWire.payloadLength(b[start], b[start + 1], b[start + 2], b[start + 3])
            } catch {
                logger.info("closing a predictor connection after a framing error", metadata: ["error": "\(error)"])
                closing = true
                pending = nil
                let frame = PredictorWire.encode(.error(id: nil, code: error.code, message: error.description))
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: frame))).whenComplete { _ in
                    channel.close(promise: nil)
                }
                return
            }
            guard buffer.readableBytes >= 4 + length else { break }
            buffer.moveReaderIndex(forwardBy: 4)
            guard let payload = buffer.readBytes(length: length) else { break }
            pending = buffer.readableBytes > 0 ? buffer : nil
            let answer: PredictorMessage
            switch PredictorEngine.decode(payload: payload) {
            case .success(.loadModel(let id, let path, let sha256)):
                load(id: id, path: path, sha256: sha256, context: context)
                continue
            case .success(let message):
                answer = engine.answer(message, payload: payload) { stream in
                    if streams.insert(stream).inserted { engine.retain(stream) }
                }
            case .failure(let undecodable):
                answer = undecodable.answer
            }
            if case .error(_, let code, let message) = answer {
                logger.debug("refused a predictor request", metadata: ["code": "\(code)", "reason": "\(message)"])
            }
            send(answer, context: context)
        }
        if var buffer = pending, buffer.readerIndex > 65_536 {
            buffer.discardReadBytes()
            pending = buffer
        }
    }

    /// Loads a delivered model on a thread of its own; the answer is sent from the event loop,
    /// and then the frames buffered meanwhile are answered.
    private func load(id: UInt64, path: String, sha256: String, context: ChannelHandlerContext) {
        loading = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let engine = self.engine
        let work: @Sendable () -> Void = {
            let answer: PredictorMessage = switch engine.loadModel(path: path, sha256: sha256) {
            case .success(let swap): .modelLoaded(id: id, modelID: swap.current, previousModelID: swap.previous)
            case .failure(let refusal): .error(id: id, code: "model_refused", message: refusal.reason)
            }
            loop.execute { bound.value.handler.loaded(answer, context: bound.value.context) }
        }
        if POSIX.startThread(work) != 0 {
            loaded(.error(id: id, code: "model_refused", message: "no thread to load \(path) on; the previous model keeps serving"),
                   context: context)
        }
    }

    private func loaded(_ answer: PredictorMessage, context: ChannelHandlerContext) {
        loading = false
        switch answer {
        case .modelLoaded(_, let current, let previous):
            logger.notice("model swapped", metadata: ["model": "\(current)", "previous": "\(previous)"])
        case .error(_, _, let message):
            logger.warning("model refused; the previous one keeps serving", metadata: ["reason": "\(message)", "model": "\(engine.modelID)"])
        default:
            break
        }
        guard !closing, context.channel.isActive else { return }
        send(answer, context: context)
        answerPending(context: context)
        context.flush()
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenComplete { _ in }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        if let unsent = try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes),
           unsent > Self.maximumPendingOutputBytes, !closing {
            logger.info("closing a predictor connection that does not read its answers", metadata: ["unsent": "\(unsent)"])
            closing = true
            context.close(promise: nil)
        }
    }

    /// Back-pressure: a client that does not read gets no more requests read.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable && !loading).whenComplete { _ in }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        engine.release(streams)
        streams = []
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("predictor connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func send(_ message: PredictorMessage, context: ChannelHandlerContext) {
        let bytes = PredictorWire.encode(message)
        context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }
}
