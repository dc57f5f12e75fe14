import Boards
import Configuration
import Logging
import Outbox

/// Everything `fieldagent run` (and the doctor) is configured with: one section per feature, each
/// owning its keys, defaults, ranges and checks. Values are layered, each layer overriding the
/// one before: defaults < agent.yaml < environment (`FIELDAGENT_<KEY>`) < flags.
/// docs/configuration.md lists every key; a test keeps the two in step.
///
/// ```yaml
/// board: boards/sim-factory-line.yaml      # relative paths are relative to this file
/// device_id: factory-line-01
/// state_dir: /var/lib/fieldagent
/// send_frequency: 30s
/// route: hub                               # or predictor
/// hub: { host: localhost, port: 8883, cert: device.pem, key: device.key, ca: ca.pem }
/// provisioning: { endpoint: global.azure-devices-provisioning.net, id_scope: 0ne00ABC123 }  # DPS instead of hub.host
/// predictor: { socket: /run/fieldagent/predictor.sock, deadline: 50ms }
/// outbox: { quota: 64MB, max_age: 7d, drain_rate: 50 }
/// clock: { sync_wait: 2m }
/// ```
public struct AgentConfig: Sendable, Equatable {
    public var core = CoreConfig()
    public var telemetry = TelemetryConfig()
    public var alerts = AlertsConfig()
    public var link = LinkConfig()
    public var provisioning = ProvisioningConfig()
    public var outbox = OutboxConfig()
    public var clock = ClockConfig()
    public var observe = ObserveConfig()

    public init() {}

    /// Every key of every section, in the order docs/configuration.md lists them.
    public static let keys: [SettingDescription] = CoreConfig.descriptions + TelemetryConfig.descriptions
        + AlertsConfig.descriptions + LinkConfig.descriptions + ProvisioningConfig.descriptions + OutboxConfig.descriptions + ClockConfig.descriptions
        + ObserveConfig.descriptions

    /// Every key with the value in force, for a support bundle: a key whose name says it holds a
    /// secret (``isSecret(_:)``) shows `(redacted)`; paths are shown, never the files' contents.
    public var redactedValues: [(path: String, text: String?)] {
        (core.values + telemetry.values + alerts.values + link.values + provisioning.values + outbox.values + clock.values).map { path, text in
            (path, text.map { Self.isSecret(path) ? "(redacted)" : $0 })
        }
    }

    /// Whether a key holds a secret by its name (a token, a password, a connection string or
    /// shared access key), rather than the path of a file that holds one.
    public static func isSecret(_ path: String) -> Bool {
        let name = path.lowercased()
        return ["token", "secret", "password", "connection_string", "shared_access"].contains { name.contains($0) }
    }

    /// The sections as the layers give them, after checking every value and requirement.
    ///
    /// - Parameter required: keys the caller cannot do without (`run` needs a board).
    /// - Throws: every problem of every layer at once, each with its key path and where it came
    ///   from (file and line, variable or flag).
    public static func resolve(_ layers: [SettingLayer], required: [Requirement] = []) throws(ConfigIssues) -> AgentConfig {
        let layers = SettingLayers(layers)
        let requirements = required + CoreConfig.requirements(layers) + TelemetryConfig.requirements(layers)
            + AlertsConfig.requirements(layers) + LinkConfig.requirements(layers) + ProvisioningConfig.requirements(layers)
            + OutboxConfig.requirements(layers)
            + ClockConfig.requirements(layers)
        let issues = layers.issues(keys: keys, required: requirements)
        guard issues.isEmpty else { throw ConfigIssues(issues) }
        var config = AgentConfig()
        config.core = CoreConfig(layers)
        config.telemetry = TelemetryConfig(layers)
        config.alerts = AlertsConfig(layers)
        config.link = LinkConfig(layers)
        config.provisioning = ProvisioningConfig(layers)
        config.outbox = OutboxConfig(layers)
        config.clock = ClockConfig(layers)
        config.observe = ObserveConfig(layers)
        return config
    }

    /// The usual layers: the file (if any), then the environment, then the flags.
    public static func load(file: String?, environment: [String: String], flags: [(flag: String, text: String)] = [],
                            required: [Requirement] = []) throws(ConfigIssues) -> AgentConfig {
        var layers = file.map { [SettingLayer.file($0, known: keys)] } ?? []
        layers.append(.environment(environment, known: keys))
        layers.append(.flags(flags, known: keys))
        return try resolve(layers, required: required)
    }

    /// The twin's writable settings before any twin value: these sections' values, the board
    /// file's send frequency where none is configured.
    public func initialSettings(board: Board) -> AgentSettings {
        AgentSettings(sendFrequency: telemetry.sendFrequency ?? board.file.sampling.sendFrequency, route: alerts.route,
                      aggregateWindow: telemetry.aggregateWindow == .zero ? nil : telemetry.aggregateWindow,
                      upstream: telemetry.upstream)
    }
}

