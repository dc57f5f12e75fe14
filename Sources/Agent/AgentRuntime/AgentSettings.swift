import Configuration
import FoundationEssentials
import JSON
import SensorCore

/// Where readings go: straight to the hub, or through the co-located spike predictor.
public enum Route: String, Sendable, CaseIterable, Codable {
    case hub
    case predictor
}

/// What reaches the hub: everything, or only what needs attention (the spike-detector recipe's
/// "only spike events upstream").
public enum Upstream: String, Sendable, CaseIterable, Codable {
    /// Raw telemetry, tumbling aggregates, heartbeats and alerts.
    case all
    /// Alerts and heartbeats; aggregates only when asked (`sendAggregates`).
    case alertsOnly = "alerts-only"
}

/// What the cloud may change while the agent runs (the twin's writable properties, DTDL
/// `firmware-interface/fieldagent.dtdl.json`), with the limits each one is checked against.
public struct AgentSettings: Sendable, Equatable, Codable {
    public var sendFrequency: Duration
    /// Channels left out of telemetry and spike detection.
    public var disabledChannels: Set<Channel>
    /// A verdict at or above this spike probability counts as a spike; nil: the detector's own
    /// decision (the model's validated `decision_threshold`, read from its file).
    public var spikeThreshold: Double?
    public var route: Route
    /// Sensor name → channel name → the correction applied to its readings.
    public var calibrations: [String: [String: Calibration]]
    /// The tumbling aggregate window on wall-clock boundaries (nil: no aggregates).
    public var aggregateWindow: Duration?
    public var upstream: Upstream

    public init(sendFrequency: Duration = .seconds(30), disabledChannels: Set<Channel> = [],
                spikeThreshold: Double? = nil, route: Route = .hub, calibrations: [String: [String: Calibration]] = [:],
                aggregateWindow: Duration? = .seconds(300), upstream: Upstream = .all) {
        self.calibrations = calibrations
        self.sendFrequency = sendFrequency
        self.disabledChannels = disabledChannels
        self.spikeThreshold = spikeThreshold
        self.route = route
        self.aggregateWindow = aggregateWindow
        self.upstream = upstream
    }

    /// A window must divide a day, so its boundaries fall at the same clock times every day.
    public static let aggregateWindowRange: ClosedRange<Duration> = .seconds(60) ... .seconds(86400)
    public static func aggregateWindowProblem(_ window: Duration) -> String? {
        guard aggregateWindowRange.contains(window) else { return "is outside 1m…24h" }
        guard window.components.attoseconds == 0, 86400 % window.components.seconds == 0 else { return "does not divide a day (1m, 5m, 15m, 1h, …)" }
        return nil
    }

    public static let sendFrequencyRange: ClosedRange<Duration> = .seconds(1) ... .seconds(86400)
    public static let spikeThresholdRange: ClosedRange<Double> = 0.01...0.99
    /// Longer desired strings are refused before parsing (a twin document may be 32 KB; a
    /// setting is a few characters).
    public static let maximumTextLength = 64

    enum CodingKeys: String, CodingKey {
        case sendFrequency, disabledChannels, spikeThreshold, route, calibrations, aggregateWindow, upstream
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .sendFrequency)
        sendFrequency = try DurationText.parse(text)
        disabledChannels = try c.decode(Set<Channel>.self, forKey: .disabledChannels)
        spikeThreshold = try c.decodeIfPresent(Double.self, forKey: .spikeThreshold)
        route = try c.decode(Route.self, forKey: .route)
        // Absent in files from agents before calibration.
        calibrations = try c.decodeIfPresent([String: [String: Calibration]].self, forKey: .calibrations) ?? [:]
        // Absent in settings kept before windows existed: the default.
        if let text = try c.decodeIfPresent(String.self, forKey: .aggregateWindow) {
            aggregateWindow = text == "off" ? nil : try DurationText.parse(text)
        } else {
            aggregateWindow = AgentSettings().aggregateWindow
        }
        upstream = try c.decodeIfPresent(Upstream.self, forKey: .upstream) ?? .all
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(DurationText.format(sendFrequency), forKey: .sendFrequency)
        try c.encode(disabledChannels.map(\.rawValue).sorted(), forKey: .disabledChannels)
        try c.encode(spikeThreshold, forKey: .spikeThreshold)
        try c.encode(route, forKey: .route)
        try c.encode(calibrations, forKey: .calibrations)
        try c.encode(aggregateWindow.map(DurationText.format) ?? "off", forKey: .aggregateWindow)
        try c.encode(upstream, forKey: .upstream)
    }

    /// The calibration of `channel` of `sensor`, if one is set.
    public func calibration(_ sensor: String, _ channel: Channel) -> Calibration? {
        calibrations[sensor]?[channel.rawValue]
    }
}

