import FoundationEssentials
import Identity
import IoTHub
import Logging
import MQTT
import Synchronization
import SystemCalls
import Transport

/// The device side of the hub link: one thread owns the connection (a ``HubByteStream``, TCP +
/// TLS unless a test gives another) and drives the pure MQTT session: the session decides, this
/// class performs its actions. Other threads hand it telemetry with ``send(_:properties:)``; it
/// connects, reconnects with full-jitter backoff, and retransmits unacknowledged QoS 1 messages
/// with DUP after a reconnect.
///
/// The thread blocks in one place, ``HubByteStream/wait(timeout:)``: until bytes arrive, a
/// wake-up (``send(_:properties:)``, ``report(_:)``, ``respond(to:status:payload:)``,
/// ``stop()``, a source with new messages) or the next deadline on the injected ``HubClock``
/// (keep-alive, request time-outs, backoff end, backlog pacing). An idle link sleeps until its
/// keep-alive.
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
        /// The IoT hub's host name, when the link goes to another host: an IoT Edge gateway
        /// (Azure's `GatewayHostName`). The MQTT user name carries it; TCP and the certificate
        /// check go to `host`. Default: `expectedHostName ?? host`.
        public var hubName: String?
        public var deviceID: String
        public var modelID: String?
        public var certificateFile: String
        public var keyFile: String
        /// Trust anchors for the hub (file or folder).
        public var trustAnchors: String
        /// An HTTP proxy to reach the hub through (`CONNECT`); nil connects directly.
        public var proxy: HTTPProxy?
        /// MQTT over WebSockets on this path (`/$iothub/websocket` for IoT Hub and DPS) inside the
        /// TLS connection; nil speaks MQTT directly over TLS.
        public var webSocketPath: String?
        public var keepAliveSeconds: UInt16 = 60
        public var inFlightWindow: Int = 20
        public var backoffBase: Duration = .milliseconds(500)
        public var backoffCap: Duration = .seconds(60)
        /// Messages held while the hub is unreachable before the oldest is dropped (and counted).
        public var maximumPending: Int = 100_000
        /// How the device certificate is renewed when something renews it on its own (DPS
        /// issuance): a nearing expiry is then logged at info with this text, not as a warning
        /// telling the operator to renew by hand. nil: the certificate is installed by hand.
        public var certificateRenewal: String?

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

        /// The host name the MQTT user name carries: the hub's, even through a gateway.
        public var userNameHost: String { hubName ?? expectedHostName ?? host }
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
        /// The source announced new messages since the link last asked.
        var sourceSignalled = false
        var pending: [(topic: String, payload: [UInt8])] = []
        var pendingHead = 0
        var state: LinkState = .connecting
        var twin: TwinAvailability = .unknown
        var statistics = Statistics()
        var stopRequested = false
        var lastError: String?
        /// By when the connection thread will be back in its loop (``loopPromise``).
        var loopPromise: ContinuousClock.Instant?
    }

    let settings: Settings
    let logger: Logger
    let shared = Mutex(Shared())
    let source: (any HubMessageSource)?
    let onEvent: (@Sendable (IoTHubDeviceEvent) -> Void)?
    let stream: any HubByteStream
    let clock: any HubClock
    let random: (any RandomNumberGenerator & Sendable)?
    /// Why the link cannot start (no descriptor for its wake-up), reported by ``start()``.
    let startFailure: String?
    /// Told of every change ``flush(timeout:)`` and ``stop()`` wait for.
    let changed = ChangeSignal()
    let changeObserver = CallbackSlot<Void>()
    let failureObserver = CallbackSlot<HubConnectFailure>()

    /// A link over TCP + TLS to `settings.host` on the system clock.
    ///
    /// - Parameters:
    ///   - source: where durable telemetry comes from (taken when the in-flight window has room).
    ///   - onEvent: twin documents, desired patches, method calls, C2D messages and reported-patch
    ///     results; called on the connection thread.
    public convenience init(settings: Settings, logger: Logger, source: (any HubMessageSource)? = nil,
                            onEvent: (@Sendable (IoTHubDeviceEvent) -> Void)? = nil) {
        do throws(TransportError) {
            let stream = TLSHubStream(settings: settings, logger: logger, signal: try WakeUpSignal())
            self.init(settings: settings, logger: logger, source: source, stream: stream, onEvent: onEvent)
        } catch {
            self.init(settings: settings, logger: logger, source: source, stream: UnusableStream(),
                      startFailure: "cannot make the hub link's wake-up descriptor (\(error)); free some descriptors and restart",
                      onEvent: onEvent)
        }
    }

    /// A link over `stream`, timed by `clock`, with reconnect jitter from `random` (default: the
    /// system's generator); what tests use to script the hub and the passing of time.
    public convenience init(settings: Settings, logger: Logger, source: (any HubMessageSource)? = nil,
                            stream: any HubByteStream, clock: any HubClock = ContinuousHubClock(),
                            random: (any RandomNumberGenerator & Sendable)? = nil,
                            onEvent: (@Sendable (IoTHubDeviceEvent) -> Void)? = nil) {
        self.init(settings: settings, logger: logger, source: source, stream: stream, clock: clock, random: random,
                  startFailure: nil, onEvent: onEvent)
    }

    private init(settings: Settings, logger: Logger, source: (any HubMessageSource)?, stream: any HubByteStream,
                 clock: any HubClock = ContinuousHubClock(), random: (any RandomNumberGenerator & Sendable)? = nil,
                 startFailure: String?, onEvent: (@Sendable (IoTHubDeviceEvent) -> Void)?) {
        self.settings = settings
        self.logger = logger
        self.source = source
        self.stream = stream
        self.clock = clock
        self.random = random
        self.startFailure = startFailure
        self.onEvent = onEvent
        source?.setWakeUp { [weak self] in self?.sourceChanged() }
    }

    /// The source has new messages (or fewer waiting): wake the link and whoever flushes.
    func sourceChanged() {
        shared.withLock { $0.sourceSignalled = true }
        stream.wakeUp()
        changed.notify()
    }

    /// Changes the shared state and tells the waiters (never call it with a lock held).
    func update(_ body: (inout Shared) -> Void) {
        shared.withLock { body(&$0) }
        notifyChanged()
    }

    /// Wakes the waiters and the change observer.
    func notifyChanged() {
        changed.notify()
        changeObserver()
    }

    /// Calls `observer` after the link's state, last error, twin availability or statistics
    /// change (on the link's thread: keep it quick), so a status view can refresh on change
    /// instead of on a timer. One observer; a later call replaces it, nil removes it.
    public func observeChanges(_ observer: (@Sendable () -> Void)?) {
        if let observer { changeObserver.set { _ in observer() } } else { changeObserver.set(nil) }
    }

    /// Calls `observer` after each failed connection attempt (not after a connection that was
    /// up and ended), on the link's thread: keep it quick. One observer; nil removes it. What the
    /// agent re-provisions on (a hub that refuses the device, or many failures in a row).
    public func observeConnectFailures(_ observer: (@Sendable (HubConnectFailure) -> Void)?) {
        failureObserver.set(observer)
    }

    /// Queues a reported-properties patch (JSON merge patch); sent with a `$rid` when connected,
    /// again after a time-out, a 429/5xx or a reconnect, until the hub accepts it.
    public func report(_ patch: [UInt8]) {
        shared.withLock { $0.commands.append(.report(patch)) }
        stream.wakeUp()
    }

    /// Answers a direct method (dropped if the link went down since the call: the hub has timed it out).
    public func respond(to request: IoTHubMethodRequest, status: Int, payload: [UInt8]) {
        shared.withLock { $0.commands.append(.respond(request, status: status, payload: payload)) }
        stream.wakeUp()
    }

    /// Asks for the full twin again (it is fetched at every connect anyway).
    public func requestTwin() {
        shared.withLock { $0.commands.append(.requestTwin) }
        stream.wakeUp()
    }

    /// Queues one telemetry message. Never blocks; when more than `maximumPending` wait, the
    /// oldest is dropped and counted.
    public func send(_ payload: [UInt8], properties: IoTHubMessageProperties) throws(IoTHubError) {
        let topic = try IoTHubTopic.telemetry(deviceID: settings.deviceID, properties: properties)
        let dropped = shared.withLock { s in
            s.pending.append((topic, payload))
            s.statistics.enqueued += 1
            guard s.pending.count - s.pendingHead > settings.maximumPending else { return false }
            s.pendingHead += 1
            s.statistics.dropped += 1
            return true
        }
        stream.wakeUp()
        if dropped { changed.notify() }
    }

    public var state: LinkState { shared.withLock { $0.state } }
    public var twin: TwinAvailability { shared.withLock { $0.twin } }
    public var statistics: Statistics { shared.withLock { $0.statistics } }
    public var lastError: String? { shared.withLock { $0.lastError } }
    /// By when the connection thread said it will be back in its loop (the end of its current
    /// wait, or now while it works); nil while it waits for work without a deadline, or has not
    /// started or has ended. A watchdog that sees it long past knows the link hung.
    public var loopPromise: ContinuousClock.Instant? { shared.withLock { $0.loopPromise } }

    /// Messages accepted by ``send(_:properties:)`` and not yet acknowledged by the hub.
    public var unacknowledged: Int {
        shared.withLock { $0.statistics.enqueued - $0.statistics.acknowledged - $0.statistics.dropped }
            + (source?.waiting ?? 0)
    }

    /// Starts the connection thread.
    public func start() {
        var failure = startFailure
        if failure == nil {
            let failed = POSIX.startThread { [self] in
                ConnectionLoop(client: self).run()
            }
            if failed != 0 {
                failure = "cannot start the hub link's thread (pthread_create: \(POSIX.describe(errno: failed))); free some threads or memory and restart"
            }
        }
        if let failure {
            logger.error("\(failure)")
            update {
                $0.state = .stopped
                $0.lastError = failure
            }
        }
    }

    /// Waits until every queued message is acknowledged or `timeout` (real time) passes; true
    /// when all were.
    public func flush(timeout: Duration) -> Bool {
        waitUntil(unacknowledgedBelow: 1, timeout: timeout)
    }

    /// Waits until fewer than `limit` messages are unacknowledged (woken by each PUBACK, not
    /// polling) or `timeout` (real time) passes; true when they are. A producer that must not
    /// run ahead of the hub waits here.
    public func waitUntil(unacknowledgedBelow limit: Int, timeout: Duration) -> Bool {
        changed.wait(timeout: timeout) { unacknowledged < limit }
    }

    /// Disconnects cleanly and stops the thread (waiting for it at most 5 s).
    public func stop() {
        shared.withLock { $0.stopRequested = true }
        stream.wakeUp()
        _ = changed.wait(timeout: .seconds(5)) { state == .stopped }
    }
}

