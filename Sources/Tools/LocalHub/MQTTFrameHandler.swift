import MQTT
import NIOCore

/// Bytes ⇄ ``MQTT/MQTTPacket`` for a NIO pipeline, with the strict pure codec: plaintext from
/// the TLS handler in, whole packets up; packets written by the handler above out as bytes.
///
/// Contract: a malformed stream is fired as the ``MQTT/MQTTDecodeError`` and the channel
/// closes (there is no resynchronising a broken MQTT stream); an unencodable packet fails its
/// write promise.
public final class MQTTFrameHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = MQTTPacket
    public typealias OutboundIn = MQTTPacket
    public typealias OutboundOut = ByteBuffer

    var decoder: MQTTDecoder

    /// `maximumPacketSize`: IoT Hub's 256 KB message limit plus the topic and header.
    public init(maximumPacketSize: Int = MQTTDecoder.defaultMaximumPacketSize + 4096) {
        decoder = MQTTDecoder(maximumPacketSize: maximumPacketSize)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.append(unwrapInboundIn(data).readableBytesView)
        do {
            while let packet = try decoder.next() {
                context.fireChannelRead(wrapInboundOut(packet))
            }
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let packet = unwrapOutboundIn(data)
        do {
            let bytes = try MQTTEncoder.encode(packet)
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: promise)
        } catch {
            promise?.fail(error)
        }
    }
}
