import Boards
import FoundationEssentials
import HAL
import Logging
import IoTHub
import JSON
import SensorCore
import Synchronization

/// The sampler on the board's clock, on the caller's thread: one raw message per send period,
/// written to the outbox (with a hub) before it is handed on; every sample goes to spike
/// detection and to the tumbling window (``TumblingWindow``), whose aggregates go to the hub
/// beside the raw messages, as do heartbeats every ``Configuration/heartbeatInterval``. Aggregates and alerts carry the capture clock's stamp. Reads the twin's settings at every sample, so a change applies within one sample.
final class TelemetryFeature: ForegroundFeature {
    struct Configuration: Sendable {
        /// Stop after this many messages (nil: until stopped).
        var count: Int?
        var heartbeatInterval: Duration = TelemetryConfig().heartbeatInterval
    }

    let name = "telemetry"
    let configuration: Configuration
    let board: Board
    let logger: Logger
    let twin: TwinFeature
    let alerts: AlertsFeature
    let status: StatusFeature
    let link: HubLink?
    let output: @Sendable (TelemetryMessage) -> Void
    let wake: WakeUp
    let capture: CaptureClock
    /// Doctor runs, done between samples on this feature's thread.
    let samplingSide: SamplingSide
    /// By when the sampler will be back in its loop (nil: not running); the watchdog's view.
    let samplerPromise = Mutex<ContinuousClock.Instant?>(nil)
    /// Closed windows not sent (upstream alerts-only), newest last, for `sendAggregates`.
    let held = Mutex<[WindowAggregate]>([])
    /// An hour of 5-minute windows.
    static let maximumHeld = 12
    /// A `sendNow` cloud-to-device command arrived: the loop sends the period in progress.
    let sendNowRequested = Mutex(false)

    func consumeSendNow() -> Bool {
        sendNowRequested.withLock { requested in
            defer { requested = false }
            return requested
        }
    }

    func receive(_ event: IoTHubDeviceEvent) {
        guard case .cloudToDevice(_, let payload) = event, CloudCommand(payload: payload) == .sendNow else { return }
        sendNowRequested.withLock { $0 = true }
        wake.raise()
    }

    init(configuration: Configuration, board: Board, twin: TwinFeature, alerts: AlertsFeature, status: StatusFeature,
         link: HubLink?, logger: Logger, output: @escaping @Sendable (TelemetryMessage) -> Void, wake: WakeUp, capture: CaptureClock,
         samplingSide: SamplingSide) {
        self.wake = wake
        self.samplingSide = samplingSide
        self.capture = capture
        self.configuration = configuration
        self.board = board
        self.twin = twin
        self.alerts = alerts
        self.status = status
        self.link = link
        self.logger = logger
        self.output = output
    }

