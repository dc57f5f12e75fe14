import AgentMetrics
import Boards
import Configuration
import Diagnostics
import HAL
import FoundationEssentials
import HTTPServer
import Identity
import JSON
import Logging
import Synchronization
import SensorCore
import SystemCalls
import TechnicianPage

/// Where the agent serves its metrics and the technician's page; both off unless given.
public struct ObserveConfig: SettingsSection {
    public var metricsListen: ListenAddress?
    public var pageListen: ListenAddress?
    public var pageTokenFile = Self.defaultTokenFile

    public static let defaultTokenFile = "/etc/fieldagent/page-token"

    public init() {}

    public static let keys: [SettingKey<ObserveConfig>] = [
        SettingKey("metrics.listen", \.metricsListen, .listenAddress, flag: "--metrics-listen", absent: "none: no metrics endpoint",
                   "Serve Prometheus metrics at http://ADDR:PORT/metrics (e.g. 127.0.0.1:9464)."),
        SettingKey("page.listen", \.pageListen, .listenAddress, flag: "--page-listen", absent: "none: no technician's page",
                   "Serve the technician's page at http://ADDR:PORT/ (e.g. 0.0.0.0:8080 for a phone on the site network); read-only without the token."),
        SettingKey("page.token_file", \.pageTokenFile, .path, flag: "--page-token-file",
                   "The per-device token (mode 0600) that page actions (POST /api/…) must carry as Authorization: Bearer TOKEN."),
    ]
}

extension SettingKind where Value == ListenAddress {
    /// `ADDR:PORT`: `127.0.0.1:9464`, `0.0.0.0:8080`, `[::1]:9464`.
    public static var listenAddress: Self {
        Self(type: "ADDR:PORT", parse: { text, _ in ListenAddress.parse(text).mapError { SettingProblem($0.description) } },
             format: \.description)
    }
}

/// Metrics at `/metrics` and the technician's page at `/`, each on its own address
/// (``ObserveConfig``), each an ``HTTPServer`` thread. What they show is read from the other
/// features when asked, plus the recent readings this feature keeps from each telemetry
/// message (the last hour per channel, bounded).
final class ObserveFeature: Feature {
    struct Parts: Sendable {
        var agentVersion: String
        var board: Board
        var link: HubLink?
        var alerts: AlertsFeature
        var capture: CaptureClock
        var certificateFile: String?
        var doctor: DoctorPlan
        /// Runs work on the board's drivers between two samples on the sampling thread, one such
        /// run at a time (nil: one is in progress), as `runDiagnostics` does.
        var samplingSide: SamplingSide
        /// Runs a direct method of the agent's table (blink).
        var invoke: @Sendable (String, [UInt8]) -> MethodResult
        var methodNames: @Sendable () -> [String]
        /// Applies one channel's calibration from the page (``TwinFeature/calibrateFromPage(_:)``).
        var calibrate: @Sendable ([UInt8]) -> MethodResult
        /// The calibrations in force (sensor → channel → calibration).
        var calibrations: @Sendable () -> [String: [String: Calibration]]
    }

    let name = "observe"
    let configuration: ObserveConfig
    let parts: Parts
    let logger: Logger
    let metrics = AgentMetrics()
    let history = Mutex(ReadingHistory())
    let lastDoctor = Mutex<(when: Date, report: DoctorReport)?>(nil)
    let servers = Mutex<[HTTPServer]>([])
    /// Scrapes served, and a wake-up for whoever waits for the next.
    let scrapes = Mutex(0)
    let scraped = WakeUp()

    /// Page actions: `POST /api/<name>` and the direct method each runs (nil: run here; the
    /// doctor, so the page keeps its report, and calibrate, a form per channel rather than a button).
    static let actions: [(name: String, title: String, method: String?)] = [
        ("doctor", "Run the doctor", nil), ("blink", "Blink the status LED", "blinkLed"), ("logs", "Recent log lines", "getLogs"),
        ("calibrate", "Calibrate", nil),
    ]

    init(configuration: ObserveConfig, parts: Parts, logger: Logger) {
        self.configuration = configuration
        self.parts = parts
        self.logger = logger
        if configuration.metricsListen != nil {
            parts.link?.publishLatency.set { [metrics] latency in metrics.recordPublishLatency(latency) }
        }
    }

    // MARK: Lifecycle