/// The names of the writable properties, as in the DTDL model and on the twin.
///
/// `telemetryConfig` is the edge-analytics recipe's path to the same setting
/// (`telemetryConfig.sendFrequency`). It comes after `sendFrequency` in this table, so when one
/// desired document sets both, `telemetryConfig.sendFrequency` is applied last and wins; both are
/// acknowledged with the value in force.
public enum WritableProperty: String, CaseIterable, Sendable {
    case sendFrequency
    case telemetryConfig
    case channels
    case spikeThreshold
    case route
    case calibration
    case aggregateWindow
    case upstream
}

extension AgentSettings {
    /// This setting's value as the twin shows it (`"30s"`, `{"temperature":true,…}`, `0.5`, `"hub"`).
    public func twinValue(_ property: WritableProperty) -> JSONValue {
        switch property {
        case .sendFrequency: .string(DurationText.format(sendFrequency))
        case .telemetryConfig: .object(["sendFrequency": .string(DurationText.format(sendFrequency))])
        case .channels: .object(Dictionary(uniqueKeysWithValues: Channel.allCases.map { ($0.rawValue, .bool(!disabledChannels.contains($0))) }))
        case .spikeThreshold: spikeThreshold.map(JSONValue.number) ?? .null
        case .route: .string(route.rawValue)
        case .calibration:
            .object(calibrations.mapValues { channels in .object(channels.mapValues(Self.calibrationValue)) })
        case .aggregateWindow: .string(aggregateWindow.map(DurationText.format) ?? "off")
        case .upstream: .string(upstream.rawValue)
        }
    }

    /// `{"offset": -0.4}` or `{"points": [{"raw": 20.1, "reference": 20}, …]}`.
    static func calibrationValue(_ calibration: Calibration) -> JSONValue {
        guard let points = calibration.points else { return .object(["offset": .number(calibration.offset)]) }
        return .object(["points": .array(points.map { .object(["raw": .number($0.raw), "reference": .number($0.reference)]) })])
    }

