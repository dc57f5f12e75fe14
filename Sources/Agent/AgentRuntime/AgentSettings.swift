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
    /// The tumbling aggregate window on wall-clock boundaries (nil: no aggregates).
    public var aggregateWindow: Duration?
    public var upstream: Upstream

    public init(sendFrequency: Duration = .seconds(30), disabledChannels: Set<Channel> = [],
                spikeThreshold: Double? = nil, route: Route = .hub, aggregateWindow: Duration? = .seconds(300),
                upstream: Upstream = .all) {
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
        case sendFrequency, disabledChannels, spikeThreshold, route, aggregateWindow, upstream
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .sendFrequency)
        sendFrequency = try DurationText.parse(text)
        disabledChannels = try c.decode(Set<Channel>.self, forKey: .disabledChannels)
        spikeThreshold = try c.decodeIfPresent(Double.self, forKey: .spikeThreshold)
        route = try c.decode(Route.self, forKey: .route)
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
        try c.encode(aggregateWindow.map(DurationText.format) ?? "off", forKey: .aggregateWindow)
        try c.encode(upstream, forKey: .upstream)
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
        case .aggregateWindow: .string(aggregateWindow.map(DurationText.format) ?? "off")
        case .upstream: .string(upstream.rawValue)
        }
    }

    /// Applies one desired value, or says exactly why it cannot (the settings stay as they were).
    public mutating func apply(_ property: WritableProperty, _ value: JSONValue) -> Result<Void, SettingRejection> {
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
}

