#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity
import Logging
import MQTT
import NIOCore

/// Drives one ``DpsSession`` on its channel's event loop: decoded packets and timer ticks in,
/// the session's actions performed (packets written, registrations through ``DpsService``,
/// closes). The TLS-handshake deadline and the hub's connection count apply as on the hub port.
final class DpsConnectionHandler: ChannelInboundHandler, CountedConnection {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = MQTTPacket

    let service: DpsService
    var session: DpsSession?
    var chain: [X509Certificate] = []
    var context: ChannelHandlerContext?
    var peer = "?"
    var timer: Scheduled<Void>?
    var handshakeDeadline: Scheduled<Void>?
    let origin = NIODeadline.now()
    var closing = false
    var counted = true
    /// DPS connections never count as authenticated at the hub (they are short and do not attach a device).
    let authenticated = false
    var handshakeCompleted: Bool { session != nil }

    init(service: DpsService) {
        self.service = service
    }

    var core: HubCore { service.core }
    var logger: Logger { core.logger }
    func handlerAdded(context: ChannelHandlerContext) { added(context: context, service: "LocalHub DPS") }

    func handlerRemoved(context: ChannelHandlerContext) { removed() }

    func tick() { handle(.tick) }


    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let handshake = event as? TLSHandshakeCompleted else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        handshakeDeadline?.cancel()
        chain = handshake.peerCertificates
        var configuration = DpsSession.Configuration(idScope: service.configuration.idScope,
                                                     retryAfterSeconds: service.configuration.retryAfterSeconds)
        configuration.connectTimeout = core.sessionConfiguration.connectTimeout
        let session = DpsSession(configuration: configuration, leafCommonName: chain.first?.commonName, now: now)
        self.session = session
        perform(session.start())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(.packet(unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        handle(.connectionLost)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("DPS connection from \(session?.registrationID ?? peer) closed: \(error)", metadata: ["peer": "\(peer)"])
        closing = true
        context.close(promise: nil)
    }

    func handle(_ event: DpsSession.Event) {
        guard session != nil else { return }
        perform(session?.handle(event, now: now, date: core.now()) ?? [])
    }

    func perform(_ actions: [DpsSession.Action]) {
        guard let context else { return }
        var queue = actions
        var index = 0
        var wrote = false
        while index < queue.count {
            let action = queue[index]
            index += 1
            switch action {
            case .send(let packet):
                context.write(wrapOutboundOut(packet), promise: nil)
                wrote = true
            case let .register(requestID, body):
                let result = service.register(chain: chain, body: body)
                let event = DpsSession.Event.registered(requestID: requestID,
                                                        operationID: service.operationID(registrationID: body.registrationID),
                                                        result: result)
                queue += session?.handle(event, now: now, date: core.now()) ?? []
            case .note(let text):
                logger.notice("\(text)", metadata: ["peer": "\(peer)"])
            case .scheduleTick(let at):
                schedule(at: at, context: context)
            case .close(let reason):
                closing = true
                switch reason {
                case .deviceDisconnected:
                    logger.info("\(session?.registrationID ?? peer) disconnected from DPS (\(peer))")
                case .refused(let text):
                    logger.warning("LocalHub DPS closed the connection from \(peer): \(text)", metadata: ["peer": "\(peer)"])
                }
                if wrote { context.flush() }
                wrote = false
                context.close(promise: nil)
            }
        }
        if wrote { context.flush() }
    }
}
