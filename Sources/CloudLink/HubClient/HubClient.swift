#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Identity
import IoTHub
import Logging
import MQTT
import Synchronization
import Transport

/// The device side of the hub link: one thread owns the TLS connection and drives the pure MQTT
/// session (CONVENTIONS.md 12: the session decides, this class performs its actions). Other
/// threads hand it telemetry with ``send(_:properties:)``; it connects, reconnects with
/// full-jitter backoff, and retransmits unacknowledged QoS 1 messages with DUP after a reconnect.
///
/// Twin, direct methods and C2D go through ``IoTHubDeviceOperations``: what the hub asks or
/// answers arrives at `onEvent` (on the connection thread; hand it off, don't block), and the
/// agent answers with ``report(_:)`` and ``respond(to:status:payload:)``.
///
/// Telemetry comes from two places: ``send(_:properties:)`` (an in-memory queue, bounded) and an
/// optional ``HubMessageSource`` such as the durable outbox, told of each PUBACK by token.
public final class HubClient: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: UInt16
        /// The name the server certificate must carry (default: `host`).
        public var expectedHostName: String?
        public var deviceID: String
        public var modelID: String?
        public var certificateFile: String
        public var keyFile: String
        /// Trust anchors for the hub (file or folder).
        public var trustAnchors: String
        public var keepAliveSeconds: UInt16 = 60
        public var inFlightWindow: Int = 20
        public var backoffBase: Duration = .milliseconds(500)
        public var backoffCap: Duration = .seconds(60)
        /// Messages held while the hub is unreachable before the oldest is dropped (and counted).
        public var maximumPending: Int = 100_000

        public init(host: String, port: UInt16 = 8883, deviceID: String, certificateFile: String, keyFile: String,
                    trustAnchors: String, modelID: String? = nil) {
            self.host = host
            self.port = port
            self.deviceID = deviceID
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.trustAnchors = trustAnchors
            self.modelID = modelID
        }
    }

    /// What the link is doing, for status and tests.
    public enum LinkState: Sendable, Equatable {
        case connecting
        case connected
        /// Waiting to reconnect; the reason is the last failure.
        case waiting(reason: String)
        case stopped
    }

    public enum TwinAvailability: Sendable, Equatable {
        case unknown
        case available
        case unavailable(reason: String)
    }

    public struct Statistics: Sendable, Equatable {
        public var enqueued = 0
        public var acknowledged = 0
        public var dropped = 0
        public var connects = 0
        public var retransmitted = 0
    }

    /// Something the agent asked the link to do; performed by the connection thread.
    enum Command: Sendable {
        case report([UInt8])
        case respond(IoTHubMethodRequest, status: Int, payload: [UInt8])
        case requestTwin
    }

    struct Shared {
        var commands: [Command] = []
        var pending: [(topic: String, payload: [UInt8])] = []
        var pendingHead = 0
        var state: LinkState = .connecting
        var twin: TwinAvailability = .unknown
        var statistics = Statistics()
        var stopRequested = false
        var lastError: String?
    }

    let settings: Settings
    let logger: Logger
    let shared = Mutex(Shared())
    let source: (any HubMessageSource)?
    let onEvent: (@Sendable (IoTHubDeviceEvent) -> Void)?

    /// - Parameters:
    ///   - source: where durable telemetry comes from (taken when the in-flight window has room).
    ///   - onEvent: twin documents, desired patches, method calls, C2D messages and reported-patch
    ///     results; called on the connection thread.
    public init(settings: Settings, logger: Logger, source: (any HubMessageSource)? = nil,
                onEvent: (@Sendable (IoTHubDeviceEvent) -> Void)? = nil) {
        self.settings = settings
        self.logger = logger
        self.source = source
        self.onEvent = onEvent
    }

    /// Queues a reported-properties patch (JSON merge patch); sent with a `$rid` when connected,
    /// again after a time-out, a 429/5xx or a reconnect, until the hub accepts it.
    public func report(_ patch: [UInt8]) {
        shared.withLock { $0.commands.append(.report(patch)) }
    }

    /// Answers a direct method (dropped if the link went down since the call: the hub has timed it out).
    public func respond(to request: IoTHubMethodRequest, status: Int, payload: [UInt8]) {
        shared.withLock { $0.commands.append(.respond(request, status: status, payload: payload)) }
    }

    /// Asks for the full twin again (it is fetched at every connect anyway).
    public func requestTwin() {
        shared.withLock { $0.commands.append(.requestTwin) }
    }

    /// Queues one telemetry message. Never blocks; when more than `maximumPending` wait, the
    /// oldest is dropped and counted.
    public func send(_ payload: [UInt8], properties: IoTHubMessageProperties) throws(IoTHubError) {
        let topic = try IoTHubTopic.telemetry(deviceID: settings.deviceID, properties: properties)
        shared.withLock { s in
            s.pending.append((topic, payload))
            s.statistics.enqueued += 1
            if s.pending.count - s.pendingHead > settings.maximumPending {
                s.pendingHead += 1
                s.statistics.dropped += 1
            }
        }
    }

    public var state: LinkState { shared.withLock { $0.state } }
    public var twin: TwinAvailability { shared.withLock { $0.twin } }
    public var statistics: Statistics { shared.withLock { $0.statistics } }
    public var lastError: String? { shared.withLock { $0.lastError } }

    /// Messages accepted by ``send(_:properties:)`` and not yet acknowledged by the hub.
    public var unacknowledged: Int {
        shared.withLock { $0.statistics.enqueued - $0.statistics.acknowledged - $0.statistics.dropped }
            + (source?.waiting ?? 0)
    }

    /// Starts the connection thread.
    public func start() {
        let failed = startThread(name: "fieldagent-hub") { [self] in
            ConnectionLoop(client: self).run()
        }
        if failed != 0 {
            let reason = "cannot start the hub link's thread (pthread_create: \(String(cString: strerror(failed)))); free some threads or memory and restart"
            logger.error("\(reason)")
            shared.withLock {
                $0.state = .stopped
                $0.lastError = reason
            }
        }
    }

    /// Waits until every queued message is acknowledged or `timeout` passes; true when all were.
    public func flush(timeout: Duration) -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if unacknowledged == 0 { return true }
            usleep(10_000)
        }
        return unacknowledged == 0
    }

    /// Disconnects cleanly and stops the thread.
    public func stop() {
        shared.withLock { $0.stopRequested = true }
        let clock = ContinuousClock()
        let end = clock.now + .seconds(5)
        while clock.now < end, state != .stopped { usleep(10_000) }
    }
}


/// One telemetry message from a ``HubMessageSource``; `token` comes back in
/// ``HubMessageSource/acknowledged(_:)`` once the hub has sent its PUBACK.
public struct HubOutgoing: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var token: UInt64

    public init(topic: String, payload: [UInt8], token: UInt64) {
        self.topic = topic
        self.payload = payload
        self.token = token
    }
}

/// Durable telemetry for the link (the outbox): the connection thread takes messages when its
/// in-flight window has room and reports each PUBACK. A message taken and not acknowledged when
/// the process dies is taken again after restart (at-least-once; the hub dedupes by `$.mid`).
public protocol HubMessageSource: AnyObject, Sendable {
    /// Up to `limit` messages not handed out before, in the order they should be sent.
    func take(limit: Int) -> [HubOutgoing]
    /// The hub acknowledged these messages.
    func acknowledged(_ tokens: [UInt64])
    /// Messages not yet acknowledged, taken or not (for ``HubClient/flush(timeout:)``).
    var waiting: Int { get }
    /// The link is (again) up: what was queued meanwhile is a backlog to drain.
    func linkUp()
}

extension HubMessageSource {
    public func linkUp() {}
}
