import Foundation
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
/// Messages waiting here are in memory; the durable outbox (issue 6) will sit in front of it.
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

    struct Shared {
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

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
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
    public var unacknowledged: Int { shared.withLock { $0.statistics.enqueued - $0.statistics.acknowledged - $0.statistics.dropped } }

    /// Starts the connection thread.
    public func start() {
        let worker = Thread { [self] in
            ConnectionLoop(client: self).run()
        }
        worker.name = "fieldagent-hub"
        worker.start()
    }

    /// Waits until every queued message is acknowledged or `timeout` passes; true when all were.
    public func flush(timeout: Duration) -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while clock.now < end {
            if unacknowledged == 0 { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return unacknowledged == 0
    }

    /// Disconnects cleanly and stops the thread.
    public func stop() {
        shared.withLock { $0.stopRequested = true }
        let clock = ContinuousClock()
        let end = clock.now + .seconds(5)
        while clock.now < end, state != .stopped { Thread.sleep(forTimeInterval: 0.01) }
    }
}

