import Boards
import FoundationEssentials
import HAL
import Logging
import SensorCore
import Synchronization

/// The sampler on the board's clock, on the caller's thread: one aggregate per send period,
/// written to the outbox (with a hub) before it is handed on; every sample goes to spike
/// detection. Aggregates and alerts carry the capture clock's stamp. Reads the twin's settings at every sample, so a change applies within one sample.
final class TelemetryFeature: ForegroundFeature {
    struct Configuration: Sendable {
        /// Stop after this many messages (nil: until stopped).
        var count: Int?
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
        let loop = TelemetryLoop(sendFrequency: twin.settings.sendFrequency, interval: board.file.sampling.interval, count: configuration.count)
        samplingSide.samplingStarted()
        defer { samplingSide.samplingStopped() }
        defer { samplerPromise.withLock { $0 = nil } }
        loop.run(board: board, logger: logger, settings: { twin.settings }, shouldStop: shouldStop, wake: wake, capture: capture,
                 between: samplingSide.betweenSamples,
                 promise: { wait in samplerPromise.withLock { $0 = ContinuousClock.now + wait } },
                 onSample: { readings, elapsed, stamp in
                     alerts.sample(readings, stamp: stamp, elapsed: elapsed, settings: twin.settings)
                 }) { message in
            let captured = (try? Date(message.timestamp, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) ?? Date()
            guard let link else {
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
}