/// Stands in for the network when the link cannot start; never used.
private final class UnusableStream: HubByteStream {
    struct Unusable: Error {}
    func connect() throws -> String { throw Unusable() }
    func write(_ bytes: [UInt8]) throws { throw Unusable() }
    var unsentByteCount: Int { 0 }
    func readAvailable() throws -> HubStreamRead { .closed }
    func close() {}
    func wait(timeout: Duration?) {}
    func wakeUp() {}
}


/// A failed connection attempt, as the link saw it.
public struct HubConnectFailure: Sendable, Equatable {
    public var reason: String
    /// Failed attempts in a row, this one included (an accepted CONNACK starts again at 0).
    public var consecutive: Int
    /// The hub's CONNACK refusal, when it refused the device (not authorized, bad user name).
    public var refusal: MQTTPacket.ConnAck.ReturnCode?

    public init(reason: String, consecutive: Int, refusal: MQTTPacket.ConnAck.ReturnCode? = nil) {
        self.reason = reason
        self.consecutive = consecutive
        self.refusal = refusal
    }

    /// The hub does not know this device (any more): provisioning again may move it.
    public var refusesDevice: Bool { refusal == .notAuthorized || refusal == .badUsernameOrPassword }
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
/// the process dies is taken again after restart (at-least-once: IoT Hub does not deduplicate; consumers dedupe on `$.mid`).
///
/// The link does not poll: after a ``take(limit:)`` that returned nothing, it asks again only
/// when the source calls the wake-up it registered with ``setWakeUp(_:)``, after
/// ``pacingDelay``, or on a new connection. A take that returned some messages is followed by
/// another while the window has room.
public protocol HubMessageSource: AnyObject, Sendable {
    /// Up to `limit` messages not handed out before, in the order they should be sent.
    func take(limit: Int) -> [HubOutgoing]
    /// The hub acknowledged these messages.
    func acknowledged(_ tokens: [UInt64])
    /// Messages not yet acknowledged, taken or not (for ``HubClient/flush(timeout:)``).
    var waiting: Int { get }
    /// The link is (again) up: what was queued meanwhile is a backlog to drain.
    func linkUp()
    /// An established connection ended (the hub closed it, a network error, a time-out); with
    /// messages in flight this is how IoT Hub throttles over MQTT.
    func linkDown()
    /// Called once by the link. Call `wakeUp` (from any thread, never with a lock held) when
    /// ``take(limit:)`` may have messages it did not have, or ``waiting`` changed other than
    /// through ``acknowledged(_:)``. A source whose messages are all there from the start needs
    /// nothing.
    func setWakeUp(_ wakeUp: @escaping @Sendable () -> Void)
    /// Read right after a ``take(limit:)`` that returned nothing: how long until more may go
    /// without a wake-up (a backlog paced by a drain rate), or nil.
    var pacingDelay: Duration? { get }
}

extension HubMessageSource {
    public func linkUp() {}
    public func linkDown() {}
    public func setWakeUp(_ wakeUp: @escaping @Sendable () -> Void) {}
    public var pacingDelay: Duration? { nil }
}