public struct SettingRejection: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The agent's side of the device twin's writable properties (IoT Plug and Play conventions,
/// the IoT Plug and Play property convention): desired values are applied in `$version` order, each validated and
/// acknowledged `{value, ac, av, ad}`; a bad value is answered `ac: 400` with the reason while the
/// last good value stays in force.
///
/// ## Contract
/// - Pure: bytes in, settings and a reported patch out; persisted as ``Snapshot``.
/// - A desired patch whose `$version` is not above the last one applied is stale and ignored.
/// - A full twin (GET at every connect) is authoritative when its desired `$version` differs from
///   the last one applied: every writable property in it is applied and acknowledged.
/// - A desired key the model does not have is acknowledged `ac: 404` with its value and left
///   unapplied; `$…` metadata and components (`"__t": "c"`) are left alone.
public struct TwinProperties: Sendable, Equatable {
    public struct Snapshot: Codable, Sendable, Equatable {
        public var settings: AgentSettings
        /// The desired `$version` last applied (0: none yet).
        public var desiredVersion: Int
    }

    public struct Update: Sendable, Equatable {
        /// Properties whose value in force changed.
        public var changed: [WritableProperty] = []
        /// The reported patch to send (acknowledgements), if any.
        public var reportedPatch: [UInt8]?
        /// Per rejected property, the reason (also in the patch's `ad`).
        public var rejected: [WritableProperty: String] = [:]
        /// The patch was older than what is in force and was ignored.
        public var stale = false
        /// The body could not be read at all.
        public var unreadable: String?
        /// Desired keys that are not in the model, acknowledged `ac: 404` (see ``unknownKeys(in:)``).
        public var unknown: [String] = []

        public init() {}
    }

    public private(set) var settings: AgentSettings
    public private(set) var desiredVersion: Int

    public init(settings: AgentSettings, desiredVersion: Int = 0) {
        self.settings = settings
        self.desiredVersion = desiredVersion
    }

    public init(snapshot: Snapshot) {
        self.init(settings: snapshot.settings, desiredVersion: snapshot.desiredVersion)
    }

    public var snapshot: Snapshot { Snapshot(settings: settings, desiredVersion: desiredVersion) }

    /// A desired patch from `$iothub/twin/PATCH/properties/desired/?$version=N`.
    public mutating func applyPatch(version: Int, body: [UInt8]) -> Update {
        guard version > desiredVersion else {
            var update = Update()
            update.stale = true
            return update
        }
        guard let patch = try? JSONValue.parse(body), case .object = patch else {
            var update = Update()
            update.unreadable = "the desired patch (version \(version)) is not a JSON object"
            return update
        }
        return apply(patch, version: version)
    }

    /// The answer to a twin GET: `{"desired":{…,"$version":N},"reported":{…}}`.
    public mutating func applyFullTwin(_ document: [UInt8]) -> Update {
        guard let twin = try? JSONValue.parse(document), let desired = twin["desired"], case .object = desired,
              let version = desired["$version"]?.intValue else {
            var update = Update()
            update.unreadable = "the twin document has no desired section with a $version"
            return update
        }
        if version == desiredVersion {
            // Nothing new; acknowledge again only what the reported side does not show yet.
            let reported = twin["reported"]
            let missing = WritableProperty.allCases.filter { property in
                desired[property.rawValue] != nil && reported?[property.rawValue]?["av"]?.intValue != version
            }
            guard !missing.isEmpty else { return Update() }
            var fields: [String: JSONValue] = [:]
            for property in missing { fields[property.rawValue] = desired[property.rawValue] }
            return apply(.object(fields), version: version)
        }
        return apply(desired, version: version)
    }

    /// Acknowledgements `ac: 203, av: 0` for the values in force, sent when the twin has no
    /// desired value for them (the IoT Plug and Play property convention: "publish its default").
    public func defaultsReport(for twinDocument: [UInt8]) -> [UInt8]? {
        let twin = try? JSONValue.parse(twinDocument)
        let desired = twin?["desired"]
        let reported = twin?["reported"]
        var fields: [String: JSONValue] = [:]
        for property in WritableProperty.allCases where desired?[property.rawValue] == nil && reported?[property.rawValue] == nil {
            fields[property.rawValue] = Self.ack(settings.twinValue(property), code: 203, version: 0, description: "device default")
        }
        return fields.isEmpty ? nil : JSONValue.object(fields).encoded()
    }

    mutating func apply(_ desired: JSONValue, version: Int) -> Update {
        var update = Update()
        var acks: [String: JSONValue] = [:]
        var applied: [WritableProperty] = []
        for property in WritableProperty.allCases {
            guard let value = desired[property.rawValue] else { continue }
            let before = settings.twinValue(property)
            switch settings.apply(property, value) {
            case .success:
                if settings.twinValue(property) != before { update.changed.append(property) }
                applied.append(property)
            case .failure(let rejection):
                update.rejected[property] = rejection.reason
                acks[property.rawValue] = Self.ack(before, code: 400, version: version, description: rejection.reason)
            }
        }
        // Acknowledged after all are applied: two paths to one setting both show the value in force.
        for property in applied {
            acks[property.rawValue] = Self.ack(settings.twinValue(property), code: 200, version: version, description: "applied")
        }
        for name in Self.unknownKeys(in: desired) {
            update.unknown.append(name)
            acks[name] = Self.ack(desired[name] ?? .null, code: 404, version: version, description: "not a writable property of this device's model")
        }
        desiredVersion = version
        update.reportedPatch = acks.isEmpty ? nil : JSONValue.object(acks).encoded()
        return update
    }

    /// At most this many unknown desired keys are acknowledged per document (the rest are only logged).
    public static let maximumUnknownAcknowledged = 16

    /// Desired keys that are neither a writable property nor twin metadata (`$…`) nor an IoT Plug and
    /// Play component (an object marked `"__t": "c"`, owned by another component), in name order.
    static func unknownKeys(in desired: JSONValue) -> [String] {
        guard case .object(let fields) = desired else { return [] }
        let known = Set(WritableProperty.allCases.map(\.rawValue))
        return fields.filter { name, value in
            !known.contains(name) && !name.hasPrefix("$") && value["__t"] != .string("c")
        }.map(\.key).sorted().prefix(maximumUnknownAcknowledged).map { $0 }
    }

    static func ack(_ value: JSONValue, code: Int, version: Int, description: String) -> JSONValue {
        .object(["value": value, "ac": .integer(Int64(code)), "av": .integer(Int64(version)), "ad": .string(description)])
    }
}