    func start() throws {
        var started: [HTTPServer] = []
        do {
            if let address = configuration.metricsListen {
                let server = try HTTPServer(configuration: .init(address: address), logger: logger) { [weak self] request in
                    self?.serveMetrics(request) ?? .error(503)
                }
                try server.start()
                started.append(server)
                logger.notice("metrics at http://\(ListenAddress(host: address.host, port: server.port))/metrics", metadata: ["feature": "observe"])
            }
            if let address = configuration.pageListen {
                let server = try HTTPServer(configuration: .init(address: address), logger: logger) { [weak self] request in
                    self?.servePage(request) ?? .error(503)
                }
                try server.start()
                started.append(server)
                logger.notice("technician's page at http://\(ListenAddress(host: address.host, port: server.port))/", metadata: ["feature": "observe"])
            }
        } catch {
            for server in started { server.stop() }
            throw ObserveError(reason: "cannot serve metrics or the page: \(error)")
        }
        servers.withLock { $0 = started }
    }

    func stop() {
        for server in servers.withLock({ s in defer { s = [] }; return s }) { server.stop() }
    }

    /// The ports bound, metrics then page (tests bind port 0).
    var ports: (metrics: UInt16?, page: UInt16?) {
        let all = servers.withLock { $0 }
        var index = 0
        func next(_ configured: ListenAddress?) -> UInt16? {
            guard configured != nil, index < all.count else { return nil }
            defer { index += 1 }
            return all[index].port
        }
        let metrics = next(configuration.metricsListen)
        return (metrics, next(configuration.pageListen))
    }

    /// Every aggregate message, as it goes out.
    func record(_ message: TelemetryMessage) {
        for (sensor, channels) in message.readings {
            for (channel, aggregate) in channels {
                metrics.recordReadings(sensor: sensor, channel: channel, unit: aggregate.unit, count: aggregate.count, average: aggregate.avg)
            }
        }
        for (sensor, health) in message.sensorHealth where health.unavailable > 0 {
            metrics.recordUnavailable(sensor: sensor, count: health.unavailable)
        }
        let time = (try? Date(message.timestamp, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))?.timeIntervalSince1970
        history.withLock { $0.add(message, time: time ?? 0) }
    }

    // MARK: Metrics

