import Boards
import Configuration
import FoundationEssentials
import Logging
import SensorCore
import Synchronization

/// Spike detection: where samples are classified, and how long the alarm line stays up.
public struct AlertsConfig: SettingsSection {
    /// Where readings go first until the twin's route changes it.
    public var route = AgentSettings().route
    /// The spike predictor's socket (nil: the default path, checked by the doctor only with route predictor).
    public var predictorSocket: String?
    public var predictorDeadline: Duration = .milliseconds(50)
    public var alarmHold: Duration = .seconds(30)
    /// An alert needs this many spiking samples among a stream's last ones; the default is two
    /// consecutive ones. It applies to the verdicts, and a model's verdict already needs the
    /// model's own `persistence` (spike-gbt.v3: 3 consecutive samples above its threshold).
    public var spikePersistence = Persistence(hits: 3, samples: 3)
    /// The alarm line also rises while a sensor has failed …
    public var alarmOnSensorFailure: Switch = .on
    /// … when the hub link has been down this long (zero: never) …
    public var alarmOnLinkDown: Duration = .seconds(600)
    /// … and for ``alarmHold`` after the outbox dropped queued messages.
    public var alarmOnDroppedBacklog: Switch = .on

    public static let defaultPredictorSocket = "/run/fieldagent/predictor.sock"

    public init() {}

    /// The socket the agent asks, and the doctor checks when the predictor is in use or named.
    public var effectivePredictorSocket: String { predictorSocket ?? Self.defaultPredictorSocket }
    public var checksPredictor: Bool { route == .predictor || predictorSocket != nil }

    public static let keys: [SettingKey<AlertsConfig>] = [
        SettingKey("route", \.route, .choice, flag: "--route",
                   "Where each reading goes first: hub (the in-agent detector flags spikes) or predictor (the co-located spike predictor, the in-agent detector as fallback), until the twin's route changes it."),
        SettingKey("predictor.socket", \.predictorSocket, .path, flag: "--predictor-socket", absent: defaultPredictorSocket,
                   "The spike predictor's Unix socket (route predictor)."),
        SettingKey("predictor.deadline", \.predictorDeadline, .duration(.milliseconds(1) ... .seconds(10)), flag: "--predictor-deadline",
                   "How long a sample waits for the predictor before the fallback detector answers."),
        SettingKey("alarm_hold", \.alarmHold, .duration(.seconds(1) ... .seconds(86400)),
                   "How long the alarm line stays high after a spike alert (board time)."),
        SettingKey("spike_persistence", \.spikePersistence, .persistence, flag: "--spike-persistence",
                   "K/N: a spike alert needs K spiking samples among the stream's last N (1/1: every spiking sample alerts at its onset). A sample spikes when its probability reaches the twin's spikeThreshold, or else the detector's own decision threshold. The default 3/3, three consecutive spiking samples, is the rule the evaluation chose for the shipped model (spike-gbt.v3: threshold 0.35, persistence 3; docs/predictor.md); the model's own persistence is not applied on top."),
        SettingKey("alarm.sensor_failure", \.alarmOnSensorFailure, .choice,
                   "Whether the alarm line is high while a sensor has failed (every reading of a sample unavailable)."),
        SettingKey("alarm.link_down", \.alarmOnLinkDown, .duration(.zero ... .seconds(7 * 86400)),
                   "The alarm line rises when the hub link has been down this long (board time); 0s: never."),
        SettingKey("alarm.dropped_backlog", \.alarmOnDroppedBacklog, .choice,
                   "Whether the alarm line rises (for alarm_hold) when the outbox drops queued messages to stay within its quota or age."),
    ]

    var alarmRules: AlarmLine.Rules {
        AlarmLine.Rules(hold: alarmHold, sensorFailure: alarmOnSensorFailure, linkDown: alarmOnLinkDown, droppedBacklog: alarmOnDroppedBacklog)
    }
}

extension SettingKind where Value == Persistence {
    /// `K/N`, 1 ≤ K ≤ N ≤ 16.
    static var persistence: Self {
        Self(type: "K/N", range: "1/1 … 16/16, K ≤ N", parse: { text, _ in
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let hits = Int(parts[0]), let samples = Int(parts[1]),
                  Persistence.range.contains(samples), (1...samples).contains(hits) else {
                return .failure(SettingProblem("'\(text.prefix(64))' is not K/N with 1 ≤ K ≤ N ≤ 16, e.g. 2/3"))
            }
            return .success(Persistence(hits: hits, samples: samples))
        }, format: { "\($0.hits)/\($0.samples)" })
    }
}

