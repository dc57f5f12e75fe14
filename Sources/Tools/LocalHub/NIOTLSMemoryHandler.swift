import Identity
import NIOCore
import Transport

/// Sent up the pipeline (a user inbound event) when the TLS handshake completes, before any
/// decrypted byte: the peer's certificate chain, leaf first.
public struct TLSHandshakeCompleted: Sendable {
    public var peerCertificates: [X509Certificate]
    public var protocolVersion: String
}

/// TLS as a SwiftNIO channel handler over a ``Transport/TLSMemorySession`` (OpenSSL memory
/// BIOs): ciphertext from the socket in, plaintext up the pipeline; plaintext written by
/// the handlers above out as ciphertext. One TLS implementation serves the agent and LocalHub,
/// and no thread waits on a socket.
///
/// ## Contract
/// - A client session starts its handshake when the channel becomes active.
/// - ``TLSHandshakeCompleted`` is fired before the first plaintext read.
/// - A TLS failure is fired as an error (the ``Transport/TransportError``) after the alert is
///   flushed to the peer, then the channel closes.
/// - Closing the channel sends close_notify first.
public final class NIOTLSMemoryHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    let session: TLSMemorySession
    var announced = false

    public init(session: TLSMemorySession) {
        self.session = session
    }

    public func channelActive(context: ChannelHandlerContext) {
        do {
            try session.start()
        } catch {
            fail(context: context, error)
            return
        }
        flushCiphertext(context: context)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let plaintext: [UInt8]
        do {
            plaintext = try session.receive(Array(buffer.readableBytesView))
        } catch {
            fail(context: context, error)
            return
        }
        flushCiphertext(context: context)
        if !announced, session.isHandshakeComplete {
            announced = true
            context.fireUserInboundEventTriggered(TLSHandshakeCompleted(peerCertificates: session.peerCertificateChain,
                                                                        protocolVersion: session.protocolVersion))
        }
        if !plaintext.isEmpty {
            context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: plaintext)))
        }
        if session.peerClosed { context.close(promise: nil) }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        do {
            try session.send(Array(buffer.readableBytesView))
        } catch {
            promise?.fail(error)
            fail(context: context, error)
            return
        }
        let ciphertext = session.takeCiphertext()
        if ciphertext.isEmpty {
            promise?.succeed(())
        } else {
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: ciphertext)), promise: promise)
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all {
            session.shutdown()
            flushCiphertext(context: context)
        }
        context.close(mode: mode, promise: promise)
    }

    func flushCiphertext(context: ChannelHandlerContext) {
        let ciphertext = session.takeCiphertext()
        guard !ciphertext.isEmpty else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: ciphertext)), promise: nil)
    }

    func fail(context: ChannelHandlerContext, _ error: any Error) {
        flushCiphertext(context: context)  // the alert tells the peer why
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