    func serveMetrics(_ request: HTTPRequest) -> HTTPResponse {
        guard request.path == "/metrics" else { return .error(404, "metrics are at /metrics") }
        guard request.method == "GET" else { return .error(405) }
        let body = metrics.exposition(snapshot())
        scrapes.withLock { $0 += 1 }
        scraped.raise()
        return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: body)
    }

    func snapshot() -> MetricsSnapshot {
        let latest = history.withLock { $0.sensors }
        let sensors = parts.board.sensors.map { sensor in
            MetricsSnapshot.Sensor(name: sensor.chip.name, chip: sensor.chip.kind.name, status: latest[sensor.chip.name]?.status ?? "unknown")
        }
        var link: MetricsSnapshot.Link?
        if let client = parts.link?.client {
            let s = client.statistics
            link = .init(state: "\(client.state)", connects: s.connects, acknowledged: s.acknowledged, dropped: s.dropped, retransmitted: s.retransmitted)
        }
        var outbox: MetricsSnapshot.Outbox?
        if let s = parts.link?.outbox?.statistics {
            outbox = .init(depth: s.depth, bytes: s.bytes, quotaBytes: s.quotaBytes, droppedAggregates: Int(s.drops.aggregates), droppedAlerts: Int(s.drops.alerts),
                           oldestAgeSeconds: s.oldestAge.map(\.seconds))
        }
        let verdicts = parts.alerts.verdicts
        return MetricsSnapshot(sensors: sensors, link: link, outbox: outbox,
                               predictor: .init(verdictsByPredictor: verdicts.predictor, verdictsByFallback: verdicts.fallback,
                                                predictorAnswering: parts.alerts.detector == .predictor, alerts: parts.alerts.count),
                               certificateSecondsLeft: certificateValidity().map { $0.notAfter.timeIntervalSince(Date()) })
    }

    func certificateValidity() -> CertificateValidity? {
        guard let file = parts.certificateFile, let leaf = (try? X509Certificate.load(chainFile: file))?.first else { return nil }
        return try? CertificateValidity.evaluate(leaf, now: Date())
    }

    // MARK: The page

    func servePage(_ request: HTTPRequest) -> HTTPResponse {
        if request.path.hasPrefix("/api/") {
            guard request.method == "POST" else { return .error(405, "actions are POST /api/<action>") }
            if let refusal = authorize(request) { return refusal }
            return act(String(request.path.dropFirst(5)), body: request.body)
        }
        guard request.path == "/" else { return .error(404) }
        guard request.method == "GET" else { return .error(405) }
        return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8",
                            headers: ["Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'"],
                            text: TechnicianPage.render(pageModel()))
    }

    /// nil when the request carries this device's token; a 401 otherwise.
    func authorize(_ request: HTTPRequest) -> HTTPResponse? {
        let unauthorized = { (reason: String) in
            HTTPResponse(status: 401, headers: ["WWW-Authenticate": "Bearer realm=\"fieldagent\""], text: reason + "\n")
        }
        guard let header = request.header("authorization"), header.hasPrefix("Bearer ") else {
            return unauthorized("actions need Authorization: Bearer <the device token>")
        }
        switch PageToken.read(configuration.pageTokenFile) {
        case .failure(let problem):
            logger.warning("page action refused: \(problem)", metadata: ["feature": "observe"])
            return unauthorized("this device has no usable page token; actions are off")
        case .success(let token):
            return PageToken.matches(Array(header.utf8.dropFirst(7)), token) ? nil : unauthorized("wrong token")
        }
    }

    func act(_ action: String, body: [UInt8]) -> HTTPResponse {
        guard let entry = Self.actions.first(where: { $0.name == action }) else {
            return .error(404, "no action '\(action.prefix(40))'; this page offers \(offeredActions.map(\.name).joined(separator: ", "))")
        }
        let result: MethodResult
        if let method = entry.method {
            guard parts.methodNames().contains(method) else { return .error(501, "this agent has no \(method) method") }
            result = parts.invoke(method, body)
        } else if entry.name == "calibrate" {
            result = parts.calibrate(body)
        } else {
            result = runDoctor()
        }
        return HTTPResponse(status: result.status, contentType: "application/json", body: result.body)
    }

    var offeredActions: [(name: String, title: String, method: String?)] {
        let names = parts.methodNames()
        return Self.actions.filter { $0.method.map(names.contains) ?? true }
    }

    func runDoctor() -> MethodResult {
        guard let report = parts.samplingSide.run({ [parts] in parts.doctor.run(parts.board) }) else {
            return .error(409, "a diagnostics run is already in progress; try again when it has answered")
        }
        lastDoctor.withLock { $0 = (Date(), report) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(report) else { return .error(500, "the doctor report could not be encoded") }
        return MethodResult(status: 200, body: Array(data))
    }

    func pageModel() -> PageModel {
        let (latest, series) = history.withLock { ($0.sensors, $0.series()) }
        let sensors = parts.board.sensors.map { sensor in
            let health = latest[sensor.chip.name]
            return PageModel.Sensor(name: sensor.chip.name, chip: sensor.chip.kind.name, status: health?.status ?? "unknown", error: health?.error)
        }
        var state: [(label: String, text: String, ok: Bool)] = []
        if let link = parts.link, let client = link.client {
            state.append(("Link", "\(client.state)" + (client.lastError.map { " (\($0))" } ?? ""), client.state == .connected))
        } else {
            state.append(("Link", "no hub configured", true))
        }
        if let s = parts.link?.outbox?.statistics {
            let age = s.oldestAge.map { ", oldest \(DurationText.format(.seconds($0.components.seconds)))" } ?? ""
            state.append(("Backlog", "\(s.depth) message(s) waiting\(age); dropped \(s.drops.aggregates + s.drops.alerts)",
                          s.drops.aggregates + s.drops.alerts == 0))
        }
        if let quota = parts.link?.quota {
            state.append(("Hub quota today", quota.text, (quota.fractionUsed ?? 0) < 0.8))
        }
        if let days = certificateValidity()?.daysLeft {
            state.append(("Certificate", "\(days) days left", days > 30))
        } else if parts.certificateFile != nil {
            state.append(("Certificate", "cannot be read", false))
        }
        state.append(("Clock", parts.capture.statusText, !parts.capture.needsWait))
        state.append(("Spike detection", "\(parts.alerts.detector.rawValue); \(parts.alerts.count) alert(s)", true))
        let doctor = lastDoctor.withLock { $0 }.map { last in
            (when: last.when.formatted(Date.ISO8601FormatStyle()),
             checks: last.report.checks.map { PageModel.Check(title: $0.title, status: "\($0.status)", detail: $0.detail) })
        }
        let inForce = parts.calibrations()
        let calibrations = parts.board.sensors.flatMap { sensor in
            sensor.chip.kind.descriptor.channels.map { spec in
                PageModel.Calibration(sensor: sensor.chip.name, channel: spec.channel.rawValue, unit: spec.channel.unit.rawValue,
                                      label: inForce[sensor.chip.name]?[spec.channel.rawValue]?.label(digits: spec.channel.facts.digits))
            }
        }
        return PageModel(deviceID: parts.board.file.deviceID, board: parts.board.file.name, agentVersion: parts.agentVersion, sensors: sensors,
                         series: series, state: state, doctor: doctor,
                         actions: offeredActions.filter { $0.name != "calibrate" }.map { PageModel.Action(name: $0.name, title: $0.title) },
                         calibrations: calibrations)
    }
}

