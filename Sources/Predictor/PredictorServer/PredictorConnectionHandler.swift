import Logging
import NIOCore
import Predictor

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
final class PredictorConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let engine: PredictorEngine
    private let logger: Logger
    private var pending: ByteBuffer?
    private var closing = false
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
        while var buffer = pending, buffer.readableBytes >= 4, !closing {
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
            let answer = engine.answer(payload: payload) { stream in
                if streams.insert(stream).inserted { engine.retain(stream) }
            }
            switch answer {
            case .modelLoaded(_, let current, let previous):
                logger.notice("model swapped", metadata: ["model": "\(current)", "previous": "\(previous)"])
            case .error(_, "model_refused", let message):
                logger.warning("model refused; the previous one keeps serving", metadata: ["reason": "\(message)", "model": "\(engine.modelID)"])
            case .error(_, let code, let message):
                logger.debug("refused a predictor request", metadata: ["code": "\(code)", "reason": "\(message)"])
            default:
                break
            }
            send(answer, context: context)
        }
        if var buffer = pending, buffer.readerIndex > 65_536 {
            buffer.discardReadBytes()
            pending = buffer
        }
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
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenComplete { _ in }
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
