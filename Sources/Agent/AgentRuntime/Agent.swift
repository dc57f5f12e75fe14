import Boards
import Configuration
import Diagnostics
import Foundation
import HAL
import HubClient
import Identity
import IoTHub
import JSON
import Logging
import Outbox
import SensorCore
import Synchronization

/// The composition root of `fieldagent run` (DESIGN.md §3): the sampler on the board's clock,
/// the live settings the twin may change, the hub link, direct methods, and where messages go.
///
/// Threads: the caller's thread runs the telemetry loop; the hub client's thread delivers twin
/// events (applied under a lock, quick); direct methods run on a dispatch queue so a slow doctor
/// run never stalls the link.
public final class Agent: Sendable {
    public struct Options: Sendable {
        public var agentVersion: String
        /// Settings before any twin value (flags, agent.yaml, board file).
        public var initialSettings: AgentSettings
        /// Where the applied twin settings are kept across restarts (nil: not kept).
        public var stateDirectory: String?
        public var count: Int?
        /// The device certificate, for `certificateDaysLeft`.
        public var certificateFile: String?
        /// The durable outbox in the state directory (with a hub).
        public var outbox = OutboxConfiguration()
        /// Backlog messages per second after a reconnect (live messages are not paced).
        public var drainRate: Double = 50
        /// The co-located spike predictor's socket (route `predictor`); nil: the fallback detector only.
        public var predictorSocket: String?
        /// How long a sample may wait for the predictor before the fallback answers instead.
        public var predictorDeadline: Duration = .milliseconds(50)
        /// How long the alarm line stays high after a spike alert (board time).
        public var alarmHold: Duration = .seconds(30)

        public init(agentVersion: String, initialSettings: AgentSettings, stateDirectory: String? = nil,
                    count: Int? = nil, certificateFile: String? = nil) {
            self.agentVersion = agentVersion
            self.initialSettings = initialSettings
            self.stateDirectory = stateDirectory
            self.count = count
            self.certificateFile = certificateFile
        }
    }

    struct State {
        var twin: TwinProperties
        var sensorStatuses: [String: String] = [:]
        var blinkUntil: ContinuousClock.Instant?
        var stop = false
        var alarmUntil: Duration?
        var alerts = 0
        var leftUnacknowledged = 0
    }

    public let board: Board
    public let options: Options
    let logger: Logger
    let state: Mutex<State>
    let store: SettingsStore?
    let output: @Sendable (TelemetryMessage) -> Void
    let alertOutput: @Sendable (SpikeAlert) -> Void
    /// Used only by the sampling thread (inside ``run()``).
    let router: SpikeRouter
    let hubSettings: HubClient.Settings?
    let link = Mutex<HubClient?>(nil)
    let queue = Mutex<OutboxSource?>(nil)
    let methods = DispatchQueue(label: "fieldagent.methods")
    let started = ContinuousClock.now

    /// - Parameters:
    ///   - hub: where to connect (nil: no hub; messages go only to `output`).
    ///   - output: every aggregate message, after it was handed to the hub link (or instead of it).
    public init(board: Board, options: Options, hub: HubClient.Settings?, logger: Logger,
                output: @escaping @Sendable (TelemetryMessage) -> Void = { _ in },
                alertOutput: @escaping @Sendable (SpikeAlert) -> Void = { _ in }) {
        self.board = board
        self.options = options
        self.logger = logger
        self.hubSettings = hub
        self.output = output
        self.alertOutput = alertOutput
        router = SpikeRouter(deviceID: board.file.deviceID, socketPath: options.predictorSocket,
                             deadline: options.predictorDeadline, logger: logger)
        store = options.stateDirectory.map { SettingsStore(directory: $0) }
        var twin = TwinProperties(settings: options.initialSettings)
        if let store {
            switch store.load() {
            case .success(let snapshot?):
                twin = TwinProperties(snapshot: snapshot)
                logger.notice("restored twin settings (desired $version \(snapshot.desiredVersion)) from \(store.path): sendFrequency \(DurationText.format(snapshot.settings.sendFrequency)), route \(snapshot.settings.route.rawValue)",
                              metadata: ["feature": "twin"])
            case .success(nil):
                break
            case .failure(let problem):
                logger.warning("\(problem); starting from the configured settings", metadata: ["feature": "twin"])
            }
        }
        state = Mutex(State(twin: twin))
    }

