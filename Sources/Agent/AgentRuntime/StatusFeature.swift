import Boards
import Configuration
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HAL
import HubClient
import Identity
import IoTHub
import JSON
import Logging
import Synchronization
import SystemCalls

/// What the agent says about itself: `status.json` in the runtime directory for `fieldagent
/// status` (on change, see ``StatusWritePolicy``; a STATUS line to the service manager with it), the
/// read-only reported properties (at every twin GET, and sensor health when it changes), and the
/// direct methods `blinkLed` (the status LED) and `getHealth`.
final class StatusFeature: Feature {
    struct Configuration: Sendable {
        var agentVersion: String
        /// Where `status.json` goes (nil: not written): ``AgentStatus/directory(runtime:state:environment:)``.
        var directory: String?
        var certificateFile: String?
        /// Reported, so a hub's liveness check knows how often an alerts-only device speaks.
        var heartbeatInterval: Duration = TelemetryConfig().heartbeatInterval
        /// The provisioning line (nil: no DPS).
        var provisioning: (@Sendable () -> String?)? = nil
    }

    let name = "status"
    let configuration: Configuration
    let board: Board
    let logger: Logger
    let twin: TwinFeature
    let alerts: AlertsFeature
    let link: HubLink?
    let capture: CaptureClock
    let started = ContinuousClock.now
    let sensorStatuses = Mutex<[String: String]>([:])
    /// The sensors as the last message saw them (`status.json`).
    let sensorsSeen = Mutex<[String: SensorHealth]>([:])
    let latestReadings = Mutex<[String: [String: ChannelAggregate]]>([:])
    /// Told the status's one-line summary after each write (the service manager's STATUS).
    let announce: (@Sendable (String) -> Void)?
    /// Monotonic time for the write policy (injected by tests).
    let now: @Sendable () -> Duration
    struct Writes {
        var policy: StatusWritePolicy
        /// When the writer thread looks next (nil: when something changes).
        var due: Duration?
        var writerStarted = false
        var stopped = false
        var warned = false
    }
    let writes: Mutex<Writes>
    /// Ends the writer thread's wait: an earlier look was armed, or the feature stops. The thread
    /// waits on it with a timeout (not a Dispatch timer: libdispatch's timer heap woke its
    /// manager thread every second while a look was armed seconds ahead).
    let writerWake = WakeUp()
    let blinker: Blinker?

    init(configuration: Configuration, board: Board, twin: TwinFeature, alerts: AlertsFeature, link: HubLink?, capture: CaptureClock,
         logger: Logger, policy: StatusWritePolicy = StatusWritePolicy(),
         now: @escaping @Sendable () -> Duration = StatusWritePolicy.monotonicNow,
         announce: (@Sendable (String) -> Void)? = nil) {
        self.announce = announce
        self.capture = capture
        self.configuration = configuration
        self.now = now
        self.writes = Mutex(Writes(policy: policy))
        self.board = board
        self.twin = twin
        self.alerts = alerts
        self.link = link
        self.logger = logger
        blinker = board.lines.statusLED.map { Blinker(line: $0, logger: logger) }
    }

    // MARK: Lifecycle

    func start() {
        guard let directory = configuration.directory else { return }
        try? POSIX.makeDirectories(directory, mode: 0o755)
        link?.client?.observeChanges { [weak self] in self?.changed() }
        changed()
    }

    /// Something `status.json` shows may have changed: arms the writer's timer for the earliest
    /// time the policy lets it write (at once, or a second after the last write).
    func changed() {
        guard configuration.directory != nil else { return }
        let now = self.now()
        writes.withLock { w in
            guard !w.stopped else { return }
            arm(&w, at: w.policy.changed(at: now), now: now)
        }
    }

    /// Keeps one look armed: an earlier one replaces a later one. The writer thread starts with
    /// the first look.
    private func arm(_ w: inout Writes, at time: Duration, now: Duration) {
        if let due = w.due, due <= time { return }
        w.due = time
        if !w.writerStarted {
            w.writerStarted = true
            let wake = writerWake
            _ = POSIX.startThread { [weak self] in
                while let wait = self?.writerStep() { _ = wake.wait(timeout: wait) }
            }
        } else {
            writerWake.raise()
        }
    }

