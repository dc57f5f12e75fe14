import Boards
import FoundationEssentials
import HAL
import HALLinux
import HubClient
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Outbox
import ServiceNotify
import PredictorLink
import Synchronization

/// The composition root of `fieldagent run`: the agent's features, wired here once and run by
/// one ``FeatureRunner``.
///
/// | feature | does |
/// | --- | --- |
/// | twin | desired settings applied live, acknowledged, kept in the state directory |
/// | alerts | spike detection per sample, alerts, the alarm line |
/// | diagnostics | `runDiagnostics`: the doctor plan |
/// | status | `status.json` (runtime directory), read-only reported properties, `blinkLed`, `getHealth` |
/// | support | `getLogs` (the in-memory log ring, older lines from the journal under systemd), `getSupportBundle` (size-bounded) |
/// | methods | the table of direct methods the others contribute |
/// | service | under systemd (`Type=notify`): READY, STATUS, watchdog pings while sampler and link keep their promises |
/// | link | the hub connection and the durable outbox feeding it (with a hub) |
/// | telemetry | the sampler on the board's clock, on the caller's thread: raw messages, tumbling aggregates, heartbeats; `sendAggregates` |
///
/// One ``CaptureClock`` stamps what they send: the wall clock at capture on a real board (the
/// link waits up to `clock.sync_wait` for it to be synchronised before connecting), the board's
/// virtual time on a simulated one.
///
/// Threads: the caller's thread samples, and runs doctor runs between samples (no driver is
/// used from two threads); the link's thread delivers hub events (twin changes are applied
/// under a lock, quickly); direct methods run on their own queue; status and blink timers on
/// dispatch queues.
public final class Agent: Sendable {
    public struct Options: Sendable {
        public var agentVersion: String
        public var config: AgentConfig
        /// Stop after this many messages (nil: until ``Agent/stop()``).
        public var count: Int?
        /// What readings are stamped with. nil: the system's wall clock on a Linux board, the
        /// board's virtual time on a simulated one.
        public var wallClock: (any WallClock)?
        /// The process environment: `$RUNTIME_DIRECTORY`, and `$NOTIFY_SOCKET`/`$WATCHDOG_USEC`
        /// from a service manager.
        public var environment: [String: String]
        /// The process's recent log lines (``RingLogHandler``), for `getLogs` and the support
        /// bundle (nil: not kept).
        public var logRing: LogRing?
        /// Where `getLogs` finds lines older than the ring's (nil: the service's journal when
        /// running under systemd, ``JournalSource/detect(environment:cgroup:journaldSocket:)``).
        public var journal: JournalSource?
        /// DPS: how to provision again and the assignment the hub settings came from (nil: no DPS).
        public var provisioned: ProvisionedHub?