/// Spike alerts and the alarm line: every sample is classified (predictor or fallback), an alert
/// is queued at once and raises the board's alarm line for ``AlertsConfig/alarmHold``; a failed
/// sensor, a long link outage and dropped backlog raise it too (``AlarmLine``).
final class AlertsFeature: Feature {
    let name = "alerts"
    let configuration: AlertsConfig
    let board: Board
    let logger: Logger
    let link: HubLink?
    let output: @Sendable (SpikeAlert) -> Void
    /// Used only by the sampling thread.
    let router: SpikeRouter

    struct State {
        var alarm: AlarmLine
        var alerts = 0
        /// Samples classified by the predictor and by the fallback (the router's counts, for other threads).
        var verdicts = (predictor: 0, fallback: 0)
        /// What the line was last set to, and why.
        var reasons: [String] = []
        var elapsed: Duration = .zero
    }
    let state: Mutex<State>

    init(configuration: AlertsConfig, board: Board, link: HubLink?, logger: Logger, output: @escaping @Sendable (SpikeAlert) -> Void) {
        self.configuration = configuration
        self.board = board
        self.link = link
        self.logger = logger
        self.output = output
        state = Mutex(State(alarm: AlarmLine(rules: configuration.alarmRules)))
        router = SpikeRouter(deviceID: board.file.deviceID, socketPath: configuration.effectivePredictorSocket,
                             deadline: configuration.predictorDeadline, persistence: configuration.spikePersistence, logger: logger)
    }

    /// Spike alerts raised since start.
    var count: Int { state.withLock { $0.alerts } }
    var alarmRaised: Bool { board.lines.alarm?.value ?? false }
    /// Why the alarm line is high (empty: it is low).
    var alarmReasons: [String] { state.withLock { $0.reasons } }
    var detector: SpikeRouter.Source { router.source }
    var detectorModel: String? { router.modelID }
    var verdicts: (predictor: Int, fallback: Int) { state.withLock { $0.verdicts } }

    /// One sample's readings, `elapsed` board time after the start.
    func sample(_ readings: [Reading], stamp: CaptureClock.Stamp, elapsed: Duration, settings: AgentSettings) {
        let capturedAt = stamp.date
        let connected = link.map { $0.client?.state == .connected }
        state.withLock { s in
            s.elapsed = elapsed
            s.alarm.sample(readings)
            s.alarm.link(connected: connected, at: elapsed)
        }
        for var alert in router.classify(readings, capturedAt: capturedAt, route: settings.route, threshold: settings.spikeThreshold) {
            alert.clockSynchronised = stamp.synchronised ? nil : false
            raiseAlarm(at: elapsed, alert: alert)
            // Alerts go at once (they are live) and are the last thing a full outbox drops.
            if let seq = link?.enqueue(alert, kind: .alert, capturedAt: capturedAt, seq: \.seq,
                                       properties: ["$.ct": "application/json", "$.ce": "utf-8", "alert": "spike"]) {
                alert.seq = seq
            }
            output(alert)
        }
        state.withLock { $0.verdicts = (router.samplesByPredictor, router.samplesByFallback) }
        updateLine()
    }

    /// The outbox's drop count, looked at once per send period without waiting for a commit.
    func observeOutbox() {
        guard let drops = link?.outbox?.dropsIfAvailable else { return }
        state.withLock { $0.alarm.outboxDrops(Int(clamping: drops.aggregates + drops.alerts), at: $0.elapsed) }
        updateLine()
    }

    func raiseAlarm(at elapsed: Duration, alert: SpikeAlert) {
        state.withLock { s in
            s.alarm.spike(at: elapsed, description: "\(alert.sensor).\(alert.channel)")
            s.alerts += 1
        }
        let reading = Channel(rawValue: alert.channel).map { "\(Quantity(alert.value, $0.unit))" } ?? "\(alert.value) \(alert.unit)"
        logger.warning("spike on \(alert.sensor).\(alert.channel): \(reading) (probability \(formatFixed(alert.spikeProbability, digits: 2)), \(alert.source) \(alert.modelId))",
                       metadata: ["feature": "\(name)"])
    }

    /// Sets the line from the reasons in force; logs when they change.
    func updateLine() {
        let (before, after) = state.withLock { s -> ([String], [String]) in
            let before = s.reasons
            s.reasons = s.alarm.reasons(at: s.elapsed)
            return (before, s.reasons)
        }
        guard before != after else { return }
        guard let alarm = board.lines.alarm else { return }
        if before.isEmpty != after.isEmpty {
            do { try alarm.set(!after.isEmpty) } catch {
                logger.error("cannot \(after.isEmpty ? "lower" : "raise") the alarm line: \(error)", metadata: ["feature": "\(name)"])
                return
            }
        }
        if after.isEmpty {
            logger.notice("alarm line \(alarm.config.offset) lowered", metadata: ["feature": "\(name)"])
        } else {
            logger.notice("alarm line \(alarm.config.offset) raised: \(after.joined(separator: "; "))", metadata: ["feature": "\(name)"])
        }
    }
}