    func run(shouldStop: () -> Bool) {
        var nextHeartbeat = configuration.heartbeatInterval
        var window = TumblingWindow(width: twin.settings.aggregateWindow ?? .seconds(300))
        let loop = TelemetryLoop(sendFrequency: twin.settings.sendFrequency, interval: board.file.sampling.interval, count: configuration.count)
        samplingSide.samplingStarted()
        defer { samplingSide.samplingStopped() }
        defer { samplerPromise.withLock { $0 = nil } }
        loop.run(board: board, logger: logger, settings: { twin.settings }, shouldStop: shouldStop, wake: wake, capture: capture,
                 between: samplingSide.betweenSamples,
                 promise: { wait in samplerPromise.withLock { $0 = ContinuousClock.now + wait } },
                 sendNow: { self.consumeSendNow() },
                 onSample: { readings, elapsed, stamp in
                     let settings = twin.settings
                     alerts.sample(readings, stamp: stamp, elapsed: elapsed, settings: settings)
                     if let width = settings.aggregateWindow {
                         if var closed = window.add(readings, at: stamp.date, width: width, deviceID: board.file.deviceID) {
                             closed.clockSynchronised = stamp.synchronised ? nil : false
                             send(closed, stamp)
                         }
                     } else {
                         window = TumblingWindow(width: window.width)
                     }
                     if elapsed >= nextHeartbeat {
                         nextHeartbeat = elapsed + configuration.heartbeatInterval
                         sendHeartbeat(stamp)
                     }
                 }) { message in
            alerts.observeOutbox()
            let captured = (try? Date(message.timestamp, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? Date()
            // Alerts-only: the raw message stays on the device (status, the local sink).
            guard let link, twin.settings.upstream == .all else {
                output(message)
                status.observe(message)
                return
            }
            // The loop samples on while the outbox commits: the message is handed on once it
            // is durable (group commit), numbered by the outbox.
            link.submit(message, kind: .aggregate, capturedAt: captured, seq: \.seq,
                        properties: ["$.ct": "application/json", "$.ce": "utf-8"]) { [output, status] numbered in
                let accepted = numbered ?? message
                output(accepted)
                status.observe(accepted)
            }
        }
        // Everything sampled is durable and handed on before the feature reports it is done.
        link?.waitForSubmitted()
    }

    /// Queues a closed tumbling window's aggregates (with a hub); alerts-only holds it for
    /// `sendAggregates` instead (the newest ``maximumHeld``).
    func send(_ aggregate: WindowAggregate, _ stamp: CaptureClock.Stamp) {
        guard link != nil else { return }
        guard twin.settings.upstream == .all else {
            held.withLock { held in
                held.append(aggregate)
                if held.count > Self.maximumHeld { held.removeFirst(held.count - Self.maximumHeld) }
            }
            return
        }
        enqueue(aggregate, capturedAt: stamp.date)
    }

    @discardableResult
    func enqueue(_ aggregate: WindowAggregate, capturedAt: Date) -> UInt64? {
        link?.enqueue(aggregate, kind: .aggregate, capturedAt: capturedAt, seq: \.seq,
                      properties: ["$.ct": "application/json", "$.ce": "utf-8", "messageType": "aggregate"])
    }

    var methods: [DirectMethod] {
        [DirectMethod(name: "sendAggregates") { [self] _ in sendAggregates() }]
    }

    /// `sendAggregates`: queues the closed windows held back in alerts-only mode (the last hour's).
    func sendAggregates() -> MethodResult {
        guard link != nil else { return .error(409, "no hub configured: aggregates are not kept") }
        let windows = held.withLock { held in
            defer { held = [] }
            return held
        }
        var sent = 0
        for window in windows {
            let captured = (try? Date(window.windowEnd, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? Date()
            if enqueue(window, capturedAt: captured) != nil { sent += 1 }
        }
        return .ok(.object(["sent": .integer(Int64(sent)), "upstream": .string(twin.settings.upstream.rawValue),
                            "windows": .array(windows.map { .string($0.windowStart) })]))
    }

    /// Queues a heartbeat with a summary of the agent's health (with a hub; it is for the hub's
    /// liveness checks).
    func sendHeartbeat(_ stamp: CaptureClock.Stamp) {
        guard let link else { return }
        let failed = status.sensorStatuses.withLock { $0 }.filter { $0.value == "failed" }.keys.sorted()
        let heartbeat = HeartbeatMessage(deviceId: board.file.deviceID, seq: 0, timestamp: TelemetryLoop.iso8601(stamp.date),
                                         uptimeSeconds: (ContinuousClock.now - status.started).seconds.rounded(),
                                         alarm: alerts.alarmRaised, alarmReasons: alerts.alarmReasons, alertCount: alerts.count,
                                         failedSensors: failed,
                                         clockSynchronised: stamp.synchronised ? nil : false)
        _ = link.enqueue(heartbeat, kind: .aggregate, capturedAt: stamp.date, seq: \.seq,
                         properties: ["$.ct": "application/json", "$.ce": "utf-8", "messageType": "heartbeat"])
    }
}
