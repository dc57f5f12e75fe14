import JSON
import SensorCore

/// The agent's side of the device twin's writable properties (the IoT Plug and Play property
/// convention): desired values are applied in `$version` order, each validated and
/// acknowledged `{value, ac, av, ad}`; a bad value is answered `ac: 400` with the reason while the
/// last good value stays in force.
///
/// ## Contract
/// - Pure: bytes in, settings and a reported patch out; persisted as ``Snapshot``.
/// - A desired patch whose `$version` is not above the last one applied is stale and ignored.
/// - A full twin (GET at every connect) is authoritative when its desired `$version` is above the
///   last one applied: every writable property in it is applied and acknowledged. One older than
///   that (a GET answered before a patch that overtook it) is never applied: the update asks for
///   the twin again; only after ``staleFullTwinRetries`` older answers in a row is it taken as
///   the hub's (a twin recreated with its versions restarted).
/// - Each writable property is decoded on its own (``WritableProperty`` is the table; a dotted
///   name is a path): a value that cannot even be read (a number beyond range, broken text) is
///   answered `ac: 400` for that property alone while the others are applied.
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
        /// A full twin older than the settings in force was not applied: ask for it again.
        public var askAgain = false
        /// Desired keys that are not in the model, acknowledged `ac: 404` (see ``unknownKeys(in:)``).
        public var unknown: [String] = []

        public init() {}
    }

    public private(set) var settings: AgentSettings
    public private(set) var desiredVersion: Int
    /// Full twins older than ``desiredVersion`` answered in a row.
    var staleFullTwins = 0
    /// How many older full twins in a row are refused (each asking again) before one is taken.
    public static let staleFullTwinRetries = 3
    /// The board's sensors and their channels, which a calibration is checked against (nil: not checked).
    public var sensors: [String: [ChipDescriptor.ChannelSpec]]?

    public init(settings: AgentSettings, desiredVersion: Int = 0, sensors: [String: [ChipDescriptor.ChannelSpec]]? = nil) {
        self.settings = settings
        self.desiredVersion = desiredVersion
        self.sensors = sensors
    }

    public init(snapshot: Snapshot, sensors: [String: [ChipDescriptor.ChannelSpec]]? = nil) {
        self.init(settings: snapshot.settings, desiredVersion: snapshot.desiredVersion, sensors: sensors)
    }

    public var snapshot: Snapshot { Snapshot(settings: settings, desiredVersion: desiredVersion) }

    /// A desired patch from `$iothub/twin/PATCH/properties/desired/?$version=N`.
    public mutating func applyPatch(version: Int, body: [UInt8]) -> Update {
        guard version > desiredVersion else {
            var update = Update()
            update.stale = true
            return update
        }
        guard let parsed = try? JSONValue.parseTolerating(body), case .object = parsed.value else {
            var update = Update()
            update.unreadable = "the desired patch (version \(version)) is not a JSON object"
            return update
        }
        return apply(parsed.value, version: version, undecodable: parsed.undecodable)
    }

    /// The answer to a twin GET: `{"desired":{…,"$version":N},"reported":{…}}`.
    public mutating func applyFullTwin(_ document: [UInt8]) -> Update {
        guard let parsed = try? JSONValue.parseTolerating(document), let desired = parsed.value["desired"],
              case .object = desired, let version = desired["$version"]?.intValue else {
            var update = Update()
            update.unreadable = "the twin document has no desired section with a $version"
            return update
        }
        let twin = parsed.value
        let inDesired = parsed.undecodable.compactMap { value in
            value.path.first == "desired" ? JSONUndecodableValue(path: Array(value.path.dropFirst()), reason: value.reason) : nil
        }
        if version < desiredVersion, staleFullTwins < Self.staleFullTwinRetries {
            staleFullTwins += 1
            var update = Update()
            update.stale = true
            update.askAgain = true
            return update
        }
        staleFullTwins = 0
        if version == desiredVersion {
            // Nothing new; acknowledge again only what the reported side does not show yet.
            let reported = twin["reported"]
            let missing = WritableProperty.allCases.filter { property in
                Self.member(desired, property) != nil && Self.member(reported, property)?["av"]?.intValue != version
            }
            guard !missing.isEmpty else { return Update() }
            return apply(desired, version: version, undecodable: inDesired, only: missing, whole: true)
        }
        return apply(desired, version: version, undecodable: inDesired, whole: true)
    }

    /// A writable property's value in a desired or reported section (a dotted name is a path:
    /// twin key names cannot contain a dot).
    public static func member(_ section: JSONValue?, _ property: WritableProperty) -> JSONValue? {
        var value = section
        for name in property.rawValue.split(separator: ".") { value = value?[String(name)] }
        return value
    }

    /// Acknowledgements `ac: 203, av: 0` for the values in force, sent when the twin has no
    /// desired value for them (the IoT Plug and Play property convention: "publish its default").
    public func defaultsReport(for twinDocument: [UInt8]) -> [UInt8]? {
        let twin = try? JSONValue.parseTolerating(twinDocument).value
        let desired = twin?["desired"]
        let reported = twin?["reported"]
        var fields: [String: JSONValue] = [:]
        for property in WritableProperty.allCases where Self.member(desired, property) == nil && Self.member(reported, property) == nil {
            fields[property.rawValue] = Self.ack(settings.twinValue(property), code: 203, version: 0, description: "device default")
        }
        return fields.isEmpty ? nil : JSONValue.object(fields).encoded()
    }

    mutating func apply(_ desired: JSONValue, version: Int, undecodable: [JSONUndecodableValue],
                        only properties: [WritableProperty] = WritableProperty.allCases, whole: Bool = false) -> Update {
        var update = Update()
        var acks: JSONValue?
        var applied: [WritableProperty] = []
        // Placed, not merged: a merge patch would drop an acknowledgement's `"value": null`.
        func place(_ property: WritableProperty, _ ack: JSONValue) {
            acks = Self.inserting(ack, at: property.rawValue.split(separator: ".").map(String.init)[...], into: acks)
        }
        for property in properties {
            guard let value = Self.member(desired, property) else { continue }
            let before = settings.twinValue(property)
            let path = property.rawValue.split(separator: ".").map(String.init)
            let unreadable = undecodable.first { $0.path.starts(with: path) || path.starts(with: $0.path) }
            let result: Result<Void, SettingRejection>
            if let unreadable {
                result = .failure(SettingRejection("\(property.rawValue) cannot be read: \(unreadable.reason)"))
            } else {
                result = settings.apply(property, value, sensors: sensors, whole: whole)
            }
            switch result {
            case .success:
                if settings.twinValue(property) != before { update.changed.append(property) }
                applied.append(property)
            case .failure(let rejection):
                update.rejected[property] = rejection.reason
                place(property, Self.ack(before, code: 400, version: version, description: rejection.reason))
            }
        }
        // Acknowledged after all are applied: two paths to one setting both show the value in force.
        for property in applied {
            place(property, Self.ack(settings.twinValue(property), code: 200, version: version, description: "applied"))
        }
        // Unknown keys are answered with the document, not again with each re-acknowledgement.
        if properties.count == WritableProperty.allCases.count {
            for name in Self.unknownKeys(in: desired) {
                update.unknown.append(name)
                let ack = Self.ack(desired[name] ?? .null, code: 404, version: version, description: "not a writable property of this device's model")
                acks = Self.inserting(ack, at: [name], into: acks)
            }
        }
        desiredVersion = version
        update.reportedPatch = acks?.encoded()
        return update
    }

    /// A calibration set on the device (the technician's page) rather than through the twin:
    /// validated by the same code as a desired `calibration` and merged into the one in force.
    /// The reported patch acknowledges the whole calibration `ac: 203` at the desired `$version`
    /// in force (a reconnect's twin GET of that version then leaves it alone; a later desired
    /// `calibration` wins) and sets ``calibrationChangeKey`` to who changed it and when.
    ///
    /// - Parameters:
    ///   - value: the twin's shape, `{"sensor": {"channel": {offset} | {points} | null}}`.
    ///   - source: who set it (`page`); `at`: when (ISO 8601); `channel`: `sensor.channel`.
    public mutating func applyLocalCalibration(_ value: JSONValue, source: String, at time: String, channel: String) -> Result<Update, SettingRejection> {
        let before = settings.twinValue(.calibration)
        if case .failure(let rejection) = settings.apply(.calibration, value, sensors: sensors) { return .failure(rejection) }
        var update = Update()
        let now = settings.twinValue(.calibration)
        if now != before { update.changed = [.calibration] }
        update.reportedPatch = JSONValue.object([
            WritableProperty.calibration.rawValue: Self.ack(now, code: 203, version: desiredVersion,
                                                            description: "\(channel) set on the device (\(source)); a later desired calibration wins"),
            Self.calibrationChangeKey: .object(["source": .string(source), "at": .string(time), "channel": .string(channel)]),
        ]).encoded()
        return .success(update)
    }

    /// The read-only reported property saying who last changed the calibration in force and when:
    /// `{"source": "twin", "at", "av"}` or `{"source": "page", "at", "channel": "sensor.channel"}`.
    public static let calibrationChangeKey = "calibrationChange"

    /// `object` with `value` at `path` (objects made on the way; members elsewhere kept).
    static func inserting(_ value: JSONValue, at path: ArraySlice<String>, into object: JSONValue?) -> JSONValue {
        guard let first = path.first else { return value }
        var fields: JSONObject = [:]
        if case .object(let existing)? = object { fields = existing }
        fields[first] = inserting(value, at: path.dropFirst(), into: fields[first])
        return .object(fields)
    }

    /// At most this many unknown desired keys are acknowledged per document (the rest are only logged).
    public static let maximumUnknownAcknowledged = 16

    /// Desired keys that are neither a writable property, nor `predictorModel` (passed on to the
    /// predictor and acknowledged by ``TwinFeature``), nor twin metadata (`$…`) nor an IoT Plug and
    /// Play component (an object marked `"__t": "c"`, owned by another component), in name order.
    static func unknownKeys(in desired: JSONValue) -> [String] {
        guard case .object(let fields) = desired else { return [] }
        let known = Set(WritableProperty.allCases.map(\.rawValue) + [PredictorModelRequest.key])
        return fields.filter { name, value in
            !known.contains(name) && !name.hasPrefix("$") && value["__t"] != .string("c")
        }.map(\.key).sorted().prefix(maximumUnknownAcknowledged).map { $0 }
    }

    static func ack(_ value: JSONValue, code: Int, version: Int, description: String) -> JSONValue {
        .object(["value": value, "ac": .integer(Int64(code)), "av": .integer(Int64(version)), "ad": .string(description)])
    }
}