    /// The settings in force now.
    public var settings: AgentSettings { state.withLock { $0.twin.settings } }
    public var desiredVersion: Int { state.withLock { $0.twin.desiredVersion } }
    public var hubClient: HubClient? { link.withLock { $0 } }
    /// The durable outbox feeding the hub link (nil without a hub).
    public var outbox: Outbox? { queue.withLock { $0?.outbox } }

    /// Asks ``run()`` to return after the current sample.
    public func stop() { state.withLock { $0.stop = true } }

    /// Samples and sends until `count` messages went out or ``stop()``; then flushes the link for
    /// up to `flushTimeout`. Returns false when messages were left unacknowledged (they stay in
    /// the outbox for the next start).
    ///
    /// - Throws: ``OutboxError`` for an invalid outbox setting or state directory (nothing started).
    @discardableResult
    public func run(flushTimeout: Duration = .seconds(30)) throws(OutboxError) -> Bool {
        var source: OutboxSource?
        if let hubSettings {
            let directory = try StateDirectory.resolve(flag: options.stateDirectory, environment: [:])
            let outbox = try Outbox(directory: directory, configuration: options.outbox, logger: logger)
            // Taken-but-not-deleted messages stay within the in-flight window, so a crash sends at
            // most one window twice.
            source = try OutboxSource(outbox: outbox, deviceID: hubSettings.deviceID, drainRate: options.drainRate,
                                      maximumUnsettled: hubSettings.inFlightWindow)
            let stats = outbox.statistics
            if stats.depth > 0 {
                logger.notice("outbox \(outbox.path): \(stats.depth) message(s) from before this start waiting for the hub; they drain at \(options.drainRate)/s once connected",
                              metadata: ["feature": "outbox"])
            }
        }
        queue.withLock { $0 = source }
        let client = hubSettings.map { settings in
            HubClient(settings: settings, logger: logger, source: source, onEvent: { [weak self] event in self?.handle(event) })
        }
        link.withLock { $0 = client }
        client?.start()
        let statusWriter = startStatusWriter()
        defer { statusWriter?.cancel() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let loop = TelemetryLoop(sendFrequency: settings.sendFrequency, interval: board.file.sampling.interval, count: options.count)
        let wallStart = Date()
        let onSample: ([Reading], Duration) -> Void = { [self] readings, elapsed in
            let current = settings
            let captured = wallStart.addingTimeInterval(elapsed.seconds)
            for var alert in router.classify(readings, capturedAt: captured, route: current.route, threshold: current.spikeThreshold) {
                raiseAlarm(at: elapsed, alert: alert)
                if let outbox = source?.outbox {
                    do {
                        // Alerts go at once (they are live) and are the last thing a full outbox drops.
                        let entry = try outbox.enqueue(kind: .alert, capturedAt: captured,
                                                       properties: ["$.ct": "application/json", "$.ce": "utf-8", "alert": "spike"]) { seq in
                            alert.seq = seq
                            return (try? encoder.encode(alert)).map(Array.init) ?? []
                        }
                        alert.seq = entry.seq
                    } catch {
                        logger.error("spike alert not queued: \(error)", metadata: ["feature": "outbox"])
                    }
                }
                alertOutput(alert)
            }
            lowerAlarmIfDue(at: elapsed)
        }
        loop.run(board: board, logger: logger, settings: { self.settings }, shouldStop: { self.state.withLock { $0.stop } },
                 onSample: onSample) { message in
            var message = message
            if let outbox = source?.outbox {
                // Written durably before it is sent; the outbox's sequence number goes in the body
                // (and, with the device id, into $.mid when it is sent).
                let captured = Self.date(message.timestamp) ?? Date()
                do {
                    let entry = try outbox.enqueue(kind: .aggregate, capturedAt: captured,
                                                   properties: ["$.ct": "application/json", "$.ce": "utf-8"]) { seq in
                        message.seq = seq
                        return (try? encoder.encode(message)).map(Array.init) ?? []
                    }
                    message.seq = entry.seq
                } catch {
                    logger.error("telemetry message not queued: \(error)", metadata: ["feature": "outbox"])
                }
            }
            output(message)
            reportHealthIfChanged(message)
        }
        guard let client else { return true }
        let flushed = client.flush(timeout: flushTimeout)
        state.withLock { $0.leftUnacknowledged = client.unacknowledged }
        client.stop()
        source?.close()
        // Let go of the database now (a restart in the same process must be able to open it).
        source?.outbox.close()
        queue.withLock { $0 = nil }
        return flushed
    }

    // MARK: Alarm

    /// Raises the board's alarm line for ``Options/alarmHold`` (board time) after a spike alert.
    func raiseAlarm(at elapsed: Duration, alert: SpikeAlert) {
        let wasRaised = state.withLock { s in
            defer {
                s.alarmUntil = elapsed + options.alarmHold
                s.alerts += 1
            }
            return s.alarmUntil != nil
        }
        let reading = Channel(rawValue: alert.channel).map { "\(Quantity(alert.value, $0.unit))" } ?? "\(alert.value) \(alert.unit)"
        logger.warning("spike on \(alert.sensor).\(alert.channel): \(reading) (probability \(String(format: "%.2f", alert.probability)), \(alert.source) \(alert.modelId))",
                       metadata: ["feature": "alerts"])
        guard !wasRaised, let alarm = board.lines.alarm else { return }
        do {
            try alarm.set(true)
            logger.notice("alarm line \(alarm.config.offset) raised for \(DurationText.format(options.alarmHold))", metadata: ["feature": "alerts"])
        } catch {
            logger.error("cannot raise the alarm line: \(error)", metadata: ["feature": "alerts"])
        }
    }

    func lowerAlarmIfDue(at elapsed: Duration) {
        let due = state.withLock { s -> Bool in
            guard let until = s.alarmUntil, elapsed >= until else { return false }
            s.alarmUntil = nil
            return true
        }
        guard due, let alarm = board.lines.alarm else { return }
        do { try alarm.set(false) } catch {
            logger.error("cannot lower the alarm line: \(error)", metadata: ["feature": "alerts"])
        }
    }

    /// Messages the hub had not acknowledged when ``run(flushTimeout:)`` returned (kept in the outbox).
    public var leftUnacknowledged: Int { state.withLock { $0.leftUnacknowledged } }

    /// Spike alerts raised since start.
    public var alertCount: Int { state.withLock { $0.alerts } }

    // MARK: Status

    /// What `fieldagent status` reads, refreshed every 2 s while the agent runs.
    public func status() -> AgentStatus {
        let current = settings
        let client = hubClient
        let twin: String
        switch client?.twin {
        case .available?: twin = "in sync (desired $version \(desiredVersion))"
        case .unavailable(let reason)?: twin = "unavailable: \(reason)"
        case .unknown?: twin = "not fetched yet"
        case nil: twin = "no hub configured"
        }
        return AgentStatus(pid: getpid(), deviceID: board.file.deviceID, board: board.file.name, updated: Date(),
                           link: client.map { "\($0.state)" } ?? "no hub configured", lastError: client?.lastError, twin: twin,
                           settings: Dictionary(uniqueKeysWithValues: WritableProperty.allCases.map { ($0.rawValue, current.twinValue($0)) }),
                           sent: (client?.statistics.acknowledged ?? 0) + (queue.withLock { $0?.acknowledgedCount } ?? 0),
                           outbox: outbox.map { Self.outboxStatus($0.statistics) }, route: current.route.rawValue,
                           detector: router.source.rawValue)
    }

    public static func outboxStatus(_ stats: OutboxStatistics) -> AgentStatus.Outbox {
        AgentStatus.Outbox(mode: "\(stats.mode)", depth: stats.depth, bytes: stats.bytes,
                           oldestAgeSeconds: stats.oldestAge.map { Double($0.components.seconds) },
                           droppedAggregates: stats.drops.aggregates, droppedAlerts: stats.drops.alerts,
                           droppedUnreadable: stats.drops.unreadable, nextSequence: stats.nextSequence)
    }

    func startStatusWriter() -> (any DispatchSourceTimer)? {
        guard let directory = options.stateDirectory else { return nil }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now(), repeating: .seconds(2))
        let logger = self.logger
        let warned = Mutex(false)
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            if !self.status().write(to: directory), !warned.withLock({ $0 }) {
                warned.withLock { $0 = true }
                logger.warning("cannot write \(AgentStatus.path(in: directory)); fieldagent status will not see this agent")
            }
        }
        timer.resume()
        return timer
    }

    // MARK: Twin

    func handle(_ event: IoTHubDeviceEvent) {
        switch event {
        case .twin(let document):
            let (update, defaults) = state.withLock { s in
                (s.twin.applyFullTwin(document), s.twin.defaultsReport(for: document))
            }
            finish(update, source: "twin GET")
            if let defaults { hubClient?.report(defaults) }
            hubClient?.report(readOnlyProperties())
        case .desiredPatch(let version, let body):
            let update = state.withLock { $0.twin.applyPatch(version: version, body: body) }
            if update.stale {
                logger.info("ignored a stale desired patch ($version \(version) ≤ \(desiredVersion))", metadata: ["feature": "twin"])
            }
            finish(update, source: "desired patch $version \(version)")
        case .methodCall(let request, let payload):
            methods.async { [self] in
                let (status, body) = invoke(request.name, payload: payload)
                hubClient?.respond(to: request, status: status, payload: body)
            }
        case .cloudToDevice(let properties, let payload):
            logger.notice("cloud-to-device message \(properties.messageID ?? "(no id)"): \(String(decoding: payload.prefix(200), as: UTF8.self))",
                          metadata: ["feature": "c2d"])
        case .reportedAccepted, .reportedRejected, .twinUnavailable:
            break  // logged by the link
        }
    }

    /// Applies a desired patch as if the hub had sent it (tests and the demo without a hub).
    public func applyDesiredPatchForTesting(version: Int, body: [UInt8]) {
        handle(.desiredPatch(version: version, body: body))
    }

    func finish(_ update: TwinProperties.Update, source: String) {
        if let unreadable = update.unreadable {
            logger.warning("\(unreadable); settings unchanged", metadata: ["feature": "twin"])
            return
        }
        let current = settings
        for property in update.changed {
            logger.notice("\(property.rawValue) is now \(current.twinValue(property)) (from the \(source))", metadata: ["feature": "twin"])
        }
        for (property, reason) in update.rejected.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            logger.warning("refused desired \(property.rawValue): \(reason); \(current.twinValue(property)) stays in force", metadata: ["feature": "twin"])
        }
        if update.reportedPatch != nil, let store {
            let snapshot = state.withLock { $0.twin.snapshot }
            if case .failure(let problem) = store.save(snapshot) {
                logger.error("\(problem); the applied settings will not survive a restart", metadata: ["feature": "twin"])
            }
        }
        if let patch = update.reportedPatch { hubClient?.report(patch) }
    }

    /// Read-only reported properties: what this agent is, its sensors and their health, and how
    /// long its certificate has left.
    func readOnlyProperties() -> [UInt8] {
        var fields: [String: JSONValue] = [
            "agentVersion": .string(options.agentVersion),
            "board": .string(board.file.name),
            "sensors": sensorsProperty(state.withLock { $0.sensorStatuses }),
        ]
        if let stats = outbox?.statistics {
            fields["outbox"] = .object([
                "depth": .integer(Int64(stats.depth)),
                "oldestAgeSeconds": stats.oldestAge.map { .integer(Int64($0.components.seconds)) } ?? .null,
                "droppedAggregates": .integer(Int64(stats.drops.aggregates)),
                "droppedAlerts": .integer(Int64(stats.drops.alerts)),
            ])
        }
        if let file = options.certificateFile, let chain = try? X509Certificate.load(chainFile: file), let leaf = chain.first,
           let validity = try? CertificateValidity.evaluate(leaf, now: Date()) {
            fields["certificateDaysLeft"] = .integer(Int64(validity.daysLeft))
        }
        return JSONValue.object(fields).encoded()
    }

    /// The read-only reported properties as they would be sent now.
    public func readOnlyPropertiesForInterfaceCheck() -> [UInt8] { readOnlyProperties() }

    func sensorsProperty(_ statuses: [String: String]) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: board.sensors.map { sensor in
            (sensor.chip.name, JSONValue.object(["chip": .string(sensor.chip.kind.name),
                                                 "status": .string(statuses[sensor.chip.name] ?? "unknown")]))
        }))
    }

    static func date(_ iso8601: String) -> Date? {
        try? Date(iso8601, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    func reportHealthIfChanged(_ message: TelemetryMessage) {
        let statuses = message.sensors.mapValues(\.status)
        let changed = state.withLock { s in
            defer { s.sensorStatuses = statuses }
            return s.sensorStatuses != statuses
        }
        if changed, let client = hubClient, client.state == .connected {
            client.report(JSONValue.object(["sensors": sensorsProperty(statuses)]).encoded())
        }
    }

    // MARK: Direct methods

    public static let methodNames = ["runDiagnostics", "blinkLed", "getHealth"]

    /// Runs one direct method; returns the status and the JSON response payload.
    public func invoke(_ name: String, payload: [UInt8]) -> (Int, [UInt8]) {
        func error(_ status: Int, _ message: String) -> (Int, [UInt8]) {
            (status, JSONValue.object(["error": .string(message)]).encoded())
        }
        switch name {
        case "runDiagnostics":
            let report = Doctor(reads: 3).run(board)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(report) else { return error(500, "the doctor report could not be encoded") }
            return (200, Array(data))
        case "blinkLed":
            let request = payload.isEmpty ? JSONValue.object([:]) : (try? JSONValue.parse(payload))
            var seconds = 5.0
            switch request {
            case .object(let fields)?:
                if let value = fields["seconds"] {
                    guard let n = value.doubleValue, n >= 1, n <= 300 else {
                        return error(400, "seconds must be a number from 1 to 300, got \(value.description.prefix(40))")
                    }
                    seconds = n
                }
            default:
                guard let n = request?.doubleValue, n >= 1, n <= 300 else {
                    return error(400, "the payload must be {\"seconds\": 1…300}, got \(String(decoding: payload.prefix(40), as: UTF8.self))")
                }
                seconds = n
            }
            guard let led = board.lines.statusLED else {
                return error(409, "this board has no status_led line (board file \(board.file.path)); add gpio.status_led to blink it")
            }
            blink(led, for: seconds)
            return (200, JSONValue.object(["blinking": .bool(true), "seconds": .number(seconds)]).encoded())
        case "getHealth":
            return (200, health().encoded())
        default:
            return error(404, "unknown method '\(name.prefix(64))'; this device offers \(Self.methodNames.joined(separator: ", "))")
        }
    }

    func blink(_ led: any GPIOOutputLine, for seconds: Double) {
        let until = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let alreadyBlinking = state.withLock { s in
            defer { s.blinkUntil = until }
            return s.blinkUntil.map { $0 > .now } ?? false
        }
        guard !alreadyBlinking else { return }
        let logger = self.logger
        Thread.detachNewThread { [self] in
            var on = false
            while let end = state.withLock({ $0.blinkUntil }), ContinuousClock.now < end {
                on.toggle()
                do { try led.set(on) } catch {
                    logger.warning("blinkLed: \(error)", metadata: ["feature": "methods"])
                    break
                }
                Thread.sleep(forTimeInterval: 0.25)
            }
            try? led.set(false)
        }
    }

    func health() -> JSONValue {
        let statuses = state.withLock { $0.sensorStatuses }
        var fields: [String: JSONValue] = [
            "agentVersion": .string(options.agentVersion),
            "board": .string(board.file.name),
            "uptimeSeconds": .number((ContinuousClock.now - started).seconds.rounded()),
            "sensors": sensorsProperty(statuses),
            "settings": .object(Dictionary(uniqueKeysWithValues: WritableProperty.allCases.map { ($0.rawValue, settings.twinValue($0)) })),
            "desiredVersion": .integer(Int64(desiredVersion)),
            "alerts": .integer(Int64(alertCount)),
            "alarm": .bool(board.lines.alarm?.value ?? false),
            "spikeDetection": .string(router.source.rawValue),
        ]
        if let client = hubClient {
            let stats = client.statistics
            fields["link"] = .object([
                "state": .string("\(client.state)"),
                "sent": .integer(Int64(stats.acknowledged)),
                "waiting": .integer(Int64(client.unacknowledged)),
                "dropped": .integer(Int64(stats.dropped)),
                "lastError": client.lastError.map(JSONValue.string) ?? .null,
            ])
        }
        return .object(fields)
    }
}