/// The agent as a whole: which board, where its state lives, how it logs, paces and stops.
public struct CoreConfig: SettingsSection {
    public var board: String?
    public var stateDirectory: String?
    public var runtimeDirectory: String?
    public var logLevel: Logger.Level = .notice
    public var timeScale: Double?
    public var flushTimeout: Duration = .seconds(30)

    public init() {}

    /// Where the outbox goes when no state directory is given, and where `fieldagent status` looks.
    public static let defaultStateDirectory = StateDirectory.defaultPath

    public static let keys: [SettingKey<CoreConfig>] = [
        SettingKey("board", \.board, .path, flag: "--board", absent: "none (run needs one)",
                   "The board file (boards/*.yaml): buses, chips, GPIO lines, sampling."),
        SettingKey("state_dir", \.stateDirectory, .absolutePath, flag: "--state-dir",
                   absent: "none: twin settings and status are not kept; the outbox uses \(defaultStateDirectory)",
                   "Where the agent keeps its state: applied twin settings, the outbox."),
        SettingKey("runtime_dir", \.runtimeDirectory, .absolutePath, flag: "--runtime-dir",
                   absent: "$RUNTIME_DIRECTORY (systemd's RuntimeDirectory=), else state_dir",
                   "Where the running agent writes status.json (RAM under systemd: /run/fieldagent), what fieldagent status reads."),
        SettingKey("log_level", \.logLevel, .choice, flag: "--log-level", "How much the agent logs (to stderr)."),
        SettingKey("time_scale", \.timeScale, .number(0...1_000_000), flag: "--time-scale", absent: "the board file's",
                   "Simulated boards: how fast simulated time runs (1 real time, 60 a minute a second, 0 as fast as possible)."),
        SettingKey("flush_timeout", \.flushTimeout, .duration(.zero ... .seconds(86400)), flag: "--flush-timeout",
                   "At the end (count reached, SIGTERM), how long to wait for the hub to acknowledge what was sent; the rest stays in the outbox."),
    ]
}

/// How telemetry is aggregated and sent.
public struct TelemetryConfig: SettingsSection {
    /// The send period in force until the twin changes it (nil: the board file's).
    public var sendFrequency: Duration?
    /// How often a heartbeat with the agent's health is sent (board time).
    public var heartbeatInterval: Duration = .seconds(900)
    /// What reaches the hub until the twin's upstream changes it.
    public var upstream = AgentSettings().upstream
    /// The tumbling aggregate window until the twin's aggregateWindow changes it (zero: none).
    public var aggregateWindow: Duration = AgentSettings().aggregateWindow ?? .zero

    public init() {}

    public static let keys: [SettingKey<TelemetryConfig>] = [
        SettingKey("send_frequency", \.sendFrequency, .duration(AgentSettings.sendFrequencyRange), flag: "--send-frequency",
                   absent: "the board file's sampling.send_frequency",
                   "How often one aggregate message is sent, until the twin's sendFrequency changes it."),
        SettingKey("upstream", \.upstream, .choice, flag: "--upstream",
                   "What reaches the hub: all (raw telemetry, aggregates, heartbeats, alerts) or alerts-only (spike alerts and heartbeats; aggregates on the sendAggregates method), until the twin's upstream changes it."),
        SettingKey("aggregate_window", \.aggregateWindow, .aggregateWindow, flag: "--aggregate-window",
                   "Tumbling aggregates (avg, min, max, count per channel, messageType aggregate) on wall-clock boundaries beside the raw messages, until the twin's aggregateWindow changes it; 0s: none."),
        SettingKey("heartbeat_interval", \.heartbeatInterval, .duration(.seconds(10) ... .seconds(86400)), flag: "--heartbeat-interval",
                   "How often a heartbeat message (messageType heartbeat: getHealth's answer) is sent to the hub; the first one after one interval."),
    ]
}

extension SettingKind where Value == Duration {
    /// 0s (none), or a window of 1m … 24h that divides a day.
    static var aggregateWindow: Self {
        Self(type: "duration", range: "0s (none), or 1m … 24h dividing a day", parse: { text, _ in
            guard let window = try? DurationText.parse(text) else {
                return .failure(SettingProblem("'\(text.prefix(64))' is not a duration such as 5m"))
            }
            if window == .zero { return .success(window) }
            return AgentSettings.aggregateWindowProblem(window).map { .failure(SettingProblem("\(text) \($0)")) } ?? .success(window)
        }, format: DurationText.format)
    }
}

/// The wall clock on a real board (a simulated board stamps with its virtual time).
public struct ClockConfig: SettingsSection {
    /// How long to wait for the clock to be synchronised before the first connection.
    public var syncWait: Duration = .seconds(120)

    public init() {}

    public static let keys: [SettingKey<ClockConfig>] = [
        SettingKey("clock.sync_wait", \.syncWait, .duration(.zero ... .seconds(86400)), flag: "--clock-sync-wait",
                   "Real boards: how long to wait for the wall clock to be synchronised (NTP) before connecting to the hub; sampling goes on meanwhile, readings marked unsynchronised. 0 connects at once."),
    ]
}