    /// Applies one desired value, or says exactly why it cannot (the settings stay as they were).
    ///
    /// - Parameters:
    ///   - sensors: the board's sensors and the channels each reports (a calibration must name
    ///     one of them; nil: not checked).
    ///   - whole: the value is the whole desired state (a full twin), not a patch: a calibration
    ///     absent from it is removed.
    public mutating func apply(_ property: WritableProperty, _ value: JSONValue,
                               sensors: [String: [ChipDescriptor.ChannelSpec]]? = nil, whole: Bool = false) -> Result<Void, SettingRejection> {
        switch property {
        case .sendFrequency:
            guard case .string(let text) = value else {
                return .failure(SettingRejection("sendFrequency must be a string such as \"30s\", \"5m\", \"1h\" or \"PT30S\", not \(value.kind)"))
            }
            guard text.count <= Self.maximumTextLength else {
                return .failure(SettingRejection("sendFrequency is \(text.utf8.count) characters long; expected a duration such as \"30s\""))
            }
            let duration: Duration
            do { duration = try DurationText.parse(text) } catch {
                return .failure(SettingRejection("sendFrequency \"\(text)\": \(error.description)"))
            }
            guard Self.sendFrequencyRange.contains(duration) else {
                return .failure(SettingRejection("sendFrequency \"\(text)\" is outside 1s…24h"))
            }
            sendFrequency = duration
        case .telemetryConfig:
            guard case .object(let fields) = value else {
                return .failure(SettingRejection("telemetryConfig must be an object such as {\"sendFrequency\":\"30s\"}, not \(value.kind)"))
            }
            if let unknown = fields.keys.sorted().first(where: { $0 != "sendFrequency" }) {
                return .failure(SettingRejection("telemetryConfig.\(unknown.prefix(Self.maximumTextLength)) is not a setting; telemetryConfig has only sendFrequency"))
            }
            guard let frequency = fields["sendFrequency"] else { break }
            var trial = self
            if case .failure(let rejection) = trial.apply(.sendFrequency, frequency) {
                return .failure(SettingRejection("telemetryConfig." + rejection.reason))
            }
            self = trial
        case .channels:
            guard case .object(let fields) = value else {
                return .failure(SettingRejection("channels must be an object of channel: true|false, not \(value.kind)"))
            }
            var disabled = disabledChannels
            for (name, enabled) in fields.sorted(by: { $0.key < $1.key }) {
                guard let channel = Channel(rawValue: name) else {
                    return .failure(SettingRejection("channels: '\(name.prefix(Self.maximumTextLength))' is not a channel; expected \(Channel.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                guard case .bool(let on) = enabled else {
                    return .failure(SettingRejection("channels.\(name) must be true or false, not \(enabled.kind)"))
                }
                if on { disabled.remove(channel) } else { disabled.insert(channel) }
            }
            disabledChannels = disabled
        case .spikeThreshold:
            if value == .null {
                spikeThreshold = nil
                break
            }
            guard let threshold = value.doubleValue else {
                return .failure(SettingRejection("spikeThreshold must be a number between 0.01 and 0.99 (or null: the model's decision threshold), not \(value.kind)"))
            }
            guard Self.spikeThresholdRange.contains(threshold) else {
                return .failure(SettingRejection("spikeThreshold \(threshold) is outside 0.01…0.99"))
            }
            spikeThreshold = threshold
        case .route:
            guard case .string(let text) = value, let route = Route(rawValue: text) else {
                return .failure(SettingRejection("route must be \"hub\" or \"predictor\", not \(value.description.prefix(Self.maximumTextLength))"))
            }
            self.route = route
        case .calibration:
            switch Self.merging(value, into: whole ? [:] : calibrations, sensors: sensors) {
            case .success(let merged): calibrations = merged
            case .failure(let rejection): return .failure(rejection)
            }
        case .aggregateWindow:
            guard case .string(let text) = value, text.count <= Self.maximumTextLength else {
                return .failure(SettingRejection("aggregateWindow must be a duration such as \"5m\" or \"off\", not \(value.description.prefix(Self.maximumTextLength))"))
            }
            if text == "off" {
                aggregateWindow = nil
                break
            }
            let window: Duration
            do { window = try DurationText.parse(text) } catch {
                return .failure(SettingRejection("aggregateWindow \"\(text)\": \(error.description)"))
            }
            if let problem = Self.aggregateWindowProblem(window) {
                return .failure(SettingRejection("aggregateWindow \"\(text)\" \(problem)"))
            }
            aggregateWindow = window
        case .upstream:
            guard case .string(let text) = value, let upstream = Upstream(rawValue: text) else {
                return .failure(SettingRejection("upstream must be \"all\" or \"alerts-only\", not \(value.description.prefix(Self.maximumTextLength))"))
            }
            self.upstream = upstream
        }
        return .success(())
    }

    /// A desired `calibration` merged into `current` (JSON merge patch: `null` removes a channel's
    /// or a sensor's calibration), every entry checked; the first problem refuses the whole value.
    static func merging(_ value: JSONValue, into current: [String: [String: Calibration]],
                        sensors: [String: [ChipDescriptor.ChannelSpec]]?) -> Result<[String: [String: Calibration]], SettingRejection> {
        guard case .object(let bySensor) = value else {
            return .failure(SettingRejection("calibration must be an object of sensor: {channel: {offset} or {points}}, not \(value.kind)"))
        }
        var merged = current
        for (sensor, channelsValue) in bySensor.sorted(by: { $0.key < $1.key }) {
            let name = String(sensor.prefix(maximumTextLength))
            let specs = sensors?[sensor]
            if sensors != nil, specs == nil {
                return .failure(SettingRejection("calibration: '\(name)' is not a sensor of this board; expected \(sensors?.keys.sorted().joined(separator: ", ") ?? "")"))
            }
            if case .null = channelsValue {
                merged[sensor] = nil
                continue
            }
            guard case .object(let byChannel) = channelsValue else {
                return .failure(SettingRejection("calibration.\(name) must be an object of channel: {offset} or {points}, not \(channelsValue.kind)"))
            }
            var channels = merged[sensor] ?? [:]
            for (channelName, entry) in byChannel.sorted(by: { $0.key < $1.key }) {
                let path = "calibration.\(name).\(channelName.prefix(maximumTextLength))"
                guard let channel = Channel(rawValue: channelName) else {
                    return .failure(SettingRejection("\(path): not a channel; expected \(Channel.allCases.map(\.rawValue).joined(separator: ", "))"))
                }
                if case .null = entry {
                    channels[channelName] = nil
                    continue
                }
                let spec = specs.map { $0.first { $0.channel == channel } }
                if let spec, spec == nil {
                    return .failure(SettingRejection("\(path): \(name) does not report \(channelName)"))
                }
                let calibration: Calibration
                switch parseCalibration(entry) {
                case .success(let parsed): calibration = parsed
                case .failure(let problem): return .failure(SettingRejection("\(path): \(problem.reason)"))
                }
                if let spec = spec ?? nil, let problem = calibration.problem(for: spec) {
                    return .failure(SettingRejection("\(path): \(problem)"))
                }
                channels[channelName] = calibration
            }
            merged[sensor] = channels.isEmpty ? nil : channels
        }
        return .success(merged)
    }

    static func parseCalibration(_ entry: JSONValue) -> Result<Calibration, SettingRejection> {
        guard case .object(let fields) = entry, fields.count == 1 else {
            return .failure(SettingRejection("expected {\"offset\": number} or {\"points\": [{\"raw\", \"reference\"}, {…}]}"))
        }
        if let offset = fields["offset"] {
            guard let number = offset.doubleValue else { return .failure(SettingRejection("offset must be a number, not \(offset.kind)")) }
            return .success(.offset(number))
        }
        guard case .array(let items)? = fields["points"], items.count == 2 else {
            return .failure(SettingRejection("expected {\"offset\": number} or {\"points\": [2 points]}"))
        }
        var points: [Calibration.Point] = []
        for item in items {
            guard let raw = item["raw"]?.doubleValue, let reference = item["reference"]?.doubleValue else {
                return .failure(SettingRejection("each point needs numbers raw and reference"))
            }
            points.append(Calibration.Point(raw: raw, reference: reference))
        }
        return .success(.twoPoint(points[0], points[1]))
    }
}

public struct SettingRejection: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