    /// One turn of the writer thread: fires when the armed look is due; returns how long to wait
    /// for the next (an hour when nothing is armed), nil once stopped.
    private func writerStep() -> Duration? {
        let (stopped, due) = writes.withLock { ($0.stopped, $0.due) }
        if stopped { return nil }
        guard let due else { return .seconds(3600) }
        let now = self.now()
        if due > now { return due - now }
        fire()
        return .zero
    }

    /// The armed look is due (on the writer thread): writes when the policy says so, and arms
    /// the next look.
    func fire() {
        guard let directory = configuration.directory else { return }
        let now = self.now()
        var written: AgentStatus?
        let proceed = writes.withLock { w -> Bool in
            w.due = nil
            return !w.stopped
        }
        guard proceed else { return }
        // Built outside the lock: the status reads the outbox and the link.
        var policy = writes.withLock { $0.policy }
        let decision = policy.fire(at: now) {
            let status = self.status()
            written = status
            return status.content
        }
        var ok = true
        if decision.write, let written {
            ok = written.write(to: directory)
            announce?(written.summary)
        }
        writes.withLock { w in
            w.policy = policy
            guard !w.stopped else { return }
            if !ok, !w.warned {
                w.warned = true
                logger.warning("cannot write \(AgentStatus.path(in: directory)); fieldagent status will not see this agent", metadata: ["feature": "status"])
            }
            arm(&w, at: decision.next, now: now)
        }
    }

    func stop() {
        writes.withLock { w in
            w.stopped = true
            w.due = nil
        }
        writerWake.raise()
        link?.client?.observeChanges(nil)
        blinker?.stop()
        // The last word: what the agent saw when it stopped (fieldagent status shows it as not running).
        if let directory = configuration.directory {
            let final = status()
            if final.write(to: directory) { announce?(final.summary) }
        }
    }

    // MARK: Direct methods

    var methods: [DirectMethod] {
        [DirectMethod(name: "blinkLed", handle: blinkLed), DirectMethod(name: "getHealth") { [self] _ in .ok(health()) }]
    }

    /// `{"seconds": N}` or a bare N, 1…300 (default 5).
    func blinkLed(_ payload: [UInt8]) -> MethodResult {
        let request = payload.isEmpty ? JSONValue.object([:]) : (try? JSONValue.parse(payload))
        var seconds = 5.0
        switch request {
        case .object(let fields)?:
            if let value = fields["seconds"] {
                guard let n = value.doubleValue, n >= 1, n <= 300 else {
                    return .error(400, "seconds must be a number from 1 to 300, got \(value.description.prefix(40))")
                }
                seconds = n
            }
        default:
            guard let n = request?.doubleValue, n >= 1, n <= 300 else {
                return .error(400, "the payload must be {\"seconds\": 1…300}, got \(String(decoding: payload.prefix(40), as: UTF8.self))")
            }
            seconds = n
        }
        guard let blinker else {
            return .error(409, "this board has no status_led line (board file \(board.file.path)); add gpio.status_led to blink it")
        }
        blinker.blink(for: .milliseconds(Int64(seconds * 1000)))
        return .ok(.object(["blinking": .bool(true), "seconds": .number(seconds)]))
    }

