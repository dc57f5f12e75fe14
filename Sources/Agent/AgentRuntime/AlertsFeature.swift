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
    ]
}

/// Spike alerts and the alarm line: every sample is classified (predictor or fallback), an alert
/// is queued at once and raises the board's alarm line for ``AlertsConfig/alarmHold``.
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
        var alarmUntil: Duration?
        var alerts = 0
        /// Samples classified by the predictor and by the fallback (the router's counts, for other threads).
        var verdicts = (predictor: 0, fallback: 0)
    }
    let state = Mutex(State())

    init(configuration: AlertsConfig, board: Board, link: HubLink?, logger: Logger, output: @escaping @Sendable (SpikeAlert) -> Void) {
        self.configuration = configuration
        self.board = board
        self.link = link
        self.logger = logger
        self.output = output
        router = SpikeRouter(deviceID: board.file.deviceID, socketPath: configuration.effectivePredictorSocket,
                             deadline: configuration.predictorDeadline, logger: logger)
    }

    /// Spike alerts raised since start.
    var count: Int { state.withLock { $0.alerts } }
    var alarmRaised: Bool { board.lines.alarm?.value ?? false }
    var detector: SpikeRouter.Source { router.source }
    var verdicts: (predictor: Int, fallback: Int) { state.withLock { $0.verdicts } }

    /// One sample's readings, `elapsed` board time after the start.
    func sample(_ readings: [Reading], stamp: CaptureClock.Stamp, elapsed: Duration, settings: AgentSettings) {
        let capturedAt = stamp.date
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
        lowerAlarmIfDue(at: elapsed)
    }

    func raiseAlarm(at elapsed: Duration, alert: SpikeAlert) {
        let wasRaised = state.withLock { s in
            defer {
                s.alarmUntil = elapsed + configuration.alarmHold
                s.alerts += 1
            }
            return s.alarmUntil != nil
        }
        let reading = Channel(rawValue: alert.channel).map { "\(Quantity(alert.value, $0.unit))" } ?? "\(alert.value) \(alert.unit)"
        logger.warning("spike on \(alert.sensor).\(alert.channel): \(reading) (probability \(formatFixed(alert.probability, digits: 2)), \(alert.source) \(alert.modelId))",
                       metadata: ["feature": "\(name)"])
        guard !wasRaised, let alarm = board.lines.alarm else { return }
        do {
            try alarm.set(true)
            logger.notice("alarm line \(alarm.config.offset) raised for \(DurationText.format(configuration.alarmHold))", metadata: ["feature": "\(name)"])
        } catch {
            logger.error("cannot raise the alarm line: \(error)", metadata: ["feature": "\(name)"])
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
            logger.error("cannot lower the alarm line: \(error)", metadata: ["feature": "\(name)"])
        }
    }
}
