#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity
import Logging
import MQTT
import NIOCore

/// Drives one ``HubSession`` on its channel's event loop: feeds it decoded packets, timer ticks
/// and pushes from the hub, and performs the actions it returns (write packets, store
/// telemetry, answer twin requests from ``HubCore``, complete method calls, close). Enforces
/// the connection's ``ConnectionLimits``: the TLS-handshake deadline, reads suspended while
/// the channel is not writable, the cap on unsent output; and keeps the hub's connection count.
final class HubConnectionHandler: ChannelInboundHandler, CountedConnection {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = MQTTPacket

    let core: HubCore
    let id: UInt64
    var session: HubSession?
    var chain: [X509Certificate] = []
    var protocolVersion = ""
    var context: ChannelHandlerContext?
    var peer = "?"
    var timer: Scheduled<Void>?
    let origin = NIODeadline.now()
    var closing = false
    /// The device this connection authenticated as (kept after the session closes, for detach).
    var deviceID: String?
    var handshakeDeadline: Scheduled<Void>?
    /// Counted in the hub's connections until released (once).
    var counted = true
    var authenticated = false

    init(core: HubCore) {
        self.core = core
        id = core.nextID()
    }

    var logger: Logger { core.logger }
    var handshakeCompleted: Bool { session != nil }

    func handlerAdded(context: ChannelHandlerContext) { added(context: context, service: "LocalHub") }

    func handlerRemoved(context: ChannelHandlerContext) { removed() }

    func tick() { handle(.tick) }