    func health() -> JSONValue {
        let settings = twin.settings
        var fields: [String: JSONValue] = [
            "agentVersion": .string(configuration.agentVersion),
            "board": .string(board.file.name),
            "uptimeSeconds": .number((ContinuousClock.now - started).seconds.rounded()),
            "sensors": sensorsProperty(sensorStatuses.withLock { $0 }),
            "settings": .object(Dictionary(uniqueKeysWithValues: WritableProperty.allCases.map { ($0.rawValue, settings.twinValue($0)) })),
            "desiredVersion": .integer(Int64(twin.desiredVersion)),
            "alerts": .integer(Int64(alerts.count)),
            "alarm": .bool(alerts.alarmRaised),
            "alarmReasons": .array(alerts.alarmReasons.map(JSONValue.string)),
            "spikeDetection": .string(alerts.detector.rawValue),
        ]
        if let client = link?.client {
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

    // MARK: Reported properties

    func receive(_ event: IoTHubDeviceEvent) {
        if case .cloudToDevice(_, let payload) = event, case .identify(let seconds) = CloudCommand(payload: payload) {
            blinker?.blink(for: .milliseconds(Int64(seconds * 1000)))
        }
        if case .twin = event { link?.report(readOnlyProperties()) }
        changed()
    }

    /// What this agent is, its sensors and their health, its outbox, and how long its certificate has left.
    func readOnlyProperties() -> [UInt8] {
        var fields: [String: JSONValue] = [
            "agentVersion": .string(configuration.agentVersion),
            "board": .string(board.file.name),
            "sensors": sensorsProperty(sensorStatuses.withLock { $0 }),
            "heartbeatInterval": .string(DurationText.format(configuration.heartbeatInterval)),
        ]
        if let stats = link?.outbox?.statistics {
            fields["outbox"] = .object([
                "depth": .integer(Int64(stats.depth)),
                "oldestAgeSeconds": stats.oldestAge.map { .integer(Int64($0.components.seconds)) } ?? .null,
                "droppedAggregates": .integer(Int64(stats.drops.aggregates)),
                "droppedAlerts": .integer(Int64(stats.drops.alerts)),
            ])
        }
        if let file = configuration.certificateFile, let chain = try? X509Certificate.load(chainFile: file), let leaf = chain.first,
           let validity = try? CertificateValidity.evaluate(leaf, now: Date()) {
            fields["certificateDaysLeft"] = .integer(Int64(validity.daysLeft))
        }
        return JSONValue.object(fields).encoded()
    }

    /// Each telemetry message carries the sensors' health; a change is reported on the twin.
    func observe(_ message: TelemetryMessage) {
        let statuses = message.sensorHealth.mapValues(\.status)
        sensorsSeen.withLock { $0 = message.sensorHealth }
        latestReadings.withLock { $0 = message.readings }
        let changed = sensorStatuses.withLock { s in
            defer { s = statuses }
            return s != statuses
        }
        if changed, let client = link?.client, client.state == .connected {
            client.report(JSONValue.object(["sensors": sensorsProperty(statuses)]).encoded())
        }
        self.changed()
    }

    func sensorsProperty(_ statuses: [String: String]) -> JSONValue {
        .object(Dictionary(uniqueKeysWithValues: board.sensors.map { sensor in
            (sensor.chip.name, JSONValue.object(["chip": .string(sensor.chip.kind.name),
                                                 "status": .string(statuses[sensor.chip.name] ?? "unknown")]))
        }))
    }

    // MARK: status.json

    /// What `fieldagent status` reads.
    func status() -> AgentStatus {
        let settings = twin.settings
        let client = link?.client
        let twinText: String
        switch client?.twin {
        case .available?: twinText = "in sync (desired $version \(twin.desiredVersion))"
        case .unavailable(let reason)?: twinText = "unavailable: \(reason)"
        case .unknown?: twinText = "not fetched yet"
        case nil: twinText = "no hub configured"
        }
        return AgentStatus(pid: getpid(), deviceID: board.file.deviceID, board: board.file.name, updated: Date(),
                           link: client.map { "\($0.state)" } ?? "no hub configured", lastError: client?.lastError, twin: twinText,
                           settings: Dictionary(uniqueKeysWithValues: WritableProperty.allCases.map { ($0.rawValue, settings.twinValue($0)) }),
                           sent: link?.acknowledged ?? 0, outbox: link?.outbox.map { AgentStatus.Outbox($0.statistics) },
                           route: settings.route.rawValue, detector: alerts.detector.rawValue, clock: capture.statusText,
                           sensors: sensorsStatus(), detectorModel: alerts.detectorModel, quota: link?.quota)
            .with(provisioning: configuration.provisioning?())
    }

    /// Every sensor of the board, in board order: its health in the last message and its
    /// channels' averages over that message's period.
    func sensorsStatus() -> [AgentStatus.Sensor] {
        let seen = sensorsSeen.withLock { $0 }
        let readings = latestReadings.withLock { $0 }
        return board.sensors.map { sensor in
            let name = sensor.chip.name
            let health = seen[name]
            return AgentStatus.Sensor(name: name, chip: sensor.chip.kind.name, status: health?.status ?? "unknown", error: health?.error,
                                      readings: (readings[name] ?? [:]).mapValues { AgentStatus.Reading(value: $0.avg, unit: $0.unit) })
        }
    }
}

/// When `status.json` is written: soon after something it shows changed, at most once per
/// ``minimumInterval``, and at least every ``heartbeat`` even when nothing changed (its time stamp
/// is how `fieldagent status` tells a running agent from a stopped one). Nothing is written, and
/// nothing wakes, while nothing changes between heartbeats. Pure: times come from the caller.
struct StatusWritePolicy: Sendable {
    var minimumInterval: Duration = .seconds(1)
    var heartbeat: Duration = .seconds(10)
    /// When the file was last written, and what it said (without its time stamp).
    private(set) var lastWrite: Duration?
    private(set) var lastContent: [UInt8]?
    private(set) var dirty = true

    /// Something changed at `now`: when to look next.
    mutating func changed(at now: Duration) -> Duration {
        dirty = true
        guard let lastWrite else { return now }
        return max(now, lastWrite + minimumInterval)
    }

    /// The timer fired at `now`: whether to write (`content` is built only when the interval
    /// allows a write), and when to look next.
    mutating func fire(at now: Duration, content: () -> [UInt8]) -> (write: Bool, next: Duration) {
        if let lastWrite, now < lastWrite + minimumInterval { return (false, lastWrite + minimumInterval) }
        let heartbeatDue = lastWrite.map { now >= $0 + heartbeat } ?? true
        if let lastWrite, !dirty, !heartbeatDue { return (false, lastWrite + heartbeat) }
        dirty = false
        let current = content()
        if let lastWrite, current == lastContent, !heartbeatDue { return (false, lastWrite + heartbeat) }
        lastWrite = now
        lastContent = current
        return (true, now + heartbeat)
    }

    /// The continuous clock as a duration since an arbitrary start (the default time source).
    static let monotonicNow: @Sendable () -> Duration = {
        let start = ContinuousClock.now
        return { start.duration(to: .now) }
    }()
}

/// Blinks an output line at 2 Hz until a deadline or ``stop()``; a new request while blinking
/// moves the deadline. A blink is a thread of its own that waits 250 ms between toggles on a
/// wake-up, so stop takes effect at once (the line is left off) and nothing runs between blinks.
final class Blinker: Sendable {
    let line: any GPIOOutputLine
    let logger: Logger
    /// Ends the wait between two toggles (a stop, or the deadline moved).
    let wake = WakeUp()

    struct State {
        var until = ContinuousClock.now
        /// The blink in progress (its thread carries the number; a stale one ends itself).
        var running: Int?
        var next = 0
    }
    let state = Mutex(State())

    init(line: any GPIOOutputLine, logger: Logger) {
        self.line = line
        self.logger = logger
    }

    func blink(for duration: Duration) {
        let until = ContinuousClock.now + duration
        let begin = state.withLock { s -> Int? in
            s.until = until
            guard s.running == nil else { return nil }
            s.next += 1
            s.running = s.next
            return s.next
        }
        guard let begin else { return }
        let started = POSIX.startThread { [self] in run(begin) }
        if started != 0 {
            logger.warning("blinkLed: cannot start the blink thread: \(POSIX.describe(errno: started))", metadata: ["feature": "status"])
            state.withLock { if $0.running == begin { $0.running = nil } }
        }
    }

    private func run(_ blink: Int) {
        _ = wake.consume()  // a stop's raise meant for an earlier blink
        var on = true
        // Each toggle under the lock, after checking this blink still runs: once stop() has left
        // the line off, no toggle of this thread comes after it.
        while true {
            let toggled = state.withLock { s -> Result<Bool, any Error> in
                guard s.running == blink else { return .success(false) }
                guard ContinuousClock.now < s.until else {
                    s.running = nil
                    try? line.set(false)
                    return .success(false)
                }
                return Result { try line.set(on) }.map { true }
            }
            switch toggled {
            case .success(true):
                on.toggle()
                _ = wake.wait(timeout: .milliseconds(250))
            case .success(false):
                return
            case .failure(let error):
                logger.warning("blinkLed: \(error)", metadata: ["feature": "status"])
                state.withLock { s in
                    guard s.running == blink else { return }
                    s.running = nil
                    try? line.set(false)
                }
                return
            }
        }
    }

    /// Ends a blink in progress and leaves the line off.
    func stop() {
        let wasRunning = state.withLock { s -> Bool in
            defer { s.running = nil }
            return s.running != nil
        }
        guard wasRunning else { return }
        state.withLock { _ in try? line.set(false) }
        wake.raise()
    }
}

extension AgentStatus {
    func with(provisioning: String?) -> AgentStatus {
        var status = self
        status.provisioning = provisioning
        return status
    }
}