        public init(agentVersion: String, config: AgentConfig = AgentConfig(), count: Int? = nil, wallClock: (any WallClock)? = nil,
                    environment: [String: String] = ProcessInfo.processInfo.environment, logRing: LogRing? = nil, journal: JournalSource? = nil) {
            self.journal = journal
            self.environment = environment
            self.logRing = logRing
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
    let service: ServiceFeature?
    let observe: ObserveFeature
    let stopRequested = Mutex(false)
    /// A new DPS assignment that ended the run (the caller starts an agent on it).
    let reassignment: Later<ProvisioningRecord>
    let provisioning: ProvisioningFeature?
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
        let capture = CaptureClock(monotonic: board.clock, wall: options.wallClock ?? board.wallClock ?? (board.file.backend == .linux ? SystemWallClock() : nil),
                                   logger: logger)
        let link = hub.map { settings in
            HubLink(configuration: .init(settings: settings, outbox: config.outbox, stateDirectory: config.core.stateDirectory,
                                         flushTimeout: config.core.flushTimeout, capture: capture, syncWait: config.clock.syncWait,
                                         dailyQuota: config.link.dailyQuota),
                    logger: logger, onEvent: runner.deliver)
        }
        let wake = WakeUp()
        let reassignment = Later<ProvisioningRecord>()
        let provisioning = options.provisioned.map { provisioned in
            ProvisioningFeature(configuration: .init(provisioning: provisioned.provisioning, record: provisioned.record,
                                                     renewal: config.provisioning.issueCertificate ? config.provisioning.renewal : nil), link: link,
                                logger: logger, onReassigned: { record in
                                    reassignment.set(record)
                                    wake.raise()
                                })
        }
        let sensors = Dictionary(board.sensors.map { ($0.chip.name, $0.chip.kind.descriptor.channels) }) { first, _ in first }
        let twin = TwinFeature(configuration: .init(initial: config.initialSettings(board: board), stateDirectory: config.core.stateDirectory,
                                                    sensors: sensors),
                               link: link, logger: logger, changed: wake,
                               deliverModel: { [socket = config.alerts.effectivePredictorSocket] request in
                                   Result { () throws(PredictorLinkError) -> String in
                                       try PredictorClient(path: socket, deadline: .seconds(10)).loadModel(path: request.path, sha256: request.sha256)
                                   }.mapError { error in
                                       // A refusal's message is the predictor's reason; anything else says what failed.
                                       if case .rejected(_, let message) = error { return PredictorModelRequestError(reason: message) }
                                       return PredictorModelRequestError(reason: "\(error)")
                                   }
                               })
        let alerts = AlertsFeature(configuration: config.alerts, board: board, link: link, logger: logger, output: alertOutput)
        let samplingSide = SamplingSide(wake: wake)
        let diagnostics = DiagnosticsFeature(plan: DoctorPlan(config: config, reads: 3, link: .live { link?.client }), board: board,
                                             samplingSide: samplingSide)
        let serviceManager = ServiceManagerEnvironment(environment: options.environment, pid: getpid())
        let notifier = serviceManager.socket.map { _ in ServiceNotifier(environment: serviceManager, logger: logger) }
        let statusDirectory = AgentStatus.directory(runtime: config.core.runtimeDirectory, state: config.core.stateDirectory,
                                                    environment: options.environment)
        var announce: (@Sendable (String) -> Void)?
        if let notifier { announce = { line in notifier.send(.status(line)) } }
        let status = StatusFeature(configuration: .init(agentVersion: options.agentVersion, directory: statusDirectory,
                                                        certificateFile: hub?.certificateFile,
                                                        heartbeatInterval: config.telemetry.heartbeatInterval,
                                                        provisioning: provisioning.map { $0.statusLine }),
                                   board: board, twin: twin, alerts: alerts, link: link, capture: capture, logger: logger,
                                   announce: announce)
        var settings: [String: String] = [:]
        for (path, text) in config.redactedValues { settings[path] = text }
        let journal = options.journal.map { .success($0) } ?? JournalSource.detect(environment: options.environment)
        let support = SupportFeature(configuration: .init(agentVersion: options.agentVersion, ring: options.logRing, journal: journal, settings: settings),
                                     board: board, status: status, diagnostics: diagnostics)
        // The page records what telemetry sends, and reaches telemetry's methods: set once made.
        let recorder = Later<ObserveFeature>()
        let telemetry = TelemetryFeature(configuration: .init(count: options.count, heartbeatInterval: config.telemetry.heartbeatInterval), board: board, twin: twin, alerts: alerts,
                                         status: status, link: link, logger: logger, output: { recorder.value?.record($0); output($0) }, wake: wake,
                                         capture: capture, samplingSide: samplingSide)
        let methods = MethodsFeature(features: [diagnostics, status, support, telemetry] + (provisioning.map { [$0] } ?? []),
                                     link: link, logger: logger)
        let observeFeature = ObserveFeature(configuration: config.observe, parts: .init(
            agentVersion: options.agentVersion, board: board, link: link, alerts: alerts, capture: capture, certificateFile: hub?.certificateFile,
            doctor: diagnostics.configuration, samplingSide: samplingSide, invoke: methods.invoke, methodNames: { methods.names },
            calibrate: twin.calibrateFromPage, calibrations: { twin.settings.calibrations }), logger: logger)
        recorder.set(observeFeature)
        // READY once the rest has started; the watchdog pings on through the link's flush.
        let readyStatus = "sampling \(board.file.name)" + (hub.map { ", connecting to \($0.host)" } ?? "")
        let service = notifier.map { ServiceFeature(notifier: $0, telemetry: telemetry, link: link, readyStatus: { readyStatus }) }
        // Start order; they stop in reverse, so the link flushes as soon as sampling ends.
        var features: [any Feature] = [twin, alerts, diagnostics, status, support, methods, observeFeature]
        if let service { features.append(service) }
        if let link { features.append(link) }
        // After the link: it watches the link's client for refused connects.
        if let provisioning { features.append(provisioning) }
        features.append(telemetry)
        runner.register(features)
        (self.runner, self.link, self.twin, self.alerts, self.statusFeature, self.methods, self.telemetry, self.wake) =
            (runner, link, twin, alerts, status, methods, telemetry, wake)
        self.service = service
        self.observe = observeFeature
        self.reassignment = reassignment
        self.provisioning = provisioning
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
        defer { service?.finish() }
        try runner.run(telemetry, shouldStop: { stopRequested.withLock { $0 } || reassignment.value != nil })
        return link?.flushed ?? true
    }

    /// The new DPS assignment that ended ``run()`` (nil: it ended for another reason); start an
    /// agent with ``AgentProvisioning/settings(for:)`` of it.
    public var reassigned: ProvisioningRecord? { reassignment.value }

    /// Messages the hub had not acknowledged when ``run()`` returned (kept in the outbox).
    public var leftUnacknowledged: Int { link?.leftUnacknowledged ?? 0 }

    /// Spike alerts raised since start.
    public var alertCount: Int { alerts.count }

    /// What `fieldagent status` reads (status.json: written on change, at most once a second, and at stop).
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

/// A value made after the closures that use it (a cycle between features broken once).
final class Later<Value: Sendable>: Sendable {
    private let slot = Mutex<Value?>(nil)
    func set(_ value: Value) { slot.withLock { $0 = value } }
    var value: Value? { slot.withLock { $0 } }
}
