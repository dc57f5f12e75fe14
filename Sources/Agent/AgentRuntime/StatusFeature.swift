import Boards
import Configuration
import Dispatch
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

/// What the agent says about itself: `status.json` for `fieldagent status` (every 2 s), the
/// read-only reported properties (at every twin GET, and sensor health when it changes), and the
/// direct methods `blinkLed` (the status LED) and `getHealth`.
final class StatusFeature: Feature {
    struct Configuration: Sendable {
        var agentVersion: String
        /// Where `status.json` goes (nil: not written).
        var stateDirectory: String?
        var certificateFile: String?
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
    let writer = DispatchQueue(label: "fieldagent.status")
    /// Bumped by stop, so a scheduled write that was already due does not write again.
    let generation = Mutex(0)
    let blinker: Blinker?

    init(configuration: Configuration, board: Board, twin: TwinFeature, alerts: AlertsFeature, link: HubLink?, capture: CaptureClock,
         logger: Logger) {
        self.capture = capture
        self.configuration = configuration
        self.board = board
        self.twin = twin
        self.alerts = alerts
        self.link = link
        self.logger = logger
        blinker = board.lines.statusLED.map { Blinker(line: $0, logger: logger) }
    }

    // MARK: Lifecycle

    func start() {
        guard let directory = configuration.stateDirectory else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let current = generation.withLock { $0 }
        writeStatus(to: directory, generation: current, warned: false)
    }

    /// Writes `status.json` now and again every 2 s until stop.
    func writeStatus(to directory: String, generation current: Int, warned: Bool) {
        guard generation.withLock({ $0 == current }) else { return }
        var warned = warned
        if !status().write(to: directory), !warned {
            warned = true
            logger.warning("cannot write \(AgentStatus.path(in: directory)); fieldagent status will not see this agent", metadata: ["feature": "status"])
        }
        writer.asyncAfter(deadline: .now() + .seconds(2)) { [weak self, warned] in
            self?.writeStatus(to: directory, generation: current, warned: warned)
        }
    }

    func stop() {
        generation.withLock { $0 += 1 }
        blinker?.stop()
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
        if case .twin = event { link?.report(readOnlyProperties()) }
    }

    /// What this agent is, its sensors and their health, its outbox, and how long its certificate has left.
    func readOnlyProperties() -> [UInt8] {
        var fields: [String: JSONValue] = [
            "agentVersion": .string(configuration.agentVersion),
            "board": .string(board.file.name),
            "sensors": sensorsProperty(sensorStatuses.withLock { $0 }),
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
        let statuses = message.sensors.mapValues(\.status)
        let changed = sensorStatuses.withLock { s in
            defer { s = statuses }
            return s != statuses
        }
        if changed, let client = link?.client, client.state == .connected {
            client.report(JSONValue.object(["sensors": sensorsProperty(statuses)]).encoded())
        }
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
                           route: settings.route.rawValue, detector: alerts.detector.rawValue, clock: capture.statusText)
    }
}

/// Blinks an output line at 2 Hz until a deadline or ``stop()``; a new request while blinking
/// moves the deadline. Each toggle is a timer on a dispatch queue, so nothing sleeps and stop
/// takes effect at once (the line is left off).
final class Blinker: Sendable {
    let line: any GPIOOutputLine
    let logger: Logger
    let queue = DispatchQueue(label: "fieldagent.blink")

    struct State {
        var until = ContinuousClock.now
        /// The blink in progress (its toggles carry it; a stale one ends itself).
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
        if let begin { queue.async { self.toggle(run: begin, on: true) } }
    }

    func toggle(run: Int, on: Bool) {
        enum Next { case toggle, end, stale }
        let next = state.withLock { s -> Next in
            guard s.running == run else { return .stale }
            if ContinuousClock.now < s.until { return .toggle }
            s.running = nil
            return .end
        }
        switch next {
        case .stale: return
        case .end:
            try? line.set(false)
            return
        case .toggle: break
        }
        do {
            try line.set(on)
        } catch {
            logger.warning("blinkLed: \(error)", metadata: ["feature": "status"])
            state.withLock { if $0.running == run { $0.running = nil } }
            try? line.set(false)
            return
        }
        queue.asyncAfter(deadline: .now() + .milliseconds(250)) { self.toggle(run: run, on: !on) }
    }

    /// Ends a blink in progress and leaves the line off.
    func stop() {
        let wasRunning = state.withLock { s -> Bool in
            defer { s.running = nil }
            return s.running != nil
        }
        if wasRunning { queue.sync { try? line.set(false) } }
    }
}
