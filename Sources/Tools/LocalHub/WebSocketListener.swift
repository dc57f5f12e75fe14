import MQTT
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// LocalHub's MQTT over WebSockets (as IoT Hub serves it on 443): TLS, then an HTTP/1.1
/// upgrade on `/$iothub/websocket` with the `mqtt` subprotocol (NIOHTTP1's upgrade handler and
/// NIOWebSocket's upgrader), then binary frames carrying the same MQTT stream as the TLS port:
/// ``MQTTFrameHandler`` and ``HubConnectionHandler`` are added once the upgrade is done.
///
/// Bounds as on the TLS port: the connection is admitted against the same caps, and TLS and
/// the upgrade together must finish within the TLS-handshake deadline.
enum WebSocketListener {
    /// IoT Hub's (and DPS's) path; a query (`?iothub-no-client-cert=true`) is allowed.
    static let path = "/$iothub/websocket"

    /// Sets up a new connection's pipeline after the TLS handler.
    /// `connection` makes the MQTT handler once the upgrade is done: the hub's, or DPS's on the
    /// DPS WebSocket port.
    static func configure(_ channel: any Channel, core: HubCore,
                          connection: @escaping @Sendable () -> any CountedConnection & ChannelHandler) throws {
        let upgradeGuard = UpgradeGuard(core: core)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: MQTTDecoder.defaultMaximumPacketSize + 8192,
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                let protocols = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { $0.lowercased() }
                guard path == Self.path, protocols.contains("mqtt") else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                return channel.eventLoop.makeSucceededFuture(HTTPHeaders([("Sec-WebSocket-Protocol", "mqtt")]))
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let handshake = upgradeGuard.handOver(channel.pipeline.syncOperations)
                    try channel.pipeline.syncOperations.addHandler(WebSocketMQTTBridge())
                    try channel.pipeline.syncOperations.addHandler(MQTTFrameHandler())
                    try channel.pipeline.syncOperations.addHandler(connection())
                    // The hub connection starts as on the TLS port, from the TLS handshake.
                    if let handshake { channel.pipeline.fireUserInboundEventTriggered(handshake) }
                }
            })
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        try channel.pipeline.syncOperations.addHandler(upgradeGuard)
    }
}

/// Until the upgrade: keeps the TLS handshake's outcome for the hub connection, answers any
/// request that is not the WebSocket upgrade with 404 and closes, closes a connection that has
/// not upgraded within the deadline, and keeps the connection counted in the hub's caps.
final class UpgradeGuard: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let core: HubCore
    var handshake: TLSHandshakeCompleted?
    var deadline: Scheduled<Void>?
    /// Counted in the hub's connections (from being added) until the hub connection handler
    /// takes over or the connection closes.
    var counted = false
    var refused = false

    init(core: HubCore) { self.core = core }

    func handlerAdded(context: ChannelHandlerContext) {
        counted = true
        let timeout = core.limits.tlsHandshakeTimeout
        let channel = context.channel
        let logger = core.logger
        deadline = context.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            logger.info("LocalHub closed the WebSocket connection from \(channel.remoteAddress.map { "\($0)" } ?? "?"): no TLS handshake and upgrade within \(timeout)")
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        release()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        guard counted else { return }
        counted = false
        core.connectionClosed(authenticated: false)
    }

    /// Leaves the pipeline; the connection's count passes to the hub connection handler.
    func handOver(_ pipeline: ChannelPipeline.SynchronousOperations) -> TLSHandshakeCompleted? {
        counted = false
        deadline?.cancel()
        pipeline.removeHandler(self, promise: nil)  // leaves at once: the default removal
        return handshake
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted {
            handshake = event
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), !refused else { return }
        refused = true
        core.logger.info("LocalHub refused an HTTP request for \(head.uri.prefix(80)) on its WebSocket port: only an upgrade of \(WebSocketListener.path) with the mqtt subprotocol is served")
        var headers = HTTPHeaders([("Content-Length", "0"), ("Connection", "close")])
        headers.add(name: "Content-Type", value: "text/plain")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .notFound, headers: headers))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// WebSocket frames ⇄ the MQTT byte stream: binary (and continuation) frames up as bytes,
/// bytes down as binary frames; pings answered, a close echoed and the channel closed. A text
/// or unmasked frame from the client closes the connection (RFC 6455 §5.1, 1002/1003).
final class WebSocketMQTTBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !closing else { return }
        guard frame.maskKey != nil else { return close(context, code: .protocolError) }
        switch frame.opcode {
        case .binary, .continuation:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            break
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            close(context, code: code)
        default:
            close(context, code: .unacceptableData)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: unwrapOutboundIn(data))), promise: promise)
    }

    /// The hub closes (an MQTT DISCONNECT, a refusal): nothing more is written, not even the
    /// echo of a close frame that arrives behind the DISCONNECT (TLS is already shut down).
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        closing = true
        context.close(mode: mode, promise: promise)
    }

    private func close(_ context: ChannelHandlerContext, code: WebSocketErrorCode) {
        closing = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
            .whenComplete { _ in channel.close(promise: nil) }
    }
}
