import Boards
import FoundationEssentials
import HAL
import HALLinux
import HubClient
import Logging
import Outbox
import Synchronization

/// The composition root of `fieldagent run`: the agent's features, wired here once and run by
/// one ``FeatureRunner``.
///
/// | feature | does |
/// | --- | --- |
/// | twin | desired settings applied live, acknowledged, kept in the state directory |
/// | alerts | spike detection per sample, alerts, the alarm line |
/// | diagnostics | `runDiagnostics`: the doctor plan |
/// | status | `status.json`, read-only reported properties, `blinkLed`, `getHealth` |
/// | methods | the table of direct methods the others contribute |
/// | link | the hub connection and the durable outbox feeding it (with a hub) |
/// | telemetry | the sampler on the board's clock, on the caller's thread: raw messages, tumbling aggregates, heartbeats; `sendAggregates` |
///
/// One ``CaptureClock`` stamps what they send: the wall clock at capture on a real board (the
/// link waits up to `clock.sync_wait` for it to be synchronised before connecting), the board's
/// virtual time on a simulated one.
///
/// Threads: the caller's thread samples; the link's thread delivers hub events (twin changes
/// are applied under a lock, quickly); direct methods run on their own queue; status and blink
/// timers on dispatch queues.
public final class Agent: Sendable {
    public struct Options: Sendable {
        public var agentVersion: String
        public var config: AgentConfig
        /// Stop after this many messages (nil: until ``Agent/stop()``).
        public var count: Int?
        /// What readings are stamped with. nil: the system's wall clock on a Linux board, the
        /// board's virtual time on a simulated one.
        public var wallClock: (any WallClock)?

        public init(agentVersion: String, config: AgentConfig = AgentConfig(), count: Int? = nil, wallClock: (any WallClock)? = nil) {
            self.agentVersion = agentVersion
            self.config = config
            self.count = count
            self.wallClock = wallClock
        }
    }

    public let board: Board
    public let options: Options
    let runner: FeatureRunner
    let link: HubLink?
    let twin: TwinFeature
    let alerts: AlertsFeature
    let statusFeature: StatusFeature
    let methods: MethodsFeature
    let telemetry: TelemetryFeature
    let stopRequested = Mutex(false)
    /// Ends the sampler's wait at once: raised by ``stop()`` and by a changed setting.
    let wake: WakeUp

    /// - Parameters:
    ///   - hub: where to connect (nil: no hub; messages go only to `output`).
    ///   - output: every aggregate message, after it was handed to the hub link (or instead of it).
    ///   - alertOutput: every spike alert, likewise.
    public init(board: Board, options: Options, hub: HubClient.Settings?, logger: Logger,
                output: @escaping @Sendable (TelemetryMessage) -> Void = { _ in },
                alertOutput: @escaping @Sendable (SpikeAlert) -> Void = { _ in }) {
        self.board = board
        self.options = options
        let config = options.config
        let runner = FeatureRunner()
        let capture = CaptureClock(monotonic: board.clock, wall: options.wallClock ?? (board.file.backend == .linux ? SystemWallClock() : nil),
                                   logger: logger)
        let link = hub.map { settings in
            HubLink(configuration: .init(settings: settings, outbox: config.outbox, stateDirectory: config.core.stateDirectory,
                                         flushTimeout: config.core.flushTimeout, capture: capture, syncWait: config.clock.syncWait),
                    logger: logger, onEvent: runner.deliver)
        }
        let wake = WakeUp()
        let twin = TwinFeature(configuration: .init(initial: config.initialSettings(board: board), stateDirectory: config.core.stateDirectory),
                               link: link, logger: logger, changed: wake)
        let alerts = AlertsFeature(configuration: config.alerts, board: board, link: link, logger: logger, output: alertOutput)
        let diagnostics = DiagnosticsFeature(plan: DoctorPlan(config: config, reads: 3, link: .live { link?.client }), board: board)
        let status = StatusFeature(configuration: .init(agentVersion: options.agentVersion, stateDirectory: config.core.stateDirectory,
                                                        certificateFile: hub?.certificateFile,
                                                        heartbeatInterval: config.telemetry.heartbeatInterval),
                                   board: board, twin: twin, alerts: alerts, link: link, capture: capture, logger: logger)
        let telemetry = TelemetryFeature(configuration: .init(count: options.count, heartbeatInterval: config.telemetry.heartbeatInterval), board: board, twin: twin, alerts: alerts,
                                         status: status, link: link, logger: logger, output: output, wake: wake, capture: capture)
        let methods = MethodsFeature(features: [diagnostics, status, telemetry], link: link, logger: logger)
        // Start order; they stop in reverse, so the link flushes as soon as sampling ends.
        runner.register([twin, alerts, diagnostics, status, methods] + (link.map { [$0] } ?? []) + [telemetry])
        (self.runner, self.link, self.twin, self.alerts, self.statusFeature, self.methods, self.telemetry, self.wake) =
            (runner, link, twin, alerts, status, methods, telemetry, wake)
    }

    /// The settings in force now.
    public var settings: AgentSettings { twin.settings }
    public var desiredVersion: Int { twin.desiredVersion }
    public var hubClient: HubClient? { link?.client }
    /// The durable outbox feeding the hub link (nil without a hub, and after ``run(flushTimeout:)``).
    public var outbox: Outbox? { link?.outbox }

    /// Asks ``run(flushTimeout:)`` to return after the current sample.
    public func stop() {
        stopRequested.withLock { $0 = true }
        wake.raise()
    }

    /// Samples and sends until `count` messages went out or ``stop()``; then flushes the link for
    /// up to the configured flush time-out. Returns false when messages were left
    /// unacknowledged (they stay in the outbox for the next start).
    ///
    /// - Throws: ``OutboxError`` for an invalid outbox setting or state directory (nothing started).
    @discardableResult
    public func run() throws -> Bool {
        try runner.run(telemetry, shouldStop: { stopRequested.withLock { $0 } })
        return link?.flushed ?? true
    }

    /// Messages the hub had not acknowledged when ``run()`` returned (kept in the outbox).
    public var leftUnacknowledged: Int { link?.leftUnacknowledged ?? 0 }

    /// Spike alerts raised since start.
    public var alertCount: Int { alerts.count }

    /// What `fieldagent status` reads, refreshed every 2 s while the agent runs.
    public func status() -> AgentStatus { statusFeature.status() }

    /// Runs one direct method, as the hub would; returns the status and the JSON response payload.
    public func invoke(_ name: String, payload: [UInt8]) -> (Int, [UInt8]) {
        let result = methods.invoke(name, payload: payload)
        return (result.status, result.body)
    }

    /// The direct methods this agent answers, in table order.
    public var methodNames: [String] { methods.names }

    /// Applies a desired patch as if the hub had sent it (tests and the demo without a hub).
    public func applyDesiredPatchForTesting(version: Int, body: [UInt8]) {
        twin.receive(.desiredPatch(version: version, body: body))
    }

    /// The read-only reported properties as they would be sent now.
    public func readOnlyPropertiesForInterfaceCheck() -> [UInt8] { statusFeature.readOnlyProperties() }
}