    /// A device that does not read: stop reading its requests until its output drains.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenComplete { _ in }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let handshake = event as? TLSHandshakeCompleted else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        handshakeDeadline?.cancel()
        chain = handshake.peerCertificates
        protocolVersion = handshake.protocolVersion
        let session = HubSession(configuration: core.sessionConfiguration, now: now)
        self.session = session
        perform(session.start())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(.packet(unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        handle(.connectionLost)
        if let deviceID {
            core.detach(deviceID, id: id)
            if !closing { logger.info("\(deviceID) disconnected (\(peer))", metadata: ["device": "\(deviceID)"]) }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let who = deviceID ?? peer
        logger.warning("connection from \(who) closed: \(error)", metadata: ["peer": "\(peer)"])
        closing = true
        context.close(promise: nil)
    }

    func handle(_ event: HubSession.Event) {
        guard session != nil else { return }
        perform(session?.handle(event, now: now) ?? [])
    }

    /// Performs `actions` in order; answers from the core are fed back and performed in turn.
    func perform(_ actions: [HubSession.Action]) {
        guard let context else { return }
        var queue = actions
        var index = 0
        var wrote = false
        func feed(_ event: HubSession.Event) { queue += session?.handle(event, now: now) ?? [] }
        while index < queue.count {
            let action = queue[index]
            index += 1
            switch action {
            case .send(let packet):
                context.write(wrapOutboundOut(packet), promise: nil)
                wrote = true
            case let .authenticate(clientID, username):
                let decision = core.authenticate(clientID: clientID, username: username, chain: chain)
                feed(.authenticated(decision))
            case .connected(let deviceID):
                self.deviceID = deviceID
                if counted, !authenticated {
                    authenticated = true
                    core.connectionAuthenticated()
                }
                core.attach(deviceID, reference(deviceID: deviceID, context: context))
                logger.notice("\(deviceID) connected from \(peer) (\(protocolVersion))", metadata: ["device": "\(deviceID)"])
            case .storeTelemetry(let message):
                // Throttled or over the quota: not stored, not acknowledged, and the connection
                // is closed, as IoT Hub does over MQTT (the device sends it again later).
                switch core.admitTelemetry(bytes: message.payload.count + message.properties.encoded.utf8.count) {
                case .accepted:
                    core.store(message)
                case .throttled(let reason), .quotaExceeded(let reason):
                    closing = true
                    logger.warning("LocalHub closed the connection of \(deviceID ?? peer): \(reason)", metadata: ["peer": "\(peer)"])
                    if wrote { context.flush() }
                    context.close(promise: nil)
                    return
                }
            case .twinGet(let requestID):
                let answer = core.twinGet(deviceID ?? "")
                feed(.twinAnswer(requestID: requestID, status: answer.status, body: answer.body))
            case let .reportedPatch(requestID, body):
                let answer = core.patchReported(deviceID ?? "", body: body)
                feed(.reportedPatchAnswer(requestID: requestID, status: answer.status, version: answer.version))
            case let .methodResponse(requestID, status, payload):
                core.resolveMethod(requestID, from: deviceID ?? "", MethodResult(status: status, payload: payload))
            case let .methodUndeliverable(requestID, reason):
                core.resolveMethod(requestID, from: nil, .hubError(404, reason))
            case .note(let text):
                logger.notice("\(text)", metadata: ["peer": "\(peer)"])
            case .cloudToDeviceReady:
                if let deviceID { core.cloudToDeviceReady(deviceID, connection: id) }
            case .cloudToDeviceCompleted(let messageID):
                if let deviceID { core.completeCloudToDevice(deviceID, messageID: messageID) }
            case let .cloudToDeviceNotDelivered(messageID, reason):
                if let deviceID { core.cloudToDeviceNotDelivered(deviceID, messageID: messageID, reason: reason) }
            case .scheduleTick(let at):
                schedule(at: at, context: context)
            case .close(let reason):
                closing = true
                switch reason {
                case .deviceDisconnected:
                    logger.info("\(deviceID ?? peer) disconnected (\(peer))")
                case .refused(let text):
                    logger.warning("LocalHub closed the connection from \(peer): \(text)", metadata: ["peer": "\(peer)"])
                }
                if wrote { context.flush() }
                wrote = false
                context.close(promise: nil)
            }
        }
        if wrote {
            context.flush()
            capPendingOutput(context: context)
        }
    }

    /// Closes a connection whose unsent output passed the cap (its reads already stopped).
    func capPendingOutput(context: ChannelHandlerContext) {
        guard !closing, let pending = try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes),
              pending > core.limits.maximumPendingOutputBytes else { return }
        closeFromHub("\(pending) bytes are waiting to be sent (cap \(core.limits.maximumPendingOutputBytes)): the device does not read")
    }

    func reference(deviceID: String, context: ChannelHandlerContext) -> ConnectionRef {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        return ConnectionRef(id: id, peer: peer, eventLoop: eventLoop, deliver: { event in
            eventLoop.execute { bound.value.handle(event) }
        }, close: { reason in
            eventLoop.execute { bound.value.closeFromHub(reason) }
        })
    }

    func closeFromHub(_ reason: String) {
        guard let context, !closing else { return }
        closing = true
        logger.warning("LocalHub closed the connection of \(deviceID ?? peer): \(reason)")
        context.close(promise: nil)
    }
}

/// What the hub's and DPS's connection handlers share: the hub's connection count, released
/// once, and the TLS-handshake deadline (``ConnectionLimits/tlsHandshakeTimeout``).
protocol CountedConnection: AnyObject {
    var core: HubCore { get }
    var context: ChannelHandlerContext? { get set }
    var peer: String { get set }
    var origin: NIODeadline { get }
    var closing: Bool { get set }
    var counted: Bool { get set }
    var authenticated: Bool { get }
    var handshakeCompleted: Bool { get }
    var handshakeDeadline: Scheduled<Void>? { get set }
    var timer: Scheduled<Void>? { get set }
    /// The session's timer fired.
    func tick()
}

extension CountedConnection {
    /// Time since the connection was made, on the event loop's monotonic clock.
    var now: Duration { .nanoseconds(Int64(NIODeadline.now().uptimeNanoseconds - origin.uptimeNanoseconds)) }

    /// Notes the context and peer and closes the connection if TLS is not done within the deadline.
    func added(context: ChannelHandlerContext, service: String) {
        self.context = context
        peer = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timeout = core.limits.tlsHandshakeTimeout
        handshakeDeadline = context.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            let handler = bound.value
            guard !handler.handshakeCompleted, !handler.closing, let context = handler.context else { return }
            handler.closing = true
            handler.core.logger.info("\(service) closed the connection from \(handler.peer): no TLS handshake within \(timeout)",
                                     metadata: ["peer": "\(handler.peer)"])
            context.close(promise: nil)
        }
    }

    /// Replaces the session's timer: ``tick()`` at `at` (time since the connection was made).
    func schedule(at: Duration, context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: origin + .nanoseconds(at.nanoseconds)) { bound.value.tick() }
    }

    /// The handler leaves the pipeline: timers cancelled, the connection no longer counted.
    func removed() {
        timer?.cancel()
        handshakeDeadline?.cancel()
        releaseConnection()
        context = nil
    }

    /// Takes this connection out of the hub's count (once).
    func releaseConnection() {
        guard counted else { return }
        counted = false
        core.connectionClosed(authenticated: authenticated)
    }
}