struct ObserveError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

/// The last hour of send-period averages per sensor channel, and the latest sensor health.
/// Bounded: per series at most ``maximumPoints``, none older than an hour before the newest.
struct ReadingHistory {
    struct Key: Hashable, Comparable {
        var sensor: String
        var channel: String
        static func < (a: Key, b: Key) -> Bool { (a.sensor, a.channel) < (b.sensor, b.channel) }
    }
    static let maximumPoints = 720
    static let window = 3600.0
    var points: [Key: (unit: String, values: [(time: Double, value: Double)])] = [:]
    var sensors: [String: SensorHealth] = [:]
    var newest = 0.0

    mutating func add(_ message: TelemetryMessage, time: Double) {
        sensors = message.sensorHealth
        newest = max(newest, time)
        for (sensor, channels) in message.readings {
            for (channel, aggregate) in channels {
                // In place: a copy of the entry (or iterating `points.keys` while changing it)
                // made every append copy the whole series.
                points[Key(sensor: sensor, channel: channel), default: (aggregate.unit, [])].values.append((time, aggregate.avg))
            }
        }
        var index = points.values.startIndex
        while index != points.values.endIndex {
            Self.trim(&points.values[index].values, newest: newest)
            points.values.formIndex(after: &index)
        }
    }

    /// Drops points older than `window` (checked at the front, where capture order puts the
    /// oldest) and, once a series holds twice `maximumPoints`, the oldest half: amortised
    /// constant work per point. ``series()`` shows the newest `maximumPoints`.
    static func trim(_ values: inout [(time: Double, value: Double)], newest: Double) {
        if let first = values.first, newest - first.time > window { values.removeAll { newest - $0.time > window } }
        if values.count >= 2 * maximumPoints { values.removeFirst(values.count - maximumPoints) }
    }

    func series() -> [PageModel.Series] {
        points.keys.sorted().compactMap { key in
            guard let entry = points[key] else { return nil }
            return PageModel.Series(sensor: key.sensor, channel: key.channel, unit: entry.unit,
                                    points: entry.values.suffix(Self.maximumPoints).map { (age: newest - $0.time, value: $0.value) })
        }
    }
}

/// The per-device token that page actions carry: one line in a file only its owner may read.
enum PageToken {
    static func read(_ path: String) -> Result<[UInt8], ObserveError> {
        let status: POSIX.FileStatus
        do { status = try POSIX.status(path) } catch {
            return .failure(ObserveError(reason: "\(path): \(error)"))
        }
        guard status.permissions & 0o077 == 0 else {
            return .failure(ObserveError(reason: "\(path) may be read by others (mode \(String(status.permissions & 0o777, radix: 8))); chmod 600 it"))
        }
        guard let bytes = try? POSIX.readFile(path) else { return .failure(ObserveError(reason: "\(path) cannot be read")) }
        let token = Array(bytes.prefix { $0 != 10 && $0 != 13 })
        guard token.count >= 16 else { return .failure(ObserveError(reason: "\(path) holds no token of at least 16 characters")) }
        return .success(token)
    }

    /// Compares in time independent of where the first difference is.
    static func matches(_ given: [UInt8], _ token: [UInt8]) -> Bool {
        guard given.count == token.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(given, token) { difference |= a ^ b }
        return difference == 0
    }
}

extension Agent {
    /// The port `/metrics` is served on while the agent runs (nil: not configured or not started).
    public var metricsPort: UInt16? { observe.ports.metrics }
    /// The port the technician's page is served on while the agent runs.
    public var pagePort: UInt16? { observe.ports.page }

    /// Waits (woken by each scrape) until `/metrics` was served `count` times; false after `timeout`.
    public func waitForScrapes(_ count: Int, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while observe.scrapes.withLock({ $0 }) < count {
            guard ContinuousClock.now < deadline else { return false }
            _ = observe.scraped.wait(timeout: min(.seconds(1), deadline - ContinuousClock.now))
        }
        return true
    }
}
